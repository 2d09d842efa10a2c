"""Property tests: random order flows through Exchange.apply keep the order layer's invariants.

After every command: no book is crossed; for every order filled + open = original; the
indexes, open-order counts and the margin reserved (``Account.order_margin``) equal what is
recomputed from the resting orders (``OrderManager.check``); money is conserved
(``ClearingHouse.is_balanced``). A refused command leaves the clearing state and the order
state unchanged (``Exchange.apply`` still counts it and may move the clock).
"""
from __future__ import annotations

import hashlib
import pickle

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import parse as P
from perpsim.core.events import OrderUpdate

SYM = "BTCUSDT"
BASE = P("60000")
TICK10 = P("10")
ACCOUNTS = (1, 2, 3)

side = st.sampled_from(["BUY", "SELL"])
acct = st.sampled_from(ACCOUNTS)
qty = st.integers(2, 8).map(lambda n: n * P("0.001"))
offset = st.integers(-15, 15)

limit_op = st.tuples(st.just("limit"), acct, side, offset, qty, st.sampled_from(["GTC", "GTC", "IOC", "FOK", "GTX"]),
                     st.sampled_from([False, False, False, True]),
                     st.sampled_from(["NONE", "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]))
market_op = st.tuples(st.just("market"), acct, side, qty, st.sampled_from([False, False, True]))
cancel_op = st.tuples(st.just("cancel"), acct, st.integers(0, 50))
modify_op = st.tuples(st.just("modify"), acct, st.integers(0, 50), offset, qty)
algo_op = st.tuples(st.just("algo"), acct, side,
                    st.sampled_from(["STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT",
                                     "TRAILING_STOP_MARKET"]),
                    offset, qty, st.sampled_from(["CONTRACT_PRICE", "MARK_PRICE"]), st.booleans(), st.booleans())
cancel_algo_op = st.tuples(st.just("cancel_algo"), acct, st.integers(0, 20))
mark_op = st.tuples(st.just("mark"), st.integers(-60, 60))
cancel_all_op = st.tuples(st.just("cancel_all"), acct, st.booleans())
leverage_op = st.tuples(st.just("leverage"), acct, st.sampled_from([1, 5, 20, 50]))
op = st.one_of(limit_op, limit_op, limit_op, limit_op, market_op, market_op, cancel_op, modify_op, modify_op,
               algo_op, cancel_algo_op, mark_op, cancel_all_op, leverage_op)


def fingerprint(ex: Exchange):
    h = hashlib.sha256()
    ex.orders.hash_into(h)
    return ex.clearing.state_hash(), h.hexdigest()


def command(ex: Exchange, o: tuple, hedge: bool) -> Command:
    kind = o[0]
    ids = sorted(ex.orders.orders)
    algo_ids = sorted(ex.orders.algos)

    def ps(a, s, closing=False):
        if not (hedge and a == 3):
            return {}
        opening = "LONG" if s == "BUY" else "SHORT"
        closing_side = "SHORT" if s == "BUY" else "LONG"
        return {"position_side": closing_side if closing else opening}

    if kind == "limit":
        _, a, s, off, q, tif, ro, stp = o
        args = dict(account_id=a, symbol=SYM, side=s, type="LIMIT", quantity=q, price=BASE + off * TICK10,
                    time_in_force=tif, stp_mode=stp, **ps(a, s, ro))
        if ro and "position_side" not in args:
            args["reduce_only"] = True
        return Command("place_order", args)
    if kind == "market":
        _, a, s, q, ro = o
        args = dict(account_id=a, symbol=SYM, side=s, type="MARKET", quantity=q, **ps(a, s, ro))
        if ro and "position_side" not in args:
            args["reduce_only"] = True
        return Command("place_order", args)
    if kind in ("cancel", "modify"):
        # mostly the account's own open orders; an odd index picks any order (closed, or another's)
        mine = [x.order_id for x in ex.orders.open_orders(o[1], SYM)]
        pool = mine if mine and o[2] % 5 else ids
        oid = pool[o[2] % len(pool)] if pool else 1
    if kind == "cancel":
        return Command("cancel_order", dict(account_id=o[1], symbol=SYM, order_id=oid))
    if kind == "modify":
        _, a, i, off, q = o
        known = ex.orders.orders.get(oid)
        return Command("modify_order", dict(account_id=a, symbol=SYM, order_id=oid, side=known.side if known else "BUY",
                                            quantity=q, price=BASE + off * TICK10))
    if kind == "algo":
        _, a, s, t, off, q, wt, flag, close = o
        ref = ex.orders.last_price(SYM) or ex.clearing.mark(SYM)
        args = dict(account_id=a, symbol=SYM, side=s, type=t, working_type=wt, **ps(a, s, close))
        if t == "TRAILING_STOP_MARKET":
            args.update(quantity=q, callback_rate=P("0.5") if flag else P("1"))
        else:
            args.update(trigger_price=ref // TICK10 * TICK10 + off * TICK10, price_protect=flag)
            if t in ("STOP", "TAKE_PROFIT"):
                args.update(price=args["trigger_price"], quantity=q)
            elif close:
                args.update(close_position=True)
            else:
                args.update(quantity=q)
        return Command("place_algo_order", args)
    if kind == "cancel_algo":
        _, a, i = o
        return Command("cancel_algo_order", dict(account_id=a, algo_id=algo_ids[i % len(algo_ids)] if algo_ids else 1))
    if kind == "mark":
        return Command("set_mark", dict(symbol=SYM, price=BASE + o[1] * TICK10))
    if kind == "cancel_all":
        _, a, algos = o
        return Command("cancel_all_algo_orders" if algos else "cancel_all_orders", dict(account_id=a, symbol=SYM))
    if kind == "leverage":
        _, a, lev = o
        return Command("set_leverage", dict(account_id=a, symbol=SYM, leverage=lev))
    raise AssertionError(kind)


def venue(hedge: bool) -> Exchange:
    ex = Exchange()
    for _ in ACCOUNTS:
        assert ex.apply(Command("create_account", {"deposit": {"USDT": P("3000")}})).ok
    if hedge:
        assert ex.apply(Command("set_position_mode", {"account_id": 3, "dual_side": True})).ok
    assert ex.apply(Command("set_mark", {"symbol": SYM, "price": BASE})).ok
    return ex


def run_flow(ops, hedge: bool) -> Exchange:
    ex = venue(hedge)
    t = 1_700_000_000_000
    for o in ops:
        t += 7_000
        cmd = command(ex, o, hedge)._replace(ts=t)
        before = fingerprint(ex)
        r = ex.apply(cmd)
        if r.error is not None:
            assert fingerprint(ex) == before, (cmd, r.error)
            assert r.events == [] or all(not isinstance(e, OrderUpdate) for e in r.events)
        ex.orders.check()                       # uncrossed books, qty conserved, reserve == recomputed
        assert ex.clearing.is_balanced()
    return ex


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=20, max_size=80))
def test_random_flows_one_way(ops):
    run_flow(ops, hedge=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=20, max_size=80))
def test_random_flows_with_a_hedge_account(ops):
    run_flow(ops, hedge=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=5, max_size=40))
def test_replay_and_snapshot_are_deterministic(ops):
    """The same commands give the same state hash; a pickled venue continues identically."""
    a = run_flow(ops[: len(ops) // 2], hedge=False)
    b = pickle.loads(pickle.dumps(a))
    assert a.state_hash() == b.state_hash()
    t = 1_800_000_000_000
    for o in ops[len(ops) // 2:]:
        t += 5_000
        ra = a.apply(command(a, o, False)._replace(ts=t))
        rb = b.apply(command(b, o, False)._replace(ts=t))
        assert (ra.error and ra.error.code) == (rb.error and rb.error.code)
        assert ra.events == rb.events
    assert a.state_hash() == b.state_hash()
