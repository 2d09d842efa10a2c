"""Typed feed records: frozen dataclasses, int ms timestamps, int 1e-8 prices and quantities.

Every record has ``ts_ms``, the time a replay should deliver it at; a reader yields records
with non-decreasing ``ts_ms``. Prices, quantities and rates use ``perpsim.core.fixed``'s one scale
(1e-8 units).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FeedError",
    "PriceTick",
    "Kline",
    "FundingRecord",
    "Trade",
    "BookTicker",
    "DepthUpdate",
    "DepthSnapshot",
    "Level",
    "KLINE_KINDS",
]

#: ``trade`` = last-price klines (``klines/``), ``mark`` = ``markPriceKlines/``, ``index`` =
#: ``indexPriceKlines/``, ``premium`` = ``premiumIndexKlines/`` (data.binance.vision folders).
KLINE_KINDS = ("trade", "mark", "index", "premium")

#: A book level: (price, qty), both 1e-8 units.
Level = tuple[int, int]


class FeedError(ValueError):
    """Malformed feed data. The message starts with ``<file>:<line>:``."""

    def __init__(self, path: object, line: int | None, msg: str):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {msg}")
        self.path = str(path)
        self.line = line
        self.msg = msg


@dataclass(frozen=True, slots=True)
class PriceTick:
    """One price at one time (operator and synthetic feeds)."""

    symbol: str
    ts_ms: int
    price: int


@dataclass(frozen=True, slots=True)
class Kline:
    """A candle. ``ts_ms`` is the open time; ``close_ms`` Binance's close time (open + interval
    - 1) when the file has it or the interval is known. Volume fields are ``None`` when the file
    leaves them empty (mark and index klines)."""

    symbol: str
    kind: str
    ts_ms: int
    close_ms: int | None
    open: int
    high: int
    low: int
    close: int
    volume: int | None = None
    quote_volume: int | None = None
    trades: int | None = None
    taker_buy_volume: int | None = None
    taker_buy_quote_volume: int | None = None


@dataclass(frozen=True, slots=True)
class FundingRecord:
    """A settled funding rate. ``ts_ms`` is Binance's ``fundingTime`` / ``calc_time`` (a few ms
    after the settlement instant)."""

    symbol: str
    ts_ms: int
    rate: int
    interval_hours: int | None = None
    mark_price: int | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    """``<symbol>@trade``. ``ts_ms`` is the replay clock (running maximum of exchange times in
    the capture, so it never goes back); ``exchange_ms`` is Binance's ``T``; ``recv_ns`` the
    capture's local receive time."""

    symbol: str
    ts_ms: int
    exchange_ms: int
    recv_ns: int
    trade_id: int
    price: int
    qty: int
    buyer_is_maker: bool
    order_type: str


@dataclass(frozen=True, slots=True)
class BookTicker:
    """``<symbol>@bookTicker``: best bid and ask."""

    symbol: str
    ts_ms: int
    exchange_ms: int
    recv_ns: int
    update_id: int
    bid: int
    bid_qty: int
    ask: int
    ask_qty: int


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """``<symbol>@depth@0ms``: level changes (qty 0 = remove). ``first_id``/``last_id``/``prev_id``
    are Binance's ``U``/``u``/``pu``."""

    symbol: str
    ts_ms: int
    exchange_ms: int
    recv_ns: int
    first_id: int
    last_id: int
    prev_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST ``/fapi/v1/depth`` snapshot that seeds the book."""

    symbol: str
    ts_ms: int
    exchange_ms: int
    recv_ns: int
    last_update_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
