"""Replay helpers: merge several record streams by time, and turn candles into price ticks."""
from __future__ import annotations

import heapq
from typing import Iterable, Iterator, TypeVar

from .records import Kline, PriceTick

__all__ = ["merge", "kline_ticks"]

R = TypeVar("R")


def merge(*streams: Iterable[R]) -> Iterator[R]:
    """Merge time-ordered record streams into one, by ``ts_ms``. Lazy; ties keep the order of
    the arguments (the first stream's record first), so the result is deterministic."""
    return heapq.merge(*streams, key=lambda r: r.ts_ms)  # type: ignore[attr-defined]


def kline_ticks(klines: Iterable[Kline]) -> Iterator[PriceTick]:
    """Four ticks per candle: open at the open time, then low and high at 1/3 and 2/3 of the
    candle (low first for an up candle, high first for a down candle), close at the close time.

    A common backtesting convention, not Binance data [I]: a candle does not say in which order
    its extremes happened. Needs ``close_ms`` (Binance files have it; for others pass the
    interval to ``read_klines``)."""
    last = None
    for k in klines:
        if k.close_ms is None:
            raise ValueError(f"{k.symbol} kline at {k.ts_ms}: close time unknown; pass interval= to read_klines")
        span = k.close_ms - k.ts_ms
        first, second = (k.low, k.high) if k.close >= k.open else (k.high, k.low)
        for t, p in ((k.ts_ms, k.open), (k.ts_ms + span // 3, first),
                     (k.ts_ms + 2 * span // 3, second), (k.close_ms, k.close)):
            if last is not None and t <= last:
                t = last  # a zero-length candle: keep time non-decreasing
            last = t
            yield PriceTick(k.symbol, t, p)
