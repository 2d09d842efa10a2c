"""The liquidity agent: a market maker that quotes a ladder around the index.

``quote`` is one journaled command per refresh: cancel the agent's resting orders in the
symbol, then post ``levels`` post-only (GTX) bids and asks, the first ``spread_bps / 2`` away
from the index, each next ``step_bps`` further, ``size`` per level growing by ``growth_pct``
per level. Refreshing on every index tick refills what was taken, so liquidation orders meet
a real book, slip through it, and can exhaust it between refreshes. Not a Binance mechanism:
a stand-in for the market's depth [I]; its parameters are settings.
"""
from __future__ import annotations

from .errors import VenueError
from typing import TYPE_CHECKING

from .commands import Handlers
from .fixed import SCALE, ceil_div

if TYPE_CHECKING:
    from .exchange import Exchange

DEFAULTS = {"levels": 10, "spread_bps": 4, "step_bps": 3, "notional": 20_000 * SCALE, "growth_pct": 50}


HANDLERS = Handlers()


def ladder(index: int, tick: int, step: int, levels: int, spread_bps: int, step_bps: int, size: int,
           growth_pct: int) -> list[tuple[str, int, int]]:
    """(side, price, qty) of each quote, nearest first; prices on the tick, sizes on the step."""
    quotes = []
    for i in range(levels):
        off = spread_bps * 5_000 + i * step_bps * 10_000          # 1e-8 units of a rate: 1 bp = 10_000
        bid = index * (SCALE - off) // SCALE // tick * tick
        ask = ceil_div(index * (SCALE + off) // SCALE, tick) * tick
        qty = max(step, size * (100 + growth_pct * i) // 100 // step * step)
        if bid > 0:
            quotes.append(("BUY", bid, qty))
        quotes.append(("SELL", ask, qty))
    return quotes


@HANDLERS("quote")
def _quote(ex: Exchange, account_id: int, symbol: str, levels: int = DEFAULTS["levels"],
           spread_bps: int = DEFAULTS["spread_bps"], step_bps: int = DEFAULTS["step_bps"],
           notional: int = DEFAULTS["notional"], growth_pct: int = DEFAULTS["growth_pct"]):
    for name, v in (("levels", levels), ("spread_bps", spread_bps), ("step_bps", step_bps), ("notional", notional),
                    ("growth_pct", growth_pct)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (name in ("levels", "notional") and v == 0):
            raise VenueError(-1130, f"Data sent for parameter '{name}' is not valid.")
    if levels > 50:
        raise VenueError(-1130, "Data sent for parameter 'levels' is not valid. At most 50.")
    m = ex.markets.get(symbol)
    if m is None or not m.index:
        raise VenueError(-1130, "Data sent for parameter 'symbol' is not valid. Set its price first.")
    ins = ex.clearing.instruments[symbol]
    ex.clearing.account(account_id)
    events: list = []
    if ex.orders.resting.get(symbol, {}).get(account_id):
        events += ex.orders.cancel_all(account_id, symbol, ex.now)[1]
    size = max(ins.step_size, notional * SCALE // m.index // ins.step_size * ins.step_size)
    placed = 0
    for side, price, qty in ladder(m.index, ins.tick_size, ins.step_size, levels, spread_bps, step_bps, size,
                                   growth_pct):
        try:
            _, evs = ex.orders.place(account_id, symbol, side, "LIMIT", quantity=qty, price=price,
                                     time_in_force="GTX", now=ex.now)
        except VenueError:
            continue  # a level that would take, or that the filters refuse, is skipped
        events += evs
        placed += 1
    return {"placed": placed}, events
