"""The risk pass: what the exchange does, after a command's handler or a new mark, for the accounts
concerned. One pass, read top to bottom (``RiskPass.run``):

1. ``detect``        liquidatable scopes: the detector re-checks the touched accounts (a new mark: its
                     index of the symbol; ``risk_scan`` "full": every account re-checked exactly);
2. ``liquidate``     the waterfall on each liquidatable scope, in scope order, re-detecting what it
                     changed, to a fixpoint;
3. ``protect``       negative-balance protection of every touched account (the insurance fund brings a
                     wallet with nothing left to liquidate back to zero);
4. ``margin_calls``  MARGIN_CALL once when a scope's margin ratio reaches ``margin_call_ratio`` (Binance's
                     USD-M user-data stream, event "MARGIN_CALL"); re-armed when it falls back below;
5. the guard (``Guard.observe``, after the command): liquidation records, risk controls, alerts.

Each account's figures (``AccountFigures``: per margin asset the cross figures, per isolated position
its notional, maintenance margin, margin balance and ratio) are computed once per pass, after step 3,
and shared by step 4, the guard's alerts and its controls.

Which accounts a new mark concerns. Step 4 and the guard's alerts change nothing and say nothing for an
account whose status did not change (a scope's margin ratio still on the same side of every threshold,
its liquidation price still as far), so only those whose status may have changed are re-evaluated:
``BandIndex`` keeps, per account and symbol, the mark range within which no status can change, and
a mark costs the accounts whose range it leaves. For margin calls, a single-leg scope (an isolated
position, or a cross asset with one position) gets its range from its margin-call line: the
detector's exact key solved on the bracket table scaled to the threshold (``scaled_table``), so a
crash re-evaluates it once, when the mark crosses the line. Multi-leg scopes and the guard's alerts
get theirs from a Lipschitz bound (``mark_bands``, on the same integer figures with their rounding,
as the detector's multi-leg bands). ``risk_scan`` "full" re-evaluates every holder of the symbol
instead; both give the same events and state.
"""
from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import NamedTuple

from .events import BalanceChanged, MarginCall, PositionChanged
from .fixed import SCALE
from .ledger import FUTURES
from .liquidation.candidates import CROSS, ISOLATED, Candidate
from .liquidation.detector import IndexedDetector
from .liquidation.t1_keys import _t1_key, _Tab
from .margin import is_liquidatable, margin_ratio, notional, unrealized_pnl

S = SCALE
BIG = 1 << 62
PENDING = (BIG, -BIG)     # a band no mark is inside: re-evaluated at the next mark of the symbol
MODES = ("indexed", "full")


# ---------------------------------------------------------------------- figures, once per pass
class IsolatedFigures(NamedTuple):
    pos: object
    notional: int
    maint_margin: int
    margin_balance: int        # isolated wallet + UPNL
    margin_ratio: int | None


class AccountFigures:
    """One account's margin figures at the current marks (computed once per risk pass).

    ``cross(asset)``: ``ClearingHouse.cross_figures``; ``isolated``: per isolated position (in the
    account's position order); ``legs``: per margin asset, per symbol, the sum of |qty| of its cross
    legs; ``cross_notional``: per margin asset, the sum of its cross legs' notionals.
    """

    __slots__ = ("account_id", "acct", "positions", "isolated", "legs", "cross_notional", "_cross", "_ch", "_assets")

    def __init__(self, ch, acct):
        self._ch = ch
        self.account_id = acct.id
        self.acct = acct
        self.positions = [p for p in acct.positions.values() if p.qty]
        self._cross: dict = {}
        marks, instruments = ch.marks, ch.instruments
        iso, legs, total, assets = [], {}, {}, set()
        for p in self.positions:
            mp = marks.get(p.symbol) or p.entry_price
            n = notional(p.qty, mp)
            assets.add(instruments[p.symbol].margin_asset)
            if p.wallet is not None:
                mm = ch.table(p.symbol).maint_margin(n)
                mb = p.wallet.balance + unrealized_pnl(p.qty, p.cost, mp)
                iso.append(IsolatedFigures(p, n, mm, mb, margin_ratio(mm, mb)))
            else:
                asset = instruments[p.symbol].margin_asset
                by = legs.setdefault(asset, {})
                by[p.symbol] = by.get(p.symbol, 0) + abs(p.qty)
                total[asset] = total.get(asset, 0) + n
        self.isolated = iso
        self.legs = legs
        self.cross_notional = total
        self._assets = sorted(assets)

    def cross(self, asset: str):
        f = self._cross.get(asset)
        if f is None:
            f = self._cross[asset] = self._ch.cross_figures(self.account_id, asset)
        return f

    def assets(self) -> list[str]:
        """Margin assets of the open positions, sorted."""
        return self._assets


# ---------------------------------------------------------------------- the status bands
class Condition(NamedTuple):
    """A status test that holds while ``sum_s |dm_s| x k[s] <= headroom`` (marks moved by dm_s)."""

    headroom: int
    k: dict


def ratio_condition(t: int, mb: int, mm: int, legs: dict, mmrmax: dict, tiers: int) -> Condition | None:
    """``margin_ratio(mm, mb) >= t`` (or None) keeps its truth value while the condition holds.

    With ``t > 0`` and MR = round(MM x S / MB): MR >= t  <=>  psi = (2t - 1) x MB - 2S x MM <= 0 (MB <= 0
    with MM > 0 included). A move of one unit of symbol s moves MB by at most A_s / S and MM by at
    most A_s x MMRmax_s / S^2 (A_s = sum of |qty|), so psi by at most A_s (2t + 2 MMRmax_s) / S; the
    figures' roundings (half a unit per product, a cum per tier) are the slack. None: too close.
    """
    psi = (2 * t - 1) * mb - 2 * S * mm
    n = 2 * len(legs) or 1          # legs: per symbol (a hedge account has two legs on one)
    slack = 4 * t * n + 2 * S * (4 + tiers) * n + 4 * S
    room = abs(psi) - slack
    if room <= 0:
        return None
    return Condition(room * S, {s: a * (2 * t + 2 * mmrmax[s]) for s, a in legs.items()})


def maint_condition(mm: int, legs: dict, mmrmax: dict, tiers: int) -> Condition | None:
    """MM > 0 stays true (a cross scope exists for margin calls and alerts while MM > 0)."""
    n = 2 * len(legs) or 1
    room = mm - (4 + tiers) * n
    if room <= 0:
        return None
    return Condition(room * S * S, {s: a * mmrmax[s] for s, a in legs.items()})


def far_condition(mb: int, mm: int, total: int, far: int, legs: dict, mmrmax: dict, tiers: int) -> Condition | None:
    """The guard's cheap distance bound ``(MB - MM) x 100 x S > far x notional x 3 / 2`` stays true."""
    chi = 200 * S * (mb - mm) - 3 * far * total
    n = 2 * len(legs) or 1
    slack = 200 * S * (6 + tiers) * n + 6 * far * n + 800 * S
    room = chi - slack
    if room <= 0:
        return None
    return Condition(room * S, {s: a * (200 * (S + mmrmax[s]) + 3 * far) for s, a in legs.items()})


def mark_bands(conditions: list, pending: set, symbols, marks: dict) -> dict:
    """Per symbol the mark range ``(lo, hi)`` within which every condition holds.

    Each condition c gets the same fraction f_c = H_c / sum_s k_cs m_s of every mark it depends on; a
    symbol's half-width is the smallest m_s x f_c over the conditions on it, so that
    sum_s w_s k_cs <= H_c for each. ``pending`` symbols (and those without a mark) get ``PENDING``.
    """
    width: dict = {}
    for c in conditions:
        d = 0
        for s, k in c.k.items():
            m = marks.get(s)
            if m:
                d += k * m
        if not d:
            continue
        for s in c.k:
            m = marks.get(s)
            if m:
                w = c.headroom * m // d
                if s not in width or w < width[s]:
                    width[s] = w
    out = {}
    for s in symbols:
        m = marks.get(s)
        if s in pending or not m:
            out[s] = PENDING
        else:
            w = width.get(s)
            out[s] = (-BIG, BIG) if w is None else (m - w, m + w)
    return out


def scaled_table(tab: _Tab, t: int) -> _Tab | None:
    """The bracket table whose "liquidation" line is the margin-call line ``MR >= t``.

    ``MR >= t``  <=>  ``MB <= k x MM`` with ``k = 2S / (2t - 1)`` (see ``ratio_condition``), so the
    table with every MMR and cum scaled by k gives it: MMRs rounded up, cums down (minus 2), and the
    rounding pad scaled too, so that its conservative keys stay conservative for the true line.
    None for ``t <= 0.5`` (k undefined or above 2: the line is then banded like a multi-leg one).
    """
    den = 2 * t - 1
    if den <= S:
        return None
    scaled = _Tab.__new__(_Tab)
    for name in _Tab.__slots__:
        setattr(scaled, name, getattr(tab, name))
    scaled.mmrs = tuple(-(-2 * S * r // den) for r in tab.mmrs)
    scaled.cums = tuple(2 * S * c // den - 2 for c in tab.cums)
    scaled.err = 2 * -(-2 * S * tab.err // den) + 8
    return scaled


def line_band(key: int, long: bool, high: bool, mm_floor: int, mark: int) -> tuple[int, int]:
    """The mark range within which a single-leg scope's margin-call status cannot change, from its
    conservative key (a long can be at or past the line only at ``mark <= key``, a short only at
    ``mark >= key``) and ``mm_floor``, the mark above which its maintenance margin is surely positive.
    ``high``: the scope is at or past the line now."""
    if mark < mm_floor:
        return PENDING
    if long:
        lo, hi = (mm_floor, key) if high else (max(key + 1, mm_floor), BIG)
    else:
        lo, hi = (max(key, mm_floor), BIG) if high else (mm_floor, key - 1)
    return (lo, hi) if lo <= mark <= hi else PENDING


def mm_floor(q: int, first_mmr: int) -> int:
    """A mark at and above which a position of ``q`` has MM >= 1 unit in the first bracket (cum 0)."""
    return (S // first_mmr + 3) * S // abs(q) + 1 if first_mmr > 0 else BIG


class BandIndex:
    """Per account, per symbol it holds, the mark range within which its status cannot change.

    Two heaps per symbol (the lower ends, highest first; the upper ends, lowest first) and a set of the
    accounts pending on it (re-evaluated at its next mark, whatever it is); entries carry the account's
    version, and a new band voids the old entries (dropped when popped; the heaps are rebuilt when
    mostly void). ``hits(symbol, mark)`` returns the accounts whose range the mark left (and those
    pending on the symbol); each must be re-evaluated and given a new band (``put``).
    """

    def __init__(self) -> None:
        self._ver: dict[int, int] = {}
        self._lo: dict[str, list] = {}
        self._hi: dict[str, list] = {}
        self._pending: dict[str, dict[int, int]] = {}   # symbol -> {account: version}
        self._pending_syms: dict[int, frozenset] = {}   # account -> the symbols it is pending on
        self._symsets: dict[frozenset, frozenset] = {}  # one object per set of symbols
        self._entries = 0
        self._limit = 4096

    def put(self, account_id: int, bands: dict | None) -> None:
        ver = self._ver.get(account_id, 0) + 1
        self._ver[account_id] = ver
        self._pending_syms.pop(account_id, None)
        if not bands:
            return
        for s, (lo, hi) in bands.items():
            if lo == BIG:
                self._pending.setdefault(s, {})[account_id] = ver
                continue
            if lo > -BIG:
                heappush(self._lo.setdefault(s, []), (-lo, account_id, ver))
                self._entries += 1
            if hi < BIG:
                heappush(self._hi.setdefault(s, []), (hi, account_id, ver))
                self._entries += 1
        if self._entries > self._limit:
            self._compact()

    def pending(self, account_id: int, symbols) -> None:
        """Re-evaluate the account at the next mark of any of ``symbols`` (its state changed unseen)."""
        syms = frozenset(symbols)
        if self._pending_syms.get(account_id) == syms:
            return                      # pending already, on the same symbols
        self.put(account_id, {s: PENDING for s in syms})
        self._pending_syms[account_id] = self._symsets.setdefault(syms, syms)

    def hits(self, symbol: str, mark: int) -> list[int]:
        """The accounts whose range ``mark`` left; their bands are void until put again."""
        ver = self._ver
        pend = self._pending.pop(symbol, None)
        out = [a for a, v in pend.items() if ver.get(a) == v] if pend else []
        lo = self._lo.get(symbol)
        while lo and -lo[0][0] > mark:
            _, a, v = heappop(lo)
            self._entries -= 1
            if ver.get(a) == v:
                out.append(a)
        hi = self._hi.get(symbol)
        while hi and hi[0][0] < mark:
            _, a, v = heappop(hi)
            self._entries -= 1
            if ver.get(a) == v:
                out.append(a)
        for a in out:
            ver[a] += 1                 # void the account's other entries: it is re-evaluated now
            self._pending_syms.pop(a, None)
        return out

    def _compact(self) -> None:
        """Drop the void entries (those of an older version of their account)."""
        ver = self._ver
        n = 0
        for heaps in (self._lo, self._hi):
            for s, h in heaps.items():
                live = [e for e in h if ver.get(e[1]) == e[2]]
                heapify(live)
                heaps[s] = live
                n += len(live)
        self._entries = n
        self._limit = 2 * n + 4096


# ---------------------------------------------------------------------- the full scan
def liquidatable_scopes(ch, accounts, symbol: str | None = None) -> list[Candidate]:
    """Every liquidatable scope of ``accounts`` by a plain exact scan (``risk_scan`` "full").

    With ``symbol`` (a new mark): the scopes exposed to it, and multi-leg cross scopes (the detector
    re-checks a flagged multi-leg cross account on every mark). Sorted by scope.
    """
    out = []
    instruments, marks, peek = ch.instruments, ch.marks, ch.ledger.peek
    for acct in accounts:
        cross: dict = {}
        for p in acct.positions.values():
            if not p.qty:
                continue
            mp = marks.get(p.symbol) or p.entry_price
            mm = ch.table(p.symbol).maint_margin(notional(p.qty, mp))
            upnl = unrealized_pnl(p.qty, p.cost, mp)
            if p.wallet is not None:
                mb = p.wallet.balance + upnl
                if (symbol is None or p.symbol == symbol) and is_liquidatable(mm, mb):
                    out.append(Candidate(acct.id, ISOLATED, p.symbol, p.side, instruments[p.symbol].margin_asset,
                                         mb, mm, -1))
            else:
                acc = cross.setdefault(instruments[p.symbol].margin_asset, [0, 0, 0, False])
                acc[0] += mm
                acc[1] += upnl
                acc[2] += 1
                acc[3] = acc[3] or p.symbol == symbol
        for asset, (mm, upnl, legs, exposed) in cross.items():
            mb = peek((FUTURES, acct.id), asset) + upnl
            if (symbol is None or exposed or legs > 1) and is_liquidatable(mm, mb):
                out.append(Candidate(acct.id, CROSS, asset, "", asset, mb, mm, -1))
    out.sort()
    return out


# ---------------------------------------------------------------------- the pass
class RiskPass:
    """The risk stage of one exchange (see the module docstring), over a narrow context.

    ``clearing``: the accounts and figures; ``settings``: the venue's settings (``margin_call_ratio``,
    ``risk_scan``); ``margin_called``: the scopes whose margin call is out (venue state, hashed by the
    exchange); ``liquidator()``: a waterfall on the venue; ``now()``: venue time. Everything kept here is
    derived (never hashed or pickled): the detector, the status bands, the figures of the current pass.
    """

    def __init__(self, clearing, settings: dict, margin_called: set, liquidator, now, margin_call_ratio: int):
        self.clearing = clearing
        self.settings = settings
        self.margin_called = margin_called
        self.liquidator = liquidator
        self.now = now
        self.default_ratio = margin_call_ratio
        self._figs: dict[int, AccountFigures] = {}
        self.reset()

    # ------------------------------------------------------------------ derived state
    def reset(self) -> None:
        """Forget every derived index (after a bracket-table or settings change, a snapshot load)."""
        self._detector = None
        self._holders: dict[str, set[int]] | None = None
        self._called: dict[int, set] | None = None
        self.calls_index: BandIndex | None = None
        self.alerts_index: BandIndex | None = None
        self._mmrmax: dict[str, int] = {}
        self._tiers: dict[str, int] = {}
        self._call_tabs: dict[tuple, tuple | None] = {}
        self._banding: dict[str, set[int]] = {"calls_index": set(), "alerts_index": set()}
        self._figs.clear()

    #: settings the status bands depend on
    BAND_SETTINGS = frozenset({"margin_call_ratio", "guard_alert_margin_ratios", "guard_alert_liq_distances"})

    def configured(self, kind: str, args: dict) -> None:
        """A command changed what the derived indexes depend on: rebuild what it concerns."""
        if kind == "set_bracket_date" or (kind == "set_setting" and args.get("name") == "risk_scan"):
            self.reset()
        elif kind == "set_setting" and args.get("name") in self.BAND_SETTINGS:
            self.calls_index = self.alerts_index = None
            self._call_tabs.clear()
        elif kind == "set_alert_levels" and self.alerts_index is not None:
            acct = self.clearing.accounts.get(args.get("account_id"))
            syms = {p.symbol for p in acct.open_positions()} if acct is not None else set()
            if syms:
                self.alerts_index.pending(acct.id, syms)

    @property
    def full(self) -> bool:
        return self.settings.get("risk_scan", "indexed") == "full"

    @property
    def detector(self):
        if self._detector is None:
            self._detector = IndexedDetector(self.clearing)
        return self._detector

    def forget_figures(self) -> None:
        """The state changed: figures computed before are stale."""
        self._figs.clear()

    def figures(self, acct) -> AccountFigures:
        f = self._figs.get(acct.id)
        if f is None:
            f = self._figs[acct.id] = AccountFigures(self.clearing, acct)
        return f

    def holders(self, symbol: str) -> set[int]:
        """Accounts with an open position in ``symbol`` (derived; kept only once asked for)."""
        if self._holders is None:
            self._holders = {}
            for a, acct in self.clearing.accounts.items():
                for p in acct.open_positions():
                    self._holders.setdefault(p.symbol, set()).add(a)
        return self._holders.get(symbol, set())

    def _update_holders(self, account_ids) -> None:
        if self._holders is None:
            return
        for a in account_ids:
            for held in self._holders.values():
                held.discard(a)
            acct = self.clearing.accounts.get(a)
            for p in (acct.open_positions() if acct else ()):
                self._holders.setdefault(p.symbol, set()).add(a)

    def _index(self, name: str) -> BandIndex:
        """A status index; a new one has every account with a position pending (re-evaluated at the
        next mark of a symbol it holds, as a full scan would)."""
        idx = getattr(self, name)
        if idx is None:
            idx = BandIndex()
            for a, acct in self.clearing.accounts.items():
                if a >= 0:
                    syms = {p.symbol for p in acct.open_positions()}
                    if syms:
                        idx.pending(a, syms)
            setattr(self, name, idx)
        return idx

    def mark_accounts(self, name: str, symbol: str) -> set[int]:
        """The accounts a new mark of ``symbol`` may concern, for ``calls_index`` or ``alerts_index``;
        they get their bands when next evaluated (``wants_bands``)."""
        if self.full:
            return set(self.holders(symbol))
        hit = self._index(name).hits(symbol, self.clearing.marks.get(symbol, 0))
        self._banding[name].update(hit)
        return set(hit)

    def wants_bands(self, name: str, account_id: int) -> bool:
        """Whether an evaluation should compute the account's bands: only for the accounts a mark
        concerned. Any other evaluation (a command changed the account) leaves it pending instead:
        re-evaluated, and banded, at the next mark of a symbol it holds (cheaper when it trades
        several times between marks, and free when no mark comes)."""
        return not self.full and account_id in self._banding[name]

    def band_next(self, account_ids) -> None:
        """Have the next evaluation of these accounts compute their bands at once, as after a mark: for
        a batch that touched many accounts which a mark will concern soon (a simulated population's
        setup), so that the mark re-evaluates only those it moves out of their bands."""
        for banding in self._banding.values():     # unused in full mode (``wants_bands``)
            banding.update(account_ids)

    def done_banding(self, name: str) -> None:
        self._banding[name].clear()

    def put_bands(self, name: str, account_id: int, figs: AccountFigures | None, conditions: list | None,
                  pending: set, lines: list = ()) -> None:
        """Record an evaluated account's status bands (``conditions`` None: pending; indexed mode only),
        narrowed by ``lines``, the ``(symbol, band)`` of its single-leg scopes (``line_band``)."""
        if self.full:
            return
        idx = self._index(name)
        if figs is None or not figs.positions:
            idx.put(account_id, None)
        elif conditions is None:
            idx.pending(account_id, {p.symbol for p in figs.positions})
        else:
            bands = mark_bands(conditions, pending, {p.symbol for p in figs.positions}, self.clearing.marks)
            for sym, (lo, hi) in lines:
                was = bands.get(sym, (-BIG, BIG))
                bands[sym] = PENDING if PENDING in (was, (lo, hi)) else (max(lo, was[0]), min(hi, was[1]))
            idx.put(account_id, bands)

    def table_bounds(self, symbols) -> tuple[dict, int]:
        """(top MMR per symbol, most tiers) of the bracket tables in force."""
        mmrmax, tiers = self._mmrmax, self._tiers
        top = 0
        for s in symbols:
            if s not in mmrmax:
                bs = self.clearing.table(s).brackets
                mmrmax[s] = max(b.mmr for b in bs)
                tiers[s] = len(bs)
            top = max(top, tiers[s])
        return mmrmax, top

    # ------------------------------------------------------------------ the steps
    def run(self, candidates, touched: set) -> list:
        """Steps 2-4 for ``candidates`` (step 1's result) and the ``touched`` accounts."""
        self.forget_figures()
        events = self.liquidate(candidates, touched)
        events += self.protect(touched)
        return events + self.margin_calls(touched)

    def detect_accounts(self, account_ids) -> list:
        """Step 1 after a command: the liquidatable scopes of the accounts it changed."""
        self._update_holders(account_ids)
        if self.full:
            ch = self.clearing
            return liquidatable_scopes(ch, [ch.accounts[a] for a in sorted(set(account_ids)) if a in ch.accounts])
        return self.detector.on_accounts_changed(sorted(account_ids))

    def detect_mark(self, symbol: str) -> list:
        """Step 1 at a new mark: the liquidatable scopes exposed to ``symbol``."""
        if self.full:
            ch = self.clearing
            return liquidatable_scopes(ch, ch.accounts.values(), symbol)
        return self.detector.on_mark(symbol, self.clearing.mark(symbol))

    def liquidate(self, candidates, touched: set) -> list:
        """Step 2: the waterfall on each liquidatable scope, in scope order, to a fixpoint."""
        events: list = []
        if not candidates:
            return events
        liquidator = self.liquidator()
        rounds = 0
        while candidates and rounds < 1000:
            rounds += 1
            changed: set[int] = set()
            for c in sorted(candidates, key=lambda c: c.scope):
                if c.account_id < 0:
                    continue  # the insurance fund is not liquidated; ADL protects it
                evs = liquidator.liquidate(c.account_id, c.kind, c.scope[2], c.position_side)
                events += evs
                changed |= accounts_in(evs)
            touched |= changed
            candidates = self.detect_accounts(changed) if changed else []
        return events

    def protect(self, touched: set) -> list:
        """Step 3: negative-balance protection of every touched account."""
        events: list = []
        liquidator = None
        ch = self.clearing
        for acct_id in sorted(touched):
            if acct_id < 0 or acct_id not in ch.accounts:
                continue
            if liquidator is None:
                liquidator = self.liquidator()
            events += liquidator.protect_negative_balances(acct_id)
        return events

    def _called_of(self, account_id: int) -> set:
        if self._called is None:
            self._called = {}
            for k in self.margin_called:
                self._called.setdefault(k[0], set()).add(k)
        return self._called.setdefault(account_id, set())

    def margin_calls(self, account_ids) -> list:
        """Step 4: MARGIN_CALL once when a scope's margin ratio reaches the threshold; re-armed below it [I]."""
        threshold = self.settings.get("margin_call_ratio", self.default_ratio)
        events = []
        ch = self.clearing
        called = self.margin_called
        now = self.now()
        for acct_id in sorted(account_ids):
            acct = ch.accounts.get(acct_id)
            if acct is None or acct_id < 0:
                continue
            figs = self.figures(acct)
            scopes = []
            for asset in figs.assets():
                f = figs.cross(asset)
                if f.maint_margin:
                    scopes.append(((acct_id, "CROSSED", asset, ""), f.margin_ratio, f.margin_balance,
                                   f.maint_margin, f.wallet_balance))
            for it in figs.isolated:
                p = it.pos
                scopes.append(((acct_id, "ISOLATED", p.symbol, p.side), it.margin_ratio, it.margin_balance,
                               it.maint_margin, 0))
            mine = self._called_of(acct_id)
            live = set()
            for key, ratio, mb, mm, cw in scopes:
                live.add(key)
                high = ratio is None or ratio >= threshold
                if high and key not in called:
                    called.add(key)
                    mine.add(key)
                    events.append(MarginCall(now, acct_id, key[1], key[2] if key[1] == "ISOLATED" else "",
                                             key[3], ratio if ratio is not None else -1, mb, mm, cw))
                elif not high and key in called:
                    called.discard(key)
                    mine.discard(key)
            gone = mine - live
            if gone:
                called -= gone
                mine -= gone
            if not self.full:
                self._call_bands(acct_id, figs, threshold)
        self.done_banding("calls_index")
        return events

    def _call_tab(self, symbol: str, t: int) -> tuple | None:
        """(the scaled table of ``scaled_table``, the first bracket's MMR) of ``symbol``, or None."""
        key = (symbol, t)
        if key not in self._call_tabs:
            ch = self.clearing
            table = ch.table(symbol)
            first = table.brackets[0]
            scaled = scaled_table(_Tab(table, ch.instruments[symbol].margin_asset), t)
            self._call_tabs[key] = (scaled, first.mmr) if scaled is not None and first.cum == 0 else None
        return self._call_tabs[key]

    def _call_line(self, t: int, wallet: int, pos, high: bool) -> tuple | None:
        """``(symbol, band)`` of a single-leg scope from its margin-call line, or None (no line)."""
        tabs = self._call_tab(pos.symbol, t)
        mark = self.clearing.marks.get(pos.symbol)
        if tabs is None or not mark:
            return None
        scaled, first_mmr = tabs
        key = _t1_key(wallet, pos.qty, pos.cost, scaled)
        return pos.symbol, line_band(key, pos.qty > 0, high, mm_floor(pos.qty, first_mmr), mark)

    def _call_bands(self, acct_id: int, figs: AccountFigures, t) -> None:
        """The account's margin-call bands: a single-leg scope (an isolated position, or a cross asset
        with one position) from its margin-call line, one band end a mark crosses once; a multi-leg
        cross scope from its Lipschitz bound (``ratio_condition``)."""
        if not self.wants_bands("calls_index", acct_id):
            self.put_bands("calls_index", acct_id, figs, None, set())
            return
        conditions: list = []
        pending: set = set()
        lines: list = []
        syms = {p.symbol for p in figs.positions}
        called = self.margin_called
        if not isinstance(t, int) or isinstance(t, bool) or t <= 0:
            pending = syms
        else:
            mmrmax, tiers = self.table_bounds(syms)
            ins = self.clearing.instruments
            for asset, legs in figs.legs.items():
                f = figs.cross(asset)
                one = [p for p in figs.positions if p.wallet is None and ins[p.symbol].margin_asset == asset]
                line = (self._call_line(t, f.wallet_balance, one[0], (acct_id, "CROSSED", asset, "") in called)
                        if len(one) == 1 else None)
                if line is not None:
                    lines.append(line)
                    continue
                c = ratio_condition(t, f.margin_balance, f.maint_margin, legs, mmrmax, tiers)
                m = maint_condition(f.maint_margin, legs, mmrmax, tiers)
                if c is None or m is None:
                    pending |= set(legs)
                else:
                    conditions += (c, m)
            for it in figs.isolated:
                p = it.pos
                line = self._call_line(t, p.wallet.balance, p, (acct_id, "ISOLATED", p.symbol, p.side) in called)
                if line is not None:
                    lines.append(line)
                    continue
                c = ratio_condition(t, it.margin_balance, it.maint_margin, {p.symbol: abs(p.qty)}, mmrmax, tiers)
                if c is None:
                    pending.add(p.symbol)
                else:
                    conditions.append(c)
        self.put_bands("calls_index", acct_id, figs, conditions, pending, lines)


def accounts_in(events) -> set[int]:
    """The accounts whose balances or positions the events changed."""
    return {e.account_id for e in events if isinstance(e, (BalanceChanged, PositionChanged))}
