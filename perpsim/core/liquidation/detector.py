"""Indexed liquidation detection, exactly verified (Binance FAQ 360033525271 "Liquidation Protocols",
FAQ 5d62f8be18d24544b5b6156094c16bf7 "How to Check Futures Wallet Balance").

Rule: a margin scope is liquidatable when its margin ratio reaches 100% on the mark, i.e.
``margin balance <= maintenance margin`` with ``MM > 0`` (``margin.is_liquidatable``). Scopes:

* an isolated position: ``isolatedWallet + UPNL`` against its own MM;
* a cross account, per margin asset: ``crossWalletBalance + sum of cross UPNL`` against the sum of
  cross MM (isolated positions excluded). The mark of a symbol without one is the position's
  entry price, as ``ClearingHouse.position_figures``/``cross_figures`` do.

Every figure is the integer formula of ``margin.py``/``clearing.py``: ``n = mul(|q|, mark)``,
``MM = mul(n, mmr) - cum`` of the bracket ``n`` falls in, ``UPNL = mul(q, mark) - cost``.

Index (tiers T1/T2/T3):

* T1, single-leg scopes (isolated positions; cross accounts with one open cross position): the
  health ``g(m) = MB - MM`` is concave in the mark (MM is convex in the notional), increasing for a
  long and decreasing for a short, so the scope can only be liquidatable below (long) or above
  (short) one price. The key is that price solved per bracket in exact integers for
  ``g~(m) = PAD``, where ``g~`` is ``g`` without rounding and ``PAD`` exceeds every rounding error
  (see ``_pad``): longs trigger when ``mark <= key``, shorts when ``mark >= key``. The key is
  conservative, never exact; hits are re-verified.
* T2, cross accounts with several legs (several symbols, or hedge LONG+SHORT): a safe band per
  symbol around the marks of the last exact evaluation. Per symbol, a fall of the mark by ``dm``
  costs at most ``dm x max(0, sum q)`` (MM only falls) and a rise at most
  ``dm x max(0, sum |q| x MMRmax - sum q)`` (MMRmax: the table's top rate), so with the headroom
  ``H = g - 2 x rounding bound`` no set of moves with ``sum_s |dm_s| L_s <= H`` can liquidate the
  account (``L_s`` the larger rate). Each symbol gets the same fraction ``f = H / sum_s L_s m_s``
  of its mark (the doc's ``H/G`` bound, per direction), only on a side that can lose (a
  long-only account has no upper ends). The band ends live in ``_Bands``, one slot per account
  and symbol, unsorted: a re-band is a write, and a mark scans its symbol's slots only once it
  has passed the nearest end. When a mark leaves a band the account is re-checked exactly and
  re-banded.
* T3: ``full_scan`` (plain Python, the oracle and the naive peer) and ``NumpyScan`` (vectorised
  exact int64 recompute).

Each T1 (symbol, direction) list is a few numpy sorted runs (bulk built, cut from the end as
marks cross them, so a crash costs one ``searchsorted`` per run plus the hits; changes wait in
small buffers, then become runs). Entries carry the scope's version; a changed scope bumps its
version, which voids its old entries. At a bulk build the scopes are numbered in key order
(``_renumber``), so the hits of a crash are runs of consecutive scopes and the batch checks read
their columns in sequence: at a million scopes the columns are far bigger than the CPU caches.

Liquidatable scopes are "flagged": they leave the index and are re-checked on every mark of their
symbol (a multi-leg cross account: on every mark) and by the hooks, until they recover or the
waterfall closes them.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..fixed import SCALE, ceil_div
from ..ledger import FUTURES
from ..margin import entry_price, is_liquidatable, notional, unrealized_pnl

ISOLATED, CROSS = "ISOLATED", "CROSS"
S = SCALE
HALF = SCALE // 2
S2 = SCALE * SCALE
KEYMAX = 1 << 60          # keys are clamped to [-KEYMAX, KEYMAX]; marks are far below
_T1, _T2 = 1, 2
_SIDES = ("BOTH", "LONG", "SHORT", "")
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
        self.caps_a = np.array([min(c, NumpyScan.LIMIT) for c in self.caps], dtype=np.int64)
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


class IndexedDetector:
    """Liquidation detection over a ``ClearingHouse``, read-only.

    Call ``on_mark``/``on_marks`` on every mark update, ``on_account_changed(account_id)`` (alias
    ``on_position_changed``) after every command that changes an account's positions or wallets
    (fills, margin transfers, funding, fees, leverage/margin-type changes), ``discard``/
    ``discard_many`` when the waterfall has closed a scope, and ``rebuild`` after bulk changes.
    Results are exact: every reported scope was just re-verified with the integer formulas.

    Hits come in batches; a batch of at least ``VECTOR_MIN`` is checked in numpy from a mirror of
    the values each scope was last indexed with (wallet, qty, cost; int64, exact formulas), which
    the hooks keep equal to the clearing state: liquidatable scopes are flagged and reported, the
    others are indexed again. Smaller batches, and scopes whose values do not fit in int64, are
    checked one by one on the live objects. Results come as ``Candidates`` (columns; ``Candidate``
    objects built when read), so a crash's thousands of hits never become Python objects here.
    The waterfall re-checks each scope on the live state before it acts (``Liquidator.liquidate``).

    Per scope the index keeps numpy columns (version, tier, account, side, key, mirror) and one
    list slot (the Position or Account), about 100 bytes plus ~24 per sorted entry.
    """

    VECTOR_MIN = 4            # a numpy batch costs about as much as four checks on the live objects
    _BIG = 1 << 62
    _NBITS = 57               # T2 batch checks: notionals below 2^57 units (1.4e9 USDT per leg)
    _COLS = (("_vera", np.int64), ("_tier_n", np.int8), ("_tier_a", np.int8), ("_kind_a", np.int8),
             ("_aid_a", np.int64), ("_side_a", np.int8), ("_symi_a", np.int16), ("_kkey", np.int64),
             ("_kdir", np.int8), ("_mw", np.int64), ("_mq", np.int64), ("_mc", np.int64),
             ("_ls", np.int64), ("_ln", np.int32), ("_le", np.int32),
             ("_flg", np.int8))

    def __init__(self, clearing, marks: dict[str, int] | None = None):
        self.clearing = clearing
        self.marks: dict[str, int] = dict(clearing.marks if marks is None else marks)
        self.rebuild()

    # ------------------------------------------------------------------ build
    def rebuild(self) -> None:
        """Recompute every scope from the clearing state and bulk-build the sorted runs."""
        ch = self.clearing
        self._tabs = {s: _Tab(ch.table(s), ins.margin_asset) for s, ins in ch.instruments.items()}
        self._sym_list = sorted(self._tabs)
        self._sym_ix = {s: i for i, s in enumerate(self._sym_list)}
        self._tab_arrays = [self._tabs[s] for s in self._sym_list]
        self._mmrmax_a = np.array([float(self._tabs[s].prefmax[-1]) for s in self._sym_list])
        # every symbol's brackets in one sorted array: key (symbol index << 57) + cap, so that one
        # searchsorted finds the bracket of each leg of a T2 batch (notionals < 2^57 there)
        tops = (1 << self._NBITS) - 1
        self._capkey = np.concatenate([(j << self._NBITS) + np.minimum(t.caps_a, tops)
                                       for j, t in enumerate(self._tab_arrays)])
        self._capoff = np.cumsum([0] + [t.last + 1 for t in self._tab_arrays])[:-1].astype(np.int64)
        self._mmrflat = np.concatenate([t.mmrs_a for t in self._tab_arrays])
        self._cumflat = np.concatenate([t.cums_a for t in self._tab_arrays])
        self._last_a = np.array([t.last for t in self._tab_arrays], dtype=np.int64)
        self._capend = self._capoff + self._last_a       # each symbol's top bracket in the flat arrays
        # bracket b holds the notionals in [_brlo[b], _brhi[b]); the extra last entry holds none
        # (the bracket -1 of a leg not placed yet)
        self._brlo = np.concatenate([np.concatenate([[0], t.caps_a[: t.last]]) for t in self._tab_arrays]
                                    + [[POS]]).astype(np.int64)
        self._brhi = np.concatenate([np.concatenate([t.caps_a[: t.last], [POS]]) for t in self._tab_arrays]
                                    + [[NEG]]).astype(np.int64)
        self._one = {s: (s,) for s in self._sym_list}
        self._assets: list[str] = sorted({t.asset for t in self._tabs.values()})
        self._asset_ix = {a: i for i, a in enumerate(self._assets)}
        self._mark_a = np.array([self.marks.get(s, 0) or 0 for s in self._sym_list], dtype=np.int64)
        self._mh, self._ml = np.divmod(self._mark_a, S)
        self._lists: dict[str, tuple[_SideList, _SideList]] = {}
        self._obj: list = []                     # Position (isolated) or Account (cross), per scope
        self._cw: dict[int, object] = {}         # cross scope -> its cross Wallet
        self._n = 0
        count = 0
        for acct in ch.accounts.values():
            cross = 0
            for p in acct.positions.values():
                if p.qty:
                    if p.wallet is not None:
                        count += 1
                    else:
                        cross = 1
            count += cross
        cap = count + (count >> 4) + 1024
        for name, dt in self._COLS:
            setattr(self, name, np.zeros(cap, dt))
        # T2 legs, one row each: qty, cost, symbol index, slot in _Bands, bracket in the flat
        # tables (-1: not known yet); an account's legs are consecutive rows sorted by symbol, so
        # a batch re-check reads one block each
        self._legs = np.zeros((4096, 5), np.int64)
        self._bands = _Bands(len(self._sym_list))
        self._lfill = 0
        self._compact_at = 1 << 16
        self._acct: dict[int, array] = {}        # account -> its scopes (array('q'): no int objects)
        # flagged scopes: ``_flg`` per scope. Those flagged by a batch check are in ``_fparts``
        # as they were flagged: (sids, MB, MM, the symbol index each is exposed to, -1 for every
        # symbol: a multi-leg cross account). Those flagged one by one on the live objects have
        # their Candidate in ``_flag`` (figures may exceed int64) and their symbol in ``_flag_js``.
        self._flag: dict[int, Candidate] = {}
        self._flag_js: dict[int, int] = {}
        self._fparts: list[tuple] = []
        self._bulk: dict | None = {}
        for acct in ch.accounts.values():
            self._refresh_account(acct)
        bulk, self._bulk = self._bulk, None
        cols = {key: tuple(np.frombuffer(c, np.int64) for c in arrs) for key, arrs in sorted(bulk.items())}
        del bulk
        self._renumber(cols)
        for (sym, down), (ks, ss, vs) in cols.items():
            self._side(sym, down).load_arrays(ks, ss, vs)
        self._flush()

    def _renumber(self, cols: dict) -> None:
        """Number the scopes in index order: each sorted list's scopes get consecutive numbers in
        key order, the others follow in their order. A crash's hits are a run's tail, so its
        checks then read and write the per-scope columns in sequence, not at random (at a
        million scopes the columns are far bigger than the CPU caches)."""
        n = self._n
        seen = np.zeros(n, dtype=bool)
        parts = []
        for ks, ss, _ in cols.values():
            o = ss[np.argsort(ks, kind="stable")]
            o = o[~seen[o]]
            seen[o] = True
            parts.append(o)
        perm = np.concatenate(parts + [np.flatnonzero(~seen)])      # new number -> old
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n, dtype=np.int64)
        for name, _ in self._COLS:
            col = getattr(self, name)
            col[:n] = col[:n][perm]
        objs = np.empty(n, dtype=object)     # (no Python int per scope: the peak RSS counts)
        objs[:] = self._obj
        self._obj = objs[perm].tolist()
        del objs
        invl = array("q")
        invl.frombytes(inv.tobytes())
        acct = self._acct
        for a, sids in acct.items():
            acct[a] = array("q", [invl[s] for s in sids])
        self._cw = {invl[s]: w for s, w in self._cw.items()}
        self._flag = {invl[s]: c._replace(sid=invl[s]) for s, c in self._flag.items()}
        self._fparts = [(inv[a], b, c, js) for a, b, c, js in self._fparts]
        self._flag_js = {invl[s]: j for s, j in self._flag_js.items()}
        own = self._bands.own
        used = own >= 0
        own[used] = inv[own[used]]
        for key, (ks, ss, vs) in cols.items():
            cols[key] = (ks, inv[ss], vs)

    def _side(self, sym: str, down: bool) -> _SideList:
        pair = self._lists.get(sym)
        if pair is None:
            pair = self._lists[sym] = (_SideList(), _SideList())
        return pair[0] if down else pair[1]

    def _new_sid(self, obj, kind: int, aid: int, side: int, symi: int) -> int:
        sid = self._n
        if sid >= len(self._vera):
            for name, dt in self._COLS:
                old = getattr(self, name)
                grown = np.zeros(len(old) + (len(old) >> 1) + 1024, dt)
                grown[: len(old)] = old
                setattr(self, name, grown)
        self._n = sid + 1
        self._obj.append(obj)
        self._kind_a[sid] = kind
        self._aid_a[sid] = aid
        self._side_a[sid] = side
        self._symi_a[sid] = symi
        return sid

    def scope_of(self, sid: int) -> tuple:
        """The scope tuple of an internal scope number."""
        aid = int(self._aid_a[sid])
        if self._kind_a[sid] == 1:
            return (aid, ISOLATED, self._sym_list[self._symi_a[sid]], _SIDES[self._side_a[sid]])
        return (aid, CROSS, self._assets[self._symi_a[sid]], "")

    def _bump(self, sid: int) -> None:
        """Void the scope's index entries (its T1 key, its T2 bands)."""
        self._vera[sid] += 1
        k = int(self._ln[sid])
        if k:
            f = int(self._ls[sid])
            rows = self._legs[f: f + k]
            self._bands.clear_many(rows[:, 2], rows[:, 3])

    def _leg_rows(self, sids: np.ndarray) -> np.ndarray:
        """Rows of the legs table of the given T2 scopes."""
        cnt = self._ln[sids].astype(np.int64)
        starts = np.cumsum(cnt) - cnt
        return np.repeat(self._ls[sids] - starts, cnt) + np.arange(int(cnt.sum()))

    def _clear_bands(self, sids: np.ndarray) -> None:
        """No band triggers for these T2 scopes (flagged, discarded or being re-checked)."""
        legs = self._legs[self._leg_rows(sids)]
        self._bands.clear_many(legs[:, 2], legs[:, 3])

    def _release_bands(self, sid: int) -> None:
        """Give back the scope's band slots (it is no longer a T2 scope)."""
        f, k = int(self._ls[sid]), int(self._ln[sid])
        for j, slot in dict(self._legs[f: f + k, 2:4].tolist()).items():
            self._bands.release(j, slot)
        self._ln[sid] = 0

    def _flush(self) -> None:
        vera = self._vera
        for pair in self._lists.values():
            pair[0].flush(vera)
            pair[1].flush(vera)
        if self._lfill > self._compact_at:
            if self._lfill > 3 * int(self._ln[: self._n].sum()):
                self._compact_legs()
            self._compact_at = max(1 << 16, 2 * self._lfill)

    # ------------------------------------------------------------------ hooks
    def on_account_changed(self, account_id: int) -> list[Candidate]:
        """Re-derive an account's scopes after a command; returns its liquidatable scopes (sorted)."""
        out = self._refresh_account(self.clearing.accounts.get(account_id), account_id)
        self._flush()
        out.sort()
        return out

    on_position_changed = on_account_changed

    def on_accounts_changed(self, account_ids) -> list[Candidate]:
        """``on_account_changed`` for many accounts (e.g. after a funding settlement)."""
        out = []
        for a in sorted(set(account_ids)):
            out += self._refresh_account(self.clearing.accounts.get(a), a)
        self._flush()
        out.sort()
        return out

    def on_mark(self, symbol: str, mark: int) -> list[Candidate]:
        """Set one mark; returns every liquidatable scope exposed to ``symbol`` (sorted by scope)."""
        return self.on_marks({symbol: mark})

    def on_marks(self, marks: dict[str, int]) -> list[Candidate]:
        """Set several marks at once; returns every liquidatable scope exposed to any of them (and
        any flagged multi-leg cross account still liquidatable)."""
        for sym, m in marks.items():
            if not isinstance(m, int) or isinstance(m, bool) or m <= 0:
                raise ValueError(f"mark of {sym}: a positive int of 1e-8 units")
            self.marks[sym] = m
            ix = self._sym_ix.get(sym)
            if ix is not None:
                self._mark_a[ix] = m
        self._mh, self._ml = np.divmod(self._mark_a, S)   # marks split at S, for exact products
        vera, tier_a, vmin = self._vera, self._tier_a, self.VECTOR_MIN
        ones: list[tuple] = []        # T1 hits: (symbol index, sids), checked together below
        hits: list[tuple] = []        # (sids, margin balances, maint margins), checked in numpy
        out: list[Candidate] = []     # checked one by one
        slow: list[int] = []          # re-checked one by one on the live objects
        t2: list[np.ndarray] = []
        fl = self._flagged_for([self._sym_ix[s] for s in marks if s in self._sym_ix])
        flagged: set[int] = set(fl.tolist()) if fl is not None else set()   # re-checked below
        for sym, m in marks.items():
            ix = self._sym_ix.get(sym)
            if ix is not None:
                got = self._bands.pop_hits(ix, m)
                if got is not None and len(got):
                    t2.append(got)
            pair = self._lists.get(sym)
            if pair is None:
                continue
            for sl, x in ((pair[0], m), (pair[1], -m)):
                got = sl.pop_hits(x, vera)
                if got is None or not len(got):
                    continue
                # only T1 scopes have list entries (T2 ones are in _Bands); those without a
                # mirror (tier_a 0) are checked one by one
                mirrored = np.take(tier_a, got) == 1
                if mirrored.any():
                    ones.append((ix, got[mirrored]))
                if not mirrored.all():
                    slow.extend(got[~mirrored].tolist())
        if ones:
            if sum(len(o) for _, o in ones) >= vmin:
                self._verify_batch(ones, hits, slow)
            else:
                for _, o in ones:
                    slow.extend(o.tolist())
        if t2:
            two = _unique(np.concatenate(t2))
            mirrored = tier_a[two] == 2
            if not mirrored.all():
                slow.extend(two[~mirrored].tolist())
                two = two[mirrored]
            if len(two) >= vmin:
                self._recheck_t2_batch(two, hits, slow)
            else:
                slow.extend(two.tolist())
        done: set[int] = set()
        check = self._check_hit
        for sid in slow:
            if sid in done or sid in flagged:
                continue
            done.add(sid)
            c = check(sid)
            if c is not None:
                out.append(c)
        for sid in flagged:
            c = check(sid)
            if c is not None:
                out.append(c)
        self._flush()
        return self._result(hits, out)

    def _result(self, hits: list[tuple], out: list[Candidate]) -> Candidates:
        """One sorted ``Candidates`` from the batch hits and the one-by-one candidates."""
        if out:
            cols = [[c[7] for c in out], [c[5] for c in out], [c[6] for c in out]]
            try:
                hits.append(tuple(np.array(col, dtype=np.int64) for col in cols))
            except OverflowError:
                hits.append(tuple(np.array(col, dtype=object) for col in cols))
        if not hits:
            e = np.zeros(0, np.int64)
            return Candidates(self, e, e, e)
        sids, mb, mm = (np.concatenate(col) for col in zip(*hits)) if len(hits) > 1 else hits[0]
        return Candidates(self, sids, mb, mm)

    def _candidates(self, sids: np.ndarray, mb: np.ndarray, mm: np.ndarray) -> list[Candidate]:
        """``Candidate`` objects of scope numbers with their figures."""
        new = tuple.__new__
        syms, assets, tabs = self._sym_list, self._assets, self._tabs
        out = []
        for sid, aid, kind, ix, side, b, m in zip(sids.tolist(), self._aid_a[sids].tolist(),
                                                  self._kind_a[sids].tolist(), self._symi_a[sids].tolist(),
                                                  self._side_a[sids].tolist(), mb.tolist(), mm.tolist()):
            if kind == 1:
                sym = syms[ix]
                out.append(new(Candidate, (aid, ISOLATED, sym, _SIDES[side], tabs[sym].asset, b, m, sid)))
            else:
                a = assets[ix]
                out.append(new(Candidate, (aid, CROSS, a, "", a, b, m, sid)))
        return out

    def discard(self, scope) -> None:
        """Forget a scope (a ``Candidate`` or its ``scope`` tuple) that the waterfall has closed."""
        self.discard_many((scope,))

    def discard_many(self, scopes) -> None:
        """``discard`` for many scopes (a ``Candidates`` result, Candidates or scope tuples)."""
        if isinstance(scopes, Candidates):
            arr = scopes.sids
        else:
            arr = self._sids_of(list(scopes))
        if not len(arr):
            return
        # flagged scopes have no index entries and no band triggers already; the others are voided
        un = arr[self._flg[arr] == 0]
        self._flg[arr] = 0
        if self._flag:                # the few flagged one by one
            flg = self._flg
            for sid in [k for k in self._flag if not flg[k]]:
                del self._flag[sid], self._flag_js[sid]
        if len(un):
            self._vera[un] += 1
            self._tier_a[un] = 0
            self._kdir[un] = 0
            t2 = un[self._ln[un] > 0]
            if len(t2):
                self._clear_bands(t2)

    def _sids_of(self, scopes: list) -> np.ndarray:
        """Scope numbers of Candidates (checked by account) or scope tuples (looked up)."""
        n = self._n
        sids = [c[7] if isinstance(c, Candidate) and 0 <= c[7] < n else -1 for c in scopes]
        arr = np.array(sids, dtype=np.int64)
        good = arr >= 0
        if good.any():
            idx = arr[good]
            aids = np.array([c[0] for c, g in zip(scopes, good.tolist()) if g], dtype=np.int64)
            good[good] = self._aid_a[idx] == aids
        for i in np.flatnonzero(~good).tolist():     # not a Candidate of ours: look it up
            sc = scopes[i]
            sid = self._find(tuple(sc[:4]) if isinstance(sc, Candidate) else tuple(sc))
            arr[i] = -1 if sid is None else sid
        return arr[arr >= 0]

    def _find(self, scope: tuple) -> int | None:
        for sid in self._acct.get(scope[0], ()):
            if self.scope_of(sid) == scope:
                return sid
        return None

    def liquidatable(self) -> list[Candidate]:
        """Every scope flagged liquidatable at the last check that concerned it (sorted)."""
        flag = self._flag
        out = list(flag.values())
        parts = [p[:3] for p in self._fparts if self._flg[p[0]].any()]
        if parts:
            sids, mb, mm = (np.concatenate(col)[::-1] for col in zip(*parts))   # newest first
            sids, first = np.unique(sids, return_index=True)
            mb, mm = mb[first], mm[first]
            keep = self._flg[sids] == 1
            if flag:                  # flagged one by one: their Candidate is in ``_flag``
                fl = np.array(sorted(flag), dtype=np.int64)
                pos = np.minimum(np.searchsorted(sids, fl), len(sids) - 1)
                keep[pos[sids[pos] == fl]] = False
            out += self._candidates(sids[keep], mb[keep], mm[keep])
        return sorted(out)

    def scopes(self) -> set[tuple]:
        """The scope tuples of ``liquidatable()``."""
        return {c[:4] for c in self.liquidatable()}

    def stats(self) -> dict:
        return {"scopes": self._n, "entries": sum(len(a) + len(b) for a, b in self._lists.values())
                + self._bands.count(),
                "runs": sum(len(a.runs) + len(b.runs) for a, b in self._lists.values()),
                "flagged": int(self._flg[: self._n].sum()), "t2": int((self._tier_n[: self._n] == _T2).sum())}

    # ------------------------------------------------------------------ batch checks
    def _verify_batch(self, parts: list, hits: list, slow: list) -> None:
        """Exact int64 check of the T1 hits of one update, every symbol at once, from the mirror
        (the values each scope was last indexed with, kept current by the hooks); ``parts``:
        (symbol index, sids) per list hit. Liquidatable ones are flagged, the others indexed again."""
        take = np.take
        if len(parts) == 1:
            sids = np.sort(parts[0][1])
            js = np.full(len(sids), parts[0][0], dtype=np.int64)
        else:
            sids = np.concatenate([p[1] for p in parts])
            js = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in parts])
            order = np.argsort(sids)     # scope order is index order (``_renumber``): fewer cache misses
            sids, js = sids[order], js[order]
        k = len(sids)
        if int(sids[-1]) - int(sids[0]) == k - 1:
            at = slice(int(sids[0]), int(sids[0]) + k)
            q, w, c = self._mq[at], self._mw[at], self._mc[at]
        else:
            at = sids
            q, w, c = take(self._mq, sids), take(self._mw, sids), take(self._mc, sids)
        absq = np.abs(q)
        m = take(self._mark_a, js)
        big = absq * (m / S) >= 0.5 * (1 << self._NBITS)      # notionals the flat bracket search can't take
        if big.any():
            slow.extend(sids[big].tolist())
            ok = ~big
            sids, js, q, w, c, absq, m = sids[ok], js[ok], q[ok], w[ok], c[ok], absq[ok], m[ok]
            at = sids
            if not len(sids):
                return
        qh, ql = np.divmod(absq, S)     # n = round(|q| m / S) exactly, |q| and m split at S
        n = qh * m + ql * take(self._mh, js) + (ql * take(self._ml, js) + HALF) // S
        bi = np.minimum(np.searchsorted(self._capkey, (js << self._NBITS) + n, "right"), take(self._capend, js))
        mm = _np_mul_rate(n, take(self._mmrflat, bi)) - take(self._cumflat, bi)
        mb = w + np.where(q > 0, n, -n) - c
        liq = (mm > 0) & (mb <= mm)
        if liq.all():
            self._flag_batch(sids, mb, mm, js, at)
            hits.append((sids, mb, mm))
            return
        near = np.flatnonzero(~liq)     # near misses: the same key again
        ns = sids[near]
        key = take(self._kkey, ns)
        down = take(self._kdir, ns) == 1
        code = take(js, near) * 2 + down
        for cd, kk, ss in _by_symbol(code, np.where(down, key, -key), ns):
            self._side(self._sym_list[cd >> 1], bool(cd & 1)).bufa.append((kk, ss, take(self._vera, ss)))
        if liq.any():
            ls = sids[liq]
            self._flag_batch(ls, mb[liq], mm[liq], js[liq])
            hits.append((ls, mb[liq], mm[liq]))

    def _flag_batch(self, sids: np.ndarray, mb: np.ndarray, mm: np.ndarray, js: np.ndarray, at=None) -> None:
        """Flag scopes found liquidatable by a batch check; ``js``: the symbol index each is
        exposed to (-1: every symbol); ``at``: the same scopes as a slice, when consecutive."""
        at = sids if at is None else at
        self._flg[at] = 1
        self._kdir[at] = 0            # flagged: no entry until it recovers
        self._fparts.append((sids, mb, mm, js))
        if len(self._fparts) > 64:
            self._flagged_for([])     # drops the parts whose scopes were all discarded or cleared

    def _flagged_for(self, ixs: list) -> np.ndarray | None:
        """The flagged scopes exposed to any of the symbol indexes ``ixs``; drops the parts of
        ``_fparts`` with no flagged scope left."""
        if not self._fparts and not self._flag_js:
            return None
        expose = np.zeros(len(self._sym_list) + 1, dtype=bool)
        expose[ixs] = True
        expose[-1] = True             # js -1: exposed to every symbol
        keep, out = [], []
        flg = self._flg
        for part in self._fparts:
            sids = part[0]
            on = np.take(flg, sids) == 1
            if not on.any():
                continue
            keep.append(part)
            on &= np.take(expose, part[3])
            if on.any():
                out.append(sids[on])
        self._fparts = keep
        if self._flag_js:
            want = set(ixs)
            one = [sid for sid, j in self._flag_js.items() if j < 0 or j in want]
            if one:
                out.append(np.array(one, dtype=np.int64))
        if not out:
            return None
        return _unique(np.concatenate(out)) if len(out) > 1 else _unique(out[0])

    def _recheck_t2_batch(self, sids: np.ndarray, hits: list, slow: list) -> None:
        """Exact int64 re-check of T2 accounts from their mirrored legs; liquidatable ones are
        flagged, the others get new bands (computed in float, shrunk by 1e-9 and one price unit
        so that float rounding cannot widen them)."""
        take = np.take            # (np.take gathers about twice as fast as fancy indexing)
        cnt = take(self._ln, sids)
        starts = np.cumsum(cnt, dtype=np.int64) - cnt
        tot = int(starts[-1] + cnt[-1])
        acc = np.repeat(np.arange(len(sids)), cnt)
        li = np.arange(tot) + take(take(self._ls, sids) - starts, acc)
        q, cost, sy, slot, bi = take(self._legs, li, axis=0).T
        absq = np.abs(q)
        m = take(self._mark_a, sy)
        if not m.all() or float((absq * (m / S)).max()) >= 0.5 * (1 << self._NBITS):
            slow.extend(sids.tolist())
            return
        # n = round(|q| m / S) exactly: |q| = qh S + ql, m = mh S + ml
        qh, ql = np.divmod(absq, S)
        n = qh * m + ql * take(self._mh, sy) + (ql * take(self._ml, sy) + HALF) // S
        long = q > 0
        upnl = np.where(long, n, -n) - cost
        # each leg's bracket: the one it was in last time, if its notional is still inside
        stale = np.flatnonzero((n < take(self._brlo, bi)) | (n >= take(self._brhi, bi)))
        if len(stale):
            bi = bi.copy()
            ss = take(sy, stale)
            found = np.searchsorted(self._capkey, (ss << self._NBITS) + take(n, stale), "right")
            bi[stale] = np.minimum(found, take(self._capend, ss))
            self._legs[take(li, stale), 4] = bi[stale]
        mm = _np_mul_rate(n, take(self._mmrflat, bi)) - take(self._cumflat, bi)
        mb = take(self._mw, sids) + np.add.reduceat(upnl, starts)
        mmt = np.add.reduceat(mm, starts)
        liq = (mmt > 0) & (mb <= mmt)
        if liq.any():
            ls = sids[liq]
            on_leg = np.flatnonzero(liq[acc])
            self._bands.clear_many(sy[on_leg], slot[on_leg])     # no band triggers while flagged
            self._tier_a[ls] = 0
            self._flag_batch(ls, mb[liq], mmt[liq], np.full(len(ls), -1, dtype=np.int64))
            hits.append((ls, mb[liq], mmt[liq]))
            if liq.all():
                return
        safe_acc = ~liq
        h = (mb - mmt) - 2 * take(self._le, sids).astype(np.int64) - 1
        # groups of legs: (account, symbol); an account's legs are sorted by symbol
        brk = np.empty(tot, dtype=bool)
        brk[0] = True
        np.not_equal(sy[1:], sy[:-1], out=brk[1:])
        brk[starts] = True
        gqr = absq * self._mmrmax_a[sy]
        if brk.all():                                        # one leg per symbol (one-way)
            ga, gsym, gm, gq, gslot = acc, sy, m, q, slot
        else:
            gs = np.flatnonzero(brk)
            ga, gsym, gm, gslot = acc[gs], sy[gs], m[gs], slot[gs]
            gq = np.add.reduceat(q, gs)
            gqr = np.add.reduceat(gqr, gs)
        eps = 1e-9
        gqs = gq * float(S)
        down_risk = gq > 0                                   # exact: loss rate q S when the mark falls
        ld = np.where(down_risk, gqs * (1 + eps), 0.0)
        lu = np.where(down_risk, gqr * (1 + eps) - gqs * (1 - eps), (gqr - gqs) * (1 + eps))
        up_risk = lu > 0                                     # over-estimated: never misses a risk
        gmf = gm.astype(np.float64)
        tot_g = np.bincount(ga, weights=np.maximum(ld, lu) * gmf, minlength=len(sids))[ga]
        hf = h[ga].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            d = np.floor(hf * float(S2) * gmf / tot_g * (1 - eps)) - 1
        d = np.where(tot_g > 0, d, float(KEYMAX))
        d = np.clip(d, 0.0, float(KEYMAX)).astype(np.int64)
        tight = hf <= 0
        if tight.any():
            d[tight] = 0
            down_risk |= tight
            up_risk |= tight
        keep = np.flatnonzero(safe_acc[ga])
        lo = np.where(down_risk, np.maximum(gm - d - 1, -KEYMAX), NEG)[keep]
        hi = np.where(up_risk, np.minimum(gm + d + 1, KEYMAX), POS)[keep]
        self._bands.set_many(gsym[keep], gslot[keep], lo, hi)

    def _compact_legs(self) -> None:
        """Drop T2 legs no scope points at any more."""
        live = np.flatnonzero(self._ln[: self._n] > 0)
        cnt = self._ln[live].astype(np.int64)
        tot = int(cnt.sum())
        starts = np.cumsum(cnt) - cnt
        li = np.repeat(self._ls[live] - starts, cnt) + np.arange(tot)
        legs = np.zeros((max(4096, 2 * tot), 5), np.int64)
        legs[:tot] = np.take(self._legs, li, axis=0)
        self._legs = legs
        self._ls[live] = starts
        self._lfill = tot

    # ------------------------------------------------------------------ scopes
    def _refresh_account(self, acct, account_id: int | None = None) -> list[Candidate]:
        """Recompute every scope of ``acct``; void scopes that no longer exist."""
        aid = acct.id if acct is not None else account_id
        old = self._acct.get(aid, ())
        known = {self.scope_of(sid): sid for sid in old} if old else {}
        live: list[int] = []
        out: list[Candidate] = []
        if acct is not None:
            tabs, sym_ix = self._tabs, self._sym_ix
            cross_assets: dict[str, int] = {}
            for p in acct.positions.values():
                if not p.qty:
                    continue
                if p.wallet is not None:
                    sid = known.get((aid, ISOLATED, p.symbol, p.side)) if known else None
                    if sid is None:
                        sid = self._new_sid(p, 1, aid, _SIDE_IX[p.side], sym_ix[p.symbol])
                        self._tier_n[sid] = _T1
                    self._obj[sid] = p
                    live.append(sid)
                else:
                    asset = tabs[p.symbol].asset
                    cross_assets[asset] = cross_assets.get(asset, 0) + 1
            for asset, legs in cross_assets.items():
                sid = known.get((aid, CROSS, asset, "")) if known else None
                if sid is None:
                    sid = self._new_sid(acct, 2, aid, 3, self._asset_ix[asset])
                self._obj[sid] = acct
                self._tier_n[sid] = _T1 if legs == 1 else _T2
                live.append(sid)
            for sid in live:
                c = self._refresh(sid)
                if c is not None:
                    out.append(c)
        if old:
            keep = set(live)
            for sid in old:
                if sid not in keep:
                    self._bump(sid)
                    if self._ln[sid]:
                        self._release_bands(sid)
                    self._unflag(sid)
                    self._tier_a[sid] = 0
                    self._kdir[sid] = 0
        if live or old:
            self._acct[aid] = array("q", live)
        return out

    def _unflag(self, sid: int) -> None:
        self._flg[sid] = 0
        if self._flag.pop(sid, None) is not None:
            del self._flag_js[sid]

    def _set_flag(self, sid: int, cand: Candidate, syms: tuple) -> None:
        self._flg[sid] = 1
        self._flag[sid] = cand
        self._tier_a[sid] = 0
        self._kdir[sid] = 0
        self._flag_js[sid] = self._sym_ix[syms[0]] if len(syms) == 1 else -1

    def _emit(self, sym: str, down: bool, key: int, sid: int) -> None:
        if key > KEYMAX:
            key = KEYMAX
        elif key < -KEYMAX:
            key = -KEYMAX
        k = key if down else -key
        ver = int(self._vera[sid])
        if self._bulk is not None:
            cols = self._bulk.get((sym, down))
            if cols is None:
                cols = self._bulk[(sym, down)] = (array("q"), array("q"), array("q"))
            cols[0].append(k)
            cols[1].append(sid)
            cols[2].append(ver)
        else:
            self._side(sym, down).add(k, sid, ver)

    def _refresh(self, sid: int) -> Candidate | None:
        """Void the scope's entries, check it exactly, then flag it or index it again."""
        self._bump(sid)
        self._unflag(sid)
        self._tier_a[sid] = 0
        self._kdir[sid] = 0
        if self._tier_n[sid] == _T1:
            if self._ln[sid]:
                self._release_bands(sid)     # was a T2 scope
            return self._t1_place(sid, recompute=True)
        return self._t2_place(sid)

    def _check_hit(self, sid: int) -> Candidate | None:
        """Exact re-check (on the live objects) of an index hit or a flagged scope."""
        if self._tier_n[sid] == _T1:
            if self._flg[sid]:
                self._bump(sid)
                self._unflag(sid)
            return self._t1_place(sid, recompute=False)
        self._bump(sid)
        self._unflag(sid)
        return self._t2_place(sid)

    # T1 --------------------------------------------------------------
    def _t1_legs(self, sid: int):
        """(wallet, qty, cost, symbol, position side, asset) of a single-leg scope, or None."""
        obj = self._obj[sid]
        if self._kind_a[sid] == 1:
            p = obj
            if not p.qty or p.wallet is None:
                return None
            return p.wallet.balance, p.qty, p.cost, p.symbol, p.side, self._tabs[p.symbol].asset
        asset = self._assets[self._symi_a[sid]]
        tabs = self._tabs
        leg = None
        for p in obj.positions.values():
            if p.qty and p.wallet is None and tabs[p.symbol].asset == asset:
                if leg is not None:
                    return None
                leg = p
        if leg is None:
            return None
        return self._cross_wallet(sid, obj.id, asset), leg.qty, leg.cost, leg.symbol, "", asset

    def _cross_wallet(self, sid: int, aid: int, asset: str) -> int:
        w = self._cw.get(sid)
        if w is None:
            w = self.clearing.ledger.wallets.get((FUTURES, aid, asset))
            if w is None:
                return 0
            self._cw[sid] = w
        return w.balance

    def _t1_place(self, sid: int, recompute: bool) -> Candidate | None:
        legs = self._t1_legs(sid)
        if legs is None:
            if self._kind_a[sid] == 2 and self._has_cross_legs(sid):
                self._tier_n[sid] = _T2  # became multi-leg without a hook: band it
                self._tier_a[sid] = 0
                return self._t2_place(sid)
            self._kdir[sid] = 0
            return None
        w, q, cost, sym, side, asset = legs
        t = self._tabs[sym]
        m = self.marks.get(sym)
        if not m:
            m = entry_price(q, cost)
        if q > 0:
            n = (q * m + HALF) // S
            upnl = n - cost
        else:
            n = (-q * m + HALF) // S
            upnl = -n - cost
        i = bisect_right(t.caps, n)
        if i > t.last:
            i = t.last
        mm = (n * t.mmrs[i] + HALF) // S - t.cums[i]
        mb = w + upnl
        kind = self._kind_a[sid]
        if mm > 0 and mb <= mm:
            aid = int(self._aid_a[sid])
            cand = (Candidate(aid, ISOLATED, sym, side, asset, mb, mm, sid) if kind == 1 else
                    Candidate(aid, CROSS, asset, "", asset, mb, mm, sid))
            self._bump(sid)
            self._set_flag(sid, cand, self._one[sym])
            return cand
        if recompute or kind == 2 or self._kdir[sid] == 0:
            key = _t1_key(w, q, cost, t)
            self._kkey[sid] = max(-KEYMAX, min(KEYMAX, key))
            big = self._BIG
            if -big < w < big and -big < q < big and -big < cost < big:
                self._mw[sid], self._mq[sid], self._mc[sid] = w, q, cost
                self._tier_a[sid] = 1
            else:
                self._tier_a[sid] = 0
        else:
            key = int(self._kkey[sid])
        self._kdir[sid] = 1 if q > 0 else 2
        self._emit(sym, q > 0, key, sid)
        return None

    def _has_cross_legs(self, sid: int) -> bool:
        asset = self._assets[self._symi_a[sid]]
        return any(p.qty and p.wallet is None and self._tabs[p.symbol].asset == asset
                   for p in self._obj[sid].positions.values())

    # T2 --------------------------------------------------------------
    def _t2_place(self, sid: int) -> Candidate | None:
        """Exact check of a cross account; if safe, a band per symbol (see the module docstring).

        Loss rates per symbol and direction as in the module docstring; rounding (``_pad`` per
        leg) is covered twice, once at each end of a move.
        """
        acct = self._obj[sid]
        aid = acct.id
        asset = self._assets[self._symi_a[sid]]
        tabs, marks = self._tabs, self.marks
        w = mb = self._cross_wallet(sid, aid, asset)
        mm = 0
        err = 0
        per: dict[str, list] = {}
        legs = []
        for p in acct.positions.values():
            q = p.qty
            if not q or p.wallet is not None:
                continue
            sym = p.symbol
            t = tabs[sym]
            if t.asset != asset:
                continue
            m = marks.get(sym)
            if not m:
                m = 0
                mp = p.entry_price
            else:
                mp = m
            if q > 0:
                n = (q * mp + HALF) // S
                mb += n - p.cost
                qq = q
            else:
                n = (-q * mp + HALF) // S
                mb -= n + p.cost
                qq = -q
            i = bisect_right(t.caps, n)
            if i > t.last:
                i = t.last
            mm += (n * t.mmrs[i] + HALF) // S - t.cums[i]
            err += t.err
            j = self._sym_ix[sym]
            legs.append((j, q, p.cost, int(self._capoff[j]) + i if m else -1))
            rmax = t.prefmax[-1]
            a = per.get(sym)
            if a is None:
                per[sym] = [q, qq * rmax, m]
            else:
                a[0] += q
                a[1] += qq * rmax
        if not per:
            return None
        syms = tuple(per)
        if mm > 0 and mb <= mm:
            cand = Candidate(aid, CROSS, asset, "", asset, mb, mm, sid)
            self._bump(sid)
            self._set_flag(sid, cand, syms)
            return cand
        # headroom over twice the rounding bound, then one fraction of every mark
        h = (mb - mm) - 2 * err - 1
        slots = self._mirror_t2(sid, w, err, legs)
        bands, sym_ix = self._bands, self._sym_ix
        if h <= 0:       # any move re-checks it
            for sym, (_, _, m) in per.items():
                j = sym_ix[sym]
                bands.set(j, slots[j], m - 1 if m else KEYMAX, m + 1 if m else POS)
            return None
        # loss rates per unit of mark (1e-16 units): falling q S if net long; rising sum|q| MMRmax - q S
        gm = 0
        risk = {}
        for sym, (sq, qm, m) in per.items():
            if m:
                ld = sq * S if sq > 0 else 0
                lu = qm - sq * S
                risk[sym] = (ld, lu if lu > 0 else 0)
                gm += max(risk[sym]) * m
        for sym, (sq, qm, m) in per.items():
            j = sym_ix[sym]
            if not m:
                bands.set(j, slots[j], KEYMAX, POS)
                continue
            ld, lu = risk[sym]
            d = (h * S2 * m) // gm if gm else KEYMAX
            bands.set(j, slots[j], max(m - d - 1, -KEYMAX) if ld else NEG, min(m + d + 1, KEYMAX) if lu else POS)
        return None

    def _mirror_t2(self, sid: int, w: int, err: int, legs: list) -> dict[int, int]:
        """Record a T2 account's legs (symbol index, qty, cost, bracket), sorted by symbol, each
        with its band slot (one per symbol, kept from the previous legs where the symbol is still
        held); their values are mirrored for the batch re-check if they fit int64. Returns
        symbol index -> slot."""
        legs.sort()
        f0, k0 = int(self._ls[sid]), int(self._ln[sid])
        old = dict(self._legs[f0: f0 + k0, 2:4].tolist())
        slots: dict[int, int] = {}
        for j, *_ in legs:
            if j not in slots:
                slots[j] = old.pop(j) if j in old else self._bands.alloc(j, sid)
        for j, slot in old.items():
            self._bands.release(j, slot)
        big = self._BIG
        fits = -big < w < big and err < 1 << 30 and all(-big < q < big and -big < c < big for _, q, c, _ in legs)
        k = len(legs)
        f = self._lfill
        if f + k > len(self._legs):
            grown = np.zeros((max(2 * len(self._legs), f + k), 5), np.int64)
            grown[:f] = self._legs[:f]
            self._legs = grown
        self._legs[f: f + k] = [(q, c, j, slots[j], b) if fits else (0, 0, j, slots[j], -1) for j, q, c, b in legs]
        self._lfill = f + k
        self._ls[sid], self._ln[sid], self._le[sid] = f, k, min(err, 1 << 30)
        if fits:
            self._mw[sid] = w
            self._tier_a[sid] = 2
        else:
            self._tier_a[sid] = 0
        return slots


def _t1_key(w: int, q: int, cost: int, t: _Tab) -> int:
    """Conservative trigger price of a single leg: a long can only be liquidatable at
    ``mark <= key``, a short only at ``mark >= key``.

    Per bracket k, ``g~(m) = C0 + m x D / S^2`` with ``C0 = W - cost + cum_k`` and
    ``D = q x S - |q| x mmr_k``; the root of ``g~ = PAD`` is accepted in the bracket its notional
    ``|q| x m / S`` falls in (the search of section 3.4). If rounding of ``cum`` leaves no
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


# ---------------------------------------------------------------------- T3: full recomputes
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


def _unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` hashes small int arrays, ~20x slower here)."""
    a = np.sort(a)
    keep = np.empty(len(a), dtype=bool)
    keep[:1] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _by_symbol(js: np.ndarray, *cols: np.ndarray):
    """Yield ``(j, col slices...)`` per distinct symbol index ``j`` (rows keep their order)."""
    if not len(js):
        return
    if (js == js[0]).all():
        yield (int(js[0]), *cols)
        return
    order = np.argsort(js.astype(np.int16), kind="stable")     # a radix sort for 16-bit keys
    js = js[order]
    cols = [c[order] for c in cols]
    cut = np.flatnonzero(js[1:] != js[:-1]) + 1
    edges = [0, *cut.tolist(), len(js)]
    for a, b in zip(edges, edges[1:]):
        yield (int(js[a]), *(c[a:b] for c in cols))


def _np_mul_rate(n: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Exact ``round_half_up(n x r / 1e8)`` for int64 n >= 0 and a rate 0 <= r <= 1e8:
    ``n = nh S + nl`` gives ``nh r + round(nl r / S)``, every term in range."""
    nh, nl = np.divmod(n, S)
    return nh * r + (nl * r + HALF) // S


def _np_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ``round_half_up(a x b / 1e8)`` for int64 a, b >= 0 whose result fits in int64.

    Both are split at 1e8: a x b / S = ah bh S + ah bl + al bh + al bl / S, every term in range.
    """
    ah, al = np.divmod(a, S)
    bh, bl = np.divmod(b, S)
    return ah * bh * S + ah * bl + al * bh + (al * bl + HALF) // S


class NumpyScan:
    """T3: a vectorised, exact int64 full recompute over a snapshot of the clearing state.

    Legs (every open position) are sorted by scope; per scope ``MB = W + sum UPNL`` and
    ``MM = sum MM`` by ``np.add.reduceat``. Scopes are columns (account, kind, symbol or asset,
    side); ``drop`` removes closed scopes from the result.
    """

    LIMIT = 1 << 62

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
            caps = np.array([min(b.cap, self.LIMIT) for b in bs], dtype=np.int64)
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
        if float((self.max_q * top).max()) / S >= self.LIMIT:
            raise OverflowError("notional beyond the int64 range of the vectorised scan")
        n = _np_mul(self.absq, m)
        upnl = self.sign * n - self.cost
        mm = np.empty_like(n)
        for (caps, mmrs, cums), ix in zip(self.tables, self.by_sym):
            if not len(ix):
                continue
            nn = n[ix]
            b = np.minimum(np.searchsorted(caps, nn, "right"), len(caps) - 1)
            mm[ix] = _np_mul(nn, mmrs[b]) - cums[b]
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
