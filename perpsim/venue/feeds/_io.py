"""Shared helpers of the file readers: opening plain / .gz / .zip files lazily, and exact
parsing of decimal strings and timestamps with file:line errors."""
from __future__ import annotations

import gzip
import io
import re
import zipfile
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Iterator

from perpsim.core.fixed import DECIMALS, SCALE

from .records import FeedError

_PLAIN = re.compile(r"-?\d{1,30}(?:\.\d{0,8})?")
_INT = re.compile(r"-?\d{1,20}")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
_QUANTUM = Decimal(1).scaleb(-DECIMALS)
#: A ms epoch has 13 digits until the year 2286; 16-digit values are microseconds
#: (data.binance.vision's spot files since 2025-01-01 use microseconds).
_US_THRESHOLD = 10**15


@contextmanager
def open_text(path: str | Path) -> Iterator[tuple[IO[str], str]]:
    """Open ``path`` for streaming text: plain, ``.gz``, or ``.zip`` holding one ``.csv``
    (data.binance.vision's layout). Yields ``(stream, name_for_errors)``."""
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise FeedError(name, None, "no such file")
    if path.suffix == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise FeedError(name, None, f"not a zip file ({exc})") from None
        with zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise FeedError(name, None, f"expected one file in the zip, found {len(members)}")
            with zf.open(members[0]) as raw:
                yield io.TextIOWrapper(raw, encoding="utf-8", newline=""), f"{name}!{members[0]}"
    elif path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            yield fh, name
    else:
        with open(path, encoding="utf-8", newline="") as fh:
            yield fh, name


def units(text: str, where: str, line: int, field: str) -> int:
    """A decimal string to 1e-8 units, exactly. Values with more than 8 decimals (float64
    noise such as ``1.1997200000000001`` in files written from floats) are rounded to the
    nearest 1e-8, ties to even. Floats are never involved: the string is parsed as a Decimal."""
    if _PLAIN.fullmatch(text):
        neg = text.startswith("-")
        body = text[1:] if neg else text
        whole, _, frac = body.partition(".")
        value = int(whole) * SCALE + (int(frac.ljust(DECIMALS, "0")) if frac else 0)
        return -value if neg else value
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise FeedError(where, line, f"{field}: not a number: {text!r}") from None
    if not d.is_finite() or abs(d.adjusted()) > 30:
        raise FeedError(where, line, f"{field}: not a finite number: {text!r}")
    return int(d.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN).scaleb(DECIMALS))


def opt_units(text: str, where: str, line: int, field: str) -> int | None:
    """Like ``units``; empty or NaN (missing volume in mark/index klines) gives ``None``."""
    t = text.strip()
    if t == "" or t.lower() == "nan":
        return None
    return units(t, where, line, field)


def integer(text: str, where: str, line: int, field: str) -> int:
    t = text.strip()
    if _INT.fullmatch(t):
        return int(t)
    # "12.0" from float writers is accepted when it is integral
    try:
        d = Decimal(t)
    except InvalidOperation:
        d = None
    if d is not None and d.is_finite() and d == d.to_integral_value():
        return int(d)
    raise FeedError(where, line, f"{field}: not an integer: {text!r}")


def time_ms(text: str, where: str, line: int, field: str) -> int:
    """Epoch ms from an int (ms; 16+ digits are microseconds and are floored to ms) or an
    ISO-8601 date (``2021-11-15T00:00:00.000Z``, ``2021-12-31 23:01:00.000000``; UTC unless an
    offset is given)."""
    t = text.strip()
    if _INT.fullmatch(t):
        v = int(t)
        return v // 1000 if abs(v) >= _US_THRESHOLD else v
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise FeedError(where, line, f"{field}: not a timestamp: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // _MS
