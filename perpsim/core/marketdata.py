"""Market data from the trades of one symbol: last price, trade tape, aggTrades, klines, 24h ticker.

Everything is driven by the venue's command time (``now`` ms); there is no wall clock.
Memory is bounded: the tape keeps the newest ``TAPE_LEN`` trades and aggTrades (Binance's
``/fapi/v1/trades`` and ``aggTrades`` serve at most 1000 a call), each kline interval the
newest ``KLINE_LEN`` bars (Binance's ``/fapi/v1/klines`` limit is at most 1500).

Klines (``/fapi/v1/klines``, Binance's array layout): only the 1m bar is updated per trade;
a finished 1m bar is folded into every longer interval (OHLCV aggregation is exact), and a
query merges the open 1m bar into the open longer bar. Bars open at multiples of their length
since the epoch (UTC), weeks on Monday 00:00 UTC, months on the 1st 00:00 UTC (Binance's
alignment). Minutes without trades have no stored bar; a query fills gaps with flat bars at
the previous close and zero volume (our choice: docs/choices.md, "Orders").

24h ticker (``/fapi/v1/ticker/24hr``): a rolling window at one-minute granularity, the 1m bars
whose close time is within the last 24 h of ``now`` (our choice: Binance publishes no
granularity).
"""
from __future__ import annotations

import datetime as dt
from collections import deque
from typing import NamedTuple

from .fixed import SCALE, mul, round_div
from .events import AggTrade, Trade

TAPE_LEN = 1000
KLINE_LEN = 1500

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
_MONDAY = 4 * DAY        # 1970-01-05 00:00 UTC, the first Monday after the epoch

#: Binance's kline intervals and their lengths in ms (None: calendar months).
INTERVALS: dict[str, int | None] = {
    "1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "30m": 30 * MINUTE,
    "1h": HOUR, "2h": 2 * HOUR, "4h": 4 * HOUR, "6h": 6 * HOUR, "8h": 8 * HOUR, "12h": 12 * HOUR,
    "1d": DAY, "3d": 3 * DAY, "1w": WEEK, "1M": None,
}
_LONGER = tuple(k for k in INTERVALS if k != "1m")


class Kline(NamedTuple):
    """One bar in Binance's kline array order (amounts in 1e-8 units)."""
    open_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    close_time: int
    quote_volume: int
    count: int
    taker_buy_volume: int
    taker_buy_quote_volume: int
    first_trade_id: int
    last_trade_id: int


class Ticker24h(NamedTuple):
    """``/fapi/v1/ticker/24hr`` fields (amounts in 1e-8 units; percent as 1e-8 units of percent)."""
    symbol: str
    price_change: int
    price_change_percent: int
    weighted_avg_price: int
    last_price: int
    last_qty: int
    open_price: int
    high_price: int
    low_price: int
    volume: int
    quote_volume: int
    open_time: int
    close_time: int
    first_id: int
    last_id: int
    count: int


def bar_open(interval: str, t: int) -> int:
    """Open time of the ``interval`` bar containing ``t`` (ms since the epoch, UTC)."""
    length = INTERVALS[interval]
    if length is None:
        d = dt.datetime.fromtimestamp(t / 1000, tz=dt.timezone.utc)
        first = dt.datetime(d.year, d.month, 1, tzinfo=dt.timezone.utc)
        return int(first.timestamp()) * 1000
    if length == WEEK:
        return (t - _MONDAY) // WEEK * WEEK + _MONDAY
    return t - t % length


def bar_close(interval: str, open_time: int) -> int:
    """Close time of a bar: the next bar's open - 1 ms."""
    length = INTERVALS[interval]
    if length is None:
        d = dt.datetime.fromtimestamp(open_time / 1000, tz=dt.timezone.utc)
        nxt = dt.datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
        return int(nxt.timestamp()) * 1000 - 1
    return open_time + length - 1


def merge_ohlc(into: list, bar: list) -> None:
    """Fold a later bar's high, low and close into ``into`` (any layout starting
    [open_time, o, h, l, c, ...])."""
    if bar[2] > into[2]:
        into[2] = bar[2]
    if bar[3] < into[3]:
        into[3] = bar[3]
    into[4] = bar[4]


# A bar in storage is a list: [open_time, o, h, l, c, vol, quote, count, tb_vol, tb_quote, first, last]
def _merge(into: list, bar: list) -> None:
    merge_ohlc(into, bar)
    into[5] += bar[5]
    into[6] += bar[6]
    into[7] += bar[7]
    into[8] += bar[8]
    into[9] += bar[9]
    into[11] = bar[11]


class BarSeries:
    """1m bars folded into every longer interval as they finish, the open bar merged in on reads.

    Subclasses hold ``bars`` (interval -> deque of bars) and ``cur`` (the open 1m bar) and say how
    two bars of their layout combine (``_merge_bar``). OHLC aggregation is exact.
    """

    __slots__ = ()
    _merge_bar = staticmethod(_merge)

    @staticmethod
    def _flat_bar(t: int, close: int) -> list:
        """A bar for a minute without trades: flat at the previous close, no volume."""
        return [t, close, close, close, close, 0, 0, 0, 0, 0, -1, -1]

    def _finish(self, bar: list) -> None:
        self.bars["1m"].append(bar)
        for iv in _LONGER:
            s = bar_open(iv, bar[0])
            dq = self.bars[iv]
            if dq and dq[-1][0] == s:
                self._merge_bar(dq[-1], bar)
            else:
                nb = bar[:]
                nb[0] = s
                dq.append(nb)

    def _raw(self, interval: str) -> list[list]:
        out = [b[:] for b in self.bars[interval]]
        cur = self.cur
        if cur is not None:
            s = bar_open(interval, cur[0])
            if out and out[-1][0] == s:
                self._merge_bar(out[-1], cur)
            else:
                nb = cur[:]
                nb[0] = s
                out.append(nb)
        return out

    def _window(self, interval: str, start: int | None, end: int | None, limit: int) -> list[list]:
        """Bars with open time in [start, end], oldest first, gaps filled with flat bars; the first
        ``limit`` from ``start``, else the last ``limit``."""
        if interval not in INTERVALS:
            raise ValueError(interval)
        raw = [b for b in self._raw(interval) if (start is None or b[0] >= start) and (end is None or b[0] <= end)]
        length = INTERVALS[interval]
        filled: list[list] = []
        prev = None
        for b in raw:
            if prev is not None and length is not None:
                t = prev[0] + length
                while t < b[0] and len(filled) < 100_000:
                    filled.append(self._flat_bar(t, prev[4]))
                    t += length
            filled.append(b)
            prev = b
        return filled[:limit] if start is not None else filled[-limit:]


class MarketData(BarSeries):
    """Trades, klines and tickers of one symbol (state of the order layer; pickles)."""

    __slots__ = ("symbol", "last_price", "last_qty", "last_time", "trades", "agg_trades", "agg_id",
                 "_agg_key", "bars", "cur")

    def __init__(self, symbol: str):
        self.symbol = symbol
        self.last_price = 0
        self.last_qty = 0
        self.last_time = 0
        self.trades: deque = deque(maxlen=TAPE_LEN)
        self.agg_trades: deque = deque(maxlen=TAPE_LEN)
        self.agg_id = 0
        self._agg_key: tuple | None = None     # (taker order id, price) of the newest aggTrade
        self.bars: dict[str, deque] = {iv: deque(maxlen=KLINE_LEN) for iv in INTERVALS}
        self.cur: list | None = None           # the open 1m bar

    # ------------------------------------------------------------------ updates
    def on_trade(self, trade_id: int, price: int, qty: int, taker_buy: bool, taker_order_id: int,
                 maker_order_id: int, now: int) -> Trade:
        """Record one fill; returns the public trade. Consecutive fills of one taker order at one
        price extend the newest aggTrade (``aggs_since`` gives the aggTrades of a command)."""
        quote = mul(qty, price)
        t = Trade(self.symbol, trade_id, price, qty, quote, now, not taker_buy, taker_order_id, maker_order_id)
        self.trades.append(t)
        self.last_price, self.last_qty, self.last_time = price, qty, now
        key = (taker_order_id, price)
        if self._agg_key == key and self.agg_trades:
            a = self.agg_trades[-1]
            self.agg_trades[-1] = a._replace(qty=a.qty + qty, last_trade_id=trade_id)
        else:
            self.agg_id += 1
            self.agg_trades.append(AggTrade(self.symbol, self.agg_id, price, qty, trade_id, trade_id, now,
                                            not taker_buy))
            self._agg_key = key
        # the 1m bar
        start = now - now % MINUTE
        cur = self.cur
        if cur is None or cur[0] != start:
            if cur is not None:
                self._finish(cur)
            tb = qty if taker_buy else 0
            self.cur = [start, price, price, price, price, qty, quote, 1, tb, quote if taker_buy else 0,
                        trade_id, trade_id]
        else:
            if price > cur[2]:
                cur[2] = price
            elif price < cur[3]:
                cur[3] = price
            cur[4] = price
            cur[5] += qty
            cur[6] += quote
            cur[7] += 1
            if taker_buy:
                cur[8] += qty
                cur[9] += quote
            cur[11] = trade_id
        return t

    def aggs_since(self, agg_id: int) -> list[AggTrade]:
        """The aggTrades with an id above ``agg_id`` (still in the tape), oldest first."""
        out = []
        for a in reversed(self.agg_trades):
            if a.agg_id <= agg_id:
                break
            out.append(a)
        out.reverse()
        return out

    def end_taker(self) -> None:
        """A taker order is done: its next fill (after a modify) starts a new aggTrade."""
        self._agg_key = None

    # ------------------------------------------------------------------ queries
    def klines(self, interval: str, start: int | None = None, end: int | None = None,
               limit: int = 500) -> list[Kline]:
        """Bars oldest first, gaps filled with flat bars, within [start, end] by open time."""
        filled = self._window(interval, start, end, limit)
        return [Kline(b[0], b[1], b[2], b[3], b[4], b[5], bar_close(interval, b[0]), b[6], b[7], b[8], b[9],
                      b[10], b[11]) for b in filled]

    def ticker_24h(self, now: int) -> Ticker24h:
        """Rolling 24 h statistics from the 1m bars (see the module docstring)."""
        since = now - DAY
        bars = [b for b in self._raw("1m") if b[0] + MINUTE - 1 >= since]
        if not bars:
            return Ticker24h(self.symbol, 0, 0, 0, self.last_price, self.last_qty, 0, 0, 0, 0, 0,
                             since, now, -1, -1, 0)
        o = bars[0][1]
        hi = max(b[2] for b in bars)
        lo = min(b[3] for b in bars)
        vol = sum(b[5] for b in bars)
        quote = sum(b[6] for b in bars)
        count = sum(b[7] for b in bars)
        last = self.last_price
        change = last - o
        pct = round_div(change * 100 * SCALE, o) if o else 0
        wavg = round_div(quote * SCALE, vol) if vol else 0
        return Ticker24h(self.symbol, change, pct, wavg, last, self.last_qty, o, hi, lo, vol, quote,
                         max(since, bars[0][0]), now, bars[0][10], bars[-1][11], count)

    def hash_into(self, h) -> None:
        h.update(f"MD|{self.symbol}|{self.last_price}|{self.last_qty}|{self.last_time}|{self.agg_id}|"
                 f"{len(self.trades)}|{self.trades[-1].trade_id if self.trades else 0}|{self.cur}\n".encode())
