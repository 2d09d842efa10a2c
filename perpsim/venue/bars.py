"""Klines as Binance serves them: a bar for every interval up to the one holding "now".

Binance's ``/fapi/v1/klines`` (and the mark and index price klines) return a bar for every
interval up to the current one; an interval without trades is a flat bar at the previous close
with zero volume. This module composes the bars a query sees from three sources, oldest first:

1. the venue's past (``past.py``: a seeded synthetic or replayed history before the anchor);
2. before a symbol's first trade on this venue, its mark price bars with zero volume (our
   choice: a never-traded symbol opens at its mark, so bots see the market it would trade at);
3. the core's own bars (``core/marketdata.py`` trades, ``core/price_klines.py`` marks).

A bar that two sources share (the anchor cuts it, or the first trade falls inside it) is merged
(open of the earlier, high and low of both, close of the later). Then every interval from the
first bar to the one holding ``now`` gets a bar; quiet ones are flat at the previous close.
"""
from __future__ import annotations

import bisect
from typing import Callable

from perpsim.core.marketdata import INTERVALS, bar_close, bar_open, merge_ohlc

#: trade-kline storage layout: [open, o, h, l, c, vol, quote, count, tb_vol, tb_quote, first_id, last_id]
def trade_flat(t: int, close: int) -> list:
    return [t, close, close, close, close, 0, 0, 0, 0, 0, -1, -1]


#: price-kline layout: [open, o, h, l, c, count]
def price_flat(t: int, close: int) -> list:
    return [t, close, close, close, close, 0]


def as_trade_bar(b: list) -> list:
    """An OHLC bar (past or mark) in the trade layout, with no volume and no trades."""
    return [b[0], b[1], b[2], b[3], b[4], 0, 0, 0, 0, 0, -1, -1]


def as_price_bar(b: list) -> list:
    return [b[0], b[1], b[2], b[3], b[4], 0]


def compose(*sources: list[list], merge: Callable[[list, list], None] = merge_ohlc) -> list[list]:
    """Bars of several sources (each oldest first; earlier sources are older) keyed by open time."""
    out: list[list] = []
    for bars in sources:
        for b in bars:
            if out and out[-1][0] == b[0]:
                merge(out[-1], b)
            elif not out or b[0] > out[-1][0]:
                out.append(b[:])
    return out


def _next_open(interval: str, t: int) -> int:
    length = INTERVALS[interval]
    return bar_close(interval, t) + 1 if length is None else t + length


def window(bars: list[list], interval: str, start: int | None, end: int | None, limit: int, now: int,
           flat: Callable[[int, int], list]) -> list[list]:
    """Bars with open time in [start, end] and at most the bar holding ``now``: the first ``limit``
    from ``start``, else the last ``limit``; intervals without a bar are flat at the previous close."""
    if not bars:
        return []
    first = bars[0][0]
    last = bar_open(interval, now if end is None else min(end, now))
    last = max(last, bars[-1][0]) if end is None or bars[-1][0] <= end else last
    opens = [b[0] for b in bars]
    if start is not None:
        t = max(bar_open(interval, start), first)
        if t < start:
            t = _next_open(interval, t)
        slots = []
        while t <= last and len(slots) < limit:
            slots.append(t)
            t = _next_open(interval, t)
    else:
        slots = []
        t = last
        while t >= first and len(slots) < limit:
            slots.append(t)
            t = bar_open(interval, t - 1)
        slots.reverse()
    out: list[list] = []
    prev_close = None
    for t in slots:
        i = bisect.bisect_left(opens, t)
        if i < len(opens) and opens[i] == t:
            b = bars[i][:]
        else:
            close = prev_close if prev_close is not None else bars[i - 1][4]
            b = flat(t, close)
        out.append(b)
        prev_close = b[4]
    return out


def _price_raw(ex, symbol: str, kind: str, interval: str) -> list[list]:
    pk = ex.__dict__.get("price_klines")
    s = pk.series.get((symbol, kind)) if pk is not None else None
    return s._raw(interval) if s is not None else []


def price_sources(ex, past, symbol: str, kind: str, interval: str) -> list[list]:
    """A symbol's mark or index bars: the past's, then the venue's (``[open, o, h, l, c, count]``)."""
    live = _price_raw(ex, symbol, kind, interval)
    old = [as_price_bar(b) for b in past.bars(symbol, interval)] if past is not None else []
    return compose(old, live, merge=_merge_price)


def trade_sources(ex, past, symbol: str, interval: str) -> list[list]:
    """A symbol's trade bars: the past's, its mark bars until its first trade, then its trades."""
    md = ex.orders.market.get(symbol)
    live = md._raw(interval) if md is not None else []
    first_trade = live[0][0] if live else None
    marks = [as_trade_bar(b) for b in _price_raw(ex, symbol, "mark", interval)
             if first_trade is None or b[0] < first_trade]
    old = [as_trade_bar(b) for b in past.bars(symbol, interval)
           if first_trade is None or b[0] < first_trade] if past is not None else []
    return compose(old, marks, live, merge=_merge_trade)


def _merge_price(into: list, bar: list) -> None:
    merge_ohlc(into, bar)
    into[5] += bar[5]


def _merge_trade(into: list, bar: list) -> None:
    merge_ohlc(into, bar)
    for i in (5, 6, 7, 8, 9):
        into[i] += bar[i]
    if into[10] < 0:
        into[10] = bar[10]
    if bar[11] >= 0:
        into[11] = bar[11]
