"""Instruments: a symbol's contract data and its dated notional-bracket tables.

Brackets (leverage tiers) follow Binance's ``/fapi/v1/leverageBracket``: each tier has a
notional floor (inclusive) and cap (exclusive), a maintenance margin rate, the highest
leverage allowed in the tier, and ``cum``, the maintenance amount, derived by Binance's rule
``cum_n = cum_{n-1} + floor_n x (MMR_n - MMR_{n-1})``, ``cum_1 = 0``
(FAQ b3c689c1f50a44cabb3a84e663b81d93). Tables change over time; a replay uses the table
in force on its date (/fapi/v1/leverageBracket as saved weekly by freqtrade's bot).
"""
from __future__ import annotations

import bisect
import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

from . import fixed
from .errors import BAD_SYMBOL, VenueError
from .fixed import mul, parse

DEFAULT_LEVERAGE = 20  # "The default leverage ... is 20x" (old text of FAQ 360033162192) [P]


@dataclass(frozen=True, slots=True)
class Bracket:
    """One tier: notional in [floor, cap); MM = notional x mmr - cum."""

    number: int
    floor: int
    cap: int
    mmr: int
    cum: int
    max_leverage: int


@dataclass(frozen=True, slots=True)
class BracketTable:
    """A symbol's tiers, sorted by floor, contiguous, with ``cum`` derived."""

    brackets: tuple[Bracket, ...]
    valid_from: dt.date = dt.date(2019, 1, 1)
    source: str = ""
    _caps: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.brackets:
            raise ValueError("a bracket table needs at least one bracket")
        prev = None
        for b in self.brackets:
            if b.cap <= b.floor or b.mmr < 0 or b.max_leverage < 1:
                raise ValueError(f"bracket {b.number}: bad bounds, rate or leverage")
            if prev is not None and b.floor != prev.cap:
                raise ValueError(f"bracket {b.number}: floor {fixed.fmt_plain(b.floor)} does not meet the previous cap")
            prev = b
        object.__setattr__(self, "_caps", tuple(b.cap for b in self.brackets))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[object, object, object, object]], **kw) -> "BracketTable":
        """Build from ``(floor, cap, mmr, max_leverage)`` rows, deriving ``cum`` by Binance's rule."""
        brackets = []
        cum = 0
        prev_mmr = None
        for n, (floor, cap, mmr, lev) in enumerate(rows, start=1):
            floor_u, cap_u, mmr_u = parse(floor, "notionalFloor"), parse(cap, "notionalCap"), parse(mmr, "maintMarginRatio")
            if prev_mmr is not None:
                cum += mul(floor_u, mmr_u - prev_mmr)
            brackets.append(Bracket(n, floor_u, cap_u, mmr_u, cum, int(lev)))
            prev_mmr = mmr_u
        return cls(tuple(brackets), **kw)

    def for_notional(self, notional: int) -> Bracket:
        """The tier a notional falls in: floor inclusive, cap exclusive; beyond the last cap, the last tier."""
        i = bisect.bisect_right(self._caps, notional)
        return self.brackets[min(i, len(self.brackets) - 1)]

    def maint_margin(self, notional: int) -> int:
        """MM = N x MMR_k - cum_k (FAQ b3c689c1...)."""
        b = self.for_notional(notional)
        return mul(notional, b.mmr) - b.cum

    @property
    def max_leverage(self) -> int:
        return self.brackets[0].max_leverage

    def max_notional(self, leverage: int) -> int:
        """The largest notional allowed at ``leverage``: the cap of the highest tier still allowing it (FAQ 360033162192; GET /fapi/v1/leverageBracket)."""
        allowed = [b.cap for b in self.brackets if b.max_leverage >= leverage]
        return max(allowed) if allowed else 0


@dataclass(frozen=True, slots=True)
class Instrument:
    """A USD-M perpetual: filters, fees and bracket history (exchangeInfo + leverageBracket)."""

    symbol: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    tick_size: int
    min_price: int
    max_price: int
    step_size: int
    min_qty: int
    max_qty: int
    market_min_qty: int
    market_max_qty: int
    min_notional: int
    multiplier_up: int
    multiplier_down: int
    market_take_bound: int
    liquidation_fee: int
    trigger_protect: int
    max_num_orders: int
    max_num_algo_orders: int
    bracket_history: tuple[BracketTable, ...]

    @property
    def brackets(self) -> BracketTable:
        """The newest table."""
        return self.bracket_history[-1]

    def brackets_at(self, day: dt.date | None) -> BracketTable:
        """The table in force on ``day`` (the earliest table for days before it)."""
        if day is None:
            return self.brackets
        table = self.bracket_history[0]
        for t in self.bracket_history:
            if t.valid_from <= day:
                table = t
        return table

    @property
    def price_precision(self) -> int:
        return fixed.decimals_of(self.tick_size)

    @property
    def quantity_precision(self) -> int:
        return fixed.decimals_of(self.step_size)

    def with_brackets(self, table: BracketTable) -> "Instrument":
        from dataclasses import replace

        return replace(self, bracket_history=(table,))


def _instrument_from_spec(symbol: str, spec: dict) -> Instrument:
    history = tuple(
        BracketTable.from_rows(t["rows"], valid_from=dt.date.fromisoformat(t["validFrom"]), source=t.get("source", ""))
        for t in sorted(spec["brackets"], key=lambda t: t["validFrom"])
    )
    p = parse
    return Instrument(
        symbol=symbol,
        base_asset=spec["baseAsset"],
        quote_asset=spec["quoteAsset"],
        margin_asset=spec["marginAsset"],
        tick_size=p(spec["tickSize"]),
        min_price=p(spec["minPrice"]),
        max_price=p(spec["maxPrice"]),
        step_size=p(spec["stepSize"]),
        min_qty=p(spec["minQty"]),
        max_qty=p(spec["maxQty"]),
        market_min_qty=p(spec["marketMinQty"]),
        market_max_qty=p(spec["marketMaxQty"]),
        min_notional=p(spec["minNotional"]),
        multiplier_up=p(spec["multiplierUp"]),
        multiplier_down=p(spec["multiplierDown"]),
        market_take_bound=p(spec["marketTakeBound"]),
        liquidation_fee=p(spec["liquidationFee"]),
        trigger_protect=p(spec["triggerProtect"]),
        max_num_orders=int(spec["maxNumOrders"]),
        max_num_algo_orders=int(spec["maxNumAlgoOrders"]),
        bracket_history=history,
    )


def default_instruments() -> dict[str, Instrument]:
    """The symbols the package carries (BTCUSDT, ETHUSDT, XRPUSDT) with their dated tables."""
    text = resources.files("perpsim.data").joinpath("instruments.json").read_text()
    specs = json.loads(text)["symbols"]
    return {s: _instrument_from_spec(s, spec) for s, spec in specs.items()}


def get_instrument(instruments: dict[str, Instrument], symbol: object) -> Instrument:
    if not isinstance(symbol, str) or symbol not in instruments:
        raise VenueError(BAD_SYMBOL, "Invalid symbol.")
    return instruments[symbol]


def load_bracket_file(path: str | Path) -> dict[str, BracketTable]:
    """Read bracket tables from a file in Binance's ``/fapi/v1/leverageBracket`` JSON format.

    Accepts Binance's list ``[{"symbol": "BTCUSDT", "brackets": [...]}]`` (or one such object),
    and freqtrade's dump ``{"BTC/USDT:USDT": [{"info": {...binance bracket...}}, ...]}``.
    Each table's ``cum`` is derived; a published ``cum`` that disagrees raises ``ValueError``.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON bracket file ({e})") from None
    if isinstance(doc, dict) and "brackets" in doc:
        doc = [doc]
    entries: list[tuple[str, list[dict]]] = []
    if isinstance(doc, list):
        for item in doc:
            if not isinstance(item, dict) or "symbol" not in item or "brackets" not in item:
                raise ValueError(f"{path}: each entry needs 'symbol' and 'brackets'")
            entries.append((item["symbol"], item["brackets"]))
    elif isinstance(doc, dict):
        for name, tiers in doc.items():
            if not isinstance(tiers, list):
                raise ValueError(f"{path}: {name}: expected a list of tiers")
            pair, _, settle = name.partition(":")
            expiry = settle.partition("-")[2]  # "BTC/USDT:USDT-250328" is Binance's BTCUSDT_250328
            symbol = pair.replace("/", "") + (f"_{expiry}" if expiry else "")
            entries.append((symbol, [t.get("info", t) for t in tiers]))
    else:
        raise ValueError(f"{path}: unrecognised bracket file")
    tables = {}
    for symbol, raw in entries:
        tables[symbol] = bracket_table_from_binance(raw, where=f"{path}: {symbol}")
    return tables


def bracket_table_from_binance(raw: list[dict], where: str = "brackets") -> BracketTable:
    """A table from Binance's bracket objects; checks each published ``cum`` against the rule."""
    try:
        ordered = sorted(raw, key=lambda b: parse(str(b["notionalFloor"]), "notionalFloor"))
        rows = [(str(b["notionalFloor"]), str(b["notionalCap"]), str(b["maintMarginRatio"]), int(b["initialLeverage"]))
                for b in ordered]
        table = BracketTable.from_rows(rows, source=where)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: malformed bracket ({e})") from None
    for b, published in zip(table.brackets, ordered):
        if "cum" in published:
            try:
                got = Decimal(str(published["cum"]))
            except InvalidOperation:
                raise ValueError(f"{where}: bracket {b.number}: cum is not a number") from None
            if abs(got - fixed.to_decimal(b.cum)) > Decimal("0.01"):  # published cums carry float noise
                raise ValueError(f"{where}: bracket {b.number} cum {got} != derived {fixed.fmt_plain(b.cum)}")
    return table
