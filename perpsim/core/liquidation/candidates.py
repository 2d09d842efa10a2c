"""What the detector reports: liquidatable margin scopes, one by one (``Candidate``) or as columns
(``Candidates``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .detector import IndexedDetector

ISOLATED, CROSS = "ISOLATED", "CROSS"
_SIDES = ("BOTH", "LONG", "SHORT", "")      # position sides as the columns number them
_SIDE_IX = {s: i for i, s in enumerate(_SIDES)}


class Candidate(NamedTuple):
    """A liquidatable margin scope, exactly verified at the marks of the check.

    Ordered (and sorted) by ``scope``: ``(account_id, kind, name, position_side)``.
    """

    account_id: int
    kind: str               # ISOLATED or CROSS
    name: str               # isolated: the symbol; cross: the margin asset
    position_side: str      # isolated: BOTH/LONG/SHORT; cross: ""
    asset: str              # margin asset
    margin_balance: int
    maint_margin: int
    sid: int                # the detector's scope number (lets ``discard`` skip a lookup)

    @property
    def symbol(self) -> str:
        """The isolated position's symbol; "" for a cross account."""
        return self.name if self.kind == ISOLATED else ""

    @property
    def scope(self) -> tuple:
        """``(account_id, ISOLATED, symbol, side)`` or ``(account_id, CROSS, asset, "")``."""
        return (self.account_id, self.kind, self.name, self.position_side)


class Candidates(Sequence):
    """The liquidatable scopes one check found; read as ``Candidate`` objects sorted by scope.

    Held as columns (the detector's scope numbers and the exact figures, in the detector's
    order): a crash's thousands of hits cost numpy operations, and the ``Candidate`` objects are
    built and sorted only when read. Compares equal to a list of the same candidates.
    """

    __slots__ = ("sids", "margin_balance", "maint_margin", "_det", "_items")

    def __init__(self, det: "IndexedDetector", sids: np.ndarray, mb: np.ndarray, mm: np.ndarray):
        self.sids, self.margin_balance, self.maint_margin = sids, mb, mm
        self._det = det
        self._items: list | None = None

    def _list(self) -> list:
        if self._items is None:
            self._items = sorted(self._det._candidates(self.sids, self.margin_balance, self.maint_margin))
        return self._items

    def __len__(self) -> int:
        return len(self.sids)

    def __getitem__(self, i):
        return self._list()[i]

    def __iter__(self):
        return iter(self._list())

    def __eq__(self, other) -> bool:
        return isinstance(other, (list, tuple, Candidates)) and list(self) == list(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"Candidates({self._list()!r})"
