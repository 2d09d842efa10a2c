"""Funding: binance-mechanics.md section 5 and every TV-FUND vector."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from perpsim.core.fixed import SCALE, parse
from perpsim.core.funding import (
    FundingParams,
    FundingRate,
    PremiumAverage,
    cap_from_mmr,
    funding_income,
    funding_payment,
    funding_rate,
    funding_times,
    impact_margin_notional,
    impact_price,
    IntervalPolicy,
    interval_after_settlement,
    interval_ms,
    next_funding_time,
    premium_index,
)

P = parse
H = 3_600_000
DAY = 24 * H
T0 = 1_723_161_600_000  # 2024-08-09 00:00:00 UTC
BTC = FundingParams(cap=P("0.003"), floor=-P("0.003"))


def pct(text: str) -> int:
    return P(text) // 100


# ---------------------------------------------------------------- TV-FUND


def test_tv_fund_1_dead_zone():
    assert funding_rate(pct("0.0429")).rate == pct("0.0100")


def test_tv_fund_2():
    assert funding_rate(pct("0.08")).rate == pct("0.03")


def test_tv_fund_3():
    assert funding_rate(pct("-0.10")).rate == pct("-0.05")


def test_tv_fund_4_four_hour_interval():
    assert funding_rate(pct("0.0429"), FundingParams(interval_hours=4)).rate == pct("0.005")


def test_tv_fund_5_floor_and_hourly_switch():
    # raw F = -0.35 % on BTCUSDT: average premium -0.40 % -> -0.40 + 0.05 = -0.35
    r = funding_rate(pct("-0.40"), BTC)
    assert r.raw == pct("-0.35")
    assert r.rate == pct("-0.30")
    assert r.capped
    assert interval_after_settlement(8, r) == 1
    # touching the floor earlier but settling at -0.25 % changes nothing
    r2 = funding_rate(pct("-0.30"), BTC)
    assert r2.rate == pct("-0.25") and not r2.capped
    assert interval_after_settlement(8, r2) == 8
    # settling exactly at the floor reaches it
    r3 = funding_rate(pct("-0.35"), BTC)
    assert r3.rate == r3.raw == pct("-0.30") and r3.capped


def test_tv_fund_pay():
    mark = P("60000")
    f = pct("0.01")
    assert funding_payment(P("1"), mark, f) == P("6")
    assert funding_payment(-P("1"), mark, f) == -P("6")
    assert funding_income(P("1"), mark, f) == -P("6")
    assert funding_income(-P("1"), mark, f) == P("6")
    # negative rate: shorts pay
    assert funding_payment(-P("1"), mark, -f) == P("6")


def test_tv_imn():
    assert impact_margin_notional(20) == P("4000")
    assert impact_margin_notional(125) == P("25000")
    assert impact_margin_notional(150) == P("30000")


# ---------------------------------------------------------------- rate formula


def test_dead_zone_edges():
    for p in ("-0.04", "0", "0.06", "0.01"):
        assert funding_rate(pct(p)).rate == pct("0.01"), p
    assert funding_rate(pct("0.0601")).rate == pct("0.0101")
    assert funding_rate(pct("-0.0401")).rate == pct("-0.0401") + pct("0.05")


def test_one_hour_interval_scaling_and_rounding():
    # 0.01 % / 8 = 0.00125 % = 1250 units exactly
    assert funding_rate(0, FundingParams(interval_hours=1)).rate == 1_250
    # 0.0001 % average premium outside nothing: raw8 = 10,000 (dead zone) -> 1,250
    # a raw8 of 3 units over 8 -> 0.375 -> 0 ; 5 units -> 0.625 -> 1 ; -5 -> -1
    p = FundingParams(interval_hours=1, interest_rate=0, clamp_band=0)
    assert funding_rate(3, p).rate == 0
    assert funding_rate(4, p).rate == 1   # 0.5 rounds away from zero
    assert funding_rate(-4, p).rate == -1
    assert funding_rate(5, p).rate == 1


def test_zero_interest_symbols():
    p = FundingParams(interest_rate=0)
    assert funding_rate(pct("0.03"), p).rate == 0  # dead zone is now [-0.05 %, +0.05 %]
    assert funding_rate(pct("0.07"), p).rate == pct("0.07") - pct("0.05")


def test_cap_from_mmr():
    assert cap_from_mmr(P("0.004")) == (P("0.003"), -P("0.003"))


def test_params_validation():
    with pytest.raises(ValueError):
        FundingParams(interval_hours=3)
    with pytest.raises(ValueError):
        FundingParams(cap=-1, floor=1)
    for h in (1, 2, 4, 8):
        FundingParams(interval_hours=h)


@settings(max_examples=300, deadline=None)
@given(st.integers(-SCALE, SCALE), st.sampled_from([1, 2, 4, 8]))
def test_rate_bounded_by_cap_and_floor(avg, hours):
    p = FundingParams(interval_hours=hours, cap=P("0.0075"), floor=-P("0.0075"))
    r = funding_rate(avg, p)
    assert p.floor <= r.rate <= p.cap
    assert r.capped == (r.raw >= p.cap or r.raw <= p.floor)
    assert r.capped or r.rate == r.raw
    # the clamp moves the 8 h rate at most 0.05 % from the premium
    raw8 = r.raw * 8 // hours
    assert abs(raw8 - avg) <= pct("0.05") + 8


# ---------------------------------------------------------------- premium index


BIDS = [(P("100"), P("10")), (P("99"), P("10")), (P("98"), P("100"))]
ASKS = [(P("101"), P("10")), (P("102"), P("10")), (P("103"), P("100"))]


def test_impact_price_walks_the_book():
    assert impact_price(BIDS, P("1000")) == P("100")
    assert impact_price(ASKS, P("1010")) == P("101")
    # 1,010 + 1,020 from the first two ask levels, then 970 at 103
    got = impact_price(ASKS, P("3000"))
    assert P("101") < got < P("103")
    assert impact_price(ASKS, P("100000")) is None


def test_impact_price_exact():
    # 2,000 notional: qty = 10 + 10 + 10/98 = 1970/98 -> avg = 2000*98/1970 = 99.49238579...
    assert impact_price(BIDS, P("2000")) == 9_949_238_579


def test_premium_index_formula():
    idx = P("100")
    assert premium_index(P("100.05"), P("100.10"), idx) == pct("0.05")
    assert premium_index(P("99.90"), P("99.95"), idx) == -pct("0.05")
    assert premium_index(P("99.99"), P("100.01"), idx) == 0  # index inside the spread
    with pytest.raises(ValueError):
        premium_index(1, 1, 0)


def test_premium_average_linear_weights():
    acc = PremiumAverage(T0, 8)
    assert acc.n == 5760
    # P = 1 unit for the first half, 3 units for the second half
    acc.observe(T0 + 1, 1)
    acc.observe(T0 + 4 * H + 1, 3)
    # samples 1..2880 = 1, 2881..5760 = 3; weighted mean = (S1 + 3 S2) / (S1 + S2)
    n = 5760
    s1 = 2880 * 2881 // 2
    s2 = n * (n + 1) // 2 - s1
    assert acc.average(T0 + 8 * H) == round((s1 + 3 * s2) / (s1 + s2))  # = 2 (2.5 - epsilon)
    assert acc.samples() == 5760
    assert acc.average(T0 + 9 * H) == acc.average(T0 + 8 * H)  # capped at the period end


def test_premium_average_exact_value():
    acc = PremiumAverage(T0, 8)
    acc.observe(T0, pct("0.01"))          # value in force from the start
    acc.observe(T0 + 4 * H + 2, pct("0.03"))
    n, h = 5760, 2880
    s1 = h * (h + 1) // 2
    s_all = n * (n + 1) // 2
    num = pct("0.01") * s1 + pct("0.03") * (s_all - s1)
    from perpsim.core.fixed import round_div
    assert acc.average(T0 + 8 * H) == round_div(num, s_all)


def test_premium_average_equal_weights_for_1h():
    acc = PremiumAverage(T0, 1)
    assert acc.weighting == "equal"
    assert acc.n == 720
    acc.observe(T0, 10)
    acc.observe(T0 + H // 2, 20)  # on the grid: sample 360 takes 20
    # samples 1..359 = 10, 360..720 = 20 -> (3590 + 7220) / 720
    assert acc.average(T0 + H) == round((3590 + 7220) / 720)


def test_premium_average_restart_keeps_value_and_refuses_outside():
    acc = PremiumAverage(T0, 8)
    acc.observe(T0 + 1000, 7)
    assert acc.average(T0 + 8 * H) == 7
    acc.restart(T0 + 8 * H, 4)
    assert acc.samples() == 0
    assert acc.average(T0 + 8 * H + 5000) == 7  # forward-filled into the new period
    assert acc.samples() == 1
    with pytest.raises(ValueError):
        acc.observe(T0 + 8 * H + 4 * H + 1, 1)
    with pytest.raises(ValueError):
        PremiumAverage(T0 + 1, 8)
    assert PremiumAverage(T0, 8).average(T0 + H) == 0


# ---------------------------------------------------------------- schedule


def test_next_funding_time_8h():
    assert next_funding_time(T0 - 1) == T0
    assert next_funding_time(T0) == T0 + 8 * H
    assert next_funding_time(T0 + 1) == T0 + 8 * H
    assert next_funding_time(T0 + 5 * H, 4) == T0 + 8 * H
    assert next_funding_time(T0 + 5 * H, 1) == T0 + 6 * H
    assert next_funding_time(T0 + 7 * H, 2) == T0 + 8 * H
    assert T0 % DAY == 0  # 00:00 UTC is a settlement for every interval


def test_funding_times_catch_up():
    assert list(funding_times(T0 - 1, T0 + 16 * H)) == [T0, T0 + 8 * H, T0 + 16 * H]
    assert list(funding_times(T0, T0 + 8 * H - 1)) == []
    assert len(list(funding_times(T0, T0 + DAY, 1))) == 24
    with pytest.raises(ValueError):
        interval_ms(3)


def test_payment_rounding_is_symmetric():
    # q x mark x F = 0.001 x 12345.67 x 0.00012345 = 0.00152407... ; exact product rounded
    q, m, f = P("0.001"), P("12345.67"), P("0.00012345")
    pay = funding_payment(q, m, f)
    assert pay == 152_407  # 0.001524072961... -> 0.00152407
    assert funding_payment(-q, m, f) == -pay


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**12, 10**12), st.integers(1, 10**14), st.integers(-3 * 10**6, 3 * 10**6))
def test_payment_zero_sum_and_direction(q, mark, f):
    long_pays = funding_payment(q, mark, f)
    assert funding_payment(-q, mark, f) == -long_pays
    if q > 0 and f > 0:
        assert long_pays >= 0
    if q > 0 and f < 0:
        assert long_pays <= 0
    exact = Fraction(q * mark * f, SCALE**2)
    assert abs(long_pays - exact) <= Fraction(1, 2)


def test_funding_rate_result_type():
    assert isinstance(funding_rate(0), FundingRate)


def test_interval_policy_hourly_on_cap_then_revert():
    pol = IntervalPolicy(8)
    calm = funding_rate(0, FundingParams(interval_hours=1, interest_rate=0))
    assert calm.rate == 0
    assert pol.after_settlement(funding_rate(pct("0.0429"), BTC)) == 8
    assert pol.after_settlement(funding_rate(pct("-0.40"), BTC)) == 1
    for _ in range(35):
        assert pol.after_settlement(calm) == 1
    busy = FundingRate(pct("0.01"), pct("0.01"), False)
    assert pol.after_settlement(busy) == 1      # streak broken
    for _ in range(35):
        assert pol.after_settlement(calm) == 1
    assert pol.after_settlement(calm) == 4      # 36th calm cycle -> 4 h from the next
    never = IntervalPolicy(8, revert_cycles=None)
    never.after_settlement(funding_rate(pct("-0.40"), BTC))
    assert all(never.after_settlement(calm) == 1 for _ in range(100))
