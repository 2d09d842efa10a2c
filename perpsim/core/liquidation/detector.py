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
  (see ``t1_keys._pad``): longs trigger when ``mark <= key``, shorts when ``mark >= key``. The key is
  conservative, never exact; hits are re-verified.
* T2, cross accounts with several legs (several symbols, or hedge LONG+SHORT): a safe band per
  symbol around the marks of the last exact evaluation. Per symbol, a fall of the mark by ``dm``
  costs at most ``dm x max(0, sum q)`` (MM only falls) and a rise at most
  ``dm x max(0, sum |q| x MMRmax - sum q)`` (MMRmax: the table's top rate), so with the headroom
  ``H = g - 2 x rounding bound`` no set of moves with ``sum_s |dm_s| L_s <= H`` can liquidate the
  account (``L_s`` the larger rate). Each symbol gets the same fraction ``f = H / sum_s L_s m_s``
  of its mark (the doc's ``H/G`` bound, per direction), only on a side that can lose (a
  long-only account has no upper ends). The band ends live in ``t2_bands._Bands``, one slot per account
  and symbol, unsorted: a re-band is a write, and a mark scans its symbol's slots only once it
  has passed the nearest end. When a mark leaves a band the account is re-checked exactly and
  re-banded.
* T3 (``scans.py``): ``full_scan`` (plain Python, the oracle and the naive peer) and ``NumpyScan``
  (vectorised exact int64 recompute).

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
from bisect import bisect_right

import numpy as np

from ..ledger import FUTURES
from ..margin import entry_price
from .candidates import _SIDE_IX, _SIDES, CROSS, ISOLATED, Candidate, Candidates
from .int64_math import np_mul_rate
from .t1_keys import HALF, KEYMAX, S, S2, _SideList, _t1_key, _Tab
from .t2_bands import NEG, POS, _Bands

_T1, _T2 = 1, 2


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
    #: the per-scope columns (indexed by scope number)
    _COLS = (
        ("_version", np.int64),        # bumped on every change; voids the scope's older list entries
        ("_tier", np.int8),            # T1 (one leg) or T2 (several cross legs)
        ("_mirror_tier", np.int8),     # the tier whose mirror below is current (0: check on the live objects)
        ("_kind", np.int8),            # 1 isolated, 2 cross
        ("_account", np.int64),        # account id
        ("_pos_side", np.int8),        # index in _SIDES
        ("_symbol_ix", np.int16),      # isolated: the symbol; cross: its one leg's symbol (T1)
        ("_key", np.int64),            # T1: the mark the scope triggers at (conservative)
        ("_key_dir", np.int8),         # T1 entry: 1 below the key (long), 2 above (short), 0 none
        ("_mirror_wallet", np.int64),  # the wallet, qty and cost the scope was last indexed with
        ("_mirror_qty", np.int64),
        ("_mirror_cost", np.int64),
        ("_legs_start", np.int64),     # T2: its first row in _legs
        ("_legs_count", np.int32),     # T2: how many rows
        ("_legs_err", np.int32),       # T2: the rounding bound of its figures
        ("_flagged", np.int8),         # liquidatable at the last check: out of the index until it recovers
    )

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
        self._top_mmr = np.array([float(self._tabs[s].prefmax[-1]) for s in self._sym_list])
        # every symbol's brackets in one sorted array: key (symbol index << 57) + cap, so that one
        # searchsorted finds the bracket of each leg of a T2 batch (notionals < 2^57 there)
        tops = (1 << self._NBITS) - 1
        self._bracket_key = np.concatenate([(j << self._NBITS) + np.minimum(t.caps_a, tops)
                                       for j, t in enumerate(self._tab_arrays)])
        self._bracket_offset = np.cumsum([0] + [t.last + 1 for t in self._tab_arrays])[:-1].astype(np.int64)
        self._bracket_mmr = np.concatenate([t.mmrs_a for t in self._tab_arrays])
        self._bracket_cum = np.concatenate([t.cums_a for t in self._tab_arrays])
        self._top_bracket = np.array([t.last for t in self._tab_arrays], dtype=np.int64)
        self._bracket_top = self._bracket_offset + self._top_bracket       # each symbol's top bracket in the flat arrays
        # bracket b holds the notionals in [_brlo[b], _brhi[b]); the extra last entry holds none
        # (the bracket -1 of a leg not placed yet)
        self._bracket_lo = np.concatenate([np.concatenate([[0], t.caps_a[: t.last]]) for t in self._tab_arrays]
                                    + [[POS]]).astype(np.int64)
        self._bracket_hi = np.concatenate([np.concatenate([t.caps_a[: t.last], [POS]]) for t in self._tab_arrays]
                                    + [[NEG]]).astype(np.int64)
        self._one_symbol = {s: (s,) for s in self._sym_list}
        self._assets: list[str] = sorted({t.asset for t in self._tabs.values()})
        self._asset_ix = {a: i for i, a in enumerate(self._assets)}
        self._symbol_mark = np.array([self.marks.get(s, 0) or 0 for s in self._sym_list], dtype=np.int64)
        self._mark_hi, self._mark_lo = np.divmod(self._symbol_mark, S)
        self._lists: dict[str, tuple[_SideList, _SideList]] = {}
        self._scope_obj: list = []                     # Position (isolated) or Account (cross), per scope
        self._cross_wallets: dict[int, object] = {}         # cross scope -> its cross Wallet
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
        self._legs_used = 0
        self._compact_at = 1 << 16
        self._acct: dict[int, array] = {}        # account -> its scopes (array('q'): no int objects)
        # flagged scopes: ``_flagged`` per scope. Those flagged by a batch check are in ``_fparts``
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
        objs[:] = self._scope_obj
        self._scope_obj = objs[perm].tolist()
        del objs
        invl = array("q")
        invl.frombytes(inv.tobytes())
        acct = self._acct
        for a, sids in acct.items():
            acct[a] = array("q", [invl[s] for s in sids])
        self._cross_wallets = {invl[s]: w for s, w in self._cross_wallets.items()}
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
        if sid >= len(self._version):
            for name, dt in self._COLS:
                old = getattr(self, name)
                grown = np.zeros(len(old) + (len(old) >> 1) + 1024, dt)
                grown[: len(old)] = old
                setattr(self, name, grown)
        self._n = sid + 1
        self._scope_obj.append(obj)
        self._kind[sid] = kind
        self._account[sid] = aid
        self._pos_side[sid] = side
        self._symbol_ix[sid] = symi
        return sid

    def scope_of(self, sid: int) -> tuple:
        """The scope tuple of an internal scope number."""
        aid = int(self._account[sid])
        if self._kind[sid] == 1:
            return (aid, ISOLATED, self._sym_list[self._symbol_ix[sid]], _SIDES[self._pos_side[sid]])
        return (aid, CROSS, self._assets[self._symbol_ix[sid]], "")

    def _bump(self, sid: int) -> None:
        """Void the scope's index entries (its T1 key, its T2 bands)."""
        self._version[sid] += 1
        k = int(self._legs_count[sid])
        if k:
            f = int(self._legs_start[sid])
            rows = self._legs[f: f + k]
            self._bands.clear_many(rows[:, 2], rows[:, 3])

    def _leg_rows(self, sids: np.ndarray) -> np.ndarray:
        """Rows of the legs table of the given T2 scopes."""
        cnt = self._legs_count[sids].astype(np.int64)
        starts = np.cumsum(cnt) - cnt
        return np.repeat(self._legs_start[sids] - starts, cnt) + np.arange(int(cnt.sum()))

    def _clear_bands(self, sids: np.ndarray) -> None:
        """No band triggers for these T2 scopes (flagged, discarded or being re-checked)."""
        legs = self._legs[self._leg_rows(sids)]
        self._bands.clear_many(legs[:, 2], legs[:, 3])

    def _release_bands(self, sid: int) -> None:
        """Give back the scope's band slots (it is no longer a T2 scope)."""
        f, k = int(self._legs_start[sid]), int(self._legs_count[sid])
        for j, slot in dict(self._legs[f: f + k, 2:4].tolist()).items():
            self._bands.release(j, slot)
        self._legs_count[sid] = 0

    def _flush(self) -> None:
        version_col = self._version
        for pair in self._lists.values():
            pair[0].flush(version_col)
            pair[1].flush(version_col)
        if self._legs_used > self._compact_at:
            if self._legs_used > 3 * int(self._legs_count[: self._n].sum()):
                self._compact_legs()
            self._compact_at = max(1 << 16, 2 * self._legs_used)

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
                self._symbol_mark[ix] = m
        self._mark_hi, self._mark_lo = np.divmod(self._symbol_mark, S)   # marks split at S, for exact products
        version_col, mirror_tier, vmin = self._version, self._mirror_tier, self.VECTOR_MIN
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
                got = sl.pop_hits(x, version_col)
                if got is None or not len(got):
                    continue
                # only T1 scopes have list entries (T2 ones are in _Bands); those without a
                # mirror (mirror_tier 0) are checked one by one
                mirrored = np.take(mirror_tier, got) == 1
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
            mirrored = mirror_tier[two] == 2
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
        for sid, aid, kind, ix, side, b, m in zip(sids.tolist(), self._account[sids].tolist(),
                                                  self._kind[sids].tolist(), self._symbol_ix[sids].tolist(),
                                                  self._pos_side[sids].tolist(), mb.tolist(), mm.tolist()):
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
        un = arr[self._flagged[arr] == 0]
        self._flagged[arr] = 0
        if self._flag:                # the few flagged one by one
            flg = self._flagged
            for sid in [k for k in self._flag if not flg[k]]:
                del self._flag[sid], self._flag_js[sid]
        if len(un):
            self._version[un] += 1
            self._mirror_tier[un] = 0
            self._key_dir[un] = 0
            t2 = un[self._legs_count[un] > 0]
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
            good[good] = self._account[idx] == aids
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
        parts = [p[:3] for p in self._fparts if self._flagged[p[0]].any()]
        if parts:
            sids, mb, mm = (np.concatenate(col)[::-1] for col in zip(*parts))   # newest first
            sids, first = np.unique(sids, return_index=True)
            mb, mm = mb[first], mm[first]
            keep = self._flagged[sids] == 1
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
                "flagged": int(self._flagged[: self._n].sum()), "t2": int((self._tier[: self._n] == _T2).sum())}

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
            q, w, c = self._mirror_qty[at], self._mirror_wallet[at], self._mirror_cost[at]
        else:
            at = sids
            q, w, c = take(self._mirror_qty, sids), take(self._mirror_wallet, sids), take(self._mirror_cost, sids)
        absq = np.abs(q)
        m = take(self._symbol_mark, js)
        big = absq * (m / S) >= 0.5 * (1 << self._NBITS)      # notionals the flat bracket search can't take
        if big.any():
            slow.extend(sids[big].tolist())
            ok = ~big
            sids, js, q, w, c, absq, m = sids[ok], js[ok], q[ok], w[ok], c[ok], absq[ok], m[ok]
            at = sids
            if not len(sids):
                return
        qh, ql = np.divmod(absq, S)     # n = round(|q| m / S) exactly, |q| and m split at S
        n = qh * m + ql * take(self._mark_hi, js) + (ql * take(self._mark_lo, js) + HALF) // S
        bi = np.minimum(np.searchsorted(self._bracket_key, (js << self._NBITS) + n, "right"), take(self._bracket_top, js))
        mm = np_mul_rate(n, take(self._bracket_mmr, bi)) - take(self._bracket_cum, bi)
        mb = w + np.where(q > 0, n, -n) - c
        liq = (mm > 0) & (mb <= mm)
        if liq.all():
            self._flag_batch(sids, mb, mm, js, at)
            hits.append((sids, mb, mm))
            return
        near = np.flatnonzero(~liq)     # near misses: the same key again
        ns = sids[near]
        key = take(self._key, ns)
        down = take(self._key_dir, ns) == 1
        code = take(js, near) * 2 + down
        for cd, kk, ss in _by_symbol(code, np.where(down, key, -key), ns):
            self._side(self._sym_list[cd >> 1], bool(cd & 1)).bufa.append((kk, ss, take(self._version, ss)))
        if liq.any():
            ls = sids[liq]
            self._flag_batch(ls, mb[liq], mm[liq], js[liq])
            hits.append((ls, mb[liq], mm[liq]))

    def _flag_batch(self, sids: np.ndarray, mb: np.ndarray, mm: np.ndarray, js: np.ndarray, at=None) -> None:
        """Flag scopes found liquidatable by a batch check; ``js``: the symbol index each is
        exposed to (-1: every symbol); ``at``: the same scopes as a slice, when consecutive."""
        at = sids if at is None else at
        self._flagged[at] = 1
        self._key_dir[at] = 0            # flagged: no entry until it recovers
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
        flg = self._flagged
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
        cnt = take(self._legs_count, sids)
        starts = np.cumsum(cnt, dtype=np.int64) - cnt
        tot = int(starts[-1] + cnt[-1])
        acc = np.repeat(np.arange(len(sids)), cnt)
        li = np.arange(tot) + take(take(self._legs_start, sids) - starts, acc)
        q, cost, sy, slot, bi = take(self._legs, li, axis=0).T
        absq = np.abs(q)
        m = take(self._symbol_mark, sy)
        if not m.all() or float((absq * (m / S)).max()) >= 0.5 * (1 << self._NBITS):
            slow.extend(sids.tolist())
            return
        # n = round(|q| m / S) exactly: |q| = qh S + ql, m = mh S + ml
        qh, ql = np.divmod(absq, S)
        n = qh * m + ql * take(self._mark_hi, sy) + (ql * take(self._mark_lo, sy) + HALF) // S
        long = q > 0
        upnl = np.where(long, n, -n) - cost
        # each leg's bracket: the one it was in last time, if its notional is still inside
        stale = np.flatnonzero((n < take(self._bracket_lo, bi)) | (n >= take(self._bracket_hi, bi)))
        if len(stale):
            bi = bi.copy()
            ss = take(sy, stale)
            found = np.searchsorted(self._bracket_key, (ss << self._NBITS) + take(n, stale), "right")
            bi[stale] = np.minimum(found, take(self._bracket_top, ss))
            self._legs[take(li, stale), 4] = bi[stale]
        mm = np_mul_rate(n, take(self._bracket_mmr, bi)) - take(self._bracket_cum, bi)
        mb = take(self._mirror_wallet, sids) + np.add.reduceat(upnl, starts)
        mmt = np.add.reduceat(mm, starts)
        liq = (mmt > 0) & (mb <= mmt)
        if liq.any():
            ls = sids[liq]
            on_leg = np.flatnonzero(liq[acc])
            self._bands.clear_many(sy[on_leg], slot[on_leg])     # no band triggers while flagged
            self._mirror_tier[ls] = 0
            self._flag_batch(ls, mb[liq], mmt[liq], np.full(len(ls), -1, dtype=np.int64))
            hits.append((ls, mb[liq], mmt[liq]))
            if liq.all():
                return
        safe_acc = ~liq
        h = (mb - mmt) - 2 * take(self._legs_err, sids).astype(np.int64) - 1
        # groups of legs: (account, symbol); an account's legs are sorted by symbol
        brk = np.empty(tot, dtype=bool)
        brk[0] = True
        np.not_equal(sy[1:], sy[:-1], out=brk[1:])
        brk[starts] = True
        gqr = absq * self._top_mmr[sy]
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
        live = np.flatnonzero(self._legs_count[: self._n] > 0)
        cnt = self._legs_count[live].astype(np.int64)
        tot = int(cnt.sum())
        starts = np.cumsum(cnt) - cnt
        li = np.repeat(self._legs_start[live] - starts, cnt) + np.arange(tot)
        legs = np.zeros((max(4096, 2 * tot), 5), np.int64)
        legs[:tot] = np.take(self._legs, li, axis=0)
        self._legs = legs
        self._legs_start[live] = starts
        self._legs_used = tot

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
                        self._tier[sid] = _T1
                    self._scope_obj[sid] = p
                    live.append(sid)
                else:
                    asset = tabs[p.symbol].asset
                    cross_assets[asset] = cross_assets.get(asset, 0) + 1
            for asset, legs in cross_assets.items():
                sid = known.get((aid, CROSS, asset, "")) if known else None
                if sid is None:
                    sid = self._new_sid(acct, 2, aid, 3, self._asset_ix[asset])
                self._scope_obj[sid] = acct
                self._tier[sid] = _T1 if legs == 1 else _T2
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
                    if self._legs_count[sid]:
                        self._release_bands(sid)
                    self._unflag(sid)
                    self._mirror_tier[sid] = 0
                    self._key_dir[sid] = 0
        if live or old:
            self._acct[aid] = array("q", live)
        return out

    def _unflag(self, sid: int) -> None:
        self._flagged[sid] = 0
        if self._flag.pop(sid, None) is not None:
            del self._flag_js[sid]

    def _set_flag(self, sid: int, cand: Candidate, syms: tuple) -> None:
        self._flagged[sid] = 1
        self._flag[sid] = cand
        self._mirror_tier[sid] = 0
        self._key_dir[sid] = 0
        self._flag_js[sid] = self._sym_ix[syms[0]] if len(syms) == 1 else -1

    def _emit(self, sym: str, down: bool, key: int, sid: int) -> None:
        if key > KEYMAX:
            key = KEYMAX
        elif key < -KEYMAX:
            key = -KEYMAX
        k = key if down else -key
        ver = int(self._version[sid])
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
        self._mirror_tier[sid] = 0
        self._key_dir[sid] = 0
        if self._tier[sid] == _T1:
            if self._legs_count[sid]:
                self._release_bands(sid)     # was a T2 scope
            return self._t1_place(sid, recompute=True)
        return self._t2_place(sid)

    def _check_hit(self, sid: int) -> Candidate | None:
        """Exact re-check (on the live objects) of an index hit or a flagged scope."""
        if self._tier[sid] == _T1:
            if self._flagged[sid]:
                self._bump(sid)
                self._unflag(sid)
            return self._t1_place(sid, recompute=False)
        self._bump(sid)
        self._unflag(sid)
        return self._t2_place(sid)

    # T1 --------------------------------------------------------------
    def _t1_legs(self, sid: int):
        """(wallet, qty, cost, symbol, position side, asset) of a single-leg scope, or None."""
        obj = self._scope_obj[sid]
        if self._kind[sid] == 1:
            p = obj
            if not p.qty or p.wallet is None:
                return None
            return p.wallet.balance, p.qty, p.cost, p.symbol, p.side, self._tabs[p.symbol].asset
        asset = self._assets[self._symbol_ix[sid]]
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
        w = self._cross_wallets.get(sid)
        if w is None:
            w = self.clearing.ledger.wallets.get((FUTURES, aid, asset))
            if w is None:
                return 0
            self._cross_wallets[sid] = w
        return w.balance

    def _t1_place(self, sid: int, recompute: bool) -> Candidate | None:
        legs = self._t1_legs(sid)
        if legs is None:
            if self._kind[sid] == 2 and self._has_cross_legs(sid):
                self._tier[sid] = _T2  # became multi-leg without a hook: band it
                self._mirror_tier[sid] = 0
                return self._t2_place(sid)
            self._key_dir[sid] = 0
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
        kind = self._kind[sid]
        if mm > 0 and mb <= mm:
            aid = int(self._account[sid])
            cand = (Candidate(aid, ISOLATED, sym, side, asset, mb, mm, sid) if kind == 1 else
                    Candidate(aid, CROSS, asset, "", asset, mb, mm, sid))
            self._bump(sid)
            self._set_flag(sid, cand, self._one_symbol[sym])
            return cand
        if recompute or kind == 2 or self._key_dir[sid] == 0:
            key = _t1_key(w, q, cost, t)
            self._key[sid] = max(-KEYMAX, min(KEYMAX, key))
            big = self._BIG
            if -big < w < big and -big < q < big and -big < cost < big:
                self._mirror_wallet[sid], self._mirror_qty[sid], self._mirror_cost[sid] = w, q, cost
                self._mirror_tier[sid] = 1
            else:
                self._mirror_tier[sid] = 0
        else:
            key = int(self._key[sid])
        self._key_dir[sid] = 1 if q > 0 else 2
        self._emit(sym, q > 0, key, sid)
        return None

    def _has_cross_legs(self, sid: int) -> bool:
        asset = self._assets[self._symbol_ix[sid]]
        return any(p.qty and p.wallet is None and self._tabs[p.symbol].asset == asset
                   for p in self._scope_obj[sid].positions.values())

    # T2 --------------------------------------------------------------
    def _t2_place(self, sid: int) -> Candidate | None:
        """Exact check of a cross account; if safe, a band per symbol (see the module docstring).

        Loss rates per symbol and direction as in the module docstring; rounding (``_pad`` per
        leg) is covered twice, once at each end of a move.
        """
        acct = self._scope_obj[sid]
        aid = acct.id
        asset = self._assets[self._symbol_ix[sid]]
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
            legs.append((j, q, p.cost, int(self._bracket_offset[j]) + i if m else -1))
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
        f0, k0 = int(self._legs_start[sid]), int(self._legs_count[sid])
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
        f = self._legs_used
        if f + k > len(self._legs):
            grown = np.zeros((max(2 * len(self._legs), f + k), 5), np.int64)
            grown[:f] = self._legs[:f]
            self._legs = grown
        self._legs[f: f + k] = [(q, c, j, slots[j], b) if fits else (0, 0, j, slots[j], -1) for j, q, c, b in legs]
        self._legs_used = f + k
        self._legs_start[sid], self._legs_count[sid], self._legs_err[sid] = f, k, min(err, 1 << 30)
        if fits:
            self._mirror_wallet[sid] = w
            self._mirror_tier[sid] = 2
        else:
            self._mirror_tier[sid] = 0
        return slots


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
