"""The index source ``perpsim serve`` runs on: a seeded synthetic feed, or a replay of real data.

``price_at(symbol, t)`` is all the service asks. The synthetic feed starts each symbol at a
realistic price and runs seeded GBM with jumps and regimes (feeds/synthetic.py). A replay reads
Binance kline CSV files (a file, or a folder of them; feeds/binance_csv.py) and plays them from
the first candle, shifted so that the first candle starts when the venue starts [I].
"""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from pathlib import Path

from perpsim.core.fixed import parse

from .feeds import SyntheticFeed, SyntheticParams, kline_ticks, read_klines

START_PRICES = {"BTCUSDT": "60000", "ETHUSDT": "3000", "XRPUSDT": "0.5"}
#: Spot venues of the synthetic index and their weights [I: illustrative; Binance publishes each
#: symbol's constituents and weights at GET /fapi/v1/constituents].
VENUES = (("binance", 30), ("coinbase", 20), ("okx", 20), ("bybit", 15), ("kraken", 15))


class SyntheticIndex:
    def __init__(self, instruments: dict, symbols, seed: int, start_ms: int):
        self.seed = seed
        self.feeds = {}
        for s in symbols:
            ins = instruments[s]
            start = parse(START_PRICES.get(s, "100"))
            self.feeds[s] = SyntheticFeed(s, seed, SyntheticParams(start_price=start, tick=ins.tick_size),
                                          start_ms=start_ms)

    def price_at(self, symbol: str, t: int) -> int:
        feed = self.feeds.get(symbol)
        return feed.price_at(t) if feed else 0

    def constituents_at(self, symbol: str, t: int) -> list[list]:
        """Each venue within ±3 bp of the path, seeded per venue and second; one tick in a
        thousand a venue prints 4% off, for the outlier rule to catch."""
        base = self.price_at(symbol, t)
        if not base:
            return []
        tick = self.feeds[symbol].params.tick
        out = []
        for venue, weight in VENUES:
            h = int.from_bytes(hashlib.sha256(f"{self.seed}|{symbol}|{venue}|{t // 1000}".encode()).digest()[:8], "big")
            bp = 400 if h % 1000 == 0 else h % 7 - 3
            price = max(tick, (base + base * bp // 10_000) // tick * tick)
            out.append([venue, price, weight * 10**6])
        return out


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
        #: the replayed data's first day: the venue uses the bracket tables in force then
        self.data_date = dt.datetime.fromtimestamp(first / 1000, tz=dt.timezone.utc).date().isoformat()

    def price_at(self, symbol: str, t: int) -> int:
        s = self.series.get(symbol)
        if not s:
            return 0
        times, prices = s
        i = bisect.bisect_right(times, t - self.offset) - 1
        return prices[max(i, 0)]
