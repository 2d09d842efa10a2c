"""Conditional order triggers: stop/take-profit conditions, trailing stops, priceProtect, -2021."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpsim.core.errors import ILLEGAL_PARAM, VenueError
from perpsim.core.fixed import SCALE
from perpsim.core.triggers import (
    BUY, CONTRACT_PRICE, MARK_PRICE, SELL, STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET,
    TRAILING_STOP_MARKET, AlgoOrder, TriggerBook, protect_ok, would_immediately_trigger,
)

PCT = SCALE // 100          # 1% in fixed.SCALE units


def ids(orders):
    return [o.algo_id for o in orders]


def feed(tb, prices, source=CONTRACT_PRICE):
    """Feed a path where mark == last; return {price index: fired ids}."""
    out = {}
    for i, p in enumerate(prices):
        fired = tb.on_price(source, p, p, p)
        if fired:
            out[i] = ids(fired)
    return out


@pytest.mark.parametrize("otype", [STOP, STOP_MARKET])
def test_stop_conditions(otype):
    tb = TriggerBook()
    tb.register(AlgoOrder(1, 1, BUY, otype, stop_price=105), mark=100, last=100)
    tb.register(AlgoOrder(2, 1, SELL, otype, stop_price=95), mark=100, last=100)
    assert feed(tb, [104, 105]) == {1: [1]}          # BUY fires at price >= stop
    assert feed(tb, [96, 95]) == {1: [2]}            # SELL fires at price <= stop
    assert len(tb) == 0


@pytest.mark.parametrize("otype", [TAKE_PROFIT, TAKE_PROFIT_MARKET])
def test_take_profit_conditions(otype):
    tb = TriggerBook()
    tb.register(AlgoOrder(1, 1, BUY, otype, stop_price=95), mark=100, last=100)
    tb.register(AlgoOrder(2, 1, SELL, otype, stop_price=105), mark=100, last=100)
    assert feed(tb, [96, 95, 100, 104, 106]) == {1: [1], 4: [2]}


def test_several_fire_on_one_update_oldest_first():
    tb = TriggerBook()
    tb.register(AlgoOrder(10, 1, SELL, STOP_MARKET, stop_price=90))
    tb.register(AlgoOrder(11, 1, SELL, STOP_MARKET, stop_price=95))
    tb.register(AlgoOrder(12, 1, BUY, TAKE_PROFIT_MARKET, stop_price=92))
    tb.register(AlgoOrder(13, 1, SELL, STOP_MARKET, stop_price=80))
    fired = tb.on_price(CONTRACT_PRICE, 89, 89, 89)
    assert ids(fired) == [10, 11, 12]
    assert all(o.triggered_at == 89 for o in fired)
    assert ids(tb.orders()) == [13]


def test_mark_vs_contract_price():
    tb = TriggerBook()
    tb.register(AlgoOrder(1, 1, SELL, STOP_MARKET, stop_price=95, working_type=MARK_PRICE))
    tb.register(AlgoOrder(2, 1, SELL, STOP_MARKET, stop_price=95))   # default CONTRACT_PRICE
    assert ids(tb.on_price(CONTRACT_PRICE, 94, 100, 94)) == [2]      # last moved, mark did not
    assert tb.on_price(CONTRACT_PRICE, 90, 100, 90) == []
    assert ids(tb.on_price(MARK_PRICE, 95, 95, 90)) == [1]


def test_cancel_is_honoured():
    tb = TriggerBook()
    tb.register(AlgoOrder(1, 1, SELL, STOP_MARKET, stop_price=95))
    assert tb.cancel(1).algo_id == 1
    assert tb.on_price(CONTRACT_PRICE, 90, 90, 90) == []
    with pytest.raises(VenueError) as e:
        tb.cancel(1)
    assert e.value.code == -2011


def test_would_immediately_trigger_and_2021():
    mk = lambda side, t, **kw: AlgoOrder(1, 1, side, t, **kw)  # noqa: E731
    assert would_immediately_trigger(mk(BUY, STOP_MARKET, stop_price=100), 100, 100)
    assert not would_immediately_trigger(mk(BUY, STOP_MARKET, stop_price=101), 100, 100)
    assert would_immediately_trigger(mk(SELL, STOP, stop_price=100), 100, 100)
    assert would_immediately_trigger(mk(BUY, TAKE_PROFIT, stop_price=100), 100, 100)
    assert not would_immediately_trigger(mk(SELL, TAKE_PROFIT, stop_price=101), 100, 100)
    # working type decides which price is compared
    o = mk(SELL, STOP_MARKET, stop_price=95, working_type=MARK_PRICE)
    assert would_immediately_trigger(o, 94, 100) and not would_immediately_trigger(o, 96, 90)
    # trailing: BUY activation must be below the latest price, SELL above
    assert would_immediately_trigger(mk(BUY, TRAILING_STOP_MARKET, activation_price=100,
                                        callback_rate=PCT), 100, 100)
    assert not would_immediately_trigger(mk(BUY, TRAILING_STOP_MARKET, activation_price=99,
                                            callback_rate=PCT), 100, 100)
    assert would_immediately_trigger(mk(SELL, TRAILING_STOP_MARKET, activation_price=99,
                                        callback_rate=PCT), 100, 100)
    assert not would_immediately_trigger(mk(SELL, TRAILING_STOP_MARKET, callback_rate=PCT),
                                         100, 100)
    tb = TriggerBook()
    with pytest.raises(VenueError) as e:
        tb.register(mk(BUY, STOP_MARKET, stop_price=100), mark=100, last=100)
    assert (e.value.code, e.value.msg) == (-2021, "Order would immediately trigger.")
    assert len(tb) == 0


def test_validation():
    tb = TriggerBook()
    bad = [AlgoOrder(1, 1, BUY, "LIMIT", stop_price=1),
           AlgoOrder(1, 1, BUY, STOP_MARKET),
           AlgoOrder(1, 1, BUY, STOP_MARKET, stop_price=10, working_type="INDEX"),
           AlgoOrder(1, 1, BUY, TRAILING_STOP_MARKET, callback_rate=SCALE // 10000,
                     activation_price=5),
           AlgoOrder(1, 1, BUY, TRAILING_STOP_MARKET, callback_rate=6 * PCT,
                     activation_price=5),
           AlgoOrder(1, 1, BUY, TRAILING_STOP_MARKET, callback_rate=PCT)]   # no price at all
    for o in bad:
        with pytest.raises(VenueError) as e:
            tb.register(o)
        assert e.value.code == ILLEGAL_PARAM
    tb.register(AlgoOrder(1, 1, BUY, TRAILING_STOP_MARKET, callback_rate=SCALE // 1000,
                          activation_price=5))
    tb.register(AlgoOrder(2, 1, BUY, TRAILING_STOP_MARKET, callback_rate=5 * PCT,
                          activation_price=5))
    with pytest.raises(VenueError):
        tb.register(AlgoOrder(2, 1, BUY, STOP_MARKET, stop_price=10))


# --- trailing stops -----------------------------------------------------------------------

def test_trailing_sell_follows_the_high():
    tb = TriggerBook()
    o = tb.register(AlgoOrder(1, 1, SELL, TRAILING_STOP_MARKET, callback_rate=2 * PCT),
                    mark=1000, last=1000)
    assert o.active and o.extreme == 1000
    # 1000 * 0.98 = 980: 981 holds; then the high moves to 1100 -> threshold 1078
    assert feed(tb, [990, 981, 1050, 1100, 1079]) == {}
    assert o.extreme == 1100
    assert feed(tb, [1078]) == {0: [1]}
    assert o.triggered_at == 1078


def test_trailing_buy_follows_the_low_after_activation():
    tb = TriggerBook()
    o = tb.register(AlgoOrder(1, 1, BUY, TRAILING_STOP_MARKET, callback_rate=PCT,
                              activation_price=900), mark=1000, last=1000)
    assert not o.active
    # far below activation nothing is tracked; 950 * 1.01 = 959.5 would fire if it were
    assert feed(tb, [950, 960, 1000]) == {}
    assert feed(tb, [900]) == {} and o.active and o.extreme == 900
    assert feed(tb, [880, 888]) == {}          # low 880 -> threshold 888.8
    assert o.extreme == 880
    assert feed(tb, [889]) == {0: [1]}


def test_trailing_sell_with_activation_price():
    tb = TriggerBook()
    o = tb.register(AlgoOrder(1, 1, SELL, TRAILING_STOP_MARKET, callback_rate=5 * PCT,
                              activation_price=110), mark=100, last=100)
    assert feed(tb, [90, 80, 109]) == {}       # a -20% move before activation does nothing
    assert feed(tb, [120, 115]) == {} and o.extreme == 120
    assert feed(tb, [114]) == {0: [1]}         # 120 * 0.95 = 114


def test_trailing_cohorts_fire_by_callback():
    tb = TriggerBook()
    for i, cb in enumerate([5 * PCT, PCT, 3 * PCT], start=1):
        tb.register(AlgoOrder(i, 1, SELL, TRAILING_STOP_MARKET, callback_rate=cb),
                    mark=100, last=100)
    tb.register(AlgoOrder(4, 1, SELL, TRAILING_STOP_MARKET, callback_rate=PCT),
                mark=100, last=105)          # CONTRACT_PRICE: starts at 105
    assert feed(tb, [200]) == {}
    assert feed(tb, [198, 194, 190]) == {0: [2, 4], 1: [3], 2: [1]}


def test_price_protect_holds_then_fires():
    tb = TriggerBook(trigger_protect=5 * PCT)
    tb.register(AlgoOrder(1, 1, SELL, STOP_MARKET, stop_price=95, price_protect=True))
    tb.register(AlgoOrder(2, 1, SELL, STOP_MARKET, stop_price=95))
    # last 90 vs mark 100: 10% apart > 5%: the protected order waits
    assert ids(tb.on_price(CONTRACT_PRICE, 90, 100, 90)) == [2]
    assert ids(tb.on_price(CONTRACT_PRICE, 94, 100, 94)) == []     # 6% apart, still held
    assert ids(tb.on_price(CONTRACT_PRICE, 95, 100, 95)) == [1]    # exactly 5%: allowed
    assert protect_ok(100, 95, 5 * PCT) and not protect_ok(100, 106, 5 * PCT)
    assert protect_ok(100, 1, None)


def test_price_protect_on_trailing():
    tb = TriggerBook(trigger_protect=PCT)
    tb.register(AlgoOrder(1, 1, SELL, TRAILING_STOP_MARKET, callback_rate=PCT,
                          price_protect=True), mark=100, last=100)
    assert tb.on_price(CONTRACT_PRICE, 90, 100, 90) == []          # mark/last 10% apart
    assert len(tb) == 1
    assert ids(tb.on_price(CONTRACT_PRICE, 90, 90, 90)) == [1]


def test_cancel_churn_keeps_heaps_small():
    tb = TriggerBook()
    for i in range(1, 3000):
        tb.register(AlgoOrder(i, 1, SELL, STOP_MARKET, stop_price=1 + i % 50))
        tb.cancel(i)
    ix = tb._idx[CONTRACT_PRICE]
    assert len(ix.down) < 200
    tb.register(AlgoOrder(5000, 1, SELL, TRAILING_STOP_MARKET, callback_rate=PCT),
                mark=100, last=100)
    tb.on_price(CONTRACT_PRICE, 120, 120, 120)
    for i in range(1, 300):
        tb.register(AlgoOrder(i, 1, BUY, STOP_MARKET, stop_price=200 + i))
        tb.cancel(i)
    assert tb.get(5000).extreme == 120          # a rebuild keeps trailing state
    assert ids(tb.on_price(CONTRACT_PRICE, 118, 118, 118)) == [5000]


# --- oracle: the index agrees with a brute-force scan ---------------------------------------

class Oracle:
    """Brute force over every pending order on every update."""

    def __init__(self):
        self.orders = {}
        self.state = {}   # algo_id -> extreme or None

    def register(self, o, price):
        self.orders[o.algo_id] = o
        if o.order_type == TRAILING_STOP_MARKET:
            self.state[o.algo_id] = price if o.activation_price is None else None

    def on_price(self, source, p, mark, last, tp):
        fired = []
        ok = tp is None or abs(mark - last) * SCALE <= tp * mark
        for aid, o in sorted(self.orders.items(), key=lambda kv: kv[1].seq):
            if o.working_type != source:
                continue
            if o.order_type == TRAILING_STOP_MARKET:
                ext = self.state[aid]
                if ext is None:
                    act = o.activation_price
                    if (o.side == SELL and p >= act) or (o.side == BUY and p <= act):
                        self.state[aid] = p
                    continue
                ext = max(ext, p) if o.side == SELL else min(ext, p)
                self.state[aid] = ext
                cb = o.callback_rate
                hit = (p * SCALE <= ext * (SCALE - cb) if o.side == SELL
                       else p * SCALE >= ext * (SCALE + cb))
            elif (o.side == BUY) == (o.order_type in (STOP, STOP_MARKET)):
                hit = p >= o.stop_price
            else:
                hit = p <= o.stop_price
            if hit and (ok or not o.price_protect):
                fired.append(aid)
        for aid in fired:
            del self.orders[aid]
        return fired


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 120))
def test_index_matches_brute_force(seed, steps):
    rng = random.Random(seed)
    tb = TriggerBook(trigger_protect=rng.choice((None, 2 * PCT)))
    oracle = Oracle()
    mark = last = 1000
    next_id = 1
    for _ in range(steps):
        u = rng.random()
        if u < 0.3:
            otype = rng.choice((STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET,
                                TRAILING_STOP_MARKET))
            wt = rng.choice((MARK_PRICE, CONTRACT_PRICE))
            o = AlgoOrder(next_id, 1, rng.choice((BUY, SELL)), otype, working_type=wt,
                          price_protect=rng.random() < 0.3)
            if otype == TRAILING_STOP_MARKET:
                o.callback_rate = rng.randint(1, 50) * SCALE // 1000
                if rng.random() < 0.5:
                    o.activation_price = 1000 + rng.randint(-60, 60)
            else:
                o.stop_price = 1000 + rng.randint(-60, 60)
            try:
                tb.register(o, mark=mark, last=last)
            except VenueError as e:
                assert e.code == -2021 and would_immediately_trigger(o, mark, last)
                continue
            oracle.register(o, mark if wt == MARK_PRICE else last)
            next_id += 1
        elif u < 0.4 and oracle.orders:
            aid = rng.choice(sorted(oracle.orders))
            tb.cancel(aid)
            del oracle.orders[aid]
        else:
            if rng.random() < 0.5:
                mark = max(1, mark + rng.randint(-25, 25))
                source, p = MARK_PRICE, mark
            else:
                last = max(1, last + rng.randint(-25, 25))
                source, p = CONTRACT_PRICE, last
            if rng.random() < 0.05:         # a journal snapshot must not change anything
                tb = TriggerBook.from_state(json.loads(json.dumps(tb.to_state())))
            got = ids(tb.on_price(source, p, mark, last))
            want = oracle.on_price(source, p, mark, last, tb.trigger_protect)
            assert got == want
    assert sorted(o.algo_id for o in tb.orders()) == sorted(oracle.orders)
