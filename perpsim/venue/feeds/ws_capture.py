"""Replay reader for a raw Binance USD-M WebSocket capture (hftbacktest's format).

One message per line: ``<local receive time, ns> <JSON>``. The JSON is a combined-stream
envelope ``{"stream": "<sym>@trade|@bookTicker|@depth@0ms", "data": {...}}`` with the fields of
Binance's WebSocket market streams (developers.binance.com, USD-M "Trade Streams", "Individual
Symbol Book Ticker Streams", "Diff. Book Depth Streams"), or a REST depth snapshot
``{"lastUpdateId", "E", "T", "bids", "asks"}`` (see ``../shared/data/hftbacktest-binance-usdm-ticks``).

Records come in file (receive) order, which must be non-decreasing. Exchange times of different
streams interleave slightly out of order (up to ~0.1 s in the BTCUSDT sample), so each record's
``ts_ms`` is the running maximum of exchange times: a replay clock that never goes back, with
the raw time kept in ``exchange_ms``. The file is streamed line by line; JSON numbers that are
not integers are refused (Binance sends prices and sizes as strings).
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator, Union

from . import _io
from .binance_csv import _symbol_from_name
from .records import BookTicker, DepthSnapshot, DepthUpdate, FeedError, Level, Trade

__all__ = ["read_ws_capture", "WsRecord"]

WsRecord = Union[Trade, BookTicker, DepthUpdate, DepthSnapshot]


def _no_float(text: str) -> Decimal:
    raise ValueError(f"non-integer JSON number {text}")


def _int(data: dict, key: str, where: str, line: int) -> int:
    v = data.get(key)
    if type(v) is not int:
        raise FeedError(where, line, f"field {key!r}: expected an integer, got {v!r}")
    return v


def _str_units(data: dict, key: str, where: str, line: int) -> int:
    v = data.get(key)
    if not isinstance(v, str):
        raise FeedError(where, line, f"field {key!r}: expected a decimal string, got {v!r}")
    return _io.units(v, where, line, key)


def _levels(raw: object, key: str, where: str, line: int) -> tuple[Level, ...]:
    if not isinstance(raw, list):
        raise FeedError(where, line, f"field {key!r}: expected a list of [price, qty]")
    out = []
    for lv in raw:
        if not (isinstance(lv, list) and len(lv) >= 2 and isinstance(lv[0], str) and isinstance(lv[1], str)):
            raise FeedError(where, line, f"field {key!r}: bad level {lv!r}")
        out.append((_io.units(lv[0], where, line, key), _io.units(lv[1], where, line, key)))
    return tuple(out)


def read_ws_capture(path: str | Path, symbol: str | None = None,
                    kinds: Iterable[str] | None = None) -> Iterator[WsRecord]:
    """Stream the capture as typed records. ``kinds`` filters by stream kind (``"trade"``,
    ``"bookTicker"``, ``"depth"``, ``"snapshot"``); skipped lines are still checked for order.
    ``symbol`` names the snapshot's symbol (which the snapshot itself lacks); by default it comes
    from the file name (``btcusdt_20240808.gz`` -> ``BTCUSDT``)."""
    path = Path(path)
    snap_symbol = symbol or _symbol_from_name(path)
    wanted = None if kinds is None else frozenset(kinds)
    if wanted is not None and not wanted <= {"trade", "bookTicker", "depth", "snapshot"}:
        raise ValueError(f"unknown kinds {sorted(wanted)}")
    decoder = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)
    with _io.open_text(path) as (fh, where):
        last_recv: int | None = None
        clock = 0
        for line_no, text in enumerate(fh, 1):
            text = text.strip()
            if not text:
                continue
            head, sep, body = text.partition(" ")
            if not sep or not head.isdigit():
                raise FeedError(where, line_no, "expected '<receive time ns> <json>'")
            recv_ns = int(head)
            if last_recv is not None and recv_ns < last_recv:
                raise FeedError(where, line_no, f"receive time went back: {recv_ns} < {last_recv}")
            last_recv = recv_ns
            try:
                msg = decoder.decode(body)
            except ValueError as exc:
                raise FeedError(where, line_no, f"bad JSON: {exc}") from None
            if not isinstance(msg, dict):
                raise FeedError(where, line_no, "expected a JSON object")
            if "stream" in msg:
                stream, data = msg.get("stream"), msg.get("data")
                if not isinstance(stream, str) or not isinstance(data, dict):
                    raise FeedError(where, line_no, "bad stream envelope")
                kind = stream.split("@", 1)[1] if "@" in stream else ""
                kind = "depth" if kind.startswith("depth") else kind
                if kind not in ("trade", "bookTicker", "depth"):
                    raise FeedError(where, line_no, f"unknown stream {stream!r}")
                exch = _int(data, "T", where, line_no) if "T" in data else _int(data, "E", where, line_no)
                clock = max(clock, exch)
                if wanted is not None and kind not in wanted:
                    continue
                sym = data.get("s")
                if not isinstance(sym, str):
                    raise FeedError(where, line_no, "field 's': missing symbol")
                if kind == "trade":
                    m = data.get("m")
                    if not isinstance(m, bool):
                        raise FeedError(where, line_no, "field 'm': expected true/false")
                    price = _str_units(data, "p", where, line_no)
                    qty = _str_units(data, "q", where, line_no)
                    if price <= 0 or qty <= 0:
                        raise FeedError(where, line_no, "trade price and qty must be > 0")
                    yield Trade(sym, clock, exch, recv_ns, _int(data, "t", where, line_no), price, qty, m,
                                str(data.get("X", "MARKET")))
                elif kind == "bookTicker":
                    bid = _str_units(data, "b", where, line_no)
                    ask = _str_units(data, "a", where, line_no)
                    yield BookTicker(sym, clock, exch, recv_ns, _int(data, "u", where, line_no),
                                     bid, _str_units(data, "B", where, line_no),
                                     ask, _str_units(data, "A", where, line_no))
                else:
                    yield DepthUpdate(sym, clock, exch, recv_ns, _int(data, "U", where, line_no),
                                      _int(data, "u", where, line_no), _int(data, "pu", where, line_no),
                                      _levels(data.get("b"), "b", where, line_no),
                                      _levels(data.get("a"), "a", where, line_no))
            elif "lastUpdateId" in msg:
                exch = _int(msg, "T", where, line_no) if "T" in msg else _int(msg, "E", where, line_no)
                clock = max(clock, exch)
                if wanted is not None and "snapshot" not in wanted:
                    continue
                yield DepthSnapshot(snap_symbol, clock, exch, recv_ns, _int(msg, "lastUpdateId", where, line_no),
                                    _levels(msg.get("bids"), "bids", where, line_no),
                                    _levels(msg.get("asks"), "asks", where, line_no))
            else:
                raise FeedError(where, line_no, "neither a stream envelope nor a depth snapshot")

