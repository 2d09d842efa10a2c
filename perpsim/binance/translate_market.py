"""Venue market events -> Binance market stream payloads (Binance USDⓈ-M Futures API, "Websocket Market Streams"). Translation only.

Kept in ``MARKET`` (joined into translate.py's table), each translator yields
``(stream name, payload)`` pairs; the hub pushes a pair to every connection subscribed to
that name. What the core emits and what is pushed:

* ``Trade`` -> ``<s>@trade``; ``AggTrade`` -> ``<s>@aggTrade`` (no ``M`` key, as on USD-M).
* ``DepthUpdate`` (one per command that changed the book, consecutive ids: ``U`` = the
  previous ``u`` + 1, ``pu`` = the previous ``u``) -> ``<s>@depth`` and ``@depth@100ms`` /
  ``@250ms`` / ``@500ms``, all carrying every diff, so each stream's ``pu`` is the previous
  ``u`` on that stream and the ids are those of GET /fapi/v1/depth ``lastUpdateId`` (5.3).
  Partial depth ``<s>@depth<5|10|20>[@speed]``: the top levels of the book as it is when the
  diff is published, with the same keys. ``<s>@bookTicker`` and ``!bookTicker`` when the diff
  touched the best bid or ask.
* The newest ``AggTrade`` of a command -> the open bar of every interval on
  ``<s>@kline_<i>`` and ``<pair>_perpetual@continuousKline_<i>`` (preceded by the previous bar
  with ``"x": true`` when the trade opened a new bar), and the rolling 24 h
  statistics on ``<s>@ticker``, ``<s>@miniTicker``, ``!ticker@arr``, ``!miniTicker@arr``
  (pushed per trading command; Binance batches these every 250 ms / 1 s).

Payloads read the venue state at publication (``service.read``), which may be a few commands
ahead of the event; every figure still comes from the core. The costly ones (partial depth,
klines of an interval, the 24 h tickers) are built only while a connection listens to them:
the hub reports subscriptions through ``push_initial``.
"""
from __future__ import annotations

import asyncio
import weakref
from typing import Callable, Iterable

from perpsim.core.fixed import fmt
from perpsim.core.marketdata import INTERVALS, AggTrade, Trade, bar_close, bar_open
from perpsim.core.orders import DepthUpdate

from . import shapes
from .translators import Translators

MARKET = Translators()

DEPTH_SPEEDS = ("", "@100ms", "@250ms", "@500ms")
PARTIAL_LEVELS = (5, 10, 20)

#: Connections that subscribed to a market stream (see ``push_initial``): the costly payloads
#: (partial depth, klines, tickers) are built only while someone listens to them.
_CONNS: weakref.WeakSet = weakref.WeakSet()


def _listened(pred: Callable[[str], bool]) -> bool:
    for conn in list(_CONNS):
        for name in conn.subs:
            if pred(name):
                return True
    return False


def _kline_intervals(symbol: str) -> set[str]:
    """The intervals someone listens to on ``<s>@kline_<i>`` or ``<pair>_perpetual@continuousKline_<i>``."""
    s, pair = symbol.lower() + "@kline_", symbol.lower() + "_perpetual@continuousKline_"
    out = set()
    for conn in list(_CONNS):
        for name in conn.subs:
            if name.startswith(s):
                out.add(name[len(s):])
            elif name.startswith(pair):
                out.add(name[len(pair):])
    return out & INTERVALS.keys()


def _wants_tickers(symbol: str) -> Callable[[str], bool]:
    names = {symbol.lower() + "@ticker", symbol.lower() + "@miniTicker", "!ticker@arr", "!miniTicker@arr"}
    return names.__contains__


def _wants_partial(symbol: str) -> Callable[[str], bool]:
    s = symbol.lower() + "@depth"
    return lambda n: n.startswith(s) and _partial_name(n) is not None


def _levels(ins, side: dict) -> list:
    return [[shapes.price(ins, p), shapes.qty(ins, q)] for p, q in side.items()]


@MARKET(Trade)
def _trade(service, e: Trade) -> Iterable:
    ins = service.read(lambda ex: ex.clearing.instruments[e.symbol])
    payload = {"e": "trade", "E": e.time, "T": e.time, "s": e.symbol, "t": e.trade_id,
               "p": shapes.price(ins, e.price), "q": shapes.qty(ins, e.qty), "X": "MARKET", "m": e.buyer_maker}
    return [(f"{e.symbol.lower()}@trade", payload)]


@MARKET(AggTrade)
def _agg_trade(service, e: AggTrade) -> Iterable:
    klines, tickers = _kline_intervals(e.symbol), _listened(_wants_tickers(e.symbol))

    def build(ex):
        md = ex.orders.market.get(e.symbol)
        newest = (klines or tickers) and md is not None and md.agg_id == e.agg_id
        return ex.clearing.instruments[e.symbol], (_bars_and_ticker(ex, md, klines, tickers) if newest else None)
    ins, extra = service.read(build)
    s = e.symbol.lower()
    q = shapes.qty(ins, e.qty)
    out = [(f"{s}@aggTrade", {"e": "aggTrade", "E": e.time, "s": e.symbol, "a": e.agg_id,
                              "p": shapes.price(ins, e.price), "q": q, "nq": q, "f": e.first_trade_id,
                              "l": e.last_trade_id, "T": e.time, "m": e.buyer_maker})]
    if extra is not None:
        out += _kline_and_ticker_messages(ins, e.symbol, *extra)
    return out


def current_bar(md, interval: str) -> list | None:
    """The open bar of ``interval`` (the stored bar merged with the open 1m bar), storage layout."""
    cur = md.cur
    if cur is None:
        return None
    s = bar_open(interval, cur[0])
    if interval == "1m":
        return cur[:]
    dq = md.bars[interval]
    if dq and dq[-1][0] == s:
        b = dq[-1][:]
        if cur[2] > b[2]:
            b[2] = cur[2]
        if cur[3] < b[3]:
            b[3] = cur[3]
        b[4] = cur[4]
        for i in (5, 6, 7, 8, 9):
            b[i] += cur[i]
        b[11] = cur[11]
        return b
    b = cur[:]
    b[0] = s
    return b


#: (symbol, interval) -> open time of the bar last pushed; when a trade opens a new bar, the
#: previous one is pushed first with "x": true (Binance pushes it at the close time; here it
#: comes with the next trade).
_LAST_OPEN: dict[tuple[str, str], int] = {}


def _bars_and_ticker(ex, md, klines: set, tickers: bool):
    bars = []
    for iv in INTERVALS:
        if iv not in klines:
            continue
        b = current_bar(md, iv)
        if b is None:
            continue
        last = _LAST_OPEN.get((md.symbol, iv))
        if last is not None and last < b[0]:
            for old in reversed(md.bars[iv]):
                if old[0] == last:
                    bars.append((iv, old, True))
                    break
                if old[0] < last:
                    break
        _LAST_OPEN[(md.symbol, iv)] = b[0]
        bars.append((iv, b, False))
    return ex.now, bars, md.ticker_24h(ex.now) if tickers else None


class _Fmt(dict):
    """Memoized formatting within one message batch (the same prices recur across intervals)."""

    def __init__(self, fn, ins):
        super().__init__()
        self.fn, self.ins = fn, ins

    def __missing__(self, units: int) -> str:
        v = self[units] = self.fn(self.ins, units)
        return v


def _kline_and_ticker_messages(ins, symbol: str, now: int, bars: list, t) -> list:
    s = symbol.lower()
    out = []
    px, qt = _Fmt(shapes.price, ins), _Fmt(shapes.qty, ins)
    for iv, b, closed in bars:
        k = {"t": b[0], "T": bar_close(iv, b[0]), "s": symbol, "i": iv, "f": b[10], "L": b[11],
             "o": px[b[1]], "c": px[b[4]], "h": px[b[2]], "l": px[b[3]], "v": qt[b[5]], "n": b[7], "x": closed,
             "q": shapes.plain(b[6]), "V": qt[b[8]], "Q": shapes.plain(b[9]), "B": "0"}
        out.append((f"{s}@kline_{iv}", {"e": "kline", "E": now, "s": symbol, "k": k}))
        ck = dict(k)
        del ck["s"]
        out.append((f"{s}_perpetual@continuousKline_{iv}",
                    {"e": "continuous_kline", "E": now, "ps": symbol, "ct": "PERPETUAL", "k": ck}))
    if t is None:
        return out
    full = {"e": "24hrTicker", "E": now, "s": symbol, "p": shapes.price(ins, t.price_change),
            "P": fmt(t.price_change_percent, 3), "w": shapes.price(ins, t.weighted_avg_price),
            "c": shapes.price(ins, t.last_price), "Q": shapes.qty(ins, t.last_qty),
            "o": shapes.price(ins, t.open_price),
            "h": shapes.price(ins, t.high_price), "l": shapes.price(ins, t.low_price), "v": shapes.qty(ins, t.volume),
            "q": shapes.plain(t.quote_volume), "O": t.open_time, "C": t.close_time, "F": t.first_id, "L": t.last_id,
            "n": t.count}
    mini = {"e": "24hrMiniTicker", "E": now, "s": symbol, "c": full["c"], "o": full["o"], "h": full["h"],
            "l": full["l"], "v": full["v"], "q": full["q"]}
    out += [(f"{s}@ticker", full), (f"{s}@miniTicker", mini), ("!ticker@arr", [full]), ("!miniTicker@arr", [mini])]
    return out


@MARKET(DepthUpdate)
def _depth(service, e: DepthUpdate) -> Iterable:
    want_partial = _listened(_wants_partial(e.symbol))

    def build(ex):
        top = ex.orders.book(e.symbol).snapshot(max(PARTIAL_LEVELS)) if want_partial else None
        return ex.clearing.instruments[e.symbol], top, ex.orders.book_ticker(e.symbol, ex.now)
    ins, top, bt = service.read(build)
    s = e.symbol.lower()
    diff = {"e": "depthUpdate", "E": e.time, "T": e.time, "s": e.symbol, "U": e.first_update_id,
            "u": e.final_update_id, "pu": e.prev_final_update_id, "b": _levels(ins, e.bids), "a": _levels(ins, e.asks)}
    out = [(f"{s}@depth{speed}", diff) for speed in DEPTH_SPEEDS]
    bids = [[shapes.price(ins, p), shapes.qty(ins, q)] for p, q in top.bids] if top is not None else []
    asks = [[shapes.price(ins, p), shapes.qty(ins, q)] for p, q in top.asks] if top is not None else []
    for n in PARTIAL_LEVELS if top is not None else ():
        partial = {"e": "depthUpdate", "E": e.time, "T": e.time, "s": e.symbol, "U": e.first_update_id,
                   "u": max(top.last_update_id, e.final_update_id), "pu": e.prev_final_update_id,
                   "b": bids[:n], "a": asks[:n]}
        out += [(f"{s}@depth{n}{speed}", partial) for speed in DEPTH_SPEEDS]
    touched = (any(p >= bt.bid_price for p in e.bids) if e.bids else False) or \
              (any(p <= bt.ask_price or not bt.ask_price for p in e.asks) if e.asks else False)
    if touched:
        ticker = {"e": "bookTicker", "u": bt.update_id, "E": e.time, "T": e.time, "s": e.symbol,
                  "b": shapes.price(ins, bt.bid_price), "B": shapes.qty(ins, bt.bid_qty),
                  "a": shapes.price(ins, bt.ask_price), "A": shapes.qty(ins, bt.ask_qty)}
        out += [(f"{s}@bookTicker", ticker), ("!bookTicker", ticker)]
    return out


def _partial_name(name: str) -> tuple[str, int] | None:
    """``btcusdt@depth10@100ms`` -> ("BTCUSDT", 10); None for any other stream."""
    sym, _, rest = name.partition("@")
    head = rest.split("@", 1)[0]
    if head.startswith("depth") and head[5:].isdigit() and int(head[5:]) in PARTIAL_LEVELS:
        return sym.upper(), int(head[5:])
    return None


def initial_messages(service, names) -> list[tuple[str, dict]]:
    """What a new subscriber gets at once: partial depth streams send the book's top levels (Binance
    pushes them on a timer; here they are pushed on every change and on subscribing)."""
    out = []
    for name in names:
        parsed = _partial_name(name)
        if parsed is None:
            continue
        symbol, n = parsed

        def build(ex, symbol=symbol, n=n):
            ins = ex.clearing.instruments.get(symbol)
            bk = ex.orders.books.get(symbol)
            if ins is None or bk is None:
                return None
            top = bk.snapshot(n)
            return {"e": "depthUpdate", "E": ex.now, "T": ex.now, "s": symbol, "U": top.last_update_id,
                    "u": top.last_update_id, "pu": top.last_update_id,
                    "b": [[shapes.price(ins, p), shapes.qty(ins, q)] for p, q in top.bids],
                    "a": [[shapes.price(ins, p), shapes.qty(ins, q)] for p, q in top.asks]}
        payload = service.read(build)
        if payload is not None:
            out.append((name, payload))
    return out


def push_initial(service, conn, names) -> None:
    """Called by the hub when streams are added: remember the connection (``_listened``) and queue
    ``initial_messages`` after the SUBSCRIBE reply."""
    if names:
        _CONNS.add(conn)
    if not any(_partial_name(n) for n in names):
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return

    def push():
        for name, payload in initial_messages(service, names):
            if name in conn.subs:
                conn.push(name, payload)
    loop.call_soon(push)
