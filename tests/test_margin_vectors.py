"""Binance's worked examples and the derived vectors of binance-mechanics.md section 14, to 0.01."""
import datetime as dt

import pytest

from perpsim.core.fixed import fmt, mul, parse
from perpsim.core.instruments import default_instruments
from perpsim.core.margin import (Leg, bankruptcy_price, cost_to_open, initial_margin, liquidation_price, margin_ratio,
                                 notional, pinned_table, price_move_to_liquidation, unrealized_pnl)

P = parse
BTC = default_instruments()["BTCUSDT"]
BTC_2026 = BTC.brackets_at(dt.date(2026, 3, 5))


def leg(qty, entry, table):
    q = P(qty)
    return Leg(q, mul(q, P(entry)), table)


def cents(units):
    return fmt(units, 2)


def test_tv_mm_6_7():
    n = notional(P("109.488"), P("31967.27"))
    assert n == P("3500032.45776")
    assert mul(n, P("0.025")) - P("16300") == P("71200.811444")
    n = notional(P("3683.979"), P("1335.18"))
    assert n == P("4918775.08122")
    assert cents(mul(n, P("0.10")) - P("135365")) == "356512.51"


def test_tv_upnl_ada():
    q, ep, mp = P("30"), P("0.385"), P("0.41047590")
    assert unrealized_pnl(q, mul(q, ep), mp) == P("0.764277")
    assert notional(q, mp) == P("12.314277")
    assert initial_margin(notional(q, mp), 20) == P("0.61571385")
    assert mul(notional(q, mp), P("0.0065")) == P("0.08004280")


def test_tv_lp_x1_x2_cross_2021():
    """Binance FAQ b3c689c1 (2021 revision): cross, one-way, two symbols."""
    wb = P("1535443.01")
    lp = liquidation_price(wb, [leg("109.488", "32481.98", pinned_table(P("0.025"), P("16300")))],
                           others_mm=P("356512.508"), others_upnl=P("-448192.89"))
    assert cents(lp) == "26316.89"
    lp = liquidation_price(wb, [leg("3683.979", "1456.84", pinned_table(P("0.10"), P("135365")))],
                           others_mm=P("71200.81144"), others_upnl=P("-56354.57"))
    assert cents(lp) == "1153.26"


def test_tv_lp_x1_x2_with_the_2021_tables_choose_the_same_brackets():
    eth_2021 = default_instruments()["ETHUSDT"].brackets_at(dt.date(2021, 6, 1))
    btc_2021 = BTC.brackets_at(dt.date(2021, 6, 1))
    lp = liquidation_price(P("1535443.01"), [leg("109.488", "32481.98", btc_2021)], P("356512.508"), P("-448192.89"))
    assert cents(lp) == "26316.89"
    lp = liquidation_price(P("1535443.01"), [leg("3683.979", "1456.84", eth_2021)], P("71200.81144"), P("-56354.57"))
    assert cents(lp) == "1153.26"


def test_tv_lp_x3_isolated_variants():
    wb = P("1535443.01")
    assert cents(liquidation_price(wb, [leg("3683.979", "1456.84", pinned_table(P("0.10"), P("135365")))])) == "1114.78"
    assert cents(liquidation_price(wb, [leg("109.488", "32481.98", pinned_table(P("0.025"), P("16300")))])) == "18778.73"


def test_tv_lp_old_2019():
    lp = liquidation_price(P("10.72"), [leg("-0.005", "9451.53", pinned_table(P("0.004"), 0))], P("1.3"), P("0.47"))
    assert cents(lp) == "11383.99"
    lp = liquidation_price(P("10.72"), [leg("1", "199.53", pinned_table(P("0.0065"), 0))], P("0.19"), P("-0.06"))
    assert cents(lp) == "190.30"  # the page prints 190.29, "difference due to rounding"


@pytest.mark.parametrize("qty,iw,lp,bp", [("1", "6000", "54216.87", "54000.00"), ("-1", "6000", "65737.05", "66000.00"),
                                          ("100", "600000", "54424.24", "54000.00"),
                                          ("-100", "600000", "65465.35", "66000.00")])
def test_tv_lp_iso_1_to_4(qty, iw, lp, bp):
    legs = [leg(qty, "60000", BTC_2026)]
    assert cents(liquidation_price(P(iw), legs)) == lp
    assert cents(bankruptcy_price(P(iw), legs)) == bp


def test_tv_lp_iso3_uses_the_tier_at_the_liquidation_price():
    lp = liquidation_price(P("600000"), [leg("100", "60000", BTC_2026)])
    b = BTC_2026.for_notional(notional(P("100"), lp))
    assert (b.mmr, b.cum) == (P("0.01"), P("12000"))


def test_tv_lp_seed_formula_is_not_binance():
    exact = liquidation_price(P("6000"), [leg("1", "60000", pinned_table(P("0.004"), 0))])
    assert cents(exact) == "54216.87"
    assert cents(exact) != "57461.54"


def test_tv_hedge_cross():
    t = pinned_table(P("0.004"), 0)
    legs = [leg("1", "60000", t), leg("-0.5", "62000", t)]
    lp = liquidation_price(P("10000"), legs)
    assert cents(lp) == "38461.54"
    upnl = sum(unrealized_pnl(l.qty, l.cost, lp) for l in legs)
    mm = sum(mul(notional(l.qty, lp), P("0.004")) for l in legs)
    assert abs(P("10000") + upnl - mm) <= 2
    assert cents(mm) == "230.77"


def test_tv_mr_1_and_avail():
    q = P("1")
    upnl = unrealized_pnl(q, mul(q, P("60000")), P("58000"))
    mm = BTC_2026.maint_margin(notional(q, P("58000")))
    assert (upnl, mm) == (P("-2000"), P("232"))
    assert fmt(margin_ratio(mm, P("10000") + upnl), 4) == "0.0290"
    im = initial_margin(notional(q, P("58000")), 10)
    assert P("10000") + upnl - im == P("2200")  # TV-AVAIL


def test_tv_mr_2_margin_call_example():
    mr = margin_ratio(P("1.614445"), P("3.16812045") - P("1.166074"))
    assert fmt(mr * 100, 2) == "80.64"


def test_tv_cost_to_open():
    assert cost_to_open(P("1"), 1, P("9253.30"), P("9259.84"), 20) == (P("462.665"), 0, P("462.665"))
    assert cost_to_open(P("1"), -1, P("9253.30"), P("9259.84"), 20) == (P("462.665"), P("6.54"), P("469.205"))


def test_no_liquidation_price_for_an_unlevered_long():
    assert liquidation_price(P("70000"), [leg("1", "60000", BTC_2026)]) is None
    assert bankruptcy_price(P("70000"), [leg("1", "60000", BTC_2026)]) is None


@pytest.mark.parametrize("lev,move", [(5, "19.68"), (10, "9.64"), (20, "4.62"), (50, "1.61"), (125, "0.40")])
def test_price_move_to_liquidation_by_leverage(lev, move):
    """Seed 002's table (5x ~20%, 10x ~10%, ... 125x ~0.8%) made exact with MMR 0.4%."""
    q, ep = P("1"), P("60000")
    lp = liquidation_price(initial_margin(ep, lev), [Leg(q, ep, BTC_2026)])
    assert fmt(price_move_to_liquidation(q, ep, lp), 2) == move
