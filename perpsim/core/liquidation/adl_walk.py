"""The ADL queue the waterfall walks: ``adl_queue``'s order, kept between closes, exact.

Binance closes the bankrupt position against the opposite side's positions "in order of
ranking" (FAQ "What is Auto-Deleveraging (ADL)?", 360033525471): highest ``Ranking`` first. A
crash runs thousands of ADL closes while the ranking of every holder moves with the mark, so
ranking all of them at every close (``adl_queue``) makes a crash quadratic in the holders.

Here each (symbol, side) keeps one row per holder: its quantity, entry value and the wallet its
margin balance rests on, as floats (an isolated wallet, or the cross wallet of an account whose
only cross position in that asset is this one; any other account is ranked exactly every time).
At a new mark the rows give, with numpy, an upper bound of every ranking (the float error and
the rounding of ``mul`` bounded above, see ``_bounds``), sorted once. A walk then admits rows in
that order into a heap of *exact* rankings (``adl_ranking``, ``Fraction``), and yields the heap's
best only once it beats the bound of every row not yet admitted: the order is exactly
``adl_queue``'s (highest ranking, then account id), computed for the rows near the head only.

Accounts whose wallets or positions changed since (``Ledger.touched`` records every wallet move
and position fill) are re-read and ranked exactly until the next mark. Derived state: never
hashed or pickled; dropped with the clearing house.
"""
from __future__ import annotations

import heapq
import weakref

import numpy as np

from ..fixed import SCALE
from ..ledger import FUTURES
from ..margin import notional, unrealized_pnl
from ..positions import LONG, SHORT
from .adl import AdlEntry, _cross_balance, _queue_key, adl_ranking

_NONE, _SIMPLE, _EXACT = 0, 1, 2      # a row: no position on this side; a float row; ranked exactly
_REL = 1e-15                          # relative error bound of one float conversion or product (>= 4 ulp)
_NEG_FLOAT, _RANK, _ENTRY = 0, 3, 4   # the fields of a heap item (``AdlQueue._exact``)


class AdlQueue:
    """One symbol's side (LONG or SHORT): rows per holder, and the order of the current mark."""

    def __init__(self, clearing, symbol: str, side: str):
        self.clearing, self.symbol, self.side = clearing, symbol, side
        self.asset = clearing.instruments[symbol].margin_asset
        self.row_of: dict[int, int] = {}
        self.aid: list[int] = []                 # row -> account id; the columns below hold len(aid) rows
        self.kind = np.zeros(64, np.int8)
        self.qty = np.zeros(64)
        self.cost = np.zeros(64)
        self.wallet = np.zeros(64)
        self.dirty: set[int] = set()
        self.marks: tuple | None = None
        self.order = np.zeros(0, np.int64)       # simple rows, by upper bound, highest first
        self.bound = np.zeros(0)
        self.excluded: set[int] = set()          # rows not to admit (changed since the order was made)
        self.heap: list = []                     # admitted exact items, best first (some superseded)
        self.current: dict[int, tuple] = {}      # account id -> its valid item in the heap
        self.popped: list = []                   # items the last walk took, pushed back at the next
        self.next = 0                            # the next row of ``order`` to admit
        self.seq = 0
        for acct in clearing.accounts.values():
            self._read(acct)

    # ------------------------------------------------------------------ rows
    def _position(self, acct):
        want_long = self.side == LONG
        for p in acct.positions.values():
            if p.qty and p.symbol == self.symbol and (p.qty > 0) == want_long:
                return p
        return None

    def _read(self, acct) -> int:
        """(Re)read an account's row; returns its kind."""
        pos = self._position(acct)
        row = self.row_of.get(acct.id)
        if pos is None:
            if row is not None:
                self.kind[row] = _NONE
            return _NONE
        kind, w = _SIMPLE, 0
        if pos.wallet is not None:
            w = pos.wallet.balance
        else:
            for p in acct.positions.values():
                if p is not pos and p.qty and p.wallet is None and \
                        self.clearing.instruments[p.symbol].margin_asset == self.asset:
                    kind = _EXACT       # several cross positions in this asset: ranked exactly
                    break
            w = self.clearing.ledger.peek((FUTURES, acct.id), self.asset)
        if row is None:
            row = self.row_of[acct.id] = len(self.aid)
            self.aid.append(acct.id)
            if row == len(self.kind):            # the columns grow by doubling
                for name in ("kind", "qty", "cost", "wallet"):
                    col = getattr(self, name)
                    setattr(self, name, np.concatenate([col, np.zeros_like(col)]))
        self.kind[row] = kind
        self.qty[row], self.cost[row], self.wallet[row] = float(pos.qty), float(pos.cost), float(w)
        return kind

    def _exact(self, acct) -> tuple | None:
        """``(-ranking as the nearest float, queue key, sequence, ranking, entry)`` of the account's
        position on this side, or None. The leading float decides most comparisons in the heap; the
        exact key only breaks its ties."""
        pos = self._position(acct)
        if pos is None:
            return None
        ch, marks, symbol = self.clearing, self.clearing.marks, self.symbol
        mp = marks.get(symbol) or pos.entry_price
        n = notional(pos.qty, mp)
        u = unrealized_pnl(pos.qty, pos.cost, mp)
        rn, ru, hedge = n, u, False
        if pos.wallet is not None:
            mb = pos.wallet.balance + u
        else:
            mb = _cross_balance(ch, acct, self.asset, marks)
            if pos.side in (LONG, SHORT):
                other = acct.positions.get((symbol, SHORT if pos.side == LONG else LONG))
                if other is not None and other.qty and other.wallet is None:
                    hedge = True
                    om = marks.get(symbol) or other.entry_price
                    rn += notional(other.qty, om)
                    ru += unrealized_pnl(other.qty, other.cost, om)
        rank = adl_ranking(rn, ru, mb)
        e = AdlEntry(acct.id, symbol, pos.side, self.side, pos.qty, n, u, mb, rank, pos.wallet is not None, hedge)
        self.seq += 1                      # items of one account never compare past the key
        # float(Fraction) is correctly rounded, so monotone: where two floats differ they order as the
        # exact keys do
        return -float(rank), _queue_key(e), self.seq, rank, e

    # ------------------------------------------------------------------ the order of a mark
    def _bounds(self, mark: int) -> None:
        """Sort the simple rows by an upper bound of their ranking at ``mark``; the others, and rows
        whose bound would not be sharp (margin balance, notional or UPNL within the error of zero),
        are ranked exactly."""
        rows = len(self.aid)
        kind, q, c, w = self.kind[:rows], self.qty[:rows], self.cost[:rows], self.wallet[:rows]
        qm = q * (mark / SCALE)
        u = qm - c
        mb = w + u
        n = np.abs(qm)
        eu = 1.0 + _REL * 4 * (np.abs(qm) + np.abs(c) + np.abs(u))   # mul's rounding (0.5) + float error
        emb = eu + _REL * 4 * (np.abs(w) + np.abs(mb))
        en = 1.0 + _REL * 4 * n
        sharp = (kind == _SIMPLE) & (mb > 4 * emb) & (n > 4 * en) & (np.abs(u) > 4 * eu)
        with np.errstate(divide="ignore", invalid="ignore"):
            profit = (u + eu) / (mb - emb) * (1 + 1e-12)
            loss = (u + eu) * (mb - emb) / ((n + en) * (n + en)) * (1 - 1e-12)
        bound = np.where(u > 0, profit, loss)
        rows = np.flatnonzero(sharp)
        order = rows[np.argsort(-bound[rows], kind="stable")]
        self.order, self.bound = order, bound[order]
        accounts = self.clearing.accounts
        self.current, self.popped, self.next, self.excluded = {}, [], 0, set()
        for r in np.flatnonzero((kind != _NONE) & ~sharp).tolist():
            it = self._exact(accounts[self.aid[r]])
            if it is not None:
                self.current[it[_ENTRY].account_id] = it
        self.heap = list(self.current.values())
        heapq.heapify(self.heap)

    def _sync(self) -> None:
        ch = self.clearing
        accounts = ch.accounts
        changed = sorted(self.dirty)
        self.dirty = set()
        for aid in changed:
            acct = accounts.get(aid)
            if acct is not None:
                self._read(acct)
        marks = tuple(sorted(ch.marks.items()))
        if marks != self.marks:
            self.marks = marks
            self._bounds(ch.marks.get(self.symbol) or 0)
            return
        current, heap = self.current, self.heap
        for it in self.popped:
            if current.get(it[_ENTRY].account_id) is it:
                heapq.heappush(heap, it)
        self.popped = []
        for aid in changed:                     # same mark: changed accounts are ranked exactly
            row = self.row_of.get(aid)
            if row is not None:
                self.excluded.add(row)
            acct = accounts.get(aid)
            it = self._exact(acct) if acct is not None else None
            if it is None:
                current.pop(aid, None)
            else:
                current[aid] = it
                heapq.heappush(heap, it)
        if len(heap) > 2 * len(current) + 64:   # drop superseded items now and then
            self.heap = [it for it in heap if current.get(it[_ENTRY].account_id) is it]
            heapq.heapify(self.heap)

    # ------------------------------------------------------------------ the walk
    def walk(self, exclude: set[int] | None = None, users_only: bool = False):
        """The entries in deleveraging order, lazily (the waterfall stops once it has its quantity).

        Each entry is read when it is admitted; while the waterfall walks, only the bankrupt
        account (excluded) and the entries already yielded change, so every entry is as it stood
        when the walk began, as ``adl_queue`` reads them."""
        self._sync()
        accounts, aid_of = self.clearing.accounts, self.aid
        heap, current, popped, excluded = self.heap, self.current, self.popped, self.excluded
        order, bound, n = self.order, self.bound, len(self.order)
        while True:
            while heap and current.get(heap[0][_ENTRY].account_id) is not heap[0]:
                heapq.heappop(heap)             # superseded
            p = self.next
            while p < n:
                if heap:                        # the best admitted beats every row not admitted?
                    top, b = heap[0], bound[p]
                    f = -top[_NEG_FLOAT]
                    if f > b or (f == b and top[_RANK] > b):
                        break
                row = int(order[p])
                p += 1
                self.next = p
                if row in excluded:
                    continue
                it = self._exact(accounts[aid_of[row]])
                if it is not None:
                    current[it[_ENTRY].account_id] = it
                    heapq.heappush(heap, it)
            if not heap:
                return
            it = heapq.heappop(heap)
            popped.append(it)
            e = it[_ENTRY]
            if (users_only and e.account_id < 0) or (exclude is not None and e.account_id in exclude):
                continue
            yield e


_QUEUES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def adl_walk(clearing, symbol: str, side: str, exclude: set[int] | None = None, users_only: bool = True):
    """``adl_queue(clearing, symbol, side)``'s entries, walked lazily from the kept queue.
    ``users_only`` skips the venue's own accounts (the insurance funds)."""
    if side not in (LONG, SHORT):
        raise ValueError("side: LONG or SHORT")
    queues = _QUEUES.get(clearing)
    if queues is None:
        queues = _QUEUES[clearing] = {}
    ledger = clearing.ledger
    if ledger.touched is None:
        ledger.touched = set()
    elif ledger.touched:
        changed = {k[1] for k in ledger.touched if len(k) > 1}
        ledger.touched = set()
        for q in queues.values():
            q.dirty |= changed
    q = queues.get((symbol, side))
    if q is None:
        q = queues[(symbol, side)] = AdlQueue(clearing, symbol, side)
    return q.walk(exclude, users_only)
