"""T1 of the index: the single-leg scopes' keys (the mark at which the scope can first be
liquidatable, solved per bracket in exact integers) and the sorted runs they wait in, one list per
symbol and direction (see ``detector``'s module docstring)."""
from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

import numpy as np

from ..fixed import SCALE, ceil_div

S = SCALE
HALF = SCALE // 2
S2 = SCALE * SCALE
KEYMAX = 1 << 60          # keys are clamped to [-KEYMAX, KEYMAX]; marks are far below
LIMIT = 1 << 62           # bracket caps above this are held as this (int64 columns)


class _Tab:
    """A symbol's bracket table as plain lists and arrays, for the hot path."""

    __slots__ = ("caps", "floors", "mmrs", "cums", "last", "prefmax", "asset", "err", "caps_a", "mmrs_a",
                 "cums_a")

    def __init__(self, table, asset: str):
        bs = table.brackets
        self.caps = tuple(b.cap for b in bs)
        self.floors = tuple(b.floor for b in bs)
        self.mmrs = tuple(b.mmr for b in bs)
        self.cums = tuple(b.cum for b in bs)
        self.last = len(bs) - 1
        pm, top = [], 0
        for r in self.mmrs:
            top = max(top, r)
            pm.append(top)
        self.prefmax = tuple(pm)     # highest MMR of tiers 1..k
        self.asset = asset
        self.err = _pad(len(bs))
        self.caps_a = np.array([min(c, LIMIT) for c in self.caps], dtype=np.int64)
        self.mmrs_a = np.array(self.mmrs, dtype=np.int64)
        self.cums_a = np.array(self.cums, dtype=np.int64)

    def bracket(self, n: int) -> int:
        i = bisect_right(self.caps, n)
        return i if i < self.last else self.last


def _pad(tiers: int) -> int:
    """Bound on |g - g~| for one leg, in 1e-8 units, plus slack.

    mul(q, m): 0.5; mul(n, mmr) with n off by 0.5: 1; a bracket picked from the rounded n on the
    other side of a floor: 1; each floor's cum rounding makes g~ jump by <= 0.5 (summed over
    tiers). Doubled for slack. In price the pad is ``pad / |q|``: for 0.001 BTC, 4e-5 USDT, far
    below one tick.
    """
    return 16 + 2 * tiers


class _SideList:
    """Keys of one (symbol, direction); a hit is an entry with ``key >= x``.

    DOWN lists hold long-like keys and are queried with ``x = mark``; UP lists hold negated keys
    and are queried with ``x = -mark``. Entries live in sorted runs (numpy arrays of key, sid,
    version, valid up to ``end``, with ``top`` the key at ``end - 1`` as a Python int): a query
    cuts its hits off the end of each run with one ``searchsorted``. New entries wait unsorted
    in ``pend`` (batches from the numpy paths, and single entries once ``buf``, a small sorted
    list queried by bisection, holds ``BUF_MAX``), each batch scanned whole by a query that
    reaches its highest key, until they are ``PEND_MIN`` and an eighth of the sorted ones (or
    ``PEND_PARTS`` batches): then they become one run. Runs are merged
    binomially (a run is merged into the previous one once it reaches half its size), so there
    are O(log n) of them, and void entries are dropped when runs merge.
    """

    BUF_MAX = 256
    PEND_MIN = 4096
    PEND_PARTS = 8
    NOTOP = -(1 << 62)      # ``top`` of an empty run; below every key

    __slots__ = ("runs", "buf", "bufa", "pend", "npend")

    def __init__(self) -> None:
        self.runs: list[list] = []    # [keys, sids, vers, end, top, seq: sids are consecutive]
        self.buf: list[tuple[int, int, int]] = []
        self.bufa: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.pend: list[list] = []            # [keys, sids, vers, top], unsorted
        self.npend = 0                        # entries in ``pend``

    def pop_hits(self, x: int, ver_arr: np.ndarray) -> np.ndarray | None:
        """Remove every entry with key >= x; return the sids of the current ones."""
        got = []
        for run in self.runs:
            if run[4] >= x:
                keys, end = run[0], run[3]
                i = int(np.searchsorted(keys[:end], x, "left"))
                sids = run[1][i:end]
                if run[5]:            # consecutive scope numbers: read the versions as a slice
                    s0 = int(sids[0])
                    cur = ver_arr[s0: s0 + len(sids)]
                else:
                    cur = np.take(ver_arr, sids)
                got.append(sids[run[2][i:end] == cur])
                run[3] = i
                run[4] = int(keys[i - 1]) if i else self.NOTOP
        gone = False
        for part in self.pend:
            if part[3] >= x:
                keys, sids, vers = part[0], part[1], part[2]
                hit = keys >= x
                hs = sids[hit]
                got.append(hs[vers[hit] == ver_arr[hs]])
                self.npend -= len(hs)
                if len(hs) < len(keys):
                    rest = ~hit
                    part[0], part[1], part[2] = keys[rest], sids[rest], vers[rest]
                    part[3] = int(part[0].max())
                else:
                    part[3] = None
                    gone = True
        if gone:
            self.pend = [p for p in self.pend if p[3] is not None]
        buf = self.buf
        if buf and buf[-1][0] >= x:
            j = bisect_left(buf, (x,))
            ok = [sid for _, sid, ver in buf[j:] if ver_arr[sid] == ver]
            del buf[j:]
            if ok:
                got.append(np.array(ok, dtype=np.int64))
        if not got:
            return None
        return got[0] if len(got) == 1 else np.concatenate(got)

    def add(self, key: int, sid: int, ver: int) -> None:
        insort(self.buf, (key, sid, ver))

    def flush(self, ver_arr: np.ndarray) -> None:
        """Move buffered entries to ``pend``; sort it into a run once it is big enough; merge
        runs (dropping void entries)."""
        if len(self.buf) >= self.BUF_MAX:
            arr = np.array(self.buf, dtype=np.int64).reshape(-1, 3)
            self.bufa.append((arr[:, 0], arr[:, 1], arr[:, 2]))
            self.buf = []
        if self.bufa:
            for keys, sids, vers in self.bufa:
                if len(keys):
                    self.pend.append([keys, sids, vers, int(keys.max())])
                    self.npend += len(keys)
            self.bufa = []
        if not self.pend:
            return
        runs = self.runs
        live = sum(r[3] for r in runs)
        if self.npend < max(self.PEND_MIN, live >> 3) and len(self.pend) < self.PEND_PARTS:
            return
        keys, sids, vers = (np.concatenate(col) for col in zip(*(p[:3] for p in self.pend)))
        self.pend, self.npend = [], 0
        order = np.argsort(keys, kind="stable")
        self._append(keys[order], sids[order], vers[order])
        while len(runs) > 1 and 2 * runs[-1][3] >= runs[-2][3]:
            self._merge(len(runs) - 2, ver_arr)

    def _append(self, keys: np.ndarray, sids: np.ndarray, vers: np.ndarray) -> None:
        if len(keys):
            seq = bool(int(sids[-1]) - int(sids[0]) == len(sids) - 1 and (np.diff(sids) == 1).all())
            self.runs.append([keys, sids, vers, len(keys), int(keys[-1]), seq])

    def _merge(self, start: int, ver_arr: np.ndarray) -> None:
        """Merge runs[start:] into one, dropping void and cut-off entries."""
        tail = self.runs[start:]
        del self.runs[start:]
        keys = np.concatenate([r[0][: r[3]] for r in tail])
        sids = np.concatenate([r[1][: r[3]] for r in tail])
        vers = np.concatenate([r[2][: r[3]] for r in tail])
        ok = vers == ver_arr[sids]
        keys, sids, vers = keys[ok], sids[ok], vers[ok]
        order = np.argsort(keys, kind="stable")
        self._append(keys[order], sids[order], vers[order])

    def load_arrays(self, keys: np.ndarray, sids: np.ndarray, vers: np.ndarray) -> None:
        """Replace everything with the given entries."""
        self.runs, self.buf, self.bufa = [], [], []
        self.pend, self.npend = [], 0
        order = np.argsort(keys, kind="stable")
        self._append(keys[order], sids[order], vers[order])

    def __len__(self) -> int:
        return (sum(r[3] for r in self.runs) + len(self.buf) + sum(len(a[0]) for a in self.bufa)
                + self.npend)


def _t1_key(w: int, q: int, cost: int, t: _Tab) -> int:
    """Conservative trigger price of a single leg: a long can only be liquidatable at
    ``mark <= key``, a short only at ``mark >= key``.

    Per bracket k, ``g~(m) = C0 + m x D / S^2`` with ``C0 = W - cost + cum_k`` and
    ``D = q x S - |q| x mmr_k``; the root of ``g~ = PAD`` is accepted in the bracket its notional
    ``|q| x m / S`` falls in (the bracket search of ``_t1_key``). If rounding of ``cum`` leaves no
    consistent bracket, the outer root of the two adjacent ones is taken.
    """
    Q = q if q > 0 else -q
    pad = t.err
    k = t.bracket(cost if cost > 0 else -cost)
    seen: dict[int, int] = {}
    while True:
        c0 = w - cost + t.cums[k]
        d = q * S - Q * t.mmrs[k]
        num = (pad - c0) * S2
        root = ceil_div(num, d) if q > 0 else num // d
        seen[k] = root
        # n at the root vs the bracket's bounds: |q| num / (d S) against floor/cap
        lhs = Q * num
        if d > 0:
            below = lhs < t.floors[k] * d * S
            above = k < t.last and lhs >= t.caps[k] * d * S
        else:
            below = lhs > t.floors[k] * d * S
            above = k < t.last and lhs <= t.caps[k] * d * S
        nk = k - 1 if below and k > 0 else (k + 1 if above else k)
        if nk == k:
            return root
        if nk in seen:
            return max(root, seen[nk]) if q > 0 else min(root, seen[nk])
        k = nk
