"""Exact fixed-point numbers: every amount in the core is a Python ``int`` of 1e-8 units.

Money, prices, quantities and rates all share one scale, ``SCALE = 10**8``: Binance's
API prints balances, funding rates and margin figures with 8 decimals
(for example ``"crossWalletBalance": "3.16812045"``), and every tick and step size of a
USD-M symbol is a multiple of 1e-8. One scale keeps the formulas readable:

    notional = mul(qty, price)          # 1e-8 units x 1e-8 units -> 1e-8 units
    mm       = mul(notional, mmr) - cum

Products are exact before they are rounded; rounding happens once, at the end of a
formula, half away from zero (``ROUND_HALF_UP`` in Decimal's terms) unless a function
says otherwise. Floats never enter: ``parse`` refuses them.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import NewType

SCALE = 10**8
DECIMALS = 8

#: Readable aliases: all are plain ints of 1e-8 units.
Amount = NewType("Amount", int)
Price = NewType("Price", int)
Qty = NewType("Qty", int)
Rate = NewType("Rate", int)

ONE = SCALE
_TWO_SCALE = 2 * SCALE
ZERO = 0


def round_div(numerator: int, denominator: int) -> int:
    """Integer division rounded half away from zero: floor((2|n| + d) / 2d) with the sign of n / d."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    elif denominator == 0:
        raise ZeroDivisionError("division by zero")
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((denominator - 2 * numerator) // (2 * denominator))


def floor_div(numerator: int, denominator: int) -> int:
    """Integer division rounded toward minus infinity."""
    return numerator // denominator


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounded toward plus infinity."""
    return -((-numerator) // denominator)


def mul(a: int, b: int) -> int:
    """a x b for two scaled values, rounded half away from zero (``round_div(a * b, SCALE)``, inlined:
    the hottest product of the venue)."""
    p = a * b
    if p >= 0:
        return (2 * p + SCALE) // _TWO_SCALE
    return -((SCALE - 2 * p) // _TWO_SCALE)


def mul3(a: int, b: int, c: int) -> int:
    """a x b x c for three scaled values, rounded once."""
    return round_div(a * b * c, SCALE * SCALE)


def div(a: int, b: int) -> int:
    """a / b for two scaled values, rounded half away from zero."""
    return round_div(a * SCALE, b)


def parse(value: object, field: str = "value") -> int:
    """A decimal string, int or Decimal to scaled units. Exact or refused.

    Accepts ``"123.45"``, ``"1e3"``, ``123``, ``Decimal("0.1")``. Refuses floats (they are not
    exact), NaN, infinities, booleans, and values with more than 8 decimals.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{field}: expected a decimal number, got {value!r}")
    if isinstance(value, int):
        return value * SCALE
    if isinstance(value, float):
        raise ValueError(f"{field}: floats are not exact; send a decimal string")
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64 or not text.isascii() or "_" in text:   # Decimal reads '٣' and '4_0'
            raise ValueError(f"{field}: expected a decimal number, got {value!r}")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{field}: expected a decimal number, got {value!r}") from None
    if not isinstance(value, Decimal):
        raise ValueError(f"{field}: expected a decimal number, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{field}: must be finite")
    if abs(value.adjusted()) > 30:
        raise ValueError(f"{field}: out of range")
    scaled = value.scaleb(DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{field}: more than {DECIMALS} decimals")
    return int(scaled)


def to_decimal(units: int) -> Decimal:
    """Scaled units to an exact Decimal."""
    return Decimal(units).scaleb(-DECIMALS)


def fmt(units: int, decimals: int = DECIMALS) -> str:
    """Scaled units to a decimal string with ``decimals`` places (rounded half away from zero)."""
    if decimals > DECIMALS:
        raise ValueError("at most 8 decimals")
    step = 10 ** (DECIMALS - decimals)
    value = round_div(units, step)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if decimals == 0:
        return f"{sign}{value}"
    whole, frac = divmod(value, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def fmt_plain(units: int) -> str:
    """Scaled units to the shortest exact decimal string (``"0.1"``, ``"60000"``)."""
    text = fmt(units)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def quantize(units: int, step: int) -> int:
    """Round ``units`` to a multiple of ``step``, half away from zero."""
    return round_div(units, step) * step


def decimals_of(step: int) -> int:
    """How many decimals a step size has (``0.001`` -> 3)."""
    d = DECIMALS
    while d > 0 and step % 10 == 0:
        step //= 10
        d -= 1
    return d
