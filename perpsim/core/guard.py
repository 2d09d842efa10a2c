"""Trader protection: a pure, deterministic state machine beside the clearing core.

What a liquidated trader meets on Binance ("Account Status After Liquidation", "Mandatory
Risk Re-Testing", "Under What Circumstances Will an Account Be Banned?") and what a trader may choose
for themself, built into the venue:

* alerts: margin-ratio levels and a distance from the liquidation price (``Notification`` events; the
  server pushes them as MARGIN_CALL and POSTs them to the account's webhook URL);
* a liquidation notification carrying the ``LiquidationRecord``; NO forced cool-down (Binance FAQ: 
  "You can trade immediately; there is no mandatory cool-down period");
* risk controls: N consecutive liquidations within a window, or a short-term futures loss rate above a
  threshold -> the risk test must be retaken before opening; massive shrinkage of the futures wallet ->
  futures paused (reduce-only allowed); repeatedly triggering the controls -> temporary futures ban;
* operator actions: permanent futures ban, account freeze, feature restrictions, identity registry;
* self-protection: cooling-off, personal leverage cap, daily-loss limit; new accounts capped at 20x for
  their first 60 days (Binance announcement d6457e23eb2e42f2b9c3ce44f46f9a6d).

Binance hides every threshold: each is a venue setting (``Exchange.settings``, defaults in
``DEFAULTS``; evidence in docs/choices.md, "Trader protection"). A restriction only ever refuses futures
openings (or, for a freeze, everything); it never moves money and never touches the spot, funding or
earn wallets, login or API keys (the table of what a liquidation leaves untouched). All state is plain data: picklable, hashed by
``hash_into``.
"""
from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from typing import Any

from .config import GuardConfig, defaults
from .errors import VenueError
from .events import (AppealDecided, BalanceChanged, InsuranceFundChanged, LiquidationRecord, MarginCall, MarkPriceSet,
                     MarkPriceUpdate, Notification, PositionChanged, RestrictionChanged, TradeSettled)
from .fixed import SCALE, fmt, fmt_plain, mul, round_div
from .ledger import FUTURES

from .guard_alerts import GuardAlerts
from .risk_test import make_quiz

DAY = 86_400_000
HOUR = 3_600_000

# Error codes (Binance's USD-M error-code page; docs/choices.md "Trader protection").
REDUCE_ONLY_PERMISSION = -4087   # REDUCE_ONLY_ORDER_PERMISSION "User can only place reduce only order"
NO_ORDER_PERMISSION = -4088      # NO_PLACE_ORDER_PERMISSION "User can not place order currently"
QUANT_RULE = -4400               # TRADING_QUANTITATIVE_RULE "... only reduceOnly order is allowed ..."
COMPLIANCE_FEATURE = -4402       # COMPLIANCE_BLACK_SYMBOL_RESTRICTION "... this feature is currently not available"
COMPLIANCE_LEVERAGE = -4403      # ADJUST_LEVERAGE_COMPLIANCE_FAILED "... the leverage can only up to %sx"
COOLING_OFF = -4192              # COOLING_OFF_PERIOD "Trade forbidden due to Cooling-off Period."
NEW_ACCOUNT_LEVERAGE = -4205     # ADJUST_LEVERAGE_X_DAYS_FAILED "More than 20x leverage is available %s days after ..."
INVALID_LEVERAGE = -4028         # INVALID_LEVERAGE "Leverage %s is not valid"
ACCOUNT_FROZEN = -2015           # non-order actions of a frozen account: "... permissions for action."

P = SCALE // 100   # one percent in 1e-8 units of a fraction

#: trader protection's settings and defaults (config.py: GuardConfig, with their evidence)
DEFAULTS: dict[str, Any] = defaults(GuardConfig)

INCIDENT_KINDS = ("STALE_INDEX", "OUTLIER_FEED", "VENUE_FAULT")
FEATURES = ("OPEN", "SYMBOLS", "MAX_LEVERAGE")
TRADING_INCOME = ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE", "INSURANCE_CLEAR")
COMPENSATION = "COMPENSATION"

def iso(ms: int) -> str:
    """Venue ms as an ISO-8601 UTC time (for messages)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def pct(fraction: int) -> str:
    """A fraction of 1 (1e-8 units) as a percent string."""
    return fmt(fraction * 100, 2) + "%"

# ---------------------------------------------------------------------- per-account state
class AccountGuard:
    """What the guard keeps for one account (plain data). The scalars' defaults live on the class, so
    a new account costs only its containers; an assignment gives the instance its own value."""

    income_base = 0                  # the running total before the first kept minute
    loss_reset = 0                   # losses before this time no longer count for the risk test
    shrink_reset = 0                 # ... nor for the pause
    risk_test = ""                   # the reason a risk test is required ("" none)
    risk_test_since = 0
    quiz: dict | None = None         # {"seed", "started", "answers": [...], "ids": [...]}
    risk_tests_passed = 0
    risk_tests_failed = 0
    pause_until = 0
    pause_reason = ""
    temp_ban_until = 0
    temp_ban_reason = ""
    banned = ""                      # permanent futures ban reason
    frozen = ""                      # account freeze reason
    flagged = ""                     # identity / device duplicate
    cooling_until = 0
    max_leverage = 0                 # personal cap (0: none)
    daily_loss_limit = 0             # 1e-8 units (0: none)
    day = -1
    day_income = 0
    webhook = ""
    alert_ratios: list | None = None     # per-account overrides of the alert levels
    alert_distances: list | None = None

    def __init__(self) -> None:
        self.liquidations: list = []          # LiquidationRecord history
        self.streak: list[int] = []           # times of the current run of liquidations
        self.income: list[tuple[int, int]] = []   # (minute, running total of trading income), longest window
        self.triggers: list[int] = []         # times the risk controls fired
        self.features: dict = {}              # {"OPEN": bool, "SYMBOLS": [...], "MAX_LEVERAGE": int, "reason", "until"}
        self.fired: set = set()
        self.notifications: list[dict] = []
        self.appeals: dict = {}               # (symbol, liquidation time) -> decision dict

    def canon(self) -> tuple:
        return (tuple(self.liquidations), tuple(self.streak), tuple(self.income), self.income_base, self.loss_reset,
                self.shrink_reset, tuple(self.triggers), self.risk_test, self.risk_test_since,
                repr(sorted(self.quiz.items())) if self.quiz else "", self.risk_tests_passed,
                self.risk_tests_failed, self.pause_until, self.pause_reason, self.temp_ban_until,
                self.temp_ban_reason, self.banned, self.frozen, repr(sorted(self.features.items())), self.flagged,
                self.cooling_until, self.max_leverage, self.daily_loss_limit, self.day, self.day_income,
                self.webhook, self.alert_ratios, self.alert_distances, tuple(sorted(self.fired, key=repr)),
                len(self.notifications), repr(sorted(self.appeals.items())))


# ---------------------------------------------------------------------- the guard
class GuardVenue:
    """What trader protection may use of its venue, and nothing else: the clearing house (accounts and
    figures), the risk pass (its shared figures and status bands), trader protection's configuration,
    and the insurance funds (an upheld appeal is paid from there)."""

    __slots__ = ("_ex",)

    def __init__(self, ex) -> None:
        self._ex = ex

    def __getstate__(self):
        return self._ex

    def __setstate__(self, ex) -> None:
        self._ex = ex

    @property
    def clearing(self):
        return self._ex.clearing

    @property
    def risk(self):
        return self._ex.risk          # rebuilt after a snapshot is loaded: read it each time

    @property
    def config(self) -> GuardConfig:
        return self._ex.config.guard

    def insurance_account(self, asset: str) -> int:
        return self._ex.insurance_account(asset)


class Guard(GuardAlerts):
    """Trader protection for one exchange. Reads the clearing state; never moves money except an
    operator-granted appeal's compensation (a ledger move from the insurance fund)."""

    def __init__(self, venue: GuardVenue) -> None:
        self.venue = venue
        self.accounts: dict[int, AccountGuard] = {}
        self.identities: dict[str, dict[str, list[int]]] = {"identity": {}, "device": {}}
        self.incidents: list[dict] = []

    # ------------------------------------------------------------------ helpers
    @property
    def config(self) -> GuardConfig:
        return self.venue.config

    def __setstate__(self, state: dict) -> None:
        if "ex" in state:           # a snapshot from before GuardVenue
            state["venue"] = GuardVenue(state.pop("ex"))
        self.__dict__.update(state)

    def get(self, account_id: int, create: bool = True) -> AccountGuard | None:
        st = self.accounts.get(account_id)
        if st is None and create:
            st = self.accounts[account_id] = AccountGuard()
        return st

    def hash_into(self, h) -> None:
        for a in sorted(self.accounts):
            h.update(f"G|{a}|{self.accounts[a].canon()!r}\n".encode())
        for kind in sorted(self.identities):
            h.update(f"GI|{kind}|{sorted(self.identities[kind].items())!r}\n".encode())
        h.update(f"GX|{[sorted(i.items()) for i in self.incidents]!r}\n".encode())

    def _notify(self, st: AccountGuard, account_id: int, now: int, kind: str, payload: dict,
                record=None) -> Notification:
        n = Notification(now, account_id, kind, payload, st.webhook, record)
        st.notifications.append({"time": now, "kind": kind, **payload})
        kept = self.config.guard_notifications_kept
        if len(st.notifications) > kept:
            del st.notifications[:len(st.notifications) - kept]
        return n

    def _restrict(self, st: AccountGuard, account_id: int, now: int, what: str, active: bool, until: int,
                  reason: str) -> list:
        ev = RestrictionChanged(now, account_id, what, active, until, reason)
        msg = {"restriction": what, "active": active, "until": until, "reason": reason}
        return [ev, self._notify(st, account_id, now, "RESTRICTION", msg)]

    def futures_wallet(self, account_id: int) -> int:
        """Cross wallets plus isolated wallets, over every margin asset (USD-M: all USD stablecoins)."""
        ch = self.venue.clearing
        assets = self.__dict__.get("_assets")
        if assets is None:
            assets = self._assets = tuple(sorted({ins.margin_asset for ins in ch.instruments.values()}))
        total = 0
        for a in assets:
            total += ch.balance(account_id, FUTURES, a)
        acct = ch.accounts.get(account_id)
        if acct is not None:
            total += sum(p.wallet.balance for p in acct.positions.values() if p.wallet is not None)
        return total

    def _rate(self, st: AccountGuard, account_id: int, since: int, wallet: int | None = None) -> int:
        """Futures loss rate since ``since``: -income / (wallet now - income), a fraction of 1 [I]."""
        if not st.income:
            return 0
        i = bisect_left(st.income, (since, -10**30))
        income = st.income[-1][1] - (st.income[i - 1][1] if i else st.income_base)
        if income >= 0:
            return 0
        base = (self.futures_wallet(account_id) if wallet is None else wallet) - income
        return SCALE if base <= 0 else min(SCALE, round_div(-income * SCALE, base))

    # ------------------------------------------------------------------ observe
    def observe(self, events: list, now: int) -> list:
        """Consume a command's events; return the guard's new events (notifications, restrictions)."""
        out: list = []
        touched: set[int] = set()
        dirty: set[int] = set()
        marked: set[str] = set()
        for e in events:
            t = type(e)
            if t is LiquidationRecord:
                if e.account_id >= 0:
                    out += self._on_liquidation(e, now)
                    dirty.add(e.account_id)
            elif t is BalanceChanged:
                if e.account_id >= 0:
                    touched.add(e.account_id)
                    if e.reason in TRADING_INCOME:
                        self._on_income(e.account_id, e.time or now, e.delta)
                        dirty.add(e.account_id)
            elif t is TradeSettled:
                if e.account_id >= 0:
                    touched.add(e.account_id)
                    if e.realized_pnl > 0 and not e.execution:
                        st = self.accounts.get(e.account_id)
                        if st is not None:
                            st.streak.clear()   # a winning close ends a run of liquidations [I]
            elif t is PositionChanged:
                if e.account_id >= 0:
                    touched.add(e.account_id)
            elif t is MarginCall:
                if e.account_id >= 0:
                    st = self.get(e.account_id)
                    out.append(self._notify(st, e.account_id, now, "MARGIN_CALL", {
                        "marginType": e.margin_type, "symbol": e.symbol, "positionSide": e.position_side,
                        "marginRatio": e.margin_ratio, "marginBalance": e.margin_balance,
                        "maintMargin": e.maint_margin}))
            elif t is MarkPriceUpdate or t is MarkPriceSet:
                marked.add(e.symbol)
        for symbol in sorted(marked):
            touched |= self.venue.risk.mark_accounts("alerts_index", symbol)
        for a in sorted(dirty):
            out += self._controls(a, now)
        for a in sorted(touched | dirty):
            if a >= 0:
                out += self._alerts(a, now)
        self.venue.risk.done_banding("alerts_index")
        return out

    def _on_income(self, account_id: int, t: int, delta: int) -> None:
        cfg = self.config
        st = self.get(account_id)
        # one-minute buckets of running totals: small state, O(log n) window sums; a bucket never
        # straddles a reset
        bucket = max(t // 60_000 * 60_000, st.loss_reset, st.shrink_reset)
        total = (st.income[-1][1] if st.income else st.income_base) + delta
        if st.income and st.income[-1][0] == bucket:
            st.income[-1] = (bucket, total)
        else:
            st.income.append((bucket, total))
        horizon = t - max(cfg.guard_loss_window_ms, cfg.guard_shrink_window_ms)
        if st.income[0][0] < horizon:
            i = bisect_left(st.income, (horizon, -10**30))
            st.income_base = st.income[i - 1][1]
            del st.income[:i]
        day = t // DAY
        if day != st.day:
            st.day, st.day_income = day, 0
        st.day_income += delta

    def _on_liquidation(self, rec: LiquidationRecord, now: int) -> list:
        """The liquidation notification (e.g. the position is gone, nothing else is touched; the
        trader may open again at once; we advise stopping to reflect)."""
        cfg = self.config
        st = self.get(rec.account_id)
        st.liquidations.append(rec)
        kept = cfg.guard_history_kept
        if len(st.liquidations) > kept:
            del st.liquidations[:len(st.liquidations) - kept]
        window = cfg.guard_liq_streak_window_ms
        st.streak = [t for t in st.streak if t > now - window] + [now]
        payload = {"symbol": rec.symbol, "side": rec.side, "positionSide": rec.position_side,
                   "marginType": rec.margin_type, "leverage": rec.leverage, "qty": rec.qty,
                   "price": rec.execution_price, "loss": rec.loss, "partial": rec.partial,
                   "walletAfter": rec.wallet_after,
                   "unaffected": ["SPOT", "FUNDING", "EARN", "LOGIN", "API_KEYS", "OTHER_POSITIONS"],
                   "canTradeNow": True,
                   "advice": "You may open a new position at once; consider stopping for at least a week "
                             "and reviewing this trade first."}
        return [self._notify(st, rec.account_id, now, "LIQUIDATION", payload, rec)]

    def _controls(self, account_id: int, now: int) -> list:
        """The risk controls (Binance: "Mandatory Risk Re-Testing", "Account Status After Liquidation"),
        each firing once until reset: a liquidation streak or a loss rate asks for the risk test, a
        shrinking futures wallet pauses futures trading, repeated triggers ban for a while [I]."""
        cfg = self.config
        st = self.accounts.get(account_id)
        if st is None:
            return []
        out: list = []
        fired = False
        wallet = self.futures_wallet(account_id)
        if not st.risk_test:
            why = ""
            n = cfg.guard_liq_streak
            window = cfg.guard_liq_streak_window_ms
            recent = [t for t in st.streak if t > now - window and t >= st.loss_reset]
            if len(recent) >= n:
                why = f"{len(recent)} liquidations within {window // HOUR} h"
            else:
                since = max(st.loss_reset, now - cfg.guard_loss_window_ms)
                rate = self._rate(st, account_id, since, wallet)
                if rate >= cfg.guard_loss_rate:
                    why = f"futures loss rate {pct(rate)} within {cfg.guard_loss_window_ms // HOUR} h"
            if why:
                st.risk_test, st.risk_test_since, st.quiz = why, now, None
                out += self._restrict(st, account_id, now, "RISK_TEST", True, 0, why)
                fired = True
        if st.pause_until <= now:
            since = max(st.shrink_reset, now - cfg.guard_shrink_window_ms)
            rate = self._rate(st, account_id, since, wallet)
            if rate >= cfg.guard_shrink_rate:
                st.pause_until = now + cfg.guard_pause_ms
                st.pause_reason = f"futures wallet shrank by {pct(rate)}"
                st.shrink_reset = now
                out += self._restrict(st, account_id, now, "PAUSE", True, st.pause_until, st.pause_reason)
                fired = True
        if fired:
            window = cfg.guard_repeat_window_ms
            st.triggers = [t for t in st.triggers if t > now - window] + [now]
            if len(st.triggers) >= cfg.guard_repeat_triggers and st.temp_ban_until <= now:
                st.temp_ban_until = now + cfg.guard_temp_ban_ms
                st.temp_ban_reason = f"risk controls triggered {len(st.triggers)} times within {window // DAY} days"
                st.triggers = []
                out += self._restrict(st, account_id, now, "TEMP_BAN", True, st.temp_ban_until, st.temp_ban_reason)
        return out

    # ------------------------------------------------------------------ checks
    def _err_ban(self, st: AccountGuard, now: int) -> VenueError | None:
        if st.banned:
            return VenueError(NO_ORDER_PERMISSION, f"User can not place order currently: futures trading is "
                                                   f"permanently banned ({st.banned}); only reduce-only orders are "
                                                   f"allowed.")
        if st.temp_ban_until > now:
            return VenueError(NO_ORDER_PERMISSION, f"User can not place order currently: futures trading is banned "
                                                   f"until {iso(st.temp_ban_until)} ({st.temp_ban_reason}); only "
                                                   f"reduce-only orders are allowed.")
        return None

    def restriction_errors(self, account_id: int, symbol: str, now: int) -> list[tuple[str, VenueError, int]]:
        """Every restriction that refuses an opening order now: (name, error, until) in check order."""
        st = self.accounts.get(account_id)
        out: list = []
        if st is None:
            return out
        if st.frozen:
            out.append(("FREEZE", VenueError(NO_ORDER_PERMISSION, f"User can not place order currently: the account "
                                                                   f"is frozen ({st.frozen}) until the operator lifts "
                                                                   f"it; every order is refused."), 0))
        ban = self._err_ban(st, now)
        if ban is not None:
            out.append(("BAN" if st.banned else "TEMP_BAN", ban, 0 if st.banned else st.temp_ban_until))
        f = st.features
        if f and (not f.get("until") or f["until"] > now):
            until = f.get("until", 0)
            when = f"until {iso(until)}" if until else "until lifted"
            if f.get("OPEN"):
                out.append(("FEATURES", VenueError(COMPLIANCE_FEATURE, f"Dear user, as per our Terms of Use and "
                           f"compliance with local regulations, opening futures positions is currently not "
                           f"available ({f.get('reason', '')}) {when}; reduce-only orders are allowed."), until))
            elif symbol in f.get("SYMBOLS", ()):
                out.append(("FEATURES", VenueError(COMPLIANCE_FEATURE, f"Dear user, as per our Terms of Use and "
                           f"compliance with local regulations, {symbol} is currently not available "
                           f"({f.get('reason', '')}) {when}."), until))
        if st.pause_until > now:
            out.append(("PAUSE", VenueError(QUANT_RULE, f"Futures Trading Quantitative Rules violated, only "
                        f"reduceOnly order is allowed, please try again later: futures trading is paused until "
                        f"{iso(st.pause_until)} ({st.pause_reason})."), st.pause_until))
        if st.risk_test:
            out.append(("RISK_TEST", VenueError(REDUCE_ONLY_PERMISSION, f"User can only place reduce only order: "
                        f"retake the futures risk test before opening a position ({st.risk_test})."), 0))
        if st.cooling_until > now:
            out.append(("COOLING_OFF", VenueError(COOLING_OFF, f"Trade forbidden due to Cooling-off Period: "
                        f"opening positions is refused until {iso(st.cooling_until)} (chosen by you)."),
                        st.cooling_until))
        if st.daily_loss_limit and st.day == now // DAY and -st.day_income >= st.daily_loss_limit:
            until = (now // DAY + 1) * DAY
            out.append(("DAILY_LOSS_LIMIT", VenueError(REDUCE_ONLY_PERMISSION, f"User can only place reduce only "
                        f"order: your daily loss limit of {fmt_plain(st.daily_loss_limit)} is reached (lost "
                        f"{fmt_plain(-st.day_income)} today); opening is allowed again at {iso(until)}."), until))
        return out

    def check_open(self, account_id: int, symbol: str, reduce_only: bool, leverage: int, now: int) -> None:
        """Refuse an order that may open or increase a futures position while a restriction holds.

        ``reduce_only``: the order can only reduce (reduceOnly, closePosition, or a hedge-mode close);
        it passes everything but a freeze (and a ban when ``guard_ban_allows_reduce_only`` is off).
        Raises the first restriction's Binance-style error (what is restricted and until when).
        """
        st = self.accounts.get(account_id)
        if st is None:
            self.check_leverage(account_id, symbol, leverage, now)
            return
        if reduce_only:
            if st.frozen:
                raise self.restriction_errors(account_id, symbol, now)[0][1]
            if not self.config.guard_ban_allows_reduce_only:
                ban = self._err_ban(st, now)
                if ban is not None:
                    raise ban
            return
        errs = self.restriction_errors(account_id, symbol, now)
        if errs:
            raise errs[0][1]
        self.check_leverage(account_id, symbol, leverage, now)

    def check_order(self, account_id: int, symbol: str, side: str, reduce_only: object = False,
                    position_side: str | None = None, close_position: object = False, now: int = 0) -> None:
        """The order layer's one call before it accepts an order (place, algo, batch, a modify that grows).

        An order may only reduce when it is reduceOnly, closePosition, or a hedge-mode close (SELL on
        LONG, BUY on SHORT); as Binance's -4400 text says, a one-way order without reduceOnly counts as
        opening. The leverage checked is the symbol's current one.
        """
        ch = self.venue.clearing
        acct = ch.accounts.get(account_id)
        if acct is None or symbol not in ch.instruments:
            return                      # the order layer answers these itself
        closing = (reduce_only is True or close_position is True or (position_side == "LONG" and side == "SELL")
                   or (position_side == "SHORT" and side == "BUY"))
        self.check_open(account_id, symbol, closing, ch.config(acct, symbol).leverage, now)

    def check_leverage(self, account_id: int, symbol: str, leverage: int, now: int) -> None:
        """Leverage caps: new accounts (Binance: 20x for 60 days), the personal cap, compliance caps."""
        st = self.accounts.get(account_id)
        if st is not None and st.frozen:
            raise self.restriction_errors(account_id, symbol, now)[0][1]
        acct = self.venue.clearing.accounts.get(account_id)
        if acct is not None and isinstance(leverage, int):
            days = self.config.guard_new_account_days
            cap = self.config.guard_new_account_max_leverage
            until = acct.created + days * DAY
            if leverage > cap and now < until:
                raise VenueError(NEW_ACCOUNT_LEVERAGE, f"More than {cap}x leverage is available {days} days after "
                                                       f"Futures account registration: available from {iso(until)}.")
        if st is None or not isinstance(leverage, int):
            return
        if st.max_leverage and leverage > st.max_leverage:
            raise VenueError(INVALID_LEVERAGE, f"Leverage {leverage} is not valid: your personal leverage cap is "
                                               f"{st.max_leverage}x.")
        f = st.features
        if f.get("MAX_LEVERAGE") and leverage > f["MAX_LEVERAGE"] and (not f.get("until") or f["until"] > now):
            raise VenueError(COMPLIANCE_LEVERAGE, f"Dear user, as per our Terms of Use and compliance with local "
                                                  f"regulations, the leverage can only up to {f['MAX_LEVERAGE']}x.")

    def check_account(self, account_id: int, action: str, now: int) -> None:
        """Non-futures actions (transfers, withdrawals, API keys): refused only for a frozen account."""
        st = self.accounts.get(account_id)
        if st is not None and st.frozen:
            raise VenueError(ACCOUNT_FROZEN, f"Invalid API-key, IP, or permissions for action: the account is "
                                             f"frozen ({st.frozen}); {action} refused until the operator lifts it.")

    # ------------------------------------------------------------------ status and history
    def status(self, account_id: int, now: int) -> dict:
        """The account-status endpoint's body: every restriction, what still works, and the counters."""
        ch = self.venue.clearing
        acct = ch.account(account_id)
        st = self.accounts.get(account_id) or AccountGuard()
        errs = self.restriction_errors(account_id, "", now) if account_id in self.accounts else []
        days = self.config.guard_new_account_days
        cap_until = acct.created + days * DAY
        frozen = bool(st.frozen)
        return {
            "accountId": account_id,
            "time": now,
            "futures": {
                "canOpen": not errs,
                "canReduce": not frozen and not (not self.config.guard_ban_allows_reduce_only
                                                  and self._err_ban(st, now) is not None),
                "restrictions": [{"type": name, "code": e.code, "msg": e.msg, "until": until}
                                 for name, e, until in errs],
                "maxLeverage": min(x for x in (
                    self.config.guard_new_account_max_leverage if now < cap_until else 10**6,
                    st.max_leverage or 10**6, st.features.get("MAX_LEVERAGE") or 10**6)),
                "newAccountLeverageCapUntil": cap_until if now < cap_until else 0,
            },
            "unaffected": {"spot": not frozen, "funding": not frozen, "earn": not frozen, "login": not frozen,
                           "apiKeys": not frozen},
            "riskTest": {"required": bool(st.risk_test), "reason": st.risk_test, "since": st.risk_test_since,
                         "inProgress": st.quiz is not None, "passed": st.risk_tests_passed,
                         "failed": st.risk_tests_failed},
            "selfProtection": {"coolingOffUntil": st.cooling_until if st.cooling_until > now else 0,
                               "maxLeverage": st.max_leverage, "dailyLossLimit": st.daily_loss_limit,
                               "lossToday": -st.day_income if st.day == now // DAY else 0},
            "operator": {"banned": st.banned, "frozen": st.frozen, "features": dict(st.features),
                         "flagged": st.flagged},
            "liquidations": {"total": len(st.liquidations),
                             "streak": len([t for t in st.streak
                                            if t > now - self.config.guard_liq_streak_window_ms])},
            "lossRate": self._rate(st, account_id, max(st.loss_reset, now - self.config.guard_loss_window_ms))
            if account_id in self.accounts else 0,
            "webhookUrl": st.webhook,
            "notifications": list(st.notifications[-20:]),
        }

    def liquidations(self, account_id: int, start: int | None = None, end: int | None = None,
                     symbol: str | None = None) -> list:
        """The account's liquidation records, filtered by time (inclusive) and symbol."""
        st = self.accounts.get(account_id)
        if st is None:
            return []
        return [r for r in st.liquidations if (start is None or r.time >= start) and (end is None or r.time <= end)
                and (not symbol or r.symbol == symbol)]

    # ------------------------------------------------------------------ the risk test
    def start_risk_test(self, account_id: int, seed: int, now: int) -> list[dict]:
        """Questions (without answers), shuffled from ``seed``; the expected answers are kept."""
        st = self.get(account_id)
        qs = make_quiz(seed, self.config.guard_quiz_questions)
        st.quiz = {"seed": seed, "started": now, "ids": [q["id"] for q in qs], "answers": [q["answer"] for q in qs]}
        return [{"id": q["id"], "topic": q["topic"], "text": q["text"], "options": q["options"]} for q in qs]

    def submit_risk_test(self, account_id: int, answers: list, now: int) -> tuple[dict, list]:
        """Check the answers (option indices in question order, or {id: index}): all right -> the
        requirement is lifted; otherwise it stays and the test must be started again (e.g. "You must
        answer the questions correctly to continue")."""
        st = self.get(account_id)
        if st.quiz is None:
            raise VenueError(-1102, "Mandatory parameter 'riskTest' was not sent, was empty/null, or malformed. "
                                    "Start the risk test first.")
        expected = st.quiz["answers"]
        if isinstance(answers, dict):          # {question id: option index} is accepted too
            answers = [answers.get(qid) for qid in st.quiz["ids"]]
        if not isinstance(answers, list) or len(answers) != len(expected):
            raise VenueError(-1130, f"Data sent for parameter 'answers' is not valid. Send {len(expected)} answers.")
        wrong = [st.quiz["ids"][i] for i, (a, b) in enumerate(zip(answers, expected)) if a != b]
        st.quiz = None
        events: list = []
        if wrong:
            st.risk_tests_failed += 1
            return {"passed": False, "wrong": wrong, "correct": len(expected) - len(wrong),
                    "total": len(expected), "riskTestRequired": bool(st.risk_test)}, events
        st.risk_tests_passed += 1
        if st.risk_test:
            events += self._restrict(st, account_id, now, "RISK_TEST", False, 0, "risk test passed")
        st.risk_test = ""
        st.streak = []
        st.loss_reset = now
        return {"passed": True, "wrong": [], "correct": len(expected), "total": len(expected),
                "riskTestRequired": False}, events

    # ------------------------------------------------------------------ identities
    def register_identity(self, account_id: int, identity: str | None, device: str | None,
                          now: int) -> tuple[dict, list]:
        """One account per identity (public reports): a duplicate identity or device is flagged, banned per policy."""
        st = self.get(account_id)
        events: list = []
        dup: dict[str, list[int]] = {}
        for kind, value in (("identity", identity), ("device", device)):
            if not value:
                continue
            holders = self.identities[kind].setdefault(value, [])
            others = [a for a in holders if a != account_id]
            if account_id not in holders:
                holders.append(account_id)
            if others:
                dup[kind] = others
        for kind, others in dup.items():
            reason = f"{kind} already used by account(s) {', '.join(map(str, others))}"
            st.flagged = reason
            events += self._restrict(st, account_id, now, "IDENTITY_FLAG", True, 0, reason)
            policy = getattr(self.config, f"guard_duplicate_{kind}_policy")
            if policy == "ban" and not st.banned:
                st.banned = f"multiple accounts: {reason}"
                events += self._restrict(st, account_id, now, "BAN", True, 0, st.banned)
        return {"accountId": account_id, "flagged": st.flagged, "banned": st.banned,
                "duplicates": {k: v for k, v in dup.items()}}, events

    # ------------------------------------------------------------------ appeals
    def add_incident(self, kind: str, start: int, end: int, symbol: str, note: str) -> dict:
        inc = {"id": len(self.incidents) + 1, "kind": kind, "start": start, "end": end, "symbol": symbol,
               "note": note}
        self.incidents.append(inc)
        return dict(inc)

    def incident_for(self, symbol: str, t: int) -> dict | None:
        for inc in self.incidents:
            if inc["start"] <= t <= inc["end"] and inc["symbol"] in ("", symbol):
                return inc
        return None

    def appeal(self, account_id: int, symbol: str, liquidation_time: int, now: int) -> tuple[dict, list]:
        """An appeal on one liquidation: granted only inside a logged incident window (e.g. "if the
        liquidation was abnormal due to a Binance system failure"), compensation booked as a ledger move
        from the insurance fund to the futures wallet; otherwise the answer says why not."""
        st = self.get(account_id)
        ch = self.venue.clearing
        ch.account(account_id)
        recs = [r for r in st.liquidations if r.symbol == symbol and r.time == liquidation_time]
        key = f"{symbol}|{liquidation_time}"
        if key in st.appeals:
            return dict(st.appeals[key], repeated=True), []

        def answer(granted: bool, amount: int, inc: dict | None, reason: str) -> tuple[dict, list]:
            d = {"symbol": symbol, "liquidationTime": liquidation_time, "granted": granted, "amount": amount,
                 "incidentId": inc["id"] if inc else 0, "reason": reason}
            if recs:
                st.appeals[key] = d
            ev = AppealDecided(now, account_id, symbol, liquidation_time, granted, amount, d["incidentId"], reason)
            return d, [ev, self._notify(st, account_id, now, "APPEAL", d)]

        if not recs:
            return answer(False, 0, None, f"No liquidation of {symbol} at {liquidation_time} on this account.")
        inc = self.incident_for(symbol, liquidation_time)
        if inc is None:
            return answer(False, 0, None, "A normal liquidation: no venue incident covers its time. Losses from "
                                          "normal liquidations cannot be appealed or compensated.")
        loss = sum(r.loss for r in recs)          # the record keeps the loss as a positive amount
        amount = mul(max(0, loss), self.config.guard_appeal_compensation_ratio)
        asset = ch.instruments[symbol].margin_asset
        fund_id = self.venue.insurance_account(asset)
        fund = ch.user_wallet(fund_id, FUTURES, asset)
        amount = min(amount, max(0, fund.balance))
        if amount <= 0:
            return answer(False, 0, inc, f"Inside incident {inc['id']} ({inc['kind']}), but there is nothing "
                                         f"to compensate (loss {fmt_plain(loss)}, insurance fund "
                                         f"{fmt_plain(fund.balance)}).")
        wallet = ch.user_wallet(account_id, FUTURES, asset)
        ch.ledger.move(fund, wallet, amount)
        d, evs = answer(True, amount, inc, f"Inside incident {inc['id']} ({inc['kind']} {iso(inc['start'])} to "
                                           f"{iso(inc['end'])}): compensation {fmt(amount, 2)} {asset} booked.")
        return d, [ch._changed(account_id, wallet, amount, COMPENSATION, symbol, now),
                   InsuranceFundChanged(asset, -amount, fund.balance, COMPENSATION, account_id, symbol, now)] + evs
