"""Liquidation detection: the indexed detector finds exactly what a full recompute finds.

Oracles: ``full_scan`` (plain Python over the positions, margin.py's formulas) and
``numpy_scan`` (vectorised int64); both are checked against the clearing house's own figures.
"""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpsim.core.clearing import ClearingHouse
from perpsim.core.errors import VenueError
from perpsim.core.fixed import parse as P
from perpsim.core.instruments import BracketTable
from perpsim.core.ledger import FUTURES
from perpsim.core.liquidation import CROSS, ISOLATED, IndexedDetector, full_scan, numpy_scan
from perpsim.core.liquidation.t1_keys import _Tab, _t1_key
from perpsim.core.margin import Leg, is_liquidatable, liquidation_price

BASE = {"BTCUSDT": P("60000"), "ETHUSDT": P("3000"), "XRPUSDT": P("0.6")}
STEP = {"BTCUSDT": P("0.001"), "ETHUSDT": P("0.01"), "XRPUSDT": P("1")}


def population(seed: int, n: int = 30) -> tuple[ClearingHouse, list[int], int]:
    """Random accounts (one-way/hedge, cross/isolated, leverage) trading against a market maker."""
    r = random.Random(seed)
    ch = ClearingHouse()
    for s, m in BASE.items():
        ch.set_mark(s, m)
    ids = []
    for _ in range(n):
        a = ch.create_account().id
        ids.append(a)
        ch.deposit(a, FUTURES, "USDT", P(str(r.choice([20, 100, 400, 2000, 8000]))))
        if r.random() < 0.35:
            ch.set_position_mode(a, True)
        for s in BASE:
            if r.random() < 0.5:
                ch.set_margin_type(a, s, True)
            ch.set_leverage(a, s, r.choice([3, 10, 20, 50]))
    mm = ch.create_account().id
    ch.deposit(mm, FUTURES, "USDT", P("1000000000"))
    for a in ids:
        for s in BASE:
            if r.random() < 0.6:
                trade(ch, r, a, mm, s)
    return ch, ids, mm


def trade(ch: ClearingHouse, r: random.Random, a: int, mm: int, s: str) -> None:
    acct = ch.accounts[a]
    qty = STEP[s] * r.randint(1, 400)
    price = (ch.marks[s] * r.randint(970, 1030) // 1000) // STEP["BTCUSDT"] * STEP["BTCUSDT"] or ch.marks[s]
    ps = r.choice(["LONG", "SHORT"]) if acct.hedge_mode else None
    buy = ps == "LONG" if ps else r.random() < 0.5
    if ps == "SHORT" and not acct.positions.get((s, "SHORT")):
        buy = False
    try:
        if buy:
            ch.trade(a, mm, s, qty, price, buyer_position_side=ps, check_margin=False)
        else:
            ch.trade(mm, a, s, qty, price, seller_position_side=ps, check_margin=False)
    except VenueError:
        pass


def check_all(det: IndexedDetector, ch: ClearingHouse, got=None, numpy_too: bool = True) -> None:
    expect = full_scan(ch)
    assert det.scopes() == expect
    if got is not None:
        scopes = [c.scope for c in got]
        assert len(scopes) == len(set(scopes)) and scopes == sorted(scopes)
        assert set(scopes) <= expect
    if numpy_too:
        assert numpy_scan(ch) == expect


def move(ch: ClearingHouse, r: random.Random, vol: float) -> dict[str, int]:
    upd = {}
    for s in BASE:
        if r.random() < 0.7:
            upd[s] = max(1, ch.marks[s] + int(ch.marks[s] * r.gauss(0, vol)))
            ch.set_mark(s, upd[s])
    return upd


@pytest.mark.parametrize("vector_min", [1, 24])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), vol=st.sampled_from([0.003, 0.01, 0.03]))
def test_index_matches_full_recompute_on_random_paths(vector_min, seed, vol):
    ch, ids, mm = population(seed)
    det = IndexedDetector(ch)
    det.VECTOR_MIN = vector_min
    check_all(det, ch)
    r = random.Random(seed + 1)
    for _ in range(60):
        got = det.on_marks(move(ch, r, vol))
        check_all(det, ch, got)            # both oracles at every tick


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6))
def test_hooks_keep_the_index_exact_under_commands(seed):
    """Trades, margin moves, transfers and closes between ticks, each followed by the hook."""
    ch, ids, mm = population(seed, n=20)
    det = IndexedDetector(ch)
    det.VECTOR_MIN = 1
    r = random.Random(seed + 7)
    for tick in range(50):
        for _ in range(r.randint(0, 3)):
            a = r.choice(ids)
            s = r.choice(list(BASE))
            k = r.random()
            try:
                if k < 0.5:
                    trade(ch, r, a, mm, s)
                elif k < 0.7:
                    ch.deposit(a, FUTURES, "USDT", P(str(r.randint(1, 500))))
                elif k < 0.85:
                    acct = ch.accounts[a]
                    ps = r.choice(["LONG", "SHORT"]) if acct.hedge_mode else "BOTH"
                    ch.adjust_isolated_margin(a, s, P(str(r.randint(1, 50))), r.random() < 0.5, ps)
                else:
                    acct = ch.accounts[a]
                    for p in list(acct.positions.values()):
                        if p.symbol == s and p.qty:
                            side = "SELL" if p.qty > 0 else "BUY"
                            ps = p.side if acct.hedge_mode else None
                            if side == "SELL":
                                ch.trade(mm, a, s, abs(p.qty), ch.marks[s], seller_position_side=ps,
                                         check_margin=False)
                            else:
                                ch.trade(a, mm, s, abs(p.qty), ch.marks[s], buyer_position_side=ps,
                                         check_margin=False)
            except VenueError:
                pass
            det.on_account_changed(a)
            det.on_account_changed(mm)
        got = det.on_marks(move(ch, r, 0.01))
        check_all(det, ch, got, numpy_too=tick % 10 == 0)


def test_candidates_carry_the_clearing_figures():
    ch, ids, mm = population(3, n=40)
    det = IndexedDetector(ch)
    r = random.Random(4)
    seen = 0
    for _ in range(80):
        for c in det.on_marks(move(ch, r, 0.02)):
            seen += 1
            if c.kind == CROSS:
                f = ch.cross_figures(c.account_id, c.asset)
                assert (c.margin_balance, c.maint_margin) == (f.margin_balance, f.maint_margin)
                assert ch.is_liquidatable(c.account_id, c.asset)
            else:
                pos = ch.accounts[c.account_id].positions[(c.symbol, c.position_side)]
                f = ch.position_figures(pos)
                assert c.margin_balance == pos.wallet.balance + f.unrealized_pnl
                assert c.maint_margin == f.maint_margin
                assert is_liquidatable(c.maint_margin, c.margin_balance)
    assert seen > 0


def test_isolated_long_triggers_at_its_liquidation_price():
    """An isolated long is liquidatable from the mark where MB <= MM: at LP (section 3.3), not a tick above."""
    ch = ClearingHouse()
    a, b = ch.create_account().id, ch.create_account().id
    for x in (a, b):
        ch.deposit(x, FUTURES, "USDT", P("100000"))
    ch.set_margin_type(a, "BTCUSDT", True)
    ch.set_leverage(a, "BTCUSDT", 10)
    ch.set_mark("BTCUSDT", P("60000"))
    ch.trade(a, b, "BTCUSDT", P("1"), P("60000"), check_margin=False)
    det = IndexedDetector(ch)
    pos = ch.accounts[a].positions[("BTCUSDT", "BOTH")]
    lp = liquidation_price(pos.wallet.balance, [Leg(pos.qty, pos.cost, ch.instruments["BTCUSDT"].brackets)])
    tick = P("0.1")
    above = (lp // tick + 1) * tick
    assert det.on_mark("BTCUSDT", above) == []
    got = det.on_mark("BTCUSDT", (lp // tick) * tick)
    assert [c.scope for c in got] == [(a, ISOLATED, "BTCUSDT", "BOTH")]
    assert det.on_mark("BTCUSDT", above) == []          # recovered: no longer reported
    assert det.liquidatable() == []
    got = det.on_mark("BTCUSDT", P("50000"))
    assert len(got) == 1
    det.discard(got[0])
    assert det.on_mark("BTCUSDT", P("40000")) == [] and det.liquidatable() == []


def test_single_symbol_cross_account_uses_the_cross_wallet():
    ch = ClearingHouse()
    a, b = ch.create_account().id, ch.create_account().id
    ch.deposit(a, FUTURES, "USDT", P("1000"))
    ch.deposit(b, FUTURES, "USDT", P("1000000"))
    ch.set_mark("ETHUSDT", P("3000"))
    ch.trade(b, a, "ETHUSDT", P("5"), P("3000"), check_margin=False)      # a short 5 ETH, cross
    det = IndexedDetector(ch)
    assert det.on_mark("ETHUSDT", P("3100")) == []
    got = det.on_mark("ETHUSDT", P("3300"))
    assert [c.scope for c in got] == [(a, CROSS, "USDT", "")]
    ch.deposit(a, FUTURES, "USDT", P("5000"))                             # topped up
    assert det.on_account_changed(a) == [] and det.liquidatable() == []
    assert det.on_mark("ETHUSDT", P("3400")) == []
    check_all(det, ch)


@settings(max_examples=150, deadline=None)
@given(q=st.integers(1, 10**12), ep=st.integers(10**6, 10**13), lev=st.integers(1, 125),
       extra=st.integers(-10**10, 10**12), short=st.booleans(), table=st.sampled_from(["BTCUSDT", "XRPUSDT"]))
def test_t1_key_is_conservative(q, ep, lev, extra, short, table):
    """No mark strictly on the safe side of the key is liquidatable (exact formulas), checked near the
    key, near the true boundary and far away."""
    ins = ClearingHouse().instruments[table]
    t = _Tab(ins.brackets, "USDT")
    qty = -q if short else q
    cost = qty * ep // 10**8
    w = abs(cost) // lev + extra
    key = _t1_key(w, qty, cost, t)

    def liq(m):
        n = abs(qty) * m
        n = (n + 5 * 10**7) // 10**8
        mm = ins.brackets.maint_margin(n)
        upnl = (n if qty > 0 else -n) - cost
        return is_liquidatable(mm, w + upnl)

    safe = [key + 1 + i for i in range(40)] + [key + 10**k for k in range(2, 15)] if not short else \
        [key - 1 - i for i in range(40)] + [key - 10**k for k in range(2, 15)]
    for m in safe:
        if 0 < m < 10**16:
            assert not liq(m), (m, key)
    # tight: 3 pads of health past the key, the position is liquidatable (when it has any MM there)
    slope = abs(qty) * (10**8 - max(t.mmrs)) if not short else abs(qty) * 10**8
    window = -(-3 * t.err * 10**16 // slope) + 2
    deep = key - window if not short else key + window
    if 0 < deep < 10**16:
        n = (abs(qty) * deep + 5 * 10**7) // 10**8
        if ins.brackets.maint_margin(n) > 0:
            assert liq(deep), (deep, key)


def test_pinned_single_tier_table_and_hedge_cross_bands():
    """Hedge cross with both legs in one symbol goes through the T2 band path."""
    ch = ClearingHouse()
    ins = ch.instruments["BTCUSDT"]
    pinned = BracketTable.from_rows([("0", "1000000000", "0.004", 125)])
    ch.instruments["BTCUSDT"] = ins.with_brackets(pinned)
    a, b = ch.create_account().id, ch.create_account().id
    ch.deposit(a, FUTURES, "USDT", P("10000"))
    ch.deposit(b, FUTURES, "USDT", P("1000000"))
    ch.set_position_mode(a, True)
    ch.set_mark("BTCUSDT", P("60000"))
    ch.trade(a, b, "BTCUSDT", P("1"), P("60000"), buyer_position_side="LONG", check_margin=False)
    ch.trade(b, a, "BTCUSDT", P("0.5"), P("62000"), seller_position_side="SHORT", check_margin=False)
    det = IndexedDetector(ch)
    assert det.stats()["t2"] == 1
    # TV-HEDGE: LP 38,461.54 (WB 10,000 less the two taker fees moves it a little)
    for mark in ("50000", "45000", "40000", "39000", "38500", "38000", "30000"):
        ch.set_mark("BTCUSDT", P(mark))
        det.on_mark("BTCUSDT", P(mark))
        check_all(det, ch)
    assert det.scopes() == {(a, CROSS, "USDT", "")}


@pytest.mark.parametrize("vector_min", [1, 10**9])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6))
def test_cross_bands_never_miss_a_liquidation(vector_min, seed):
    """Thin multi-symbol cross accounts (hedge legs too) on correlated and opposite moves: the
    bands (numpy and Python paths) never let a liquidatable account through."""
    r = random.Random(seed)
    ch = ClearingHouse()
    for s, m in BASE.items():
        ch.set_mark(s, m)
    mm = ch.create_account().id
    ch.deposit(mm, FUTURES, "USDT", P("1000000000"))
    for _ in range(25):
        a = ch.create_account().id
        hedge = r.random() < 0.3
        if hedge:
            ch.set_position_mode(a, True)
        for s in r.sample(list(BASE), r.randint(1, 3)):
            legs = (("LONG", "SHORT") if r.random() < 0.5 else (r.choice(["LONG", "SHORT"]),)) if hedge else (None,)
            for ps in legs:
                qty = STEP[s] * r.randint(1, 300)
                buy = ps == "LONG" if ps else r.random() < 0.5
                if buy:
                    ch.trade(a, mm, s, qty, ch.marks[s], buyer_position_side=ps, check_margin=False)
                else:
                    ch.trade(mm, a, s, qty, ch.marks[s], seller_position_side=ps, check_margin=False)
        f = ch.cross_figures(a)
        need = f.maint_margin - f.margin_balance + max(1, f.maint_margin * r.randint(1, 30) // 10)
        if need > 0:
            ch.deposit(a, FUTURES, "USDT", need)
    det = IndexedDetector(ch)
    det.VECTOR_MIN = vector_min
    check_all(det, ch)
    common = 0.0
    for tick in range(80):
        common = r.gauss(0, 0.004)
        upd = {}
        for s in BASE:
            upd[s] = max(1, ch.marks[s] + int(ch.marks[s] * (common + r.gauss(0, 0.003))))
            ch.set_mark(s, upd[s])
        got = det.on_marks(upd)
        check_all(det, ch, got, numpy_too=tick % 20 == 0)


def test_discard_by_candidate_or_scope_and_hooks_bring_a_scope_back():
    ch, ids, mm = population(11, n=40)
    det = IndexedDetector(ch)
    r = random.Random(12)
    got = []
    while len(got) < 2:
        got = det.on_marks(move(ch, r, 0.03))
    first, second = got[0], got[1]
    det.discard(first)
    det.discard_many([second.scope])
    assert first.scope not in det.scopes() and second.scope not in det.scopes()
    assert det.scope_of(first.sid) == first.scope
    # nothing was closed in the clearing house: a hook on the account finds it again
    again = det.on_account_changed(first.account_id)
    assert first.scope in {c.scope for c in again} and first.scope in det.scopes()


def test_a_check_returns_columns_read_as_sorted_candidates_and_discarded_as_a_batch():
    """``on_marks`` returns ``Candidates``: columns (scope numbers, exact figures) that read as the
    sorted ``Candidate`` list; the batch can be discarded whole; batch and one-by-one checks agree."""
    ch, ids, mm = population(21, n=60)
    batch, single = IndexedDetector(ch), IndexedDetector(ch)
    single.VECTOR_MIN = 10**9           # every hit checked one by one on the live objects
    r = random.Random(22)
    seen = 0
    for _ in range(60):
        upd = move(ch, r, 0.03)
        got, ref = batch.on_marks(upd), single.on_marks(upd)
        assert got == list(ref) and list(got) == sorted(got)
        assert len(got) == len(got.sids) and sorted(got.sids.tolist()) == sorted(c.sid for c in got)
        assert batch.liquidatable() == single.liquidatable()
        seen += len(got)
        batch.discard_many(got)
        single.discard_many(ref)
        assert not ({c.scope for c in got} & batch.scopes())
    assert seen > 0


def test_an_empty_venue_builds_an_index_and_takes_marks():
    ch = ClearingHouse()
    det = IndexedDetector(ch)
    assert det.on_mark("BTCUSDT", P("60000")) == [] and det.liquidatable() == []
