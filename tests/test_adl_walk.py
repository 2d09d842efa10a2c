"""The kept ADL queue the waterfall walks gives exactly ``adl_queue``'s order, whatever changed."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from perpsim.core.clearing import ClearingHouse
from perpsim.core.fixed import parse as P
from perpsim.core.ledger import FUTURES
from perpsim.core.liquidation import adl_queue
from perpsim.core.liquidation.adl_walk import adl_walk

SYMBOLS = ("BTCUSDT", "ETHUSDT")
PRICES = {"BTCUSDT": 50_000, "ETHUSDT": 3_000}


def _key(e):
    return (e.account_id, e.position_side, e.qty, e.notional, e.upnl, e.margin_balance, e.ranking)


def _same(ch, symbol, side, exclude=None):
    want = [_key(e) for e in adl_queue(ch, symbol, side, exclude=exclude)]
    got = [_key(e) for e in adl_walk(ch, symbol, side, exclude=exclude, users_only=False)]
    assert got == want


def _population(rng: random.Random, n: int) -> tuple[ClearingHouse, int]:
    ch = ClearingHouse()
    for s, px in PRICES.items():
        ch.set_mark(s, P(str(px)))
    mm = ch.create_account().id
    ch.deposit(mm, FUTURES, "USDT", P("1000000000"))
    for _ in range(n):
        a = ch.create_account().id
        # wallets from dust to large, so some margin balances sit at or below zero (infinite leverage)
        ch.deposit(a, FUTURES, "USDT", P(str(rng.choice([1, 5, 50, 1000, 20000]))))
        hedge = rng.random() < 0.2
        if hedge:
            ch.set_position_mode(a, True)
        for s in rng.sample(SYMBOLS, rng.choice([1, 1, 2])):
            if rng.random() < 0.4:
                ch.set_margin_type(a, s, True)
            ch.set_leverage(a, s, rng.choice([5, 10, 20]))
            px = PRICES[s] * rng.choice([0.9, 1, 1, 1.1])   # equal entries give equal rankings
            qty = P(str(rng.choice([0.01, 0.1, 0.5]) if s == "BTCUSDT" else rng.choice([0.1, 1, 5])))
            legs = ("LONG", "SHORT") if hedge and rng.random() < 0.5 else (None,)
            for ps in legs:
                buy = ps == "LONG" if ps else rng.random() < 0.5
                side = ps if hedge else None
                if hedge and side is None:
                    side = "LONG" if buy else "SHORT"
                if buy:
                    ch.trade(a, mm, s, qty, P(f"{px:.2f}"), buyer_position_side=side, check_margin=False)
                else:
                    ch.trade(mm, a, s, qty, P(f"{px:.2f}"), seller_position_side=side, check_margin=False)
    return ch, mm


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), steps=st.integers(1, 12))
def test_walk_equals_adl_queue_through_marks_fills_and_transfers(seed, n, steps):
    rng = random.Random(seed)
    ch, mm = _population(rng, n)
    users = [a for a in ch.accounts if a != mm]
    for _ in range(steps):
        for s in SYMBOLS:
            for side in ("LONG", "SHORT"):
                _same(ch, s, side)
        what = rng.random()
        if what < 0.4:            # a new mark (a crash, a rally, or back to an entry price)
            s = rng.choice(SYMBOLS)
            ch.set_mark(s, P(str(round(PRICES[s] * rng.choice([0.7, 0.95, 1, 1.05, 1.3]), 2))))
        elif what < 0.7:          # a walk that closes part of its head, as ADL does
            s, side = rng.choice(SYMBOLS), rng.choice(("LONG", "SHORT"))
            for e in adl_walk(ch, s, side, users_only=False):
                if e.account_id == mm:
                    continue
                q = min(abs(e.qty), P("0.01"))
                ps = e.position_side if e.position_side != "BOTH" else None
                if e.qty > 0:
                    ch.trade(mm, e.account_id, s, q, ch.mark(s), seller_position_side=ps, check_margin=False)
                else:
                    ch.trade(e.account_id, mm, s, q, ch.mark(s), buyer_position_side=ps, check_margin=False)
                if rng.random() < 0.5:
                    break
        elif what < 0.85:         # money in and out of futures wallets
            a = rng.choice(users)
            ch.deposit(a, FUTURES, "USDT", P(str(rng.choice([1, 100, 5000]))))
        else:                     # a new holder
            a = ch.create_account().id
            users.append(a)
            ch.deposit(a, FUTURES, "USDT", P("100"))
            ch.trade(mm, a, "BTCUSDT", P("0.01"), ch.mark("BTCUSDT"), check_margin=False)
    for s in SYMBOLS:
        for side in ("LONG", "SHORT"):
            _same(ch, s, side, exclude={users[0]})


def test_walk_ties_are_broken_by_account_id():
    ch = ClearingHouse()
    ch.set_mark("BTCUSDT", P("50000"))
    mm = ch.create_account().id
    ch.deposit(mm, FUTURES, "USDT", P("10000000"))
    ids = []
    for _ in range(5):
        a = ch.create_account().id
        ids.append(a)
        ch.deposit(a, FUTURES, "USDT", P("1000"))
        ch.set_margin_type(a, "BTCUSDT", True)
        ch.trade(a, mm, "BTCUSDT", P("0.1"), P("50000"), check_margin=False)
    ch.set_mark("BTCUSDT", P("52000"))
    got = [e.account_id for e in adl_walk(ch, "BTCUSDT", "LONG", users_only=False)]
    assert got == ids                      # the same ranking: by account id
    _same(ch, "BTCUSDT", "LONG")
