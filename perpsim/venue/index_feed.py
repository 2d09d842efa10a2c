"""The index source ``perpsim serve`` runs on: a seeded synthetic feed, or a replay of real data.

``price_at(symbol, t)`` is all the service asks. The synthetic feed starts each symbol at a
realistic price and runs seeded GBM with jumps and regimes (feeds/synthetic.py). A replay reads
Binance kline CSV files (a file, or a folder of them; feeds/binance_csv.py) and plays them from
the first candle, shifted so that the first candle starts when the venue starts [I].
"""
from __future__ import annotations

import bisect
from pathlib import Path

from perpsim.core.fixed import parse

from .feeds import SyntheticFeed, SyntheticParams, kline_ticks, read_klines

START_PRICES = {"BTCUSDT": "60000", "ETHUSDT": "3000", "XRPUSDT": "0.5"}


class SyntheticIndex:
    def __init__(self, instruments: dict, symbols, seed: int, start_ms: int):
        self.feeds = {}
        for s in symbols:
            ins = instruments[s]
            start = parse(START_PRICES.get(s, "100"))
            self.feeds[s] = SyntheticFeed(s, seed, SyntheticParams(start_price=start, tick=ins.tick_size),
                                          start_ms=start_ms)

    def price_at(self, symbol: str, t: int) -> int:
        feed = self.feeds.get(symbol)
        return feed.price_at(t) if feed else 0


class ReplayIndex:
    """Kline closes (open, low/high, close per candle) as a step function of time, per symbol."""

    def __init__(self, path: str | Path, start_ms: int, symbols=None):
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.suffix in (".csv", ".zip", ".gz")) if path.is_dir() else [path]
        self.series: dict[str, tuple[list[int], list[int]]] = {}
        for f in files:
            try:
                ticks = list(kline_ticks(read_klines(f)))
            except ValueError:
                continue  # not a kline file (funding, mark): the replay uses price candles only
            for t in ticks:
                if symbols and t.symbol not in symbols:
                    continue
                times, prices = self.series.setdefault(t.symbol, ([], []))
                times.append(t.ts_ms)
                prices.append(t.price)
        if not self.series:
            raise ValueError(f"{path}: no kline data found to replay")
        first = min(ts[0] for ts, _ in self.series.values())
        self.offset = start_ms - first

    def price_at(self, symbol: str, t: int) -> int:
        s = self.series.get(symbol)
        if not s:
            return 0
        times, prices = s
        i = bisect.bisect_right(times, t - self.offset) - 1
        return prices[max(i, 0)]
