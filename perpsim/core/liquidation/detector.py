"""Indexed liquidation detection, exactly verified (binance-mechanics.md sections 2.3, 2.6, 6.1).

Rule: a margin scope is liquidatable when its margin ratio reaches 100% on the mark, i.e.
``margin balance <= maintenance margin`` with ``MM > 0`` (``margin.is_liquidatable``). Scopes:

* an isolated position: ``isolatedWallet + UPNL`` against its own MM;
* a cross account, per margin asset: ``crossWalletBalance + sum of cross UPNL`` against the sum of
  cross MM (isolated positions excluded). The mark of a symbol without one is the position's
  entry price, as ``ClearingHouse.position_figures``/``cross_figures`` do.

Every figure is the integer formula of ``margin.py``/``clearing.py``: ``n = mul(|q|, mark)``,
``MM = mul(n, mmr) - cum`` of the bracket ``n`` falls in, ``UPNL = mul(q, mark) - cost``.

Index (performance.md section 2.5, tiers T1/T2/T3):

* T1, single-leg scopes (isolated positions; cross accounts with one open cross position): the
  health ``g(m) = MB - MM`` is concave in the mark (MM is convex in the notional), increasing for a
  long and decreasing for a short, so the scope can only be liquidatable below (long) or above
  (short) one price. The key is that price solved per bracket in exact integers for
  ``g~(m) = PAD``, where ``g~`` is ``g`` without rounding and ``PAD`` exceeds every rounding error
  (see ``_pad``): longs trigger when ``mark <= key``, shorts when ``mark >= key``. The key is
  conservative, never exact; hits are re-verified.
* T2, cross accounts with several legs (several symbols, or hedge LONG+SHORT): a safe band per
  symbol around the marks of the last exact evaluation. With headroom ``H = g - 2 x errors``
  and ``G_s = |sum q_s| + sum |q| x max MMR`` (per unit of mark), no set of mark moves with
  ``sum_s |dm_s| G_s <= H`` can liquidate the account; each symbol gets the same fraction
  ``f = H / sum_s G_s m_s`` of its mark (the doc's ``H/G`` bound). The band's two ends go in the
  same sorted lists as T1 keys; when a mark leaves a band the account is re-checked exactly and
  re-banded.
* T3: ``full_scan`` (plain Python, the oracle and the naive peer) and ``NumpyScan`` (vectorised
  exact int64 recompute).

Each (symbol, direction) list is a numpy sorted array (bulk built, truncated from the end as marks
cross it, so a crash costs one ``searchsorted`` plus the hits) and a small heap overlay
for changes, merged into the array when it grows. Entries carry the scope's version; a changed
scope bumps its version, which voids its old entries.

Liquidatable scopes are "flagged": they leave the index and are re-checked on every mark of any
of their symbols (and by the hooks) until they recover or the waterfall closes them.
"""
from __future__ import annotations

from bisect import bisect_right
from heapq import heappop, heappush
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
    tiers). Doubled for slack; 16 units of 1e-8 are a price window far below one tick.
    """
    return 16 + 2 * tiers


class _SideList:
    """Keys of one (symbol, direction); a hit is an entry with ``key >= x``.

    DOWN lists hold long-like keys and are queried with ``x = mark``; UP lists hold negated keys
    and are queried with ``x = -mark``. Base: numpy arrays sorted by key, valid up to ``end``
    (hits are cut off the end). Overlay: a max-heap of ``(-key, sid, version)``.
    """

    __slots__ = ("keys", "sids", "vers", "end", "heap", "stale")

    def __init__(self) -> None:
        self.keys = np.empty(0, np.int64)
        self.sids = np.empty(0, np.int64)
        self.vers = np.empty(0, np.int64)
        self.end = 0
        self.heap: list[tuple[int, int, int]] = []
        self.stale = 0

    def load(self, entries: list[tuple[int, int, int]]) -> None:
        """Replace the base arrays with ``entries`` (key, sid, version), sorted by key."""
        if entries:
            arr = np.array(entries, dtype=np.int64)
            arr = arr[np.argsort(arr[:, 0], kind="stable")]
            self.keys, self.sids, self.vers = (np.ascontiguousarray(arr[:, i]) for i in range(3))
        else:
            self.keys = self.sids = self.vers = np.empty(0, np.int64)
        self.end = len(self.keys)
        self.stale = 0

    def pop_hits(self, x: int, ver_arr: np.ndarray, ver_list: list, out: list) -> np.ndarray | None:
        """Remove every entry with key >= x. Current base hits are returned as an array, current
        overlay hits appended to ``out``."""
        got = None
        end = self.end
        if end and self.keys[end - 1] >= x:
            i = int(np.searchsorted(self.keys[:end], x, "left"))
            s = self.sids[i:end]
            got = s[self.vers[i:end] == ver_arr[s]]
            self.end = i
        heap = self.heap
        if heap and -heap[0][0] >= x:
            pop = heappop
            while heap and -heap[0][0] >= x:
                _, sid, ver = pop(heap)
                if ver_list[sid] == ver:
                    out.append(sid)
        return got

    def merge(self, ver_arr: np.ndarray) -> None:
        """Fold the overlay into the base arrays and drop void entries."""
        end = self.end
        keys, sids, vers = self.keys[:end], self.sids[:end], self.vers[:end]
        if self.heap:
            o = np.array(self.heap, dtype=np.int64)
            keys = np.concatenate([keys, -o[:, 0]])
            sids = np.concatenate([sids, o[:, 1]])
            vers = np.concatenate([vers, o[:, 2]])
        ok = vers == ver_arr[sids]
        keys, sids, vers = keys[ok], sids[ok], vers[ok]
        order = np.argsort(keys, kind="stable")
        self.keys, self.sids, self.vers = keys[order], sids[order], vers[order]
        self.end = len(self.keys)
        self.heap = []
        self.stale = 0

    def __len__(self) -> int:
        return self.end + len(self.heap)


class IndexedDetector:
    """Liquidation detection over a ``ClearingHouse``, read-only.

    Call ``on_mark``/``on_marks`` on every mark update, ``on_account_changed(account_id)`` (alias
    ``on_position_changed``) after every command that changes an account's positions or wallets
    (fills, margin transfers, funding, fees, leverage/margin-type changes), ``discard`` when the
    waterfall has closed a scope, and ``rebuild`` after bulk changes (funding over all accounts).
    Results are exact: every reported scope was just re-verified with the integer formulas.
    """

    MERGE_MIN = 4096
    VECTOR_MIN = 24       # hit batches from the sorted arrays at least this long are verified in numpy
    _BIG = 1 << 62

    def __init__(self, clearing, marks: dict[str, int] | None = None):
        self.clearing = clearing
        self.marks: dict[str, int] = dict(clearing.marks if marks is None else marks)
        self.rebuild()

    # ------------------------------------------------------------------ build
    def rebuild(self) -> None:
        """Recompute every scope from the clearing state and bulk-build the sorted arrays."""
        ch = self.clearing
        self._tabs = {s: _Tab(ins.brackets, ins.margin_asset) for s, ins in ch.instruments.items()}
        self._lists: dict[str, tuple[_SideList, _SideList]] = {}
        self._sid_of: dict[tuple, int] = {}
        self._skey: list[tuple] = []
        self._obj: list = []          # Position (isolated) or Account (cross)
        self._tier: list[int] = []
        self._syms: list[tuple] = []  # symbols of the scope's entries / flag
        self._key: list = []          # T1: (symbol, is_down, key)
        self._cw: list = []           # cross: the cross Wallet once it exists
        self._verl: list[int] = []
        cap = 1024
        self._vera = np.zeros(cap, np.int64)
        self._tier_a = np.zeros(cap, np.int8)   # 1 = T1 with a valid int64 mirror
        self._mw = np.zeros(cap, np.int64)      # T1 mirror: wallet, qty, cost at indexing time
        self._mq = np.zeros(cap, np.int64)
        self._mc = np.zeros(cap, np.int64)
        self._acct: dict[int, list[int]] = {}
        self._flag: dict[int, Candidate] = {}
        self._flag_sym: dict[str, set[int]] = {}
        self._bulk: dict[tuple[str, bool], list] | None = {}
        for acct in ch.accounts.values():
            self._refresh_account(acct)
        bulk, self._bulk = self._bulk, None
        for (sym, down), entries in bulk.items():
            self._side(sym, down).load(entries)

    def _side(self, sym: str, down: bool) -> _SideList:
        pair = self._lists.get(sym)
        if pair is None:
            pair = self._lists[sym] = (_SideList(), _SideList())
        return pair[0] if down else pair[1]

    def _new_sid(self, key: tuple, obj, tier: int) -> int:
        sid = len(self._skey)
        self._sid_of[key] = sid
        self._skey.append(key)
        self._obj.append(obj)
        self._tier.append(tier)
        self._syms.append(())
        self._key.append(None)
        self._cw.append(None)
        self._verl.append(0)
        if sid >= len(self._vera):
            for name in ("_vera", "_tier_a", "_mw", "_mq", "_mc"):
                old = getattr(self, name)
                grown = np.zeros(2 * len(old), old.dtype)
                grown[: len(old)] = old
                setattr(self, name, grown)
        return sid

    def _bump(self, sid: int) -> None:
        v = self._verl[sid] + 1
        self._verl[sid] = v
        self._vera[sid] = v

    # ------------------------------------------------------------------ hooks
    def on_account_changed(self, account_id: int) -> list[Candidate]:
        """Re-derive an account's scopes after a command; returns its liquidatable scopes (sorted)."""
        out = self._refresh_account(self.clearing.accounts.get(account_id), account_id)
        self._maybe_merge()
        out.sort()
        return out

    on_position_changed = on_account_changed

    def on_accounts_changed(self, account_ids) -> list[Candidate]:
        """``on_account_changed`` for many accounts (e.g. after a funding settlement)."""
        out = []
        for a in sorted(set(account_ids)):
            out += self._refresh_account(self.clearing.accounts.get(a), a)
        self._maybe_merge()
        out.sort()
        return out

    def on_mark(self, symbol: str, mark: int) -> list[Candidate]:
        """Set one mark; returns every liquidatable scope exposed to ``symbol`` (sorted by scope)."""
        return self.on_marks({symbol: mark})

    def on_marks(self, marks: dict[str, int]) -> list[Candidate]:
        """Set several marks at once; returns every liquidatable scope exposed to any of them."""
        for sym, m in marks.items():
            if not isinstance(m, int) or isinstance(m, bool) or m <= 0:
                raise ValueError(f"mark of {sym}: a positive int of 1e-8 units")
            self.marks[sym] = m
        vera, verl, tier = self._vera, self._verl, self._tier
        out: list[Candidate] = []
        slow: list[int] = []          # hits re-checked one by one (overlay hits, small batches, T2)
        flagged: set[int] = set()     # flagged before this update: re-checked below
        for sym in marks:
            fs = self._flag_sym.get(sym)
            if fs:
                flagged |= fs
        for sym, m in marks.items():
            pair = self._lists.get(sym)
            if pair is not None:
                for sl, x in ((pair[0], m), (pair[1], -m)):
                    got = sl.pop_hits(x, vera, verl, slow)
                    if got is not None and len(got):
                        if len(got) >= self.VECTOR_MIN:
                            self._verify_batch(sym, m, got, out, slow)
                        else:
                            slow.extend(got.tolist())
        done: set[int] = set()
        check = self._check_hit
        for sid in slow:
            if tier[sid] == _T2:
                if sid in done:
                    continue
                done.add(sid)
            if sid in flagged:
                continue
            c = check(sid)
            if c is not None:
                out.append(c)
        for sid in flagged:
            c = check(sid)
            if c is not None:
                out.append(c)
        self._maybe_merge()
        out.sort()
        return out

    def discard(self, scope) -> None:
        """Forget a scope (a ``Candidate`` or its ``scope`` tuple) that the waterfall has closed."""
        if isinstance(scope, Candidate):
            sid = scope.sid
            if not (0 <= sid < len(self._skey)) or self._skey[sid] != scope[:4]:
                sid = self._sid_of.get(scope[:4])
        else:
            sid = self._sid_of.get(tuple(scope))
        if sid is not None:
            self._bump(sid)
            self._unflag(sid)
            self._syms[sid] = ()

    def liquidatable(self) -> list[Candidate]:
        """Every scope flagged liquidatable at the last check that concerned it (sorted)."""
        return sorted(self._flag.values())

    def scopes(self) -> set[tuple]:
        """The scope tuples of ``liquidatable()``."""
        return {c[:4] for c in self._flag.values()}

    def stats(self) -> dict:
        n = sum(len(a) + len(b) for a, b in self._lists.values())
        return {"scopes": len(self._skey), "entries": n, "flagged": len(self._flag),
                "t2": sum(1 for t in self._tier if t == _T2)}

    # ------------------------------------------------------------------ internals
    def _verify_batch(self, sym: str, m: int, sids: np.ndarray, out: list, slow: list) -> None:
        """Exact int64 check of T1 hits from the mirror (the values the key was computed from);
        each liquidatable one is confirmed against the live position before it is reported."""
        mirrored = self._tier_a[sids] == 1
        if not mirrored.all():
            slow.extend(sids[~mirrored].tolist())
            sids = sids[mirrored]
        q = self._mq[sids]
        absq = np.abs(q)
        if not len(sids) or int(absq.max()) * m >= self._BIG * S:
            slow.extend(sids.tolist())
            return
        t = self._tabs[sym]
        n = _np_mul(absq, m)
        b = np.minimum(np.searchsorted(t.caps_a, n, "right"), t.last)
        mm = _np_mul(n, t.mmrs_a[b]) - t.cums_a[b]
        mb = self._mw[sids] + np.where(q > 0, n, -n) - self._mc[sids]
        liq = (mm > 0) & (mb <= mm)
        if not liq.all():
            for sid in sids[~liq].tolist():   # near misses: index them again under the same key
                key = self._key[sid]
                self._emit(key[0], key[1], key[2], sid)
        ls = sids[liq]
        if not len(ls):
            return
        skey, obj, flag, syms = self._skey, self._obj, self._flag, self._syms
        fs = self._flag_sym.get(sym)
        if fs is None:
            fs = self._flag_sym[sym] = set()
        asset = t.asset
        one = (sym,)
        for sid, qv, cv, wv, mbv, mmv in zip(ls.tolist(), q[liq].tolist(), self._mc[ls].tolist(),
                                            self._mw[ls].tolist(), mb[liq].tolist(), mm[liq].tolist()):
            k = skey[sid]
            p = obj[sid]
            if k[1] == ISOLATED:
                live = p.qty == qv and p.cost == cv and p.wallet is not None and p.wallet.balance == wv
            else:
                live = False          # cross single-leg: the live check walks the account
            if not live:
                slow.append(sid)
                continue
            c = Candidate(k[0], ISOLATED, sym, k[3], asset, mbv, mmv, sid)
            flag[sid] = c
            syms[sid] = one
            fs.add(sid)
            out.append(c)

    def _refresh_account(self, acct, account_id: int | None = None) -> list[Candidate]:
        """Recompute every scope of ``acct``; void scopes that no longer exist."""
        aid = acct.id if acct is not None else account_id
        old = self._acct.get(aid, [])
        live: list[int] = []
        out: list[Candidate] = []
        if acct is not None:
            tabs = self._tabs
            cross_assets: dict[str, int] = {}
            for p in acct.positions.values():
                if not p.qty:
                    continue
                if p.wallet is not None:
                    key = (aid, ISOLATED, p.symbol, p.side)
                    sid = self._sid_of.get(key)
                    if sid is None:
                        sid = self._new_sid(key, p, _T1)
                    self._obj[sid] = p
                    live.append(sid)
                else:
                    asset = tabs[p.symbol].asset
                    cross_assets[asset] = cross_assets.get(asset, 0) + 1
            for asset, legs in cross_assets.items():
                key = (aid, CROSS, asset, "")
                sid = self._sid_of.get(key)
                if sid is None:
                    sid = self._new_sid(key, acct, _T1)
                self._obj[sid] = acct
                self._tier[sid] = _T1 if legs == 1 else _T2
                live.append(sid)
            for sid in live:
                c = self._refresh(sid)
                if c is not None:
                    out.append(c)
        keep = set(live)
        for sid in old:
            if sid not in keep:
                self._bump(sid)
                self._unflag(sid)
                self._syms[sid] = ()
                self._tier_a[sid] = 0
        if live or old:
            self._acct[aid] = live
        return out

    def _unflag(self, sid: int) -> None:
        if self._flag.pop(sid, None) is not None:
            for sym in self._syms[sid]:
                fs = self._flag_sym.get(sym)
                if fs is not None:
                    fs.discard(sid)

    def _set_flag(self, sid: int, cand: Candidate, syms: tuple) -> None:
        if sid in self._flag:
            self._unflag(sid)
        self._flag[sid] = cand
        self._syms[sid] = syms
        for sym in syms:
            fs = self._flag_sym.get(sym)
            if fs is None:
                fs = self._flag_sym[sym] = set()
            fs.add(sid)

    def _emit(self, sym: str, down: bool, key: int, sid: int) -> None:
        if key > KEYMAX:
            key = KEYMAX
        elif key < -KEYMAX:
            key = -KEYMAX
        k = key if down else -key
        if self._bulk is not None:
            lst = self._bulk.get((sym, down))
            if lst is None:
                lst = self._bulk[(sym, down)] = []
            lst.append((k, sid, self._verl[sid]))
        else:
            heappush(self._side(sym, down).heap, (-k, sid, self._verl[sid]))

    def _maybe_merge(self) -> None:
        for pair in self._lists.values():
            for sl in pair:
                if len(sl.heap) > self.MERGE_MIN + (sl.end >> 4) or sl.stale > self.MERGE_MIN + sl.end:
                    sl.merge(self._vera)

    def _refresh(self, sid: int) -> Candidate | None:
        """Void the scope's entries, check it exactly, then flag it or index it again."""
        self._bump(sid)
        self._unflag(sid)
        self._tier_a[sid] = 0
        self._key[sid] = None
        if self._tier[sid] == _T1:
            return self._t1_place(sid, recompute=True)
        return self._t2_place(sid)

    def _check_hit(self, sid: int) -> Candidate | None:
        """Exact re-check (on the live objects) of an index hit or a flagged scope."""
        if self._tier[sid] == _T1:
            if sid in self._flag:
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
        if self._skey[sid][1] == ISOLATED:
            p = obj
            if not p.qty or p.wallet is None:
                return None
            return p.wallet.balance, p.qty, p.cost, p.symbol, p.side, self._tabs[p.symbol].asset
        asset = self._skey[sid][2]
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
        w = self._cw[sid]
        if w is None:
            w = self.clearing.ledger.wallets.get((FUTURES, aid, asset))
            if w is None:
                return 0
            self._cw[sid] = w
        return w.balance

    def _t1_place(self, sid: int, recompute: bool) -> Candidate | None:
        legs = self._t1_legs(sid)
        if legs is None:
            if self._skey[sid][1] == CROSS and self._has_cross_legs(sid):
                self._tier[sid] = _T2  # became multi-leg without a hook: band it
                self._tier_a[sid] = 0
                return self._t2_place(sid)
            self._syms[sid] = ()
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
        if mm > 0 and mb <= mm:
            k = self._skey[sid]
            cand = Candidate(k[0], k[1], k[2], k[3], asset, mb, mm, sid)
            self._bump(sid)
            self._set_flag(sid, cand, (sym,))
            return cand
        key = self._key[sid]
        if recompute or key is None or key[0] != sym:
            key = self._key[sid] = (sym, q > 0, _t1_key(w, q, cost, t))
            big = self._BIG
            if -big < w < big and -big < q < big and -big < cost < big:
                self._mw[sid], self._mq[sid], self._mc[sid] = w, q, cost
                self._tier_a[sid] = 1
            else:
                self._tier_a[sid] = 0
        self._syms[sid] = (sym,)
        self._emit(key[0], key[1], key[2], sid)
        return None

    def _has_cross_legs(self, sid: int) -> bool:
        asset = self._skey[sid][2]
        return any(p.qty and p.wallet is None and self._tabs[p.symbol].asset == asset
                   for p in self._obj[sid].positions.values())

    # T2 --------------------------------------------------------------
    def _t2_place(self, sid: int) -> Candidate | None:
        """Exact check of a cross account; if safe, a band per symbol (see the module docstring).

        Bands are capped at half the mark, so each leg's notional stays below twice its current
        one; the MMR bound of a leg is the highest rate of the tiers up to that notional.
        """
        acct = self._obj[sid]
        aid, _, asset, _ = self._skey[sid]
        tabs, marks = self._tabs, self.marks
        mb = self._cross_wallet(sid, aid, asset)
        mm = 0
        err = 0
        per: dict[str, list] = {}
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
            rmax = t.prefmax[t.bracket(2 * n + 2)]
            a = per.get(sym)
            if a is None:
                per[sym] = [q, qq * rmax, m]
            else:
                a[0] += q
                a[1] += qq * rmax
        if not per:
            self._syms[sid] = ()
            return None
        syms = tuple(per)
        if mm > 0 and mb <= mm:
            cand = Candidate(aid, CROSS, asset, "", asset, mb, mm, sid)
            self._bump(sid)
            self._set_flag(sid, cand, syms)
            return cand
        # headroom over twice the rounding bound, then one fraction of every mark
        h = (mb - mm) - 2 * err - 1
        self._syms[sid] = syms
        emit = self._emit
        if h <= 0:
            for sym, (_, _, m) in per.items():
                if m:
                    emit(sym, True, m - 1, sid)
                    emit(sym, False, m + 1, sid)
                else:
                    emit(sym, True, KEYMAX, sid)
            self._bump_stale(syms)
            return None
        # G_s in units of 1e-16 per unit of mark: |sum q| * S + sum |q| * mmr bound
        gm = 0
        for a in per.values():
            if a[2]:
                gm += (abs(a[0]) * S + a[1]) * a[2]
        for sym, (sq, qm, m) in per.items():
            if not m:
                emit(sym, True, KEYMAX, sid)
                continue
            d = (h * S2 * m) // gm if gm else m
            if d > m // 2:
                d = m // 2
            emit(sym, True, m - d - 1, sid)
            emit(sym, False, m + d + 1, sid)
        self._bump_stale(syms)
        return None

    def _bump_stale(self, syms: tuple) -> None:
        for sym in syms:
            pair = self._lists.get(sym)
            if pair is not None:
                pair[0].stale += 1
                pair[1].stale += 1


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
            mm = ins.brackets.maint_margin(notional(p.qty, mp))
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
    ``MM = sum MM`` by ``np.add.reduceat``. ``alive`` lets a caller drop closed scopes.
    """

    LIMIT = 1 << 62

    def __init__(self, clearing):
        instruments = clearing.instruments
        peek = clearing.ledger.peek
        self.symbols = sorted(instruments)
        sym_ix = {s: i for i, s in enumerate(self.symbols)}
        scopes: list[tuple] = []
        wallets: list[int] = []
        q, cost, ep, sy, sc = [], [], [], [], []
        for acct in clearing.accounts.values():
            cross: dict[str, list] = {}
            for p in acct.positions.values():
                if not p.qty:
                    continue
                if p.wallet is not None:
                    scopes.append((acct.id, ISOLATED, p.symbol, p.side))
                    wallets.append(p.wallet.balance)
                    q.append(p.qty), cost.append(p.cost), ep.append(p.entry_price), sy.append(sym_ix[p.symbol])
                    sc.append(len(scopes) - 1)
                else:
                    cross.setdefault(instruments[p.symbol].margin_asset, []).append(p)
            for asset, legs in cross.items():
                scopes.append((acct.id, CROSS, asset, ""))
                wallets.append(peek((FUTURES, acct.id), asset))
                for p in legs:
                    q.append(p.qty), cost.append(p.cost), ep.append(p.entry_price), sy.append(sym_ix[p.symbol])
                    sc.append(len(scopes) - 1)
        self.scopes = scopes
        self.index = {s: i for i, s in enumerate(scopes)}
        self.wallet = np.array(wallets, dtype=np.int64)
        self.q = np.array(q, dtype=np.int64)
        self.absq = np.abs(self.q)
        self.sign = np.sign(self.q)
        self.cost = np.array(cost, dtype=np.int64)
        self.ep = np.array(ep, dtype=np.int64)
        self.sym = np.array(sy, dtype=np.int64)
        sc_arr = np.array(sc, dtype=np.int64)
        self.starts = np.flatnonzero(np.r_[True, sc_arr[1:] != sc_arr[:-1]]) if len(sc_arr) else sc_arr
        self.alive = np.ones(len(scopes), dtype=bool)
        self.by_sym = [np.flatnonzero(self.sym == i) for i in range(len(self.symbols))]
        self.max_q = np.array([float(self.absq[ix].max()) if len(ix) else 0.0 for ix in self.by_sym])
        self.max_ep = np.array([int(self.ep[ix].max()) if len(ix) else 0 for ix in self.by_sym], dtype=np.int64)
        self.tables = []
        for s in self.symbols:
            bs = instruments[s].brackets.brackets
            caps = np.array([min(b.cap, self.LIMIT) for b in bs], dtype=np.int64)
            self.tables.append((caps, np.array([b.mmr for b in bs], np.int64), np.array([b.cum for b in bs], np.int64)))

    def mask(self, marks: dict[str, int]) -> np.ndarray:
        """Boolean mask over ``self.scopes``: liquidatable at ``marks`` (unset: entry price)."""
        if not len(self.scopes):
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
        sc = self.scopes
        return {sc[i] for i in np.flatnonzero(self.mask(marks)).tolist()}

    def drop(self, scopes) -> None:
        """Mark closed scopes as gone."""
        for s in scopes:
            i = self.index.get(s)
            if i is not None:
                self.alive[i] = False


def numpy_scan(clearing, marks: dict[str, int] | None = None) -> set[tuple]:
    """``full_scan`` by ``NumpyScan`` on a fresh snapshot."""
    return NumpyScan(clearing).scan(clearing.marks if marks is None else marks)
