"""The operator feed: a ``PricePath`` (set prices and wicks, perpsim/core/price_path.py) that
also yields its ticks on a time grid, for replays and scenario runs. Not a Binance mechanism [I].
"""
from __future__ import annotations

from typing import Iterator

from perpsim.core.price_path import PricePath, Wick

from .records import PriceTick

__all__ = ["Wick", "OperatorFeed"]


class OperatorFeed(PricePath):
    """Prices set by an operator (or a test) for one symbol, with ``ticks`` on a grid."""

    def ticks(self, start_ms: int, end_ms: int, step_ms: int) -> Iterator[PriceTick]:
        """Prices on a grid ``start, start + step, …, <= end`` plus every breakpoint in range,
        in time order."""
        if step_ms <= 0:
            raise ValueError("step_ms must be > 0")
        times = set(range(start_ms, end_ms + 1, step_ms))
        times.update(t for t in self.breakpoints() if start_ms <= t <= end_ms)
        for t in sorted(times):
            yield PriceTick(self.symbol, t, self.price_at(t))
