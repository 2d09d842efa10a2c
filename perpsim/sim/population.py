"""The population: accounts, their settings and their opening positions, as venue commands.

Drawn from the scenario's seeded generator (numpy), then turned into exact integers before any
command is built: a wallet in whole cents, a leverage as an integer capped by the symbol's
bracket table, a quantity on the step. Accounts are registered ``account_age_days`` before the
scenario starts (so Binance's 20x cap for new accounts, when trader protection is on, has lapsed
by default) and open at the first tick's price:

* longs are matched against shorts of the population in id order (one ``trade`` command per
  matched piece, the long the taker), so a long's counterparty is a trader who can be
  auto-deleveraged, as on the venue;
* what the long/short skew leaves over is taken by the market maker and, past its position cap,
  by "holder" accounts (the rest of the market: leverage 1, wallet twice their notional).

``commands`` yields the commands; ``apply_bulk`` runs them through the handlers directly and then
re-checks every account once (liquidation, margin calls, trader protection), which gives the state
the same commands applied one by one through ``Exchange.apply`` give (tests/test_sim.py), in a
fraction of the time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.exchange import Command, Exchange
from ..core.risk import accounts_in
from ..core.fixed import SCALE
from .scenario import Dist, Population, Scenario

USDT = "USDT"


@dataclass
class Trader:
    """One drawn account (the columns of the population, kept per account for the results)."""

    account_id: int
    symbol: str
    wallet: int
    leverage: int
    long: bool
    isolated: bool
    hedge: bool
    qty: int
    stop_pct: float          # 0: no stop-loss
    policy: str


def draw(d: Dist, rng: np.random.Generator, n: int) -> np.ndarray:
    if d.kind == "fixed":
        x = np.full(n, d.a, dtype=float)
    elif d.kind == "uniform":
        x = rng.uniform(d.a, d.b, n)
    else:
        x = d.a * np.exp(rng.standard_normal(n) * d.b)
    if d.lo is not None or d.hi is not None:
        x = np.clip(x, d.lo if d.lo is not None else -np.inf, d.hi if d.hi is not None else np.inf)
    return x


def draw_traders(sc: Scenario, rng: np.random.Generator, prices: dict[str, int], tables, instruments) -> list[Trader]:
    pop: Population = sc.population
    n = pop.accounts
    names = [s for s, _ in pop.symbols]
    w = np.array([x for _, x in pop.symbols], dtype=float)
    sym = rng.choice(len(names), size=n, p=w / w.sum())
    wallet = draw(pop.wallet, rng, n)
    lev = draw(pop.leverage, rng, n)
    share = draw(pop.size_share, rng, n)
    long = rng.random(n) < pop.long_share
    iso = rng.random(n) < pop.isolated_share
    hedge = rng.random(n) < pop.hedge_share
    stop = rng.random(n) < pop.stop_loss_share
    stop_pct = draw(pop.stop_loss_distance_pct, rng, n)
    choices = [p for p, _ in sc.behaviour.policies] + [c for c, _ in sc.behaviour.custom]
    shares = np.array([s for _, s in sc.behaviour.policies] + [s for _, s in sc.behaviour.custom], dtype=float)
    policy = rng.choice(len(choices), size=n, p=shares / shares.sum())
    out = []
    for i in range(n):
        s = names[sym[i]]
        ins, table, price = instruments[s], tables[s], prices[s]
        cents = max(1, int(round(float(wallet[i]) * 100)))
        wal = cents * SCALE // 100
        leverage = max(1, min(int(round(float(lev[i]))), table.max_leverage))
        notional = wal * float(share[i]) * leverage
        qty = int(notional * SCALE / price) // ins.step_size * ins.step_size
        cap = table.max_notional(leverage) * 99 // 100
        qty = min(qty, cap * SCALE // price // ins.step_size * ins.step_size)
        least = -(-(ins.min_notional * 11 // 10) * SCALE // price // ins.step_size) * ins.step_size
        qty = max(qty, least, ins.min_qty)
        out.append(Trader(i + 1, s, wal, leverage, bool(long[i]), bool(iso[i]), bool(hedge[i]), qty,
                          float(stop_pct[i]) if stop[i] else 0.0, choices[policy[i]]))
    return out


def commands(sc: Scenario, traders: list[Trader], mm: int, prices: dict[str, int], t_open: int, t_start: int,
             instruments, tables):
    """The population's commands: registration at ``t_open``, settings and positions at ``t_start``."""
    holders_wallet: list[tuple[int, str, int]] = []
    for t in traders:
        yield Command("create_account", {"account_id": t.account_id, "deposit": {USDT: t.wallet}}, t_open)
    yield Command("create_account", {"account_id": mm, "deposit": {USDT: sc.liquidity.wallet}}, t_open)
    for m in sc.market:
        yield Command("set_index", {"symbol": m.symbol, "price": prices[m.symbol]}, t_start)
    for m in sc.market:
        yield Command("set_leverage", {"account_id": mm, "symbol": m.symbol, "leverage": 1}, t_start)
    for t in traders:
        if t.hedge:
            yield Command("set_position_mode", {"account_id": t.account_id, "dual_side": True}, t_start)
        if t.isolated:
            yield Command("set_margin_type", {"account_id": t.account_id, "symbol": t.symbol,
                                              "margin_type": "ISOLATED"}, t_start)
        yield Command("set_leverage", {"account_id": t.account_id, "symbol": t.symbol, "leverage": t.leverage},
                      t_start)
    next_id = mm + 1
    for m in sc.market:
        s = m.symbol
        longs = [[t, t.qty] for t in traders if t.symbol == s and t.long]
        shorts = [[t, t.qty] for t in traders if t.symbol == s and not t.long]
        price = prices[s]
        i = j = 0
        while i < len(longs) and j < len(shorts):
            q = min(longs[i][1], shorts[j][1])
            yield _trade(longs[i][0], shorts[j][0], s, q, price)
            longs[i][1] -= q
            shorts[j][1] -= q
            i += not longs[i][1]
            j += not shorts[j][1]
        rest = [(t, q, t.long) for t, q in longs[i:] + shorts[j:] if q]
        # the residual: the market maker up to half its cap at 1x, then holders of the same size
        cap = tables[s].max_notional(1) // 2
        held, holder = 0, mm
        for t, q, is_long in rest:
            while q:
                room = (cap - held) * SCALE // price // instruments[s].step_size * instruments[s].step_size
                if room <= 0:
                    holder, held = next_id, 0
                    next_id += 1
                    holders_wallet.append((holder, s, 2 * cap))
                    yield Command("create_account", {"account_id": holder, "deposit": {USDT: 2 * cap}}, t_start)
                    yield Command("set_leverage", {"account_id": holder, "symbol": s, "leverage": 1}, t_start)
                    continue
                take = min(q, room)
                yield _trade(t if is_long else None, None if is_long else t, s, take, price, other=holder)
                held += take * price // SCALE
                q -= take
    for t in traders:
        if t.stop_pct:
            ins = instruments[t.symbol]
            p = prices[t.symbol]
            trigger = int(p * (1 - t.stop_pct / 100)) if t.long else int(p * (1 + t.stop_pct / 100))
            trigger = max(ins.tick_size, trigger // ins.tick_size * ins.tick_size)
            args = {"account_id": t.account_id, "symbol": t.symbol, "side": "SELL" if t.long else "BUY",
                    "type": "STOP_MARKET", "trigger_price": trigger, "close_position": True,
                    "working_type": "MARK_PRICE"}
            if t.hedge:
                args["position_side"] = "LONG" if t.long else "SHORT"
            yield Command("place_algo_order", args, t_start)


def _trade(buyer, seller, symbol, qty, price, other=None) -> Command:
    args = {"buyer": buyer.account_id if buyer else other, "seller": seller.account_id if seller else other,
            "symbol": symbol, "qty": qty, "price": price, "taker": "BUY" if buyer else "SELL"}
    if buyer is not None and buyer.hedge:
        args["buyer_position_side"] = "LONG"
    if seller is not None and seller.hedge:
        args["seller_position_side"] = "SHORT"
    return Command("trade", args, 0)


def apply_bulk(ex: Exchange, cmds, by_command: bool = False) -> list:
    """Apply the population's commands; returns the refused ones as (command, error).

    ``by_command``: through ``Exchange.apply`` one by one (the reference path). Otherwise each
    command's handler runs directly and, at the end, every touched account is re-checked once
    (detector, waterfall, margin calls) and trader protection observes all the events.
    """
    refused = []
    if by_command:
        for c in cmds:
            c = c if c.ts else c._replace(ts=ex.now)
            r = ex.apply(c)
            if not r.ok:
                refused.append((c, r.error))
        return refused
    from ..core.errors import VenueError
    events: list = []
    touched: set[int] = set()
    for c in cmds:
        ex.commands += 1
        events += ex.advance_to(c.ts or ex.now)
        try:
            _, evs = ex.handle(c)
        except VenueError as e:
            refused.append((c, e))
            continue
        events += evs
        touched |= accounts_in(evs)
    ex.risk.band_next(touched)      # the first mark follows at once: band the population now
    events += ex.check_accounts(touched)
    ex.guard.observe(events, ex.now)
    return refused
