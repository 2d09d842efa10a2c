"""T2 of the index: the safe bands of multi-leg cross accounts, one slot per account and symbol
(see ``detector``'s module docstring)."""
from __future__ import annotations

import numpy as np


NEG, POS = -(1 << 62), 1 << 62     # band ends that never trigger


class _Bands:
    """The safe bands of the T2 accounts: per symbol (a row), one slot per account holding it. A
    re-check is due when the symbol's mark falls to ``lo`` or below, or rises to ``hi`` or above
    (``NEG``/``POS``: never). Unsorted: a batch re-band is one scatter. A query scans a row only
    when the mark has passed its highest ``lo`` or lowest ``hi`` (``lo_top``/``hi_bot``, which may
    be stale towards safety after clears and are recomputed by each scan)."""

    __slots__ = ("lo", "hi", "own", "n", "free", "lo_top", "hi_bot")

    def __init__(self, nsym: int) -> None:
        self.lo = np.full((nsym, 256), NEG, np.int64)
        self.hi = np.full((nsym, 256), POS, np.int64)
        self.own = np.full((nsym, 256), -1, np.int64)
        self.n = [0] * nsym
        self.free: list[list[int]] = [[] for _ in range(nsym)]
        self.lo_top = np.full(nsym, NEG, np.int64)
        self.hi_bot = np.full(nsym, POS, np.int64)

    def alloc(self, j: int, sid: int) -> int:
        if self.free[j]:
            slot = self.free[j].pop()
        else:
            slot = self.n[j]
            if slot == self.lo.shape[1]:
                pad = ((0, 0), (0, slot))
                self.lo = np.pad(self.lo, pad, constant_values=NEG)
                self.hi = np.pad(self.hi, pad, constant_values=POS)
                self.own = np.pad(self.own, pad, constant_values=-1)
            self.n[j] = slot + 1
        self.own[j, slot] = sid
        return slot

    def release(self, j: int, slot: int) -> None:
        self.lo[j, slot], self.hi[j, slot], self.own[j, slot] = NEG, POS, -1
        self.free[j].append(slot)

    def set(self, j: int, slot: int, lo: int, hi: int) -> None:
        self.lo[j, slot], self.hi[j, slot] = lo, hi
        if lo > self.lo_top[j]:
            self.lo_top[j] = lo
        if hi < self.hi_bot[j]:
            self.hi_bot[j] = hi

    def set_many(self, js: np.ndarray, slots: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        at = js * self.lo.shape[1] + slots       # flat positions: 1-D scatters are much faster
        self.lo.reshape(-1)[at] = lo
        self.hi.reshape(-1)[at] = hi
        np.maximum.at(self.lo_top, js, lo)
        np.minimum.at(self.hi_bot, js, hi)

    def clear_many(self, js: np.ndarray, slots: np.ndarray) -> None:
        at = js * self.lo.shape[1] + slots
        self.lo.reshape(-1)[at] = NEG
        self.hi.reshape(-1)[at] = POS

    def pop_hits(self, j: int, m: int) -> np.ndarray | None:
        """Clear the slots of symbol ``j`` whose band the mark ``m`` has left; their owners."""
        down = up = None
        n = self.n[j]
        if self.lo_top[j] >= m:
            lo = self.lo[j, :n]
            h = np.flatnonzero(lo >= m)
            lo[h] = NEG
            self.lo_top[j] = lo.max() if n else NEG
            down = np.take(self.own[j], h)
        if self.hi_bot[j] <= m:
            hi = self.hi[j, :n]
            h = np.flatnonzero(hi <= m)
            hi[h] = POS
            self.hi_bot[j] = hi.min() if n else POS
            up = np.take(self.own[j], h)
        if up is None:
            return down
        return up if down is None else np.concatenate([down, up])

    def count(self) -> int:
        return int(np.count_nonzero(self.lo != NEG) + np.count_nonzero(self.hi != POS))
