"""A price path set by an operator: a step function of set prices plus scheduled "wicks".

A wick of depth X starting at ``start_ms`` moves the price linearly down to ``base x (1 - X)``
over ``down_ms``, then linearly back to ``base`` over ``up_ms``; ``base`` is whatever price is
set at that instant, so a wick rides on later ``set`` calls. Overlapping wicks add their depths
(capped at 100 %). Everything is integer arithmetic, rounded half away from zero once, then put
on the tick (if one is given). Not a Binance mechanism: how an operator or a test moves the index [I].
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

from perpsim.core.fixed import ONE, quantize, round_div

__all__ = ["Wick", "PricePath"]


@dataclass(frozen=True)
class Wick:
    """Down by ``depth`` (a 1e-8 rate: 10 % = 10_000_000; negative goes up) over ``down_ms``, back over ``up_ms``."""

    start_ms: int
    depth: int
    down_ms: int
    up_ms: int

    def __post_init__(self) -> None:
        if not -10 * ONE <= self.depth <= ONE:
            raise ValueError("wick depth must be within [-10, 1] (negative: a wick up)")
        if self.down_ms <= 0 or self.up_ms <= 0:
            raise ValueError("wick durations must be > 0")

    @property
    def bottom_ms(self) -> int:
        return self.start_ms + self.down_ms

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.down_ms + self.up_ms

    def offset(self, t_ms: int) -> tuple[int, int]:
        """The fraction down at ``t_ms`` as an exact ratio ``(numerator, denominator)`` of ONE."""
        if t_ms <= self.start_ms or t_ms >= self.end_ms:
            return 0, 1
        if t_ms <= self.bottom_ms:
            return self.depth * (t_ms - self.start_ms), self.down_ms
        return self.depth * (self.end_ms - t_ms), self.up_ms


class PricePath:
    """Prices set by an operator (or a test) for one symbol; ``price_at(t)`` is pure once set."""

    def __init__(self, symbol: str, price: int | None = None, at_ms: int = 0, tick: int | None = None):
        if tick is not None and tick <= 0:
            raise ValueError("tick must be > 0")
        self.symbol = symbol
        self.tick = tick
        self._times: list[int] = []
        self._prices: list[int] = []
        self.wicks: list[Wick] = []
        if price is not None:
            self.set(at_ms, price)

    def set(self, at_ms: int, price: int) -> None:
        """From ``at_ms`` on, the base price is ``price`` (replaces a price set at the same ms)."""
        if price <= 0:
            raise ValueError("price must be > 0")
        i = bisect.bisect_left(self._times, at_ms)
        if i < len(self._times) and self._times[i] == at_ms:
            self._prices[i] = price
        else:
            self._times.insert(i, at_ms)
            self._prices.insert(i, price)

    def wick(self, start_ms: int, depth: int, down_ms: int, up_ms: int) -> Wick:
        """Schedule a wick: down ``depth`` over ``down_ms`` ms, back over ``up_ms`` ms."""
        w = Wick(start_ms, depth, down_ms, up_ms)
        self.wicks.append(w)
        return w

    def base_at(self, t_ms: int) -> int:
        i = bisect.bisect_right(self._times, t_ms) - 1
        if i < 0:
            raise LookupError(f"{self.symbol}: no price set at or before {t_ms}")
        return self._prices[i]

    def price_at(self, t_ms: int) -> int:
        """The price at ``t_ms``: base x (1 - Σ wick offsets), on the tick, at least one tick."""
        base = self.base_at(t_ms)
        num, den = 0, 1
        for w in self.wicks:
            n, d = w.offset(t_ms)
            if n:
                num, den = num * d + n * den, den * d
        if num == 0:
            price = base
        else:
            num = min(num, ONE * den)
            price = round_div(base * (ONE * den - num), ONE * den)
        if self.tick:
            price = max(quantize(price, self.tick), self.tick)
        return price

    def breakpoints(self) -> list[int]:
        """Times where the path changes slope or level (set times, wick starts/bottoms/ends)."""
        pts = set(self._times)
        for w in self.wicks:
            pts.update((w.start_ms, w.bottom_ms, w.end_ms))
        return sorted(pts)
