"""One scenario run: the venue's own ``Exchange``, driven in process by commands, tick by tick.

Setup (all as commands): venue settings, the bracket table's date (default: the scenario's start
day), the insurance fund, the population (``population.py``), the market maker's first quotes.
Each tick then: ``set_index`` per symbol (the mark follows by Binance's median rule of Price 1,
Price 2 and the last price; conditional orders trigger; the detector finds what the move made
liquidatable; the waterfall runs: book, clearance fee, insurance fund, ADL), the market maker's
``quote`` every ``refill_ticks`` (its depth thinned by the recent move), then the strategies of the
accounts something happened to or that asked to be woken, in account order. Liquidation orders
fill against the book, move the last price, the next mark follows, and more accounts fall.

No journal, no HTTP, no wall clock: a run is a pure function of (scenario, seed), and its
``state_hash`` is the venue's own.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time

import numpy as np

from ..core.events import (AdlRecord, FundingSettled, InsuranceFundChanged, LiquidationRecord, MarginCall,
                           MarkPriceUpdate, TradeSettled)
from ..core.exchange import Command, Exchange
from ..core.fixed import SCALE, mul
from ..core.instruments import default_instruments
from ..core.ledger import FUTURES
from . import paths as paths_mod
from .policies import POLICY_CLASSES
from .population import USDT, apply_bulk, commands, draw_traders
from .scenario import DAY_MS, Scenario
from .strategy import Context, load_strategy

#: trader protection off: every control and alert made inert through its own settings
PROTECTION_OFF = {
    "guard_new_account_days": 0,
    "guard_liq_streak": 10**9,
    "guard_loss_rate": 10**6 * SCALE,
    "guard_shrink_rate": 10**6 * SCALE,
    "guard_repeat_triggers": 10**9,
    "guard_alert_margin_ratios": [],
    "guard_alert_liq_distances": [],
}


@dataclasses.dataclass
class Run:
    """What a run leaves: the venue, the drawn traders, and the raw rows for results.py."""

    scenario: Scenario
    seed: int
    ex: Exchange
    traders: list
    mm: int
    ticks: list            # per tick per symbol: dicts
    liquidations: list     # per LiquidationRecord: dicts
    accounts: dict         # account id -> per-account counters (deposits, liquidations, rounds)
    fund_start: int
    fund_min: int
    negative_cover: int
    adl_events: int
    adl_notional: int
    margin_calls: int
    refused: int
    seconds: float
    setup_seconds: float
    strategy_state: dict = dataclasses.field(default_factory=dict)   # account id -> its strategy's ctx.state


class Engine:
    def __init__(self, sc: Scenario, seed: int | None = None, by_command: bool = False, on_tick=None,
                 progress=None):
        self.sc = sc
        self.seed = sc.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.by_command = by_command
        self.on_tick = on_tick
        self.progress = progress
        self.tick = 0
        self._wakes: dict[int, list[int]] = {}

    def wake(self, account_id: int, ticks: int) -> None:
        self._wakes.setdefault(self.tick + ticks, []).append(account_id)

    def _apply(self, kind: str, args: dict, ts: int) -> list:
        r = self.ex.apply(Command(kind, args, ts))
        if not r.ok:
            raise RuntimeError(f"setup command {kind} refused: {r.error}")
        return r.events

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        t0 = time.perf_counter()
        self._setup()
        self.setup_seconds = time.perf_counter() - t0

    def _setup(self) -> None:
        sc = self.sc
        self.paths = p = paths_mod.build(sc, self.rng)
        instruments = default_instruments()
        if sc.venue.clearance_fee is not None:
            instruments = {s: dataclasses.replace(i, liquidation_fee=sc.venue.clearance_fee)
                           for s, i in instruments.items()}
        self.ex = ex = Exchange(instruments)
        t_start = p.start_ms
        t_open = t_start - sc.population.account_age_days * DAY_MS
        day = sc.venue.bracket_date or dt.datetime.fromtimestamp(t_start / 1000, dt.timezone.utc).date().isoformat()
        self._apply("set_bracket_date", {"date": day}, t_open)
        settings = {"mark_from_book": True} | dict(sc.venue.settings)   # the cascade: last price -> mark
        if not sc.venue.trader_protection:
            settings = PROTECTION_OFF | settings
        settings["risk_scan"] = sc.venue.risk_scan   # read by engines that know it; stored either way
        for name in sorted(settings):
            self._apply("set_setting", {"name": name, "value": settings[name]}, t_open)
        if sc.venue.insurance_fund:
            self._apply("fund_insurance", {"asset": USDT, "amount": sc.venue.insurance_fund}, t_open)
        self.fund = ex.insurance_account(USDT)
        prices = {s: int(a[0]) for s, a in p.prices.items()}
        tables = {s: ex.clearing.table(s) for s in p.prices}
        self.traders = draw_traders(sc, self.rng, prices, tables, ex.clearing.instruments)
        self.mm = len(self.traders) + 1
        cmds = list(commands(sc, self.traders, self.mm, prices, t_open, t_start, ex.clearing.instruments, tables))
        self.refused = len(apply_bulk(ex, cmds, by_command=self.by_command))
        self.strategies = {}
        for name in {t.policy for t in self.traders}:
            if name in POLICY_CLASSES:
                self.strategies[name] = POLICY_CLASSES[name](sc.behaviour)
            elif name != "walk_away":
                self.strategies[name] = load_strategy(name, sc.base_dir)
        self.driven = {t.account_id: self.strategies[t.policy] for t in self.traders if t.policy in self.strategies}
        self.state: dict[int, dict] = {}
        self.accounts = {t.account_id: {"deposits": t.wallet, "liquidations": 0, "rounds": 0}
                         for t in self.traders}
        self.depth = {s: sc.liquidity.notional for s in p.prices}
        for s in sorted(p.prices):
            self._quote(s, t_start)

    def _quote(self, symbol: str, ts: int) -> list:
        lq = self.sc.liquidity
        r = self.ex.apply(Command("quote", {"account_id": self.mm, "symbol": symbol, "levels": lq.levels,
                                            "spread_bps": lq.spread_bps, "step_bps": lq.step_bps,
                                            "notional": self.depth[symbol], "growth_pct": lq.growth_pct}, ts))
        return r.events

    def _thin(self, symbol: str) -> None:
        """Depth under stress: ``thin_per_pct`` of it lost per 1% the index moved over the window."""
        lq = self.sc.liquidity
        prices = self.paths.prices[symbol]
        i = self.tick
        j = max(0, i - lq.thin_window_ticks)
        move = abs(int(prices[i]) - int(prices[j])) * 100 / int(prices[j])
        share = max(lq.thin_floor, 1 - lq.thin_per_pct * move)
        self.depth[symbol] = max(1, int(lq.notional * share) // SCALE * SCALE)

    # ------------------------------------------------------------------ the run
    def run(self) -> Run:
        t0 = time.perf_counter()
        if not hasattr(self, "ex"):      # setup() may have run already (to measure it apart)
            self.setup()
            self.setup_seconds = time.perf_counter() - t0
        t_setup = self.setup_seconds
        ex, p, sc = self.ex, self.paths, self.sc
        fund_wallet = ex.clearing.user_wallet(self.fund, FUTURES, USDT)
        fund_start = fund_min = fund_wallet.balance
        ticks_rows, liq_rows = [], []
        self.liq_rows = liq_rows   # read by progress displays
        adl_events = adl_notional = negative_cover = margin_calls = 0
        symbols = sorted(p.prices)
        funding = {s: 0 for s in symbols}
        real = {s: iter(p.funding.get(s, [])) for s in symbols}
        real_next = {s: next(real[s], None) for s in symbols}
        real_rate = {s: None for s in symbols}
        carry: list = []
        errors_next: dict[int, list] = {}
        n = p.ticks
        for i in range(1, n):
            self.tick = i
            ts = p.start_ms + i * p.tick_ms
            events: list = []
            for s in symbols:
                events += self.ex.apply(Command("set_index", {"symbol": s, "price": int(p.prices[s][i])}, ts)).events
            if i % sc.liquidity.refill_ticks == 0:
                for s in symbols:
                    if sc.liquidity.thin_per_pct:
                        self._thin(s)
                    events += self._quote(s, ts)
            # strategies: accounts something happened to (this tick, or their own actions last tick),
            # then those that asked to be woken
            pending: dict[int, Context] = {}
            self._collect(carry + events, pending)
            carry = []
            for a, errs in errors_next.items():
                self._context(pending, a).errors = errs
            errors_next = {}
            woken = self._wakes.pop(i, [])
            starting = self.driven if i == 1 else {}
            for a in sorted(set(pending) | set(woken) | set(starting)):
                ctx = self._context(pending, a)
                strat = self.driven[a]
                if a in starting and hasattr(strat, "on_start"):
                    strat.on_start(ctx)
                if (ctx.fills or ctx.liquidations or ctx.errors) and hasattr(strat, "on_event"):
                    strat.on_event(ctx)
                if a in woken and hasattr(strat, "on_wake"):
                    strat.on_wake(ctx)
                for c in ctx.actions:
                    r = ex.apply(c._replace(ts=ts))
                    events += r.events
                    carry += r.events
                    if not r.ok:
                        errors_next.setdefault(a, []).append((c.kind, r.error.code, r.error.msg))
                        self.refused += 1
                    elif c.kind == "deposit":
                        self.accounts[a]["deposits"] += c.args["amount"]
                if a in self.accounts:
                    self.accounts[a]["rounds"] = ctx.state.get("rounds", 0)
            # per tick figures
            per = {s: dict(liquidations=0, liquidated_qty=0, liquidated_notional=0, book_qty=0, insurance_qty=0,
                           adl_qty=0, adl_events=0, adl_notional=0, margin_calls=0) for s in symbols}
            for e in events:
                t = type(e)
                if t is LiquidationRecord:
                    row = per[e.symbol]
                    notional = mul(e.qty, e.execution_price)
                    row["liquidations"] += 1
                    row["liquidated_qty"] += e.qty
                    row["liquidated_notional"] += notional
                    row["book_qty"] += e.book_qty
                    row["insurance_qty"] += e.insurance_qty
                    row["adl_qty"] += e.adl_qty
                    acct = self.accounts.get(e.account_id)
                    if acct is not None:
                        acct["liquidations"] += 1
                    margin = mul(e.qty, e.entry_price) // max(1, e.leverage)
                    liq_rows.append({
                        "tick": i, "time": ts, "account_id": e.account_id, "symbol": e.symbol, "side": e.side,
                        "position_side": e.position_side, "margin_type": e.margin_type, "leverage": e.leverage,
                        "entry_price": e.entry_price, "mark_price": e.mark_price,
                        "liquidation_price": e.liquidation_price or 0, "bankruptcy_price": e.bankruptcy_price or 0,
                        "execution_price": e.execution_price, "qty": e.qty, "notional": notional,
                        "book_qty": e.book_qty, "insurance_qty": e.insurance_qty, "adl_qty": e.adl_qty,
                        "loss": e.loss, "clearance_fee": e.clearance_fee, "insurance_delta": e.insurance_delta,
                        "wallet_after": e.wallet_after, "partial": e.partial, "margin": margin,
                        "loss_rate": (e.loss / margin) if margin else None,
                        "policy": self.traders[e.account_id - 1].policy if 0 < e.account_id <= len(self.traders)
                        else ("market_maker" if e.account_id == self.mm else "holder"),
                        "round": self.state.get(e.account_id, {}).get("rounds", 0)})
                elif t is AdlRecord:
                    per[e.symbol]["adl_events"] += 1
                    per[e.symbol]["adl_notional"] += mul(e.qty, e.price)
                elif t is InsuranceFundChanged and e.reason == "NEGATIVE_BALANCE":
                    negative_cover -= e.delta
                elif t is MarginCall:
                    per[self._call_symbol(e)]["margin_calls"] += 1
                elif t is MarkPriceUpdate:
                    funding[e.symbol] = e.funding_rate
            fund_min = min(fund_min, fund_wallet.balance)
            for s in symbols:
                while real_next[s] is not None and real_next[s][0] <= ts:
                    real_rate[s] = real_next[s][1]
                    real_next[s] = next(real[s], None)
                m = ex.markets[s]
                book = ex.orders.book(s)
                row = per[s]
                adl_events += row["adl_events"]
                adl_notional += row["adl_notional"]
                margin_calls += row["margin_calls"]
                ticks_rows.append({"tick": i, "time": ts, "symbol": s, "index": m.index, "mark": ex.clearing.mark(s),
                                   "last": m.last, "best_bid": book.best_bid() or 0, "best_ask": book.best_ask() or 0,
                                   "depth_notional": self.depth[s], **row, "insurance_fund": fund_wallet.balance,
                                   "funding_rate": funding[s], "real_funding_rate": real_rate[s]})
            if self.on_tick is not None:
                self.on_tick(self, i)
            if self.progress is not None:
                self.progress(i, n - 1)
        return Run(sc, self.seed, ex, self.traders, self.mm, ticks_rows, liq_rows, self.accounts, fund_start,
                   fund_min, negative_cover, adl_events, adl_notional, margin_calls, self.refused,
                   time.perf_counter() - t0, t_setup, self.state)

    def _context(self, pending: dict, account_id: int) -> Context:
        ctx = pending.get(account_id)
        if ctx is None:
            ctx = pending[account_id] = Context(self, account_id, self.state.setdefault(account_id, {}))
        return ctx

    def _collect(self, events: list, pending: dict) -> None:
        """Hand each driven account its fills and liquidations."""
        driven = self.driven
        for e in events:
            t = type(e)
            if (t is LiquidationRecord or t is TradeSettled) and e.account_id in driven:
                ctx = self._context(pending, e.account_id)
                (ctx.liquidations if t is LiquidationRecord else ctx.fills).append(e)

    def _call_symbol(self, e) -> str:
        if e.symbol:
            return e.symbol
        acct = self.ex.clearing.accounts.get(e.account_id)
        held = sorted(p.symbol for p in acct.open_positions()) if acct else []
        return held[0] if held else sorted(self.paths.prices)[0]


def run(sc: Scenario, seed: int | None = None, **kw) -> Run:
    return Engine(sc, seed, **kw).run()
