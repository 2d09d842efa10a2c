"""The market's past behind a fresh venue: 1m bars, mark and index klines and funding before "now".

Bots load hundreds of candles before their first trade, and ``freqtrade download-data`` asks for
ranges of days. A venue that has just started has none, so ``perpsim serve`` gives it a past of
``history_days`` (a setting, ``--history-days``) that ends where the live market starts (the
``anchor``, the venue's first start, kept as a venue setting so a restart shows the same past):

- with the synthetic feed, the past is the same seeded path (feeds/synthetic.py) run from
  ``anchor - days``: the live index continues it without a jump, and the same seed gives the
  same past on any machine;
- when replaying real klines, the first ``days`` of the data are the past and the replay plays
  on from there.

In the past the mark equals the index (no order book traded then, so no premium) and the trade
klines are the index's bars with zero volume (nobody traded on this venue). Funding settles every
8 hours at Binance's formula with a zero premium: the interest-rate component, 0.01 % a period
(Binance's "Introduction to Binance Futures Funding Rates"). Bars are computed once at start-up
with numpy (a few days of 1 s steps take well under a second); nothing here is venue state.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perpsim.core.marketdata import DAY, HOUR, INTERVALS, MINUTE, bar_open

FUNDING_INTERVAL_MS = 8 * HOUR
INTEREST_RATE = 10_000          # 0.01 % a funding period, in 1e-8 units (Binance's default interest rate)


@dataclass(frozen=True)
class PastSeries:
    """One symbol's 1m bars before the anchor: open times and OHLC as int64 arrays (1e-8 units)."""

    times: np.ndarray
    o: np.ndarray
    h: np.ndarray
    lo: np.ndarray
    c: np.ndarray


def series_from_samples(times: np.ndarray, prices: np.ndarray, start: int, anchor: int) -> PastSeries | None:
    """1m OHLC bars from price samples (ms times, ascending) with ``start <= t < anchor``."""
    keep = (times >= start) & (times < anchor)
    t, p = times[keep], prices[keep]
    if not len(t):
        return None
    minute = t - t % MINUTE
    first = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    last = np.r_[first[1:] - 1, len(t) - 1]
    return PastSeries(minute[first].copy(), p[first].copy(), np.maximum.reduceat(p, first),
                      np.minimum.reduceat(p, first), p[last].copy())


class Past:
    """The past of every symbol: ``bars(symbol, interval)`` and ``funding(symbol)`` before ``anchor``."""

    def __init__(self, anchor: int, series: dict[str, PastSeries]):
        self.anchor = anchor
        self.series = series
        self._cache: dict[tuple[str, str], list[list]] = {}

    @classmethod
    def synthetic(cls, instruments: dict, symbols, seed: int, anchor: int, days: float,
                  start_prices: dict[str, int]) -> "Past":
        """A seeded path per symbol over ``days`` before ``anchor``, scaled so that its last price is the
        live feed's start price (the live market continues the past without a jump)."""
        from .feeds import SyntheticFeed, SyntheticParams
        span = int(days * DAY)
        start = max(0, anchor - span)
        start -= start % 1000
        out = {}
        for symbol in symbols:
            tick = instruments[symbol].tick_size
            target = start_prices[symbol]
            steps = (anchor - start) // 1000
            if steps <= 1 or target <= 0:
                continue
            feed = SyntheticFeed(f"{symbol}:past", seed, SyntheticParams(start_price=target, tick=tick),
                                 start_ms=start)
            raw = feed.path(steps)
            # exact integer rescale so the last sample is the start price, then back on the tick
            # (numpy int64 when the product cannot overflow, else Python ints: the same integers)
            last = int(raw[-1])
            if int(raw.max()) * target < 2**62:
                scaled = np.maximum(tick, (raw * target // last + tick // 2) // tick * tick)
            else:
                scaled = np.asarray([max(tick, (int(p) * target // last + tick // 2) // tick * tick) for p in raw],
                                    dtype=np.int64)
            scaled[-1] = target
            times = start + np.arange(steps, dtype=np.int64) * 1000
            s = series_from_samples(times, scaled.astype(np.int64), start, anchor)
            if s is not None:
                out[symbol] = s
        return cls(anchor, out)

    @classmethod
    def from_samples(cls, samples: dict[str, tuple[list[int], list[int]]], start: int, anchor: int) -> "Past":
        """From replayed price samples already on the venue's time line."""
        out = {}
        for symbol, (times, prices) in samples.items():
            s = series_from_samples(np.asarray(times, dtype=np.int64), np.asarray(prices, dtype=np.int64),
                                    start, anchor)
            if s is not None:
                out[symbol] = s
        return cls(anchor, out)

    @property
    def start(self) -> int:
        return min((int(s.times[0]) for s in self.series.values()), default=self.anchor)

    def bars(self, symbol: str, interval: str) -> list[list]:
        """``[open_time, o, h, l, c]`` bars of ``interval`` (Binance's alignment), oldest first. A bar
        that the anchor cuts holds the past part only; the live part is merged in by the reader."""
        key = (symbol, interval)
        got = self._cache.get(key)
        if got is not None:
            return got
        s = self.series.get(symbol)
        if s is None:
            return []
        if interval == "1m":
            out = [[int(t), int(o), int(h), int(lo), int(c)] for t, o, h, lo, c in zip(s.times, s.o, s.h, s.lo, s.c)]
        else:
            length = INTERVALS[interval]
            if length is not None and interval != "1w":
                opens = s.times - s.times % length
            else:                                   # weeks open on Mondays, months on the 1st
                opens = np.array([bar_open(interval, int(t)) for t in s.times], dtype=np.int64)
            first = np.flatnonzero(np.r_[True, opens[1:] != opens[:-1]])
            last = np.r_[first[1:] - 1, len(opens) - 1]
            out = [[int(t), int(o), int(h), int(lo), int(c)] for t, o, h, lo, c in
                   zip(opens[first], s.o[first], np.maximum.reduceat(s.h, first), np.minimum.reduceat(s.lo, first),
                       s.c[last])]
        self._cache[key] = out
        return out

    def price_at(self, symbol: str, t: int) -> int:
        """The past's close of the minute holding ``t`` (0 outside the past)."""
        s = self.series.get(symbol)
        if s is None or t >= self.anchor or t < int(s.times[0]):
            return 0
        i = int(np.searchsorted(s.times, t - t % MINUTE, side="right")) - 1
        return int(s.c[i])

    def funding(self, symbol: str) -> list[tuple[int, int, int]]:
        """``(funding_time, rate, mark_price)`` at every 8 h boundary inside the past, oldest first."""
        s = self.series.get(symbol)
        if s is None:
            return []
        first = int(s.times[0])
        t = first + (-first) % FUNDING_INTERVAL_MS
        out = []
        while t < self.anchor:
            out.append((t, INTEREST_RATE, self.price_at(symbol, t)))
            t += FUNDING_INTERVAL_MS
        return out
