"""Mark and index price klines: OHLC bars of every mark computation, per symbol.

Binance serves ``/fapi/v1/markPriceKlines`` and ``/fapi/v1/indexPriceKlines`` in the kline
layout with zero volumes; the count column is the number of price updates in the bar. The
bars here are built from the marks the exchange computes (``Exchange._remark``: the index
feed's ticks, wicks, funding settlements, admin prices), so they are part of the venue state:
the same commands give the same bars (deterministic, pickled with the exchange, hashed).

Storage follows marketdata.py: only the open 1m bar is updated per mark; a finished 1m bar
is folded into every longer interval (OHLC aggregation is exact); a query merges the open
bar into the open longer bar and fills minutes without an update with flat bars at the
previous close and a count of 0. At most ``KLINE_LEN`` bars a series and interval are kept.
"""
from __future__ import annotations

from collections import deque

from .marketdata import INTERVALS, KLINE_LEN, MINUTE, BarSeries, bar_close, merge_ohlc

MARK, INDEX = "mark", "index"

# A bar is a list: [open_time, open, high, low, close, count]


def _merge(into: list, bar: list) -> None:
    merge_ohlc(into, bar)
    into[5] += bar[5]


class PriceSeries(BarSeries):
    """The bars of one price series (a symbol's mark or index)."""

    __slots__ = ("bars", "cur")
    _merge_bar = staticmethod(_merge)

    @staticmethod
    def _flat_bar(t: int, close: int) -> list:
        return [t, close, close, close, close, 0]

    def __init__(self):
        self.bars: dict[str, deque] = {iv: deque(maxlen=KLINE_LEN) for iv in INTERVALS}
        self.cur: list | None = None

    def add(self, price: int, now: int) -> None:
        start = now - now % MINUTE
        cur = self.cur
        if cur is None or cur[0] != start:
            if cur is not None:
                self._finish(cur)
            self.cur = [start, price, price, price, price, 1]
            return
        if price > cur[2]:
            cur[2] = price
        elif price < cur[3]:
            cur[3] = price
        cur[4] = price
        cur[5] += 1

    def klines(self, interval: str, start: int | None = None, end: int | None = None,
               limit: int = 500) -> list[tuple]:
        """``(open_time, open, high, low, close, close_time, count)`` oldest first, gaps filled."""
        filled = self._window(interval, start, end, limit)
        return [(b[0], b[1], b[2], b[3], b[4], bar_close(interval, b[0]), b[5]) for b in filled]


class PriceKlines:
    """Mark and index series of every symbol (state of the exchange; pickles)."""

    __slots__ = ("series",)

    def __init__(self):
        self.series: dict[tuple[str, str], PriceSeries] = {}

    def on_mark(self, symbol: str, mark: int, index: int, now: int) -> None:
        for kind, price in ((MARK, mark), (INDEX, index)):
            if price <= 0:
                continue
            s = self.series.get((symbol, kind))
            if s is None:
                s = self.series[(symbol, kind)] = PriceSeries()
            s.add(price, now)

    def klines(self, symbol: str, kind: str, interval: str, start: int | None = None, end: int | None = None,
               limit: int = 500) -> list[tuple]:
        s = self.series.get((symbol, kind))
        return s.klines(interval, start, end, limit) if s is not None else []

    def hash_into(self, h) -> None:
        for key in sorted(self.series):
            s = self.series[key]
            h.update(f"PK|{key[0]}|{key[1]}|{len(s.bars['1m'])}|"
                     f"{s.bars['1m'][-1] if s.bars['1m'] else None}|{s.cur}\n".encode())


def price_klines(ex) -> PriceKlines:
    """The exchange's price klines (created on first use, so older snapshots load)."""
    pk = ex.__dict__.get("price_klines")
    if pk is None:
        pk = ex.__dict__["price_klines"] = PriceKlines()
    return pk


def record_mark(ex, symbol: str, mark: int, index: int) -> None:
    """The hook in ``Exchange._remark``: one mark computation at ``ex.now``."""
    price_klines(ex).on_mark(symbol, mark, index, ex.now)


def hash_into(ex, h) -> None:
    """The hook in ``Exchange.state_hash`` (nothing before the first mark)."""
    pk = ex.__dict__.get("price_klines")
    if pk is not None:
        pk.hash_into(h)
