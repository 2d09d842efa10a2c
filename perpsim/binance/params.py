"""Request parameters as Binance reads them: the raw query and the raw body, for every verb.

Clients put parameters in the query (SDK, connector), in a form body (ccxt for POST/PUT,
python-binance for POST/PUT/DELETE), or both; a clash is won by the query (Binance USDⓈ-M Futures API,
"General Info": "SIGNED Endpoint Examples"). Every typed read raises Binance's error for a missing or malformed value.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from urllib.parse import parse_qsl

from perpsim.core.errors import VenueError
from perpsim.core.fixed import parse

MAX_PARAMS = 64
MAX_VALUE = 4096   # batchOrders carries up to 5 orders as JSON

#: Binance's grammar for numbers, quoted in its -1100 messages ("legal range is '...'"): ASCII digits only,
#: no sign, exponent, underscore, whitespace or other Unicode digit. perpsim accepts a leading '-' only
#: where a value may be negative (``signed=True``).
INTEGER_RANGE = "^[0-9]{1,20}$"
DECIMAL_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
_INTEGER = re.compile(r"-?[0-9]{1,20}", re.ASCII)
_DECIMAL = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?", re.ASCII)


def ascii_int(text: str, signed: bool = False) -> int | None:
    """``text`` as an int if it is Binance's integer grammar (ASCII digits, '-' when ``signed``), else None."""
    if not isinstance(text, str) or not _INTEGER.fullmatch(text) or (text[0] == "-" and not signed):
        return None
    return int(text)


def mandatory(name: str) -> VenueError:
    return VenueError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def invalid(name: str, why: str = "") -> VenueError:
    return VenueError(-1130, f"Data sent for parameter '{name}' is not valid.{' ' + why if why else ''}")


def illegal_chars(name: str, legal: str | None = None) -> VenueError:
    """-1100, with the legal range as Binance words it."""
    tail = f"; legal range is '{legal}'." if legal else "."
    return VenueError(-1100, f"Illegal characters found in parameter '{name}'{tail}")


class Params:
    """The merged parameters of one request (query wins), with typed readers."""

    def __init__(self, raw_query: bytes, raw_body: bytes):
        try:
            # errors="strict": a percent-encoding that is not UTF-8 is refused, never read as U+FFFD
            query = parse_qsl(raw_query.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_PARAMS,
                              errors="strict")
            body = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_PARAMS,
                             errors="strict") \
                if raw_body and not raw_body.lstrip().startswith(b"{") else []
        except (UnicodeDecodeError, ValueError):
            raise VenueError(-1104, "Not all sent parameters were read; malformed request.") from None
        values: dict[str, str] = {}
        for part in (body, query):
            seen = set()
            for k, v in part:
                if k in seen:
                    raise VenueError(-1101, "Duplicate values for a parameter detected.")
                seen.add(k)
                if len(v) > MAX_VALUE or len(k) > 64:
                    raise VenueError(-1104, "Not all sent parameters were read; read too large a parameter.")
                values[k] = v   # the query comes last: on a clash between query and body it wins
        self.values = values

    def __contains__(self, name: str) -> bool:
        return self.values.get(name, "") != ""

    def raw(self, name: str) -> str | None:
        v = self.values.get(name)
        return None if v is None or v == "" else v

    def str(self, name: str, required: bool = False, default: str | None = None, max_len: int = 64,
            charset: str | None = None) -> str | None:
        v = self.raw(name)
        if v is None:
            if required:
                raise mandatory(name)
            return default
        if len(v) > max_len:
            raise invalid(name, "Too long.")
        if charset is not None and any(c not in charset for c in v):
            raise illegal_chars(name)
        return v

    def symbol(self, required: bool = True) -> str | None:
        v = self.str("symbol", required=required, max_len=32)
        if v is not None and not (v.isalnum() and v.upper() == v):
            raise VenueError(-1121, "Invalid symbol.")
        return v

    def enum(self, name: str, choices, required: bool = False, default: str | None = None) -> str | None:
        v = self.str(name, required=required, default=default)
        if v is not None and v not in choices:
            raise invalid(name)
        return v

    def int(self, name: str, required: bool = False, default: int | None = None,
            lo: int | None = None, hi: int | None = None) -> int | None:
        v = self.raw(name)
        if v is None:
            if required:
                raise mandatory(name)
            return default
        n = ascii_int(v, signed=lo is None or lo < 0)
        if n is None:
            raise illegal_chars(name, INTEGER_RANGE)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise invalid(name, "Out of range.")
        return n

    def decimal(self, name: str, required: bool = False, positive: bool = False, signed: bool = False) -> int | None:
        """A decimal number in 1e-8 units, in Binance's grammar (``50000.0`` yes; ``5e4``, ``+5``, ``٥`` -1100);
        more than 8 decimals: -1111."""
        v = self.raw(name)
        if v is None:
            if required:
                raise mandatory(name)
            return None
        if not _DECIMAL.fullmatch(v) or (v[0] == "-" and not signed):
            raise illegal_chars(name, DECIMAL_RANGE)
        d = Decimal(v)
        try:
            units = parse(d, name)
        except ValueError:
            raise VenueError(-1111, "Precision is over the maximum defined for this asset.") from None
        if positive and units <= 0:
            raise invalid(name, "It must be greater than zero.")
        return units

    def check_grammar(self, name: str, kind: str) -> None:
        """-1100 unless a sent ``integer`` / ``number`` parameter is in Binance's grammar (the registry's
        declared types, checked for every endpoint before its handler reads anything)."""
        v = self.raw(name)
        if v is None:
            return
        if kind == "integer" and ascii_int(v) is None:
            raise illegal_chars(name, INTEGER_RANGE)
        if kind == "number" and (not _DECIMAL.fullmatch(v) or v[0] == "-"):
            raise illegal_chars(name, DECIMAL_RANGE)

    def bool(self, name: str, default: bool | None = None) -> bool | None:
        v = self.raw(name)
        if v is None:
            return default
        low = v.lower()
        if low not in ("true", "false"):
            raise invalid(name, "Use 'true' or 'false'.")
        return low == "true"

    def json_list(self, name: str, required: bool = True, max_items: int = 5) -> list:
        v = self.raw(name)
        if v is None:
            if required:
                raise mandatory(name)
            return []
        try:
            items = json.loads(v)
        except (ValueError, RecursionError):
            raise invalid(name, "Malformed JSON.") from None
        if not isinstance(items, list) or not items or len(items) > max_items:
            raise invalid(name, f"A JSON list of 1 to {max_items} items.")
        if not all(isinstance(i, dict) for i in items):
            raise invalid(name, "Each item must be an object.")
        return items
