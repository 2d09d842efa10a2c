"""Index paths per symbol, one price per tick, in 1e-8 units on the symbol's tick.

* synthetic: a log-price walk with per-tick volatility (``vol_bps``, changed by ``regimes`` at
  given ticks), plus a shock of ``shock_pct`` spread evenly in log terms over ``shock_ticks`` from
  ``shock_start``, plus an optional wick (down ``pct`` over ``down_ticks``, back over ``up_ticks``).
  Randomness only from the scenario's seeded ``numpy.random.Generator``.
* replay: Binance kline files (trade klines or markPriceKlines from data.binance.vision, zipped or
  not; freqtrade's candles), read by ``perpsim.venue.feeds.binance_csv``; each bar is walked
  open -> high -> low -> close (a falling bar) or open -> low -> high -> close (a rising bar) in
  ``ticks_per_bar`` straight steps. Which of high and low came first is not in a kline: this order
  is the usual convention of bar replays [I]. A fundingRate file, when given, is read for the
  record (the engine computes its own funding from the premium, as Binance does).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.instruments import default_instruments
from .scenario import Scenario, ScenarioError, SymbolMarket


@dataclass
class Paths:
    start_ms: int
    tick_ms: int
    prices: dict            # symbol -> np.ndarray[int64] of index prices, one per tick
    funding: dict           # symbol -> [(time_ms, rate 1e-8)] read from a fundingRate file

    @property
    def ticks(self) -> int:
        return min(len(p) for p in self.prices.values())


def build(sc: Scenario, rng: np.random.Generator) -> Paths:
    instruments = default_instruments()
    start, tick_ms = sc.start_ms, sc.tick_ms
    prices, funding = {}, {}
    replays = [m for m in sc.market if m.source == "replay"]
    for m in sc.market:
        tick = instruments[m.symbol].tick_size
        if m.source == "synthetic":
            prices[m.symbol] = _synthetic(m, rng, tick)
        else:
            p, t0, step = _replay(m, tick)
            if m is replays[0]:
                start, tick_ms = t0, step
            prices[m.symbol] = p
            if m.funding:
                from ..venue.feeds.binance_csv import read_funding_rates
                funding[m.symbol] = [(r.ts_ms, r.rate) for r in read_funding_rates(m.funding, symbol=m.symbol)]
    n = min(len(p) for p in prices.values())
    if sc.ticks:
        n = min(n, sc.ticks)
    return Paths(start, tick_ms, {s: p[:n] for s, p in prices.items()}, funding)


def _vols(m: SymbolMarket) -> np.ndarray:
    vol = np.full(m.ticks, m.vol_bps / 1e4)
    for start, bps in m.regimes:
        vol[start:] = bps / 1e4
    return vol


def _synthetic(m: SymbolMarket, rng: np.random.Generator, tick: int) -> np.ndarray:
    n = m.ticks
    steps = rng.standard_normal(n) * _vols(m)
    steps[0] = 0.0
    if m.shock_pct:
        a, b = m.shock_start, min(n, m.shock_start + m.shock_ticks)
        steps[a + 1:b + 1] += np.log1p(m.shock_pct / 100) / m.shock_ticks
    logp = np.cumsum(steps)
    if m.wick is not None:
        w = m.wick
        depth = np.log1p(w.pct / 100)
        shape = np.concatenate([np.linspace(0, 1, w.down_ticks + 1)[1:], np.linspace(1, 0, w.up_ticks + 1)[1:]])
        seg = logp[w.at:w.at + len(shape)]
        logp[w.at:w.at + len(seg)] += depth * shape[:len(seg)]
    raw = np.exp(logp) * m.price
    return np.maximum(tick, np.round(raw / tick).astype(np.int64) * tick)


def _replay(m: SymbolMarket, tick: int) -> tuple[np.ndarray, int, int]:
    from ..venue.feeds.binance_csv import read_klines
    from ..venue.feeds.records import FeedError
    bars = []
    try:
        for path in m.klines:
            for k in read_klines(path, symbol=m.symbol):
                if (m.start_ms is None or k.ts_ms >= m.start_ms) and (m.end_ms is None or k.ts_ms < m.end_ms):
                    bars.append(k)
    except (FeedError, ValueError) as e:
        raise ScenarioError(f"market.{m.symbol}.klines", str(e)) from None
    if len(bars) < 1:
        raise ScenarioError(f"market.{m.symbol}", "no kline in the files within [from, to)")
    bars.sort(key=lambda k: k.ts_ms)
    bar_ms = (bars[1].ts_ms - bars[0].ts_ms) if len(bars) > 1 else ((bars[0].close_ms or bars[0].ts_ms) + 1
                                                                     - bars[0].ts_ms)
    tpb = m.ticks_per_bar
    if bar_ms % tpb:
        raise ScenarioError(f"market.{m.symbol}.ticks_per_bar", f"must divide the bar length ({bar_ms} ms)")
    out = []
    for k in bars:
        corners = [k.open, k.high, k.low, k.close] if k.close <= k.open else [k.open, k.low, k.high, k.close]
        # three legs shared out over the bar's ticks in proportion to their lengths
        lengths = [abs(corners[i + 1] - corners[i]) for i in range(3)]
        total = sum(lengths) or 1
        counts = [max(1, tpb * x // total) for x in lengths]
        counts[2] = max(1, tpb - counts[0] - counts[1])
        while sum(counts) > tpb:
            i = counts.index(max(counts))
            counts[i] -= 1
        for i in range(3):
            a, b = corners[i], corners[i + 1]
            c = counts[i]
            out += [a + (b - a) * (j + 1) // c for j in range(c)]
    arr = np.array(out, dtype=np.int64)
    return np.maximum(tick, arr // tick * tick), bars[0].ts_ms, bar_ms // tpb
