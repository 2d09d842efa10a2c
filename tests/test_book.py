"""The order book: TIF, market orders, STP, cancel/modify, depth ids, and random flows."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpsim.core.book import (
    BUY, EXPIRE_BOTH, EXPIRE_MAKER, EXPIRE_TAKER, FOK, GTC, GTX, IOC, NO_NEED_TO_MODIFY,
    NO_SUCH_ORDER, POST_ONLY_REJECTED, SELL, STP_NONE, UNKNOWN_ORDER, DepthDiff, Fill,
    OrderBook, OrderCanceled, OrderExpired, OrderModified, OrderRejected, OrderRested,
)
from perpsim.core.errors import ILLEGAL_PARAM, VenueError


def fills(events):
    return [e for e in events if isinstance(e, Fill)]


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def book_with(*orders):
    """orders: (id, owner, side, qty, price)."""
    b = OrderBook("BTCUSDT")
    for oid, owner, side, qty, price in orders:
        b.place(oid, owner, side, qty, price)
    return b


# --- limit orders and time in force -----------------------------------------------------------

def test_gtc_rests_and_is_visible():
    b = OrderBook()
    ev = b.place(1, 7, BUY, 5, 100)
    assert ev == [OrderRested(1, 7, BUY, 100, 5)]
    assert b.best_bid() == 100 and b.best_ask() is None
    info = b.get(1)
    assert (info.qty, info.filled, info.remaining, info.owner) == (5, 0, 5, 7)
    assert b.snapshot().bids == [(100, 5)]


def test_partial_fill_then_rest_at_maker_price():
    b = book_with((1, 1, SELL, 3, 101), (2, 1, SELL, 4, 102))
    ev = b.place(3, 2, BUY, 10, 105)
    f = fills(ev)
    assert [(x.price, x.qty, x.maker_id, x.maker_remaining, x.taker_remaining) for x in f] == [
        (101, 3, 1, 0, 7), (102, 4, 2, 0, 3)]
    assert ev[-1] == OrderRested(3, 2, BUY, 105, 3)
    assert b.best_bid() == 105 and b.best_ask() is None
    assert [x.trade_id for x in f] == [1, 2]
    b.check()


def test_price_time_priority():
    b = book_with((1, 1, SELL, 2, 100), (2, 2, SELL, 2, 100), (3, 3, SELL, 2, 99))
    f = fills(b.place(4, 9, BUY, 5, 100))
    assert [(x.maker_id, x.price, x.qty) for x in f] == [(3, 99, 2), (1, 100, 2), (2, 100, 1)]
    assert b.get(2).remaining == 1 and b.get(2).filled == 1
    b.check()


def test_ioc_fills_what_it_can_and_expires_the_rest():
    b = book_with((1, 1, SELL, 3, 100))
    ev = b.place(2, 2, BUY, 5, 100, IOC)
    assert [x.qty for x in fills(ev)] == [3]
    assert ev[-1] == OrderExpired(2, 2, 2, "IOC")
    assert len(b) == 0 and b.best_bid() is None


def test_ioc_without_liquidity_changes_nothing():
    b = book_with((1, 1, SELL, 3, 101))
    u = b.update_id
    assert b.place(2, 2, BUY, 5, 100, IOC) == [OrderExpired(2, 2, 5, "IOC")]
    assert b.update_id == u


def test_fok_all_or_nothing():
    b = book_with((1, 1, SELL, 3, 100), (2, 1, SELL, 3, 101), (3, 1, SELL, 3, 103))
    u = b.update_id
    # 7 wanted up to 102: only 6 available -> expires, nothing trades
    assert b.place(4, 2, BUY, 7, 102, FOK) == [OrderExpired(4, 2, 7, "FOK")]
    assert b.update_id == u and len(b) == 3
    # 6 up to 102: fills completely across two levels
    ev = b.place(5, 2, BUY, 6, 102, FOK)
    assert sum(x.qty for x in fills(ev)) == 6 and not of(ev, OrderExpired)
    assert b.best_ask() == 103
    b.check()


def test_gtx_rejected_if_it_would_take():
    b = book_with((1, 1, SELL, 3, 100))
    u = b.update_id
    ev = b.place(2, 2, BUY, 1, 100, GTX)
    assert len(ev) == 1 and isinstance(ev[0], OrderRejected)
    assert ev[0].code == POST_ONLY_REJECTED == -5022
    assert ev[0].to_error().code == -5022
    assert b.update_id == u and 2 not in b
    assert b.place(3, 2, BUY, 1, 99, GTX) == [OrderRested(3, 2, BUY, 99, 1)]
    assert b.would_take(BUY, 100) and not b.would_take(BUY, 99)


def test_invalid_input_raises_and_changes_nothing():
    b = book_with((1, 1, SELL, 3, 100))
    u = b.update_id
    for args in [(2, 1, BUY, 0, 100), (2, 1, BUY, 5, -1), (2, 1, BUY, 5, 100.0),
                 (1, 1, BUY, 5, 99), (2, 1, 0, 5, 99), (2, 1, BUY, 1.5, 99),
                 (2, 1, BUY, 5, 99, "GTC"), (2, 1, BUY, 5, 99, 7), (2, 1, BUY, 5, 99, GTC, 9),
                 (2, 1, BUY, 5, None, GTC, STP_NONE, False, 0)]:
        with pytest.raises(VenueError) as e:
            b.place(*args)
        assert e.value.code == ILLEGAL_PARAM
    assert b.update_id == u and len(b) == 1


# --- market orders ------------------------------------------------------------------------

def test_market_sweeps_levels_and_expires_remainder():
    b = book_with((1, 1, SELL, 2, 100), (2, 1, SELL, 2, 105), (3, 1, SELL, 2, 120))
    ev = b.place(4, 2, BUY, 10)
    assert [(x.price, x.qty) for x in fills(ev)] == [(100, 2), (105, 2), (120, 2)]
    assert ev[-1] == OrderExpired(4, 2, 4, "MARKET")
    assert len(b) == 0


def test_market_sell_fully_filled_has_no_expiry():
    b = book_with((1, 1, BUY, 5, 100), (2, 1, BUY, 5, 99))
    ev = b.place(3, 2, SELL, 7)
    assert [(x.price, x.qty) for x in fills(ev)] == [(100, 5), (99, 2)]
    assert not of(ev, OrderExpired) and b.get(2).remaining == 3


def test_market_protection_bound():
    b = book_with((1, 1, SELL, 2, 100), (2, 1, SELL, 2, 104), (3, 1, SELL, 2, 106))
    ev = b.place(4, 2, BUY, 10, bound=105)
    assert [(x.price, x.qty) for x in fills(ev)] == [(100, 2), (104, 2)]
    assert ev[-1] == OrderExpired(4, 2, 6, "BOUND")
    assert b.best_ask() == 106
    b2 = book_with((1, 1, BUY, 2, 100), (2, 1, BUY, 2, 96))
    ev = b2.place(3, 2, SELL, 3, bound=97)
    assert [(x.price, x.qty) for x in fills(ev)] == [(100, 2)]
    assert ev[-1] == OrderExpired(3, 2, 1, "BOUND")


# --- cancel and modify --------------------------------------------------------------------

def test_cancel():
    b = book_with((1, 1, BUY, 2, 100), (2, 1, BUY, 3, 100))
    assert b.cancel(1) == [OrderCanceled(1, 1, 2, "USER")]
    assert b.depth(BUY, 100) == 3 and 1 not in b
    with pytest.raises(VenueError) as e:
        b.cancel(1)
    assert e.value.code == UNKNOWN_ORDER == -2011
    f = fills(b.place(3, 2, SELL, 3, 100))
    assert [x.maker_id for x in f] == [2]   # the canceled order is skipped
    b.check()


def test_cancel_all_of_an_owner():
    b = book_with((1, 1, BUY, 2, 100), (2, 2, BUY, 3, 100), (3, 1, SELL, 1, 110))
    ev = b.cancel_all(1)
    assert [e.order_id for e in ev] == [1, 3]
    assert [o.order_id for o in b.orders()] == [2]


def test_modify_loses_priority_even_on_qty_decrease():
    b = book_with((1, 1, SELL, 5, 100), (2, 2, SELL, 5, 100))
    ev = b.modify(1, 100, 4)
    assert ev[0] == OrderModified(1, 1, 100, 100, 4, 4)
    assert ev[-1] == OrderRested(1, 1, SELL, 100, 4)
    f = fills(b.place(3, 3, BUY, 6, 100))
    assert [(x.maker_id, x.qty) for x in f] == [(2, 5), (1, 1)]
    b.check()


def test_modify_price_moves_level_and_may_trade():
    b = book_with((1, 1, SELL, 5, 105), (2, 2, BUY, 3, 100))
    ev = b.modify(1, 100, 5)       # now crosses the bid: trades as a taker at 100
    assert isinstance(ev[0], OrderModified)
    assert [(x.price, x.qty, x.taker_id) for x in fills(ev)] == [(100, 3, 1)]
    assert ev[-1] == OrderRested(1, 1, SELL, 100, 2)
    assert b.get(1).filled == 3 and b.get(1).qty == 5
    assert b.snapshot().asks == [(100, 2)] and b.snapshot().bids == []
    b.check()


def test_modify_qty_not_above_executed_cancels():
    b = book_with((1, 1, SELL, 5, 100))
    b.place(2, 2, BUY, 3, 100)
    assert b.get(1).filled == 3
    assert b.modify(1, 100, 3) == [OrderCanceled(1, 1, 2, "MODIFY")]
    assert 1 not in b


def test_modify_gtx_that_would_take_is_canceled():
    b = book_with((1, 1, SELL, 5, 100))
    b.place(2, 2, BUY, 3, 98, GTX)
    assert b.modify(2, 100, 3) == [OrderCanceled(2, 2, 3, "MODIFY")]
    assert b.modify(1, 101, 5)[-1] == OrderRested(1, 1, SELL, 101, 5)


def test_modify_errors():
    b = book_with((1, 1, SELL, 5, 100))
    with pytest.raises(VenueError) as e:
        b.modify(9, 100, 5)
    assert e.value.code == NO_SUCH_ORDER == -2013
    with pytest.raises(VenueError) as e:
        b.modify(1, 100, 5)
    assert e.value.code == NO_NEED_TO_MODIFY == -5027


def test_modify_keeps_stp_mode():
    b = OrderBook()
    b.place(1, 1, SELL, 5, 100)
    b.place(2, 1, BUY, 5, 99, GTC, EXPIRE_TAKER)
    ev = b.modify(2, 100, 5)
    assert not fills(ev) and ev[-1] == OrderExpired(2, 1, 5, "STP")
    assert 2 not in b and b.get(1).remaining == 5
    b.check()


# --- self-trade prevention ----------------------------------------------------------------

def stp_book():
    # asks: 100 own (owner 1), 100 other, 101 other
    return book_with((1, 1, SELL, 2, 100), (2, 2, SELL, 2, 100), (3, 2, SELL, 2, 101))


def test_stp_none_trades_with_self():
    b = stp_book()
    f = fills(b.place(4, 1, BUY, 3, 101, GTC, STP_NONE))
    assert [(x.maker_id, x.maker_owner, x.taker_owner) for x in f] == [(1, 1, 1), (2, 2, 1)]


def test_stp_expire_taker():
    b = stp_book()
    ev = b.place(4, 1, BUY, 3, 101, GTC, EXPIRE_TAKER)
    assert ev == [OrderExpired(4, 1, 3, "STP")]
    assert b.get(1).remaining == 2 and 4 not in b
    b.check()


def test_stp_expire_taker_after_partial_fill():
    b = book_with((1, 2, SELL, 2, 100), (2, 1, SELL, 2, 101))
    ev = b.place(3, 1, BUY, 5, 102, GTC, EXPIRE_TAKER)
    assert [x.maker_id for x in fills(ev)] == [1]
    assert ev[-1] == OrderExpired(3, 1, 3, "STP") and 2 in b
    b.check()


def test_stp_expire_maker_continues_matching():
    b = stp_book()
    ev = b.place(4, 1, BUY, 3, 101, GTC, EXPIRE_MAKER)
    assert ev[0] == OrderExpired(1, 1, 2, "STP")
    assert [(x.maker_id, x.qty) for x in fills(ev)] == [(2, 2), (3, 1)]
    assert 1 not in b and b.get(3).remaining == 1
    b.check()


def test_stp_expire_both():
    b = stp_book()
    ev = b.place(4, 1, BUY, 3, 101, GTC, EXPIRE_BOTH)
    assert ev == [OrderExpired(1, 1, 2, "STP"), OrderExpired(4, 1, 3, "STP")]
    assert 1 not in b and 4 not in b and b.get(2).remaining == 2
    b.check()


def test_fok_counts_only_liquidity_its_stp_mode_can_take():
    b = stp_book()
    assert b.place(4, 1, BUY, 3, 100, FOK, EXPIRE_TAKER) == [OrderExpired(4, 1, 3, "FOK")]
    assert b.place(5, 1, BUY, 3, 100, FOK, EXPIRE_MAKER) == [OrderExpired(5, 1, 3, "FOK")]
    assert len(b) == 3
    ev = b.place(6, 1, BUY, 4, 101, FOK, EXPIRE_MAKER)
    assert sum(x.qty for x in fills(ev)) == 4
    assert b.fillable(BUY, 10) == 0


# --- depth ids ----------------------------------------------------------------------------

def test_update_ids_and_diffs():
    b = OrderBook(update_id=1000)
    b.place(1, 1, BUY, 2, 100)
    d1 = b.drain_depth()
    assert d1 == DepthDiff(1001, 1001, 1000, {100: 2}, {})
    assert b.drain_depth() is None
    b.place(2, 1, SELL, 2, 101)
    b.place(3, 2, SELL, 2, 100)        # fills the bid: bid level removed
    d2 = b.drain_depth()
    assert (d2.U, d2.u, d2.pu) == (1002, 1003, 1001)
    assert d2.bids == {100: 0} and d2.asks == {101: 2}
    snap = b.snapshot()
    assert snap.last_update_id == 1003 and snap.asks == [(101, 2)] and snap.bids == []


def test_snapshot_limit_orders_levels_best_first():
    b = book_with(*[(i, 1, BUY, 1, 90 + i) for i in range(1, 6)],
                  *[(10 + i, 1, SELL, 1, 100 + i) for i in range(1, 6)])
    s = b.snapshot(3)
    assert s.bids == [(95, 1), (94, 1), (93, 1)]
    assert s.asks == [(101, 1), (102, 1), (103, 1)]


# --- random flows -------------------------------------------------------------------------

class Mirror:
    """A depth client that follows binance-api.md 5.3: snapshot, then buffered diffs."""

    def __init__(self, snap):
        self.L = snap.last_update_id
        self.bids = dict(snap.bids)
        self.asks = dict(snap.asks)
        self.prev_u = None

    def apply(self, d):
        if self.prev_u is None:
            if d.u < self.L:
                return False
            assert d.U <= self.L <= d.u or d.pu == self.L, (d, self.L)
        else:
            assert d.pu == self.prev_u, "gap in the diff stream"
        for side, levels in ((self.bids, d.bids), (self.asks, d.asks)):
            for p, q in levels.items():
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        self.prev_u = d.u
        return True

    def levels(self):
        return (sorted(self.bids.items(), reverse=True), sorted(self.asks.items()))


def random_flow(rng: random.Random, n: int, n_owners: int = 3):
    """Commands for run_flow: place (limit/market), cancel, modify, with all TIF/STP modes."""
    cmds = []
    for oid in range(1, n + 1):
        u = rng.random()
        if u < 0.15:
            cmds.append(("cancel", rng.randint(max(1, oid - 15), oid)))
        elif u < 0.25:
            cmds.append(("modify", rng.randint(max(1, oid - 15), oid), 95 + rng.randint(0, 10),
                         rng.randint(1, 8)))
        else:
            side = rng.choice((BUY, SELL))
            qty = rng.randint(1, 8)
            owner = rng.randint(1, n_owners)
            stp = rng.choice((STP_NONE, STP_NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH))
            if u < 0.30:
                bound = rng.choice((None, 95 + rng.randint(0, 10)))
                cmds.append(("market", oid, owner, side, qty, stp, bound))
            else:
                tif = rng.choice((GTC, GTC, GTC, IOC, FOK, GTX))
                cmds.append(("limit", oid, owner, side, qty, 95 + rng.randint(0, 10), tif, stp))
    return cmds


def apply_cmd(book, cmd) -> list:
    """One command of ``random_flow`` on ``book``: its events (a refusal raises VenueError)."""
    if cmd[0] == "limit":
        return book.place(*cmd[1:])
    if cmd[0] == "market":
        _, oid, owner, side, qty, stp, bound = cmd
        return book.place(oid, owner, side, qty, None, GTC, stp, bound=bound)
    if cmd[0] == "cancel":
        return book.cancel(cmd[1])
    return book.modify(*cmd[1:])


def run_flow(cmds, drain_every: int = 1, snap_at: int | None = None):
    """Apply commands, checking invariants after each; return (book, ledger, diffs, snap)."""
    b = OrderBook("X", update_id=50)
    orig: dict[int, int] = {}
    done: dict[int, int] = {}       # filled + canceled + expired per order
    diffs = []
    snap = None
    before = b.snapshot()
    for i, cmd in enumerate(cmds):
        try:
            if cmd[0] == "limit":
                _, oid, owner, side, qty, price, tif, stp = cmd
                ev = b.place(oid, owner, side, qty, price, tif, stp)
                if not isinstance(ev[0], OrderRejected):
                    orig[oid] = qty
            elif cmd[0] == "market":
                _, oid, owner, side, qty, stp, bound = cmd
                ev = b.place(oid, owner, side, qty, None, GTC, stp, bound=bound)
                orig[oid] = qty
            elif cmd[0] == "cancel":
                ev = b.cancel(cmd[1])
            else:
                ev = b.modify(cmd[1], cmd[2], cmd[3])
        except VenueError as e:
            assert e.code in (UNKNOWN_ORDER, NO_SUCH_ORDER, NO_NEED_TO_MODIFY)
            ev = []
        touched = {cmd[1]}
        for e in ev:
            if isinstance(e, Fill):
                assert e.qty > 0
                done[e.maker_id] = done.get(e.maker_id, 0) + e.qty
                done[e.taker_id] = done.get(e.taker_id, 0) + e.qty
                touched.add(e.maker_id)
            elif isinstance(e, (OrderExpired, OrderCanceled)):
                done[e.order_id] = done.get(e.order_id, 0) + e.remaining
                touched.add(e.order_id)
            elif isinstance(e, OrderModified):
                orig[e.order_id] = e.qty
        b.check()                                   # includes: never crossed
        check_conserved(b, orig, done, touched)
        after = b.snapshot()                        # the update id moves iff levels changed
        if after.last_update_id == before.last_update_id:
            assert (after.bids, after.asks) == (before.bids, before.asks), cmd
        else:
            assert after.last_update_id == before.last_update_id + 1
        before = after
        if snap_at == i:
            snap = b.snapshot()
        if i % drain_every == 0:
            d = b.drain_depth()
            if d is not None:
                diffs.append((d, b.snapshot()))
    d = b.drain_depth()
    if d is not None:
        diffs.append((d, b.snapshot()))
    check_conserved(b, orig, done, orig)
    return b, diffs, snap


def check_conserved(b, orig, done, ids):
    """Per order: original qty = filled + canceled/expired + still open."""
    for oid in ids:
        if oid not in orig:
            continue
        info = b.get(oid)
        assert orig[oid] == done.get(oid, 0) + (info.remaining if info else 0), oid
        if info:
            assert info.filled + info.remaining == info.qty


def check_rebuild(b, diffs, snap):
    m = Mirror(snap)
    for d, truth in diffs:
        if m.apply(d):
            assert m.levels() == (truth.bids, truth.asks)
    final = b.snapshot()
    assert m.levels() == (final.bids, final.asks)


def test_random_flow_snapshot_plus_diffs_rebuilds_the_book():
    rng = random.Random(7)
    cmds = random_flow(rng, 3000)
    for drain_every in (1, 7):
        for snap_at in (0, 1234, 2999):
            b, diffs, snap = run_flow(cmds, drain_every, snap_at)
            check_rebuild(b, diffs, snap)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 250), drain_every=st.integers(1, 5),
       snap_frac=st.floats(0, 1), owners=st.integers(1, 4))
def test_property_random_flows(seed, n, drain_every, snap_frac, owners):
    cmds = random_flow(random.Random(seed), n, owners)
    snap_at = int(snap_frac * (n - 1))
    b, diffs, snap = run_flow(cmds, drain_every, snap_at)
    check_rebuild(b, diffs, snap)


def test_heaps_stay_bounded_under_cancel_churn():
    b = OrderBook()
    for i in range(1, 5000):
        b.place(i, 1, BUY, 1, 100 - (i % 50))
        b.cancel(i)
    assert len(b._bheap) < 200 and not b._bids
    b.check()


def test_no_update_id_without_a_level_change():
    b = book_with((1, 1, SELL, 2, 100))
    b.drain_depth()
    u = b.update_id
    assert b.place(2, 1, BUY, 1, 100, GTC, EXPIRE_TAKER) == [OrderExpired(2, 1, 1, "STP")]
    assert b.place(3, 2, BUY, 1, 99, FOK) == [OrderExpired(3, 2, 1, "FOK")]
    assert b.place(4, 2, SELL, 1) == [OrderExpired(4, 2, 1, "MARKET")]
    assert b.update_id == u and b.drain_depth() is None


def test_state_round_trip_continues_identically():
    import json

    cmds = random_flow(random.Random(11), 1200)
    head, tail = cmds[:700], cmds[700:]
    b, _, _ = run_flow(head, drain_every=10**9)      # leaves depth changes pending
    b2 = OrderBook.from_state(json.loads(json.dumps(b.to_state())))
    b2.check()
    assert b2.to_state() == b.to_state()
    for cmd in tail:
        out = []
        for book in (b, b2):
            try:
                ev = apply_cmd(book, cmd)
            except VenueError as e:
                ev = e.code
            out.append(ev)
        assert out[0] == out[1]
    assert b.drain_depth() == b2.drain_depth()
    assert b.snapshot() == b2.snapshot()


def test_rest_after_meeting_only_a_stale_level_bumps_the_update_id():
    b = book_with((1, 1, SELL, 2, 100), (2, 1, SELL, 2, 103))
    b.cancel(1)                      # level 100 gone, its heap key stays (lazily)
    b.drain_depth()
    u = b.update_id
    assert b.place(3, 2, BUY, 1, 101) == [OrderRested(3, 2, BUY, 101, 1)]
    assert b.update_id == u + 1
    assert b.drain_depth() == DepthDiff(u + 1, u + 1, u, {101: 1}, {})


# --- compiled (setup.py) or not, the same book ----------------------------------------------------

def plain_book_module():
    """book.py loaded as plain Python under another name, beside whichever perpsim.core.book is."""
    import importlib.util
    from pathlib import Path

    import perpsim.core.book as B

    spec = importlib.util.spec_from_file_location("book_as_plain_python",
                                                  Path(B.__file__).with_name("book.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert not mod.COMPILED
    return mod


def replay(book, cmds):
    """Every command's events (as type name + fields) or error code, then the final state."""
    out = []
    for cmd in cmds:
        try:
            ev = apply_cmd(book, cmd)
            out.append([(type(e).__name__, tuple(e)) for e in ev])
        except VenueError as e:
            out.append(e.code)
        d = book.drain_depth()
        out.append(None if d is None else tuple(d))
    return out, book.to_state(), book.__getstate__()


def test_compiled_and_plain_python_books_agree():
    plain = plain_book_module()
    for seed in (1, 2, 3):
        cmds = random_flow(random.Random(seed), 2000, 3)
        assert replay(OrderBook("X", 9, 4), cmds) == replay(plain.OrderBook("X", 9, 4), cmds)
    with pytest.raises(VenueError):                  # bad input: the same error, not a TypeError
        OrderBook().place(1, 1, BUY, 1.5, 100)
    with pytest.raises(VenueError):
        OrderBook().place(1, 1, "BUY", 1, 100)


def test_pickles_are_the_slotted_default_compiled_or_not():
    import copyreg
    import pickle

    b = book_with((1, 1, SELL, 2, 100), (2, 2, BUY, 1, 99))
    func, args, state = b.__reduce_ex__(pickle.HIGHEST_PROTOCOL)[:3]
    assert func is copyreg.__newobj__ and args == (OrderBook,)
    assert state == (None, {name: getattr(b, name) for name in OrderBook.__slots__})
    b2 = pickle.loads(pickle.dumps(b))
    b2.check()
    assert b2.to_state() == b.to_state()
