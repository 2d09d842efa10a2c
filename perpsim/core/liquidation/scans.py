"""T3: full recomputes of every scope, the oracle of the tests and the peers of benchmark B1:
``full_scan`` (plain Python, margin.py's formulas) and ``NumpyScan`` (vectorised exact int64)."""
from __future__ import annotations

from array import array

import numpy as np

from ..fixed import SCALE as S
from ..ledger import FUTURES
from ..margin import is_liquidatable, notional, unrealized_pnl
from .candidates import _SIDE_IX, _SIDES, CROSS, ISOLATED
from .int64_math import np_mul
from .t1_keys import LIMIT


def full_scan(clearing, marks: dict[str, int] | None = None) -> set[tuple]:
    """Every liquidatable scope, by a plain scan of every position with margin.py's formulas.

    The oracle of the tests and the naive peer of benchmark B1. Scope tuples as
    ``Candidate.scope``.
    """
    marks = clearing.marks if marks is None else marks
    instruments = clearing.instruments
    peek = clearing.ledger.peek
    out: set[tuple] = set()
    for acct in clearing.accounts.values():
        cross: dict[str, list[int]] = {}
        for p in acct.positions.values():
            if not p.qty:
                continue
            ins = instruments[p.symbol]
            mp = marks.get(p.symbol) or p.entry_price
            mm = clearing.table(p.symbol).maint_margin(notional(p.qty, mp))
            upnl = unrealized_pnl(p.qty, p.cost, mp)
            if p.wallet is not None:
                if is_liquidatable(mm, p.wallet.balance + upnl):
                    out.add((acct.id, ISOLATED, p.symbol, p.side))
            else:
                acc = cross.setdefault(ins.margin_asset, [0, 0])
                acc[0] += mm
                acc[1] += upnl
        for asset, (mm, upnl) in cross.items():
            if is_liquidatable(mm, peek((FUTURES, acct.id), asset) + upnl):
                out.add((acct.id, CROSS, asset, ""))
    return out


class NumpyScan:
    """T3: a vectorised, exact int64 full recompute over a snapshot of the clearing state.

    Legs (every open position) are sorted by scope; per scope ``MB = W + sum UPNL`` and
    ``MM = sum MM`` by ``np.add.reduceat``. Scopes are columns (account, kind, symbol or asset,
    side); ``drop`` removes closed scopes from the result.
    """


    def __init__(self, clearing):
        instruments = clearing.instruments
        peek = clearing.ledger.peek
        self.symbols = sorted(instruments)
        self.assets = sorted({ins.margin_asset for ins in instruments.values()})
        sym_ix = {s: i for i, s in enumerate(self.symbols)}
        asset_ix = {a: i for i, a in enumerate(self.assets)}
        side_ix = _SIDE_IX
        aid, kind, name, side, wallets = array("q"), array("b"), array("h"), array("b"), array("q")
        q, cost, ep, sy, sc = array("q"), array("q"), array("q"), array("h"), array("q")
        k = 0
        for acct in clearing.accounts.values():
            cross: dict[str, list] = {}
            for p in acct.positions.values():
                if not p.qty:
                    continue
                if p.wallet is not None:
                    aid.append(acct.id), kind.append(1), name.append(sym_ix[p.symbol]), side.append(side_ix[p.side])
                    wallets.append(p.wallet.balance)
                    q.append(p.qty), cost.append(p.cost), ep.append(p.entry_price), sy.append(sym_ix[p.symbol])
                    sc.append(k)
                    k += 1
                else:
                    cross.setdefault(instruments[p.symbol].margin_asset, []).append(p)
            for asset, legs in cross.items():
                aid.append(acct.id), kind.append(2), name.append(asset_ix[asset]), side.append(3)
                wallets.append(peek((FUTURES, acct.id), asset))
                for p in legs:
                    q.append(p.qty), cost.append(p.cost), ep.append(p.entry_price), sy.append(sym_ix[p.symbol])
                    sc.append(k)
                k += 1
        col = np.frombuffer
        self.aid = col(aid, np.int64).copy() if k else np.zeros(0, np.int64)
        self.kind = col(kind, np.int8).copy() if k else np.zeros(0, np.int8)
        self.name = col(name, np.int16).copy() if k else np.zeros(0, np.int16)
        self.side = col(side, np.int8).copy() if k else np.zeros(0, np.int8)
        self.wallet = col(wallets, np.int64).copy() if k else np.zeros(0, np.int64)
        nl = len(q)
        self.q = col(q, np.int64).copy() if nl else np.zeros(0, np.int64)
        self.absq = np.abs(self.q)
        self.sign = np.sign(self.q)
        self.cost = col(cost, np.int64).copy() if nl else np.zeros(0, np.int64)
        self.ep = col(ep, np.int64).copy() if nl else np.zeros(0, np.int64)
        self.sym = col(sy, np.int16).astype(np.int64) if nl else np.zeros(0, np.int64)
        sc_arr = col(sc, np.int64) if nl else np.zeros(0, np.int64)
        self.starts = np.flatnonzero(np.r_[True, sc_arr[1:] != sc_arr[:-1]]) if nl else sc_arr
        del aid, kind, name, side, wallets, q, cost, ep, sy, sc
        self.n_scopes = k
        self.alive = np.ones(k, dtype=bool)
        codes = self._codes(self.aid, self.kind, self.name, self.side)
        self.order = np.argsort(codes, kind="stable")
        self.sorted_codes = codes[self.order]
        self.by_sym = [np.flatnonzero(self.sym == i) for i in range(len(self.symbols))]
        self.max_q = np.array([float(self.absq[ix].max()) if len(ix) else 0.0 for ix in self.by_sym])
        self.max_ep = np.array([int(self.ep[ix].max()) if len(ix) else 0 for ix in self.by_sym], dtype=np.int64)
        self.tables = []
        for s in self.symbols:
            bs = clearing.table(s).brackets
            caps = np.array([min(b.cap, LIMIT) for b in bs], dtype=np.int64)
            self.tables.append((caps, np.array([b.mmr for b in bs], np.int64), np.array([b.cum for b in bs], np.int64)))

    @staticmethod
    def _codes(aid, kind, name, side):
        return ((aid.astype(np.int64) * 2 + (kind.astype(np.int64) - 1)) * 1024 + name.astype(np.int64)) * 4 \
            + side.astype(np.int64)

    def scope(self, i: int) -> tuple:
        """The scope tuple of row ``i``."""
        if self.kind[i] == 1:
            return (int(self.aid[i]), ISOLATED, self.symbols[self.name[i]], _SIDES[self.side[i]])
        return (int(self.aid[i]), CROSS, self.assets[self.name[i]], "")

    def mask(self, marks: dict[str, int]) -> np.ndarray:
        """Boolean mask over the scopes: liquidatable at ``marks`` (unset: entry price)."""
        if not self.n_scopes:
            return np.zeros(0, dtype=bool)
        mv = np.array([marks.get(s, 0) or 0 for s in self.symbols], dtype=np.int64)
        m = mv[self.sym]
        unset = m == 0
        if unset.any():
            m = np.where(unset, self.ep, m)
        top = np.where(mv > 0, mv, self.max_ep).astype(float)
        if float((self.max_q * top).max()) / S >= LIMIT:
            raise OverflowError("notional beyond the int64 range of the vectorised scan")
        n = np_mul(self.absq, m)
        upnl = self.sign * n - self.cost
        mm = np.empty_like(n)
        for (caps, mmrs, cums), ix in zip(self.tables, self.by_sym):
            if not len(ix):
                continue
            nn = n[ix]
            b = np.minimum(np.searchsorted(caps, nn, "right"), len(caps) - 1)
            mm[ix] = np_mul(nn, mmrs[b]) - cums[b]
        mb = self.wallet + np.add.reduceat(upnl, self.starts)
        mms = np.add.reduceat(mm, self.starts)
        return (mms > 0) & (mb <= mms) & self.alive

    def scan(self, marks: dict[str, int]) -> set[tuple]:
        return {self.scope(i) for i in np.flatnonzero(self.mask(marks)).tolist()}

    def codes(self, rows: np.ndarray) -> np.ndarray:
        """Scope codes (account, kind, symbol or asset, side in one int64) of the given rows."""
        return self._codes(self.aid[rows], self.kind[rows], self.name[rows], self.side[rows])

    def drop_codes(self, codes: np.ndarray) -> None:
        """Mark the scopes with these codes as gone."""
        if not len(codes) or not len(self.sorted_codes):
            return
        pos = np.minimum(np.searchsorted(self.sorted_codes, codes), len(self.sorted_codes) - 1)
        hit = self.sorted_codes[pos] == codes
        self.alive[self.order[pos[hit]]] = False

    def drop(self, scopes) -> None:
        """Mark closed scopes (scope tuples) as gone."""
        scopes = list(scopes)
        if not scopes:
            return
        sym_ix = {s: i for i, s in enumerate(self.symbols)}
        asset_ix = {a: i for i, a in enumerate(self.assets)}
        rows = [(a, 1, sym_ix[n], _SIDE_IX[sd]) if k == ISOLATED else (a, 2, asset_ix[n], 3)
                for a, k, n, sd in scopes]
        arr = np.array(rows, dtype=np.int64)
        codes = self._codes(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
        pos = np.searchsorted(self.sorted_codes, codes)
        pos = np.minimum(pos, len(self.sorted_codes) - 1)
        hit = self.sorted_codes[pos] == codes
        self.alive[self.order[pos[hit]]] = False


def numpy_scan(clearing, marks: dict[str, int] | None = None) -> set[tuple]:
    """``full_scan`` by ``NumpyScan`` on a fresh snapshot."""
    return NumpyScan(clearing).scan(clearing.marks if marks is None else marks)
