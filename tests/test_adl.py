"""ADL ranking, queue and quantile (binance-mechanics.md section 8.2)."""
from __future__ import annotations

import random
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from perpsim.core.clearing import ClearingHouse
from perpsim.core.fixed import parse as P
from perpsim.core.ledger import FUTURES
from perpsim.core.liquidation import adl_quantiles, adl_queue, adl_ranking, position_ranking
from perpsim.core.liquidation.adl import INF, population


def test_tv_adl_1_profitable_ranking_is_pnl_times_effective_leverage():
    # notional 100,000, UPNL +5,000, WB 10,000: PnL% 5%, EffLev 100,000/15,000 = 6.667 -> 0.3333
    r = adl_ranking(P("100000"), P("5000"), P("10000") + P("5000"))
    assert r == Fraction(1, 3)
    assert r == Fraction(5, 100) * Fraction(100000, 15000)


def test_tv_adl_2_losing_ranking_is_pnl_over_effective_leverage():
    # UPNL -5,000: PnL% -5%, EffLev 100,000/5,000 = 20 -> -0.0025
    r = adl_ranking(P("100000"), P("-5000"), P("10000") - P("5000"))
    assert r == Fraction(-1, 400)
    assert r == Fraction(-5, 100) / Fraction(100000, 5000)


def test_ranking_edges():
    assert adl_ranking(0, 0, P("1")) == 0
    assert adl_ranking(P("100"), P("1"), 0) == INF           # no equity: infinite leverage
    assert adl_ranking(P("100"), P("-1"), -P("5")) == 0
    assert adl_ranking(-P("100"), P("10"), P("20")) == Fraction(1, 2)   # |notional|


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 10**16), u=st.integers(-10**15, 10**15), mb=st.integers(1, 10**16))
def test_ranking_equals_the_published_product(n, u, mb):
    pnl = Fraction(u, n)
    lev = Fraction(n, mb)
    assert adl_ranking(n, u, mb) == (pnl * lev if u >= 0 else pnl / lev)


def venue():
    """Four longs of 1 BTC (isolated, different margins and entries) against shorts, mark 60,000."""
    ch = ClearingHouse()
    ch.set_mark("BTCUSDT", P("50000"))
    ids = [ch.create_account().id for _ in range(6)]
    for a in ids:
        ch.deposit(a, FUTURES, "USDT", P("1000000"))
    mm = ids[-1]
    for a, lev, entry in ((1, 10, "50000"), (2, 20, "50000"), (3, 10, "55000"), (4, 20, "50000")):
        ch.set_margin_type(a, "BTCUSDT", True)
        ch.set_leverage(a, "BTCUSDT", lev)
        ch.trade(a, mm, "BTCUSDT", P("1"), P(entry), check_margin=False)
    ch.trade(mm, 5, "BTCUSDT", P("0.5"), P("50000"), check_margin=False)   # 5 short 0.5 (cross)
    ch.set_mark("BTCUSDT", P("60000"))
    return ch


def test_queue_orders_by_ranking_then_account_id():
    ch = venue()
    q = adl_queue(ch, "BTCUSDT", "LONG")
    assert [e.account_id for e in q] == [2, 4, 1, 3]
    # 2 and 4 are the same position (same entry, leverage, wallet): tie broken by account id
    assert q[0].ranking == q[1].ranking
    r1 = position_ranking(ch, 1, "BTCUSDT")
    assert r1 == adl_ranking(q[2].notional, q[2].upnl, q[2].margin_balance)
    pos = ch.accounts[1].positions[("BTCUSDT", "BOTH")]
    assert q[2].margin_balance == pos.wallet.balance + q[2].upnl
    assert all(a.ranking >= b.ranking for a, b in zip(q, q[1:]))
    shorts = adl_queue(ch, "BTCUSDT", "SHORT")
    assert sorted(e.account_id for e in shorts) == [5, 6] and all(e.ranking < 0 for e in shorts)
    assert shorts[0].ranking > shorts[1].ranking      # losing: the smaller |PnL% / EffLev| first
    assert adl_queue(ch, "BTCUSDT", "LONG", exclude={2})[0].account_id == 4


def test_cross_effective_leverage_uses_the_account_margin_balance():
    ch = venue()
    e = [x for x in population(ch, "BTCUSDT") if x.account_id == 5][0]
    f = ch.cross_figures(5)
    assert e.margin_balance == f.margin_balance and not e.isolated
    assert e.ranking == adl_ranking(e.notional, e.upnl, f.margin_balance)


def test_quantiles_bucket_by_fifths_of_the_rank():
    ch = venue()
    qs = adl_quantiles(ch)
    # longs ranked ascending: 3, 1, then 2 and 4 tied: ranks 1, 2, 4, 4 of 4 -> lights 1, 2, 4, 4
    assert qs[3]["BTCUSDT"] == {"LONG": 0, "SHORT": 0, "BOTH": 1}
    assert qs[1]["BTCUSDT"]["BOTH"] == 2
    assert qs[2]["BTCUSDT"]["BOTH"] == qs[4]["BTCUSDT"]["BOTH"] == 4
    # shorts: 2 positions, ranks 1 and 2 of 2 -> 2 and 4
    assert sorted((qs[5]["BTCUSDT"]["BOTH"], qs[6]["BTCUSDT"]["BOTH"])) == [2, 4]


def test_quantile_spread_over_many_positions():
    r = random.Random(5)
    ch = ClearingHouse()
    ch.set_mark("ETHUSDT", P("3000"))
    mm = ch.create_account().id
    ch.deposit(mm, FUTURES, "USDT", P("100000000"))
    ids = []
    for _ in range(50):
        a = ch.create_account().id
        ids.append(a)
        ch.deposit(a, FUTURES, "USDT", P(str(r.randint(100, 5000))))
        ch.trade(a, mm, "ETHUSDT", P("0.01") * r.randint(1, 100), P(str(r.randint(2800, 3200))), check_margin=False)
    ch.set_mark("ETHUSDT", P("3100"))
    qs = adl_quantiles(ch, "ETHUSDT")
    lights = [qs[a]["ETHUSDT"]["BOTH"] for a in ids]
    assert sorted(set(lights)) == [0, 1, 2, 3, 4] and lights.count(4) == 10
    order = [e.account_id for e in adl_queue(ch, "ETHUSDT", "LONG")]
    assert [qs[a]["ETHUSDT"]["BOTH"] for a in order] == sorted(lights, reverse=True)


def test_cross_hedge_reports_hedge_and_one_shared_value():
    ch = ClearingHouse()
    ch.set_mark("BTCUSDT", P("60000"))
    a, b, c = (ch.create_account().id for _ in range(3))
    for x in (a, b, c):
        ch.deposit(x, FUTURES, "USDT", P("100000"))
    ch.set_position_mode(a, True)
    ch.trade(a, c, "BTCUSDT", P("1"), P("58000"), buyer_position_side="LONG", check_margin=False)
    ch.trade(c, a, "BTCUSDT", P("0.4"), P("61000"), seller_position_side="SHORT", check_margin=False)
    ch.trade(b, c, "BTCUSDT", P("0.2"), P("59000"), check_margin=False)
    qs = adl_quantiles(ch)
    row = qs[a]["BTCUSDT"]
    assert set(row) == {"LONG", "SHORT", "HEDGE"} and row["HEDGE"] == 0
    assert row["LONG"] == row["SHORT"]
    legs = [e for e in population(ch, "BTCUSDT") if e.account_id == a]
    assert all(e.hedge_cross for e in legs) and legs[0].ranking == legs[1].ranking
    # the shared ranking is the combined position's: UPNL 2,000 + 400 over the cross margin balance
    assert legs[0].ranking == Fraction(P("2400"), ch.cross_figures(a).margin_balance)
    assert "BOTH" in qs[b]["BTCUSDT"] and "HEDGE" not in qs[b]["BTCUSDT"]


def test_isolated_hedge_legs_keep_their_own_values():
    ch = ClearingHouse()
    ch.set_mark("BTCUSDT", P("60000"))
    a, c = ch.create_account().id, ch.create_account().id
    for x in (a, c):
        ch.deposit(x, FUTURES, "USDT", P("100000"))
    ch.set_position_mode(a, True)
    ch.set_margin_type(a, "BTCUSDT", True)
    ch.trade(a, c, "BTCUSDT", P("1"), P("58000"), buyer_position_side="LONG", check_margin=False)
    ch.trade(c, a, "BTCUSDT", P("0.4"), P("61000"), seller_position_side="SHORT", check_margin=False)
    row = adl_quantiles(ch)[a]["BTCUSDT"]
    assert set(row) == {"LONG", "SHORT", "BOTH"} and row["BOTH"] == 0
    legs = {e.position_side: e for e in population(ch, "BTCUSDT") if e.account_id == a}
    assert not legs["LONG"].hedge_cross and legs["LONG"].ranking != legs["SHORT"].ranking
    assert legs["SHORT"].ranking > 0 and legs["LONG"].ranking > 0
