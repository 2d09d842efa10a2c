"""Clocks: the venue's time is either wall time (live) or simulated (moved by commands).

Whatever the clock, the sequencer stamps each command with a time and the exchange never
goes back in time, so a replay of the journal sees exactly the times the live run saw.
"""
from __future__ import annotations

import time


class SimClock:
    """Simulated time: only commands (``advance_clock``, feed ticks) move it."""

    kind = "sim"

    def stamp(self, venue_now: int) -> int:
        return venue_now


class WallClock:
    """Wall time in ms; never earlier than the venue's own time."""

    kind = "wall"

    def stamp(self, venue_now: int) -> int:
        return max(int(time.time() * 1000), venue_now)


def make_clock(kind: str):
    if kind == "sim":
        return SimClock()
    if kind == "wall":
        return WallClock()
    raise ValueError(f"clock must be 'wall' or 'sim', not {kind!r}")
