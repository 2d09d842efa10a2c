"""Trader-protection commands (guard.py), each run by ``Exchange.apply``; the server exposes them as
signed endpoints under ``/perpsim/v1/``.

==========================  ===============================================================
command                     arguments -> reply
==========================  ===============================================================
account_status              account_id -> Guard.status body
liquidation_history         account_id, start_time, end_time, symbol -> [record dicts]
guard_notifications         account_id, limit -> [notification dicts], newest last
risk_test_start             account_id, seed -> {"questions": [{id, topic, text, options}]}
risk_test_submit            account_id, answers (option indices, in question order) -> pass/fail
set_cooling_off             account_id, period ("24H" | "1W" | "CUSTOM"), duration_ms (CUSTOM)
set_self_limits             account_id, max_leverage (0 clears), daily_loss_limit (1e-8 units, 0 clears)
set_webhook                 account_id, url ("" clears)
set_alert_levels            account_id, margin_ratios, liq_distances (None: venue defaults)
risk_preview                account_id, symbol, side, quantity, price, leverage, margin_type,
                            position_side, stop_price (read-only)
appeal_liquidation          account_id, symbol, liquidation_time
operator_ban / _unban       account_id, reason / account_id, what (BAN, TEMP_BAN, PAUSE, RISK_TEST)
operator_freeze / _unfreeze account_id, reason / account_id
operator_restrict           account_id, features {"OPEN", "SYMBOLS", "MAX_LEVERAGE"}, reason, until
register_identity           account_id, identity, device
add_incident                kind (STALE_INDEX | OUTLIER_FEED | VENUE_FAULT), start, end, symbol, note
==========================  ===============================================================
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import errors as E
from .errors import VenueError
from .commands import Handlers
from .fixed import SCALE, div, mul
from .guard import DAY, FEATURES, INCIDENT_KINDS, iso
from .instruments import get_instrument
from .margin import (Leg, initial_margin, liquidation_price, notional, price_move_to_liquidation,
                     unrealized_pnl)
from .positions import BOTH, LONG, SHORT, Position

if TYPE_CHECKING:
    from .exchange import Exchange

COOLING_PERIODS = {"24H": DAY, "1W": 7 * DAY}
MAX_COOLING_MS = 5 * 365 * DAY
WARN_LEVERAGE = 10                     # [I] beginners 5x or lower; warn above 10x (docs/choices.md)
WARN_SHARE = 20 * SCALE // 100         # "at most 20% of the account in one position" [I]

HANDLERS = Handlers()


def _int(value, name: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise E.illegal_param(name)
    return value


def _str(value, name: str, limit: int = 200, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value):
        raise E.illegal_param(name)
    return value


def _record(r) -> dict:
    d = r._asdict()
    d["adl_counterparties"] = [list(x) for x in r.adl_counterparties]
    return d


# ---------------------------------------------------------------------- reads
@HANDLERS("account_status")
def _account_status(ex: Exchange, account_id: int):
    return ex.guard.status(account_id, ex.now), []


@HANDLERS("liquidation_history")
def _liquidation_history(ex: Exchange, account_id: int, start_time: int | None = None,
                         end_time: int | None = None, symbol: str | None = None):
    ex.clearing.account(account_id)
    return [_record(r) for r in ex.guard.liquidations(account_id, start_time, end_time, symbol)], []


@HANDLERS("guard_notifications")
def _guard_notifications(ex: Exchange, account_id: int, limit: int = 100):
    ex.clearing.account(account_id)
    st = ex.guard.accounts.get(account_id)
    limit = _int(limit, "limit", 1)
    return (list(st.notifications[-limit:]) if st else []), []


# ---------------------------------------------------------------------- the risk test
@HANDLERS("risk_test_start")
def _risk_test_start(ex: Exchange, account_id: int, seed: int):
    """Questions on leverage, liquidation price, isolated vs cross and stop-loss, shuffled from ``seed``
    (the caller draws it: the core has no randomness of its own)."""
    ex.clearing.account(account_id)
    return {"questions": ex.guard.start_risk_test(account_id, _int(seed, "seed"), ex.now)}, []


@HANDLERS("risk_test_submit")
def _risk_test_submit(ex: Exchange, account_id: int, answers: list):
    ex.clearing.account(account_id)
    return ex.guard.submit_risk_test(account_id, answers, ex.now)


# ---------------------------------------------------------------------- self-protection
@HANDLERS("set_cooling_off")
def _set_cooling_off(ex: Exchange, account_id: int, period: str, duration_ms: int | None = None):
    """A cooling-off period the trader chooses (24 h, 1 week or custom): opening refused until it ends.
    It can be extended, never shortened (the point of a self-exclusion) [I]."""
    ex.clearing.account(account_id)
    if period in COOLING_PERIODS:
        ms = COOLING_PERIODS[period]
    elif period == "CUSTOM":
        ms = _int(duration_ms, "durationMs", 1)
        if ms > MAX_COOLING_MS:
            raise E.illegal_param("durationMs", "At most 5 years.")
    else:
        raise E.illegal_param("period", "One of 24H, 1W, CUSTOM.")
    st = ex.guard.get(account_id)
    until = ex.now + ms
    if st.cooling_until > until:
        raise VenueError(-1130, f"Data sent for parameter 'period' is not valid. A cooling-off period already runs "
                                f"until {iso(st.cooling_until)}; it cannot be shortened.")
    st.cooling_until = until
    events = ex.guard._restrict(st, account_id, ex.now, "COOLING_OFF", True, until, f"chosen by the trader ({period})")
    return {"coolingOffUntil": until}, events


@HANDLERS("set_self_limits")
def _set_self_limits(ex: Exchange, account_id: int, max_leverage: int | None = None,
                     daily_loss_limit: int | None = None):
    """A personal max-leverage cap and a daily-loss limit (UTC day; realized PnL, fees and funding)."""
    ex.clearing.account(account_id)
    if max_leverage is not None:
        _int(max_leverage, "maxLeverage")
        if max_leverage > 125:
            raise E.illegal_param("maxLeverage", "At most 125.")
    if daily_loss_limit is not None:
        _int(daily_loss_limit, "dailyLossLimit")
    st = ex.guard.get(account_id)
    if max_leverage is not None:
        st.max_leverage = max_leverage
    if daily_loss_limit is not None:
        st.daily_loss_limit = daily_loss_limit
    return {"maxLeverage": st.max_leverage, "dailyLossLimit": st.daily_loss_limit}, []


@HANDLERS("set_webhook")
def _set_webhook(ex: Exchange, account_id: int, url: str):
    """The URL the server POSTs this account's notifications to ("" clears it)."""
    ex.clearing.account(account_id)
    url = _str(url, "url", 512, empty=True)
    if url and not (url.startswith("https://") or url.startswith("http://")) or any(c.isspace() for c in url):
        raise E.illegal_param("url", "An http(s) URL.")
    ex.guard.get(account_id).webhook = url
    return {"webhookUrl": url}, []


@HANDLERS("set_alert_levels")
def _set_alert_levels(ex: Exchange, account_id: int, margin_ratios: list | None = None,
                      liq_distances: list | None = None):
    """Per-account alert levels: margin ratios (fractions of 1, 1e-8 units) and distances to the
    liquidation price (percent, 1e-8 units); None restores the venue's defaults."""
    ex.clearing.account(account_id)
    for name, levels in (("marginRatios", margin_ratios), ("liqDistances", liq_distances)):
        if levels is not None and (not isinstance(levels, list) or len(levels) > 10
                                   or any(not isinstance(x, int) or isinstance(x, bool) or x <= 0 for x in levels)):
            raise E.illegal_param(name)
    st = ex.guard.get(account_id)
    st.alert_ratios = sorted(margin_ratios) if margin_ratios is not None else None
    st.alert_distances = sorted(liq_distances, reverse=True) if liq_distances is not None else None
    return {"marginRatios": st.alert_ratios, "liqDistances": st.alert_distances}, []


# ---------------------------------------------------------------------- operator actions
@HANDLERS("operator_ban")
def _operator_ban(ex: Exchange, account_id: int, reason: str, until: int | None = None):
    """Permanent futures ban (e.g. suspected manipulation), or a temporary one with ``until``."""
    ex.clearing.account(account_id)
    reason = _str(reason, "reason")
    st = ex.guard.get(account_id)
    if until is None:
        st.banned = reason
        return None, ex.guard._restrict(st, account_id, ex.now, "BAN", True, 0, reason)
    st.temp_ban_until, st.temp_ban_reason = _int(until, "until", ex.now + 1), reason
    return None, ex.guard._restrict(st, account_id, ex.now, "TEMP_BAN", True, until, reason)


@HANDLERS("operator_unban")
def _operator_unban(ex: Exchange, account_id: int, what: str = "BAN"):
    ex.clearing.account(account_id)
    st = ex.guard.get(account_id)
    if what == "BAN":
        st.banned = ""
    elif what == "TEMP_BAN":
        st.temp_ban_until, st.temp_ban_reason = 0, ""
    elif what == "PAUSE":
        st.pause_until, st.pause_reason = 0, ""
    elif what == "RISK_TEST":
        st.risk_test, st.loss_reset, st.streak = "", ex.now, []
    elif what == "IDENTITY_FLAG":
        st.flagged = ""
    else:
        raise E.illegal_param("what", "One of BAN, TEMP_BAN, PAUSE, RISK_TEST, IDENTITY_FLAG.")
    return None, ex.guard._restrict(st, account_id, ex.now, what, False, 0, "lifted by the operator")


@HANDLERS("operator_freeze")
def _operator_freeze(ex: Exchange, account_id: int, reason: str):
    """Freeze the whole account (e.g. suspected money laundering): every order refused."""
    ex.clearing.account(account_id)
    st = ex.guard.get(account_id)
    st.frozen = _str(reason, "reason")
    return None, ex.guard._restrict(st, account_id, ex.now, "FREEZE", True, 0, st.frozen)


@HANDLERS("operator_unfreeze")
def _operator_unfreeze(ex: Exchange, account_id: int):
    ex.clearing.account(account_id)
    st = ex.guard.get(account_id)
    st.frozen = ""
    return None, ex.guard._restrict(st, account_id, ex.now, "FREEZE", False, 0, "lifted by the operator")


@HANDLERS("operator_restrict")
def _operator_restrict(ex: Exchange, account_id: int, features: dict, reason: str = "compliance",
                       until: int = 0):
    """Feature restrictions (e.g. compliance issues): OPEN (no opening), SYMBOLS (refused symbols),
    MAX_LEVERAGE (a cap). An empty ``features`` lifts them."""
    ex.clearing.account(account_id)
    if not isinstance(features, dict) or any(k not in FEATURES for k in features):
        raise E.illegal_param("features", f"Keys among {', '.join(FEATURES)}.")
    if "OPEN" in features and not isinstance(features["OPEN"], bool):
        raise E.illegal_param("features.OPEN")
    if "SYMBOLS" in features:
        syms = features["SYMBOLS"]
        if not isinstance(syms, list):
            raise E.illegal_param("features.SYMBOLS")
        for s in syms:
            get_instrument(ex.clearing.instruments, s)
    if "MAX_LEVERAGE" in features:
        _int(features["MAX_LEVERAGE"], "features.MAX_LEVERAGE", 1)
    _int(until, "until")
    st = ex.guard.get(account_id)
    st.features = dict(features, reason=_str(reason, "reason"), until=until) if features else {}
    return None, ex.guard._restrict(st, account_id, ex.now, "FEATURES", bool(features), until, reason)


@HANDLERS("register_identity")
def _register_identity(ex: Exchange, account_id: int, identity: str | None = None, device: str | None = None):
    """Record an account's identity-document hash and device fingerprint; duplicates are flagged and
    banned per policy (e.g. one account per ID; device fingerprinting flags)."""
    ex.clearing.account(account_id)
    if identity is not None:
        _str(identity, "identity", 128)
    if device is not None:
        _str(device, "device", 128)
    if not identity and not device:
        raise E.bad_param("identity")
    return ex.guard.register_identity(account_id, identity, device, ex.now)


@HANDLERS("add_incident")
def _add_incident(ex: Exchange, kind: str, start: int, end: int, symbol: str = "", note: str = ""):
    """Log a venue incident (stale index feed, outlier feed, venue fault) with its time window."""
    if kind not in INCIDENT_KINDS:
        raise E.illegal_param("kind", f"One of {', '.join(INCIDENT_KINDS)}.")
    start, end = _int(start, "start"), _int(end, "end")
    if end < start:
        raise E.illegal_param("end", "It must not be before start.")
    if symbol:
        get_instrument(ex.clearing.instruments, symbol)
    return ex.guard.add_incident(kind, start, end, symbol, _str(note, "note", 500, empty=True)), []


@HANDLERS("appeal_liquidation")
def _appeal_liquidation(ex: Exchange, account_id: int, symbol: str, liquidation_time: int):
    return ex.guard.appeal(account_id, symbol, _int(liquidation_time, "liquidationTime"), ex.now)


# ---------------------------------------------------------------------- the pre-trade preview
@HANDLERS("risk_preview")
def _risk_preview(ex: Exchange, account_id: int, symbol: str, side: str, quantity: int, price: int | None = None,
                  leverage: int | None = None, margin_type: str | None = None, position_side: str | None = None,
                  stop_price: int | None = None):
    """Read-only: the position this order would leave, solved as if filled at ``price`` (default: the
    mark): its liquidation price, the move to it, the share of the account's margin it takes, and
    warnings (the review questions asked before the trade)."""
    return risk_preview(ex, account_id, symbol, side, quantity, price, leverage, margin_type, position_side,
                        stop_price), []


def risk_preview(ex: Exchange, account_id: int, symbol: str, side: str, quantity: int, price: int | None = None,
                 leverage: int | None = None, margin_type: str | None = None, position_side: str | None = None,
                 stop_price: int | None = None) -> dict:
    ch = ex.clearing
    acct = ch.account(account_id)
    ins = get_instrument(ch.instruments, symbol)
    table = ch.table(symbol)
    if side not in ("BUY", "SELL"):
        raise E.illegal_param("side")
    qty = _int(quantity, "quantity", 1)
    cfg = ch.config(acct, symbol)
    lev = cfg.leverage if leverage is None else _int(leverage, "leverage", 1)
    if lev > table.max_leverage:
        raise VenueError(E.INVALID_LEVERAGE, f"Leverage {lev} is not valid")
    if margin_type not in (None, "ISOLATED", "CROSSED"):
        raise E.illegal_param("marginType")
    isolated = cfg.isolated if margin_type is None else margin_type == "ISOLATED"
    mark = ch.mark(symbol)
    px = mark if price is None else _int(price, "price", 1)
    if not px:
        raise VenueError(-1130, "Data sent for parameter 'price' is not valid. There is no mark price yet; send one.")
    mark = mark or px
    if acct.hedge_mode:
        ps = position_side or (LONG if side == "BUY" else SHORT)
    else:
        ps = BOTH
    if ps not in (BOTH, LONG, SHORT) or (ps == BOTH) == acct.hedge_mode:
        raise VenueError(E.POSITION_SIDE_MISMATCH, "Order's position side does not match user's setting.")
    asset = ins.margin_asset
    cur = acct.positions.get((symbol, ps))
    same_mode = cur is not None and cur.qty and cur.isolated == isolated
    p = Position(account_id, symbol, ps)
    if same_mode:
        p.qty, p.cost = cur.qty, cur.cost
    realized, closed, opened = p.fill(qty if side == "BUY" else -qty, px)
    fee = mul(notional(qty, px), acct.taker_rate)
    order_im = initial_margin(notional(opened, px), lev)
    pos_notional = notional(p.qty, px)
    pos_im = initial_margin(pos_notional, lev)
    # the account's margin: cross margin balance plus isolated wallets and their PnL
    cf = ch.cross_figures(account_id, asset)
    iso_equity = sum(pp.wallet.balance + unrealized_pnl(pp.qty, pp.cost, ch.mark(pp.symbol) or pp.entry_price)
                     for pp in acct.open_positions() if pp.wallet is not None)
    equity = cf.margin_balance + iso_equity
    legs = [Leg(p.qty, p.cost, table)] if p.qty else []
    others = []
    if isolated:
        iw = (cur.wallet.balance if same_mode and cur.wallet is not None else 0) + order_im + realized
        lp = liquidation_price(iw, legs)
    else:
        others_mm = others_upnl = 0
        for o in acct.open_positions():
            if (o.wallet is not None or ch.instruments[o.symbol].margin_asset != asset
                    or (o.symbol, o.side) == (symbol, ps)):
                continue
            others.append(f"{o.symbol} {o.side}")
            if o.symbol == symbol:
                legs.append(Leg(o.qty, o.cost, table))
            else:
                mp = ch.mark(o.symbol) or o.entry_price
                others_mm += ch.table(o.symbol).maint_margin(notional(o.qty, mp))
                others_upnl += unrealized_pnl(o.qty, o.cost, mp)
        lp = liquidation_price(cf.wallet_balance - fee + realized, legs, others_mm, others_upnl)
    move = price_move_to_liquidation(p.qty, mark, lp)
    share = div(pos_im, equity) if equity > 0 else None
    has_stop = stop_price is not None
    if not has_stop:
        closing = "SELL" if p.qty > 0 else "BUY"
        has_stop = any(a.type in ("STOP", "STOP_MARKET", "TRAILING_STOP_MARKET") and a.side == closing
                       for a in ex.orders.open_algo_orders(account_id, symbol))
    warnings = []
    if lev > WARN_LEVERAGE:
        warnings.append({"code": "HIGH_LEVERAGE", "msg": f"Leverage {lev}x is above {WARN_LEVERAGE}x: a "
                         f"{100 / lev:.2f}% move against you wipes out the margin. Consider {max(1, lev // 2)}x."})
    if not has_stop and p.qty:
        warnings.append({"code": "NO_STOP_LOSS", "msg": "No stop-loss: set one above the liquidation price "
                         "(long) or below it (short) before you open."})
    if share is None or share > WARN_SHARE:
        warnings.append({"code": "OVERSIZED", "msg": "This position would take more than 20% of the account's "
                         "margin; keep each position at or below 20%."})
    if not isolated and others and p.qty:
        warnings.append({"code": "CROSS_SHARED", "msg": f"Cross margin is shared with {', '.join(others)}: a loss "
                         "here can liquidate them too; consider isolated margin."})
    if stop_price is not None and lp is not None and p.qty and (
            (p.qty > 0 and stop_price <= lp) or (p.qty < 0 and stop_price >= lp)):
        warnings.append({"code": "STOP_BEYOND_LIQUIDATION", "msg": "The stop-loss is beyond the liquidation "
                         "price: the position would be liquidated first."})
    restriction = None
    try:
        ex.guard.check_open(account_id, symbol, bool(p.qty == 0 or closed and not opened), lev, ex.now)
    except VenueError as e:
        restriction = e.to_dict()
    return {"symbol": symbol, "side": side, "positionSide": ps, "quantity": qty, "price": px, "markPrice": mark,
            "leverage": lev, "marginType": "ISOLATED" if isolated else "CROSSED",
            "positionAfter": p.qty, "entryPriceAfter": p.entry_price, "notional": pos_notional,
            "orderInitialMargin": order_im, "positionInitialMargin": pos_im, "fee": fee,
            "liquidationPrice": lp, "priceMoveToLiquidation": move, "accountMargin": equity,
            "shareOfAccountMargin": share, "hasStopLoss": has_stop, "warnings": warnings,
            "allowed": restriction is None, "restriction": restriction}


# ---------------------------------------------------------------------- a frozen account
#: account commands a frozen account is refused (e.g. "Entire account frozen"), checked by the
#: exchange's admit stage before the handler runs; nothing changes for any other account
FROZEN_REFUSES = {"transfer": "transfers", "withdraw": "withdrawals", "set_margin_type": "settings",
                  "set_position_mode": "settings", "adjust_isolated_margin": "margin changes",
                  "create_api_key": "API keys"}
