"""Price feeds for the venue: pure readers and generators, no network.

- ``OperatorFeed``: prices set by hand, with scheduled wicks.
- ``SyntheticFeed``: seeded GBM with jumps and volatility regimes, on the tick.
- ``read_klines`` / ``read_funding_rates``: Binance public-data CSV files (and freqtrade's).
- ``read_ws_capture``: a raw Binance USD-M WebSocket capture (hftbacktest's format).
- ``merge``: one time-ordered stream from several; ``kline_ticks``: candles to price ticks.

Every record is a frozen dataclass with int ms timestamps and int 1e-8 prices (``records``);
malformed data raises ``FeedError`` naming file and line.
"""
from __future__ import annotations

from .binance_csv import interval_to_ms, read_funding_rates, read_klines
from .operator import OperatorFeed, Wick
from .records import (
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    FeedError,
    FundingRecord,
    Kline,
    PriceTick,
    Trade,
)
from .replay import kline_ticks, merge
from .synthetic import Regime, SyntheticFeed, SyntheticParams
from .ws_capture import read_ws_capture

__all__ = [
    "BookTicker",
    "DepthSnapshot",
    "DepthUpdate",
    "FeedError",
    "FundingRecord",
    "Kline",
    "OperatorFeed",
    "PriceTick",
    "Regime",
    "SyntheticFeed",
    "SyntheticParams",
    "Trade",
    "Wick",
    "interval_to_ms",
    "kline_ticks",
    "merge",
    "read_funding_rates",
    "read_klines",
    "read_ws_capture",
]
