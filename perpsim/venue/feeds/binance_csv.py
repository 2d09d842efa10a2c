"""Replay readers for Binance's public-data CSV files (klines and funding rates).

Formats read (zipped or not, with or without a header row):

- data.binance.vision ``data/futures/um/{daily,monthly}/{klines,markPriceKlines,indexPriceKlines,
  premiumIndexKlines}/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<date>.zip``: 12 columns
  ``open_time, open, high, low, close, volume, close_time, quote_volume, count,
  taker_buy_volume, taker_buy_quote_volume, ignore`` (the column order of ``GET /fapi/v1/klines``,
  developers.binance.com "Kline/Candlestick Data"); newer files carry that header row, older
  ones have none.
- data.binance.vision ``.../monthly/fundingRate/<SYMBOL>/<SYMBOL>-fundingRate-<month>.zip``:
  ``calc_time, funding_interval_hours, last_funding_rate``.
- ``GET /fapi/v1/fundingRate`` rows saved as CSV: ``symbol, fundingTime, fundingRate, markPrice``.
- freqtrade's candles (``date, open, high, low, close, volume``; ISO dates) and its funding
  file (the rate in ``open``), e.g. ``../shared/data/freqtrade-binance-xrpusdt-perp``;
  nautilus' ``timestamp, open, ...`` bars.

Readers are generators: they stream the file and stop early if the caller stops. Rows must be
in strictly increasing time; anything malformed raises ``FeedError`` naming file and line.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator

from . import _io
from .records import KLINE_KINDS, FeedError, FundingRecord, Kline

__all__ = ["read_klines", "read_funding_rates", "interval_to_ms"]

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_INTERVAL_IN_NAME = re.compile(r"[-_](\d+[smhdw])(?=[-_.])")

# header aliases -> canonical column
_KLINE_ALIASES = {
    "open_time": "time", "opentime": "time", "open time": "time", "date": "time",
    "timestamp": "time", "time": "time", "ts": "time",
    "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume",
    "close_time": "close_time", "closetime": "close_time",
    "quote_volume": "quote_volume", "quote_asset_volume": "quote_volume", "quoteassetvolume": "quote_volume",
    "count": "count", "trades": "count", "number_of_trades": "count", "numberoftrades": "count",
    "taker_buy_volume": "taker_buy_volume", "taker_buy_base_asset_volume": "taker_buy_volume",
    "takerbuybaseassetvolume": "taker_buy_volume",
    "taker_buy_quote_volume": "taker_buy_quote_volume", "taker_buy_quote_asset_volume": "taker_buy_quote_volume",
    "takerbuyquoteassetvolume": "taker_buy_quote_volume",
    "ignore": "ignore",
}
_KLINE_POSITIONAL = ("time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
                     "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore")

_FUNDING_ALIASES = {
    "calc_time": "time", "fundingtime": "time", "funding_time": "time", "date": "time",
    "timestamp": "time", "time": "time",
    "funding_interval_hours": "interval", "fundingintervalhours": "interval",
    "last_funding_rate": "rate", "fundingrate": "rate", "funding_rate": "rate",
    "markprice": "mark", "mark_price": "mark", "symbol": "symbol",
    "open": "open", "high": "ignore", "low": "ignore", "close": "ignore", "volume": "ignore",
}
_FUNDING_POSITIONAL = ("time", "interval", "rate")


def interval_to_ms(interval: str) -> int:
    """``"1m"`` -> 60,000; Binance's kline intervals (``1s`` … ``1w``; ``1M`` has no fixed length)."""
    m = re.fullmatch(r"(\d+)([smhdw])", interval)
    if not m:
        raise ValueError(f"unsupported interval {interval!r}")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def _symbol_from_name(path: Path) -> str:
    stem = path.name.split(".")[0]
    first = re.split(r"-", stem)[0]
    # freqtrade: XRP_USDT_USDT -> XRPUSDT (base + quote); hftbacktest: btcusdt_20240808
    parts = first.split("_")
    if len(parts) >= 2 and not parts[1].isdigit():
        return (parts[0] + parts[1]).upper()
    return parts[0].upper()


def _kind_from_path(path: Path) -> str:
    """data.binance.vision folder names, or freqtrade's candle-type suffixes (``-mark``,
    ``-index``, ``-premiumIndex``)."""
    parts = set(path.parts)
    if "markPriceKlines" in parts or re.search(r"-mark\b", path.name):
        return "mark"
    if "indexPriceKlines" in parts or re.search(r"-index\b", path.name):
        return "index"
    if "premiumIndexKlines" in parts or re.search(r"-premiumIndex\b", path.name):
        return "premium"
    return "trade"


def _header(row: list[str], aliases: dict[str, str], where: str, line: int) -> dict[str, int] | None:
    """Column map from a header row, or None when the row is data (its first cell is a time)."""
    first = row[0].strip().lstrip("\ufeff")
    try:
        _io.time_ms(first, where, line, "time")
        return None  # the first cell is a time: a data row, no header
    except FeedError:
        pass
    cols: dict[str, int] = {}
    for i, name in enumerate(row):
        key = name.strip().lstrip("\ufeff").lower()
        canon = aliases.get(key)
        if canon is None:
            raise FeedError(where, line, f"unknown column {name!r} in header")
        if canon != "ignore":
            cols.setdefault(canon, i)
    return cols


def read_klines(path: str | Path, kind: str | None = None, symbol: str | None = None,
                interval: str | None = None) -> Iterator[Kline]:
    """Klines from a Binance public-data or freqtrade/nautilus-style CSV (``.csv``, ``.gz``,
    ``.zip``). ``kind`` (``trade``/``mark``/``index``/``premium``), ``symbol`` and ``interval``
    default to what the path says (``markPriceKlines/`` folder, ``BTCUSDT-1m-…`` name)."""
    path = Path(path)
    kind = kind or _kind_from_path(path)
    if kind not in KLINE_KINDS:
        raise ValueError(f"kind must be one of {KLINE_KINDS}")
    symbol = symbol or _symbol_from_name(path)
    if interval is None:
        m = _INTERVAL_IN_NAME.search(path.name)
        interval = m.group(1) if m else None
    step = interval_to_ms(interval) if interval else None
    signed = kind == "premium"
    with _io.open_text(path) as (fh, where):
        reader = csv.reader(fh)
        cols: dict[str, int] | None = None
        last_ts: int | None = None
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if cols is None:
                cols = _header(row, _KLINE_ALIASES, where, line)
                if cols is not None:
                    missing = {"time", "open", "high", "low", "close"} - cols.keys()
                    if missing:
                        raise FeedError(where, line, f"header lacks {sorted(missing)}")
                    continue
                cols = {name: i for i, name in enumerate(_KLINE_POSITIONAL) if name != "ignore"}
                if len(row) < 5:
                    raise FeedError(where, line, f"expected at least 5 columns, got {len(row)}")
            cell = {k: row[i] for k, i in cols.items() if i < len(row)}
            if len(cell) < 5 or any(k not in cell for k in ("time", "open", "high", "low", "close")):
                raise FeedError(where, line, f"too few columns ({len(row)})")
            ts = _io.time_ms(cell["time"], where, line, "open_time")
            o = _io.units(cell["open"], where, line, "open")
            h = _io.units(cell["high"], where, line, "high")
            lo = _io.units(cell["low"], where, line, "low")
            c = _io.units(cell["close"], where, line, "close")
            vol = _io.opt_units(cell.get("volume", ""), where, line, "volume")
            close_ms = (_io.time_ms(cell["close_time"], where, line, "close_time")
                        if cell.get("close_time", "").strip() else (ts + step - 1 if step else None))
            qv = _io.opt_units(cell.get("quote_volume", ""), where, line, "quote_volume")
            cnt_text = cell.get("count", "").strip()
            cnt = _io.integer(cnt_text, where, line, "count") if cnt_text else None
            tbv = _io.opt_units(cell.get("taker_buy_volume", ""), where, line, "taker_buy_volume")
            tbq = _io.opt_units(cell.get("taker_buy_quote_volume", ""), where, line, "taker_buy_quote_volume")
            if not (lo <= min(o, c) and max(o, c) <= h):
                raise FeedError(where, line, f"inconsistent candle: open {o} high {h} low {lo} close {c} (1e-8 units)")
            if not signed and lo <= 0:
                raise FeedError(where, line, "prices must be > 0")
            if any(v is not None and v < 0 for v in (vol, qv, cnt, tbv, tbq)):
                raise FeedError(where, line, "volumes and counts must be >= 0")
            if close_ms is not None and close_ms < ts:
                raise FeedError(where, line, "close_time before open_time")
            if last_ts is not None and ts <= last_ts:
                raise FeedError(where, line, f"time not increasing: {ts} after {last_ts}")
            last_ts = ts
            yield Kline(symbol, kind, ts, close_ms, o, h, lo, c, vol, qv, cnt, tbv, tbq)


def read_funding_rates(path: str | Path, symbol: str | None = None) -> Iterator[FundingRecord]:
    """Settled funding rates from data.binance.vision ``fundingRate`` files, a CSV of
    ``/fapi/v1/fundingRate`` rows, or freqtrade's funding file (rate in ``open``)."""
    path = Path(path)
    default_symbol = symbol or _symbol_from_name(path)
    with _io.open_text(path) as (fh, where):
        reader = csv.reader(fh)
        cols: dict[str, int] | None = None
        last_ts: int | None = None
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if cols is None:
                cols = _header(row, _FUNDING_ALIASES, where, line)
                if cols is not None:
                    if "rate" not in cols and "open" in cols:
                        cols["rate"] = cols.pop("open")  # freqtrade: the rate is in `open`
                    missing = {"time", "rate"} - cols.keys()
                    if missing:
                        raise FeedError(where, line, f"header lacks {sorted(missing)}")
                    continue
                cols = {name: i for i, name in enumerate(_FUNDING_POSITIONAL)}
            if any(i >= len(row) for i in cols.values()):
                raise FeedError(where, line, f"too few columns ({len(row)})")
            ts = _io.time_ms(row[cols["time"]], where, line, "funding time")
            rate = _io.units(row[cols["rate"]], where, line, "funding rate")
            hours = None
            if "interval" in cols and row[cols["interval"]].strip():
                hours = _io.integer(row[cols["interval"]], where, line, "funding_interval_hours")
                if hours <= 0:
                    raise FeedError(where, line, f"funding interval must be > 0, got {hours}")
            mark = _io.opt_units(row[cols["mark"]], where, line, "markPrice") if "mark" in cols else None
            sym = row[cols["symbol"]].strip() if "symbol" in cols else default_symbol
            if last_ts is not None and ts <= last_ts:
                raise FeedError(where, line, f"time not increasing: {ts} after {last_ts}")
            last_ts = ts
            yield FundingRecord(sym, ts, rate, hours, mark)
