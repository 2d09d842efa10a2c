"""Index and mark price: binance-mechanics.md section 4 and TV-MARK-*."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from perpsim.core.fixed import SCALE, parse
from perpsim.core.prices import (
    RULE_2020,
    RULE_CURRENT,
    RULE_CURRENT_BTC_ETH,
    BasisAverage,
    Constituent,
    IndexUnavailable,
    StepSampler,
    compute_index,
    delivery_mark_price,
    index_price,
    mark_price,
    median,
    perp_mark_price,
    price1,
    price2,
)

P = parse
H = 3_600_000
NOW = 1_700_000_000_000


def c(source: str, price: str, weight: str = "1", age_ms: int = 0) -> Constituent:
    return Constituent(source, P(price), P(weight), NOW - age_ms)


# ---------------------------------------------------------------- TV-MARK


def test_tv_mark_1_price1():
    # index 10,000, last funding 0.03 %, 4 h left of 8 h -> 10,001.50
    assert price1(P("10000"), P("0.0003"), 4 * H, 8 * H) == P("10001.5")


def test_tv_mark_2_median():
    assert mark_price(P("10001.5"), P("10003.0"), P("10010")) == P("10003.0")


def test_mark_median_is_order_free():
    a, b, last = P("1"), P("2"), P("3")
    for args in [(a, b, last), (b, a, last), (last, a, b), (a, last, b)]:
        assert mark_price(*args) == b


def test_price1_edges_and_rounding():
    idx = P("61234.56789012")
    assert price1(idx, P("0.0001"), 0, 8 * H) == idx          # at settlement Price1 = index
    assert price1(idx, P("0.0001"), 8 * H, 8 * H) == P("61240.69134691")  # x 1.0001, rounded
    assert price1(idx, -P("0.0003"), 4 * H, 8 * H) == P("61225.38270494")
    with pytest.raises(ValueError):
        price1(idx, 0, 9 * H, 8 * H)


def test_perp_mark_price_composes():
    idx = P("10000")
    now = 8 * H * 1000 + 4 * H  # 4 h before the next 8 h settlement
    m = perp_mark_price(idx, P("10010"), P("0.0003"), now, now + 4 * H, 8 * H, P("3"))
    assert m == P("10003")
    assert price2(idx, P("3")) == P("10003")
    assert delivery_mark_price(idx, -P("2.5")) == P("9997.5")


def test_basis_average_window_and_sampling():
    ba = BasisAverage(window=3, sample_ms=1000)
    assert ba.value(0) == 0  # nothing yet: Price2 = index
    # basis 1.0 at t=0 (on the grid), then 2.5 at t=1500, then 4.0 at t=3000
    ba.observe(0, P("100.5"), P("101.5"), P("100"))     # mid 101 -> basis 1
    ba.observe(1500, P("102"), P("103"), P("100"))      # mid 102.5 -> basis 2.5
    assert ba.value(1999) == P("1")                     # samples at 0, 1000 both = 1
    assert ba.value(2000) == P("1.5")                   # (1 + 1 + 2.5) / 3
    ba.observe(3000, P("104"), P("104"), P("100"))      # basis 4 at t=3000 (grid: counts)
    assert ba.value(3000) == P("2.5")                   # samples 1000, 2000, 3000: (1 + 2.5 + 4) / 3
    assert ba.value(10_000) == P("4")                   # forward fill
    assert len(ba) == 3
    with pytest.raises(ValueError):
        ba.observe(9_000, 1, 1, 1)


def test_basis_average_default_is_30_points_one_per_second():
    ba = BasisAverage()
    for t in range(0, 60_000, 250):
        ba.observe(t, P("100") + t, P("100") + t, P("100"))  # basis = t units
    ba.value(60_000)
    assert len(ba) == 30


def test_basis_half_unit_kept_until_the_end():
    ba = BasisAverage(window=2)
    ba.observe(0, 1, 2, 0)   # mid 1.5 units
    ba.observe(1000, 1, 2, 0)
    assert ba.value(1000) == 2  # 1.5 rounded half away from zero, once


def test_step_sampler_big_jump_keeps_window_only():
    s = StepSampler(1000, window=5)
    s.observe(500, 7)
    s.advance(10**9)
    assert len(s.samples) == 5
    assert s.samples[-1] == (10**9, 7)


# ---------------------------------------------------------------- index


def test_index_weighted_average():
    cs = [c("a", "100", "0.5"), c("b", "101", "0.3"), c("c", "102", "0.2")]
    r = compute_index(cs, NOW, RULE_CURRENT)
    assert r.method == "weighted"
    assert r.price == P("100.7")
    assert r.outliers == ()


def test_index_weights_need_not_sum_to_one():
    cs = [c("a", "100", "2"), c("b", "103", "1")]
    assert index_price(cs, NOW, RULE_CURRENT) == P("101")


def test_index_rounds_half_away_from_zero():
    cs = [c("a", "0.00000001", "1"), c("b", "0.00000002", "1")]
    assert index_price(cs, NOW) == 2  # 1.5 units -> 2


def test_current_rule_caps_outlier_at_3_percent():
    # median 100; source d at 110 is capped to 103; e at 90 capped to 97
    cs = [c("a", "100"), c("b", "100"), c("c", "100"), c("d", "110"), c("e", "90")]
    r = compute_index(cs, NOW, RULE_CURRENT)
    assert set(r.outliers) == {"d", "e"}
    used = {s: p for s, p, _ in r.used}
    assert used["d"] == P("103") and used["e"] == P("97")
    assert r.price == P("100")


def test_current_rule_btc_eth_band_is_1_percent():
    cs = [c("a", "100"), c("b", "100"), c("c", "105")]
    r = compute_index(cs, NOW, RULE_CURRENT_BTC_ETH)
    assert dict((s, p) for s, p, _ in r.used)["c"] == P("101")
    assert r.price == P("100.33333333")


def test_deviation_is_strict():
    # exactly 3 % away is not an outlier
    cs = [c("a", "100"), c("b", "100"), c("c", "103")]
    assert compute_index(cs, NOW, RULE_CURRENT).outliers == ()
    cs = [c("a", "100"), c("b", "100"), c("c", "103.00000001")]
    assert compute_index(cs, NOW, RULE_CURRENT).outliers == ("c",)


def test_2020_rule_one_outlier_weight_zero():
    cs = [c("a", "100", "1"), c("b", "101", "1"), c("c", "100.5", "1"), c("d", "120", "5")]
    r = compute_index(cs, NOW, RULE_2020)
    assert r.outliers == ("d",)
    assert r.method == "weighted"
    assert r.price == P("100.5")


def test_2020_rule_several_outliers_use_median():
    cs = [c("a", "100"), c("b", "101"), c("c", "100.5"), c("d", "120"), c("e", "80", "9")]
    r = compute_index(cs, NOW, RULE_2020)
    assert set(r.outliers) == {"d", "e"}
    assert r.method == "median"
    assert r.price == P("100.5")


def test_stale_sources_dropped():
    cs = [c("a", "100", age_ms=10_001), c("b", "200", age_ms=10_000)]
    r = compute_index(cs, NOW, RULE_2020)
    assert r.stale == ("a",)
    assert r.price == P("200")
    # 5 minutes under the current rule
    cs = [c("a", "100", age_ms=300_000), c("b", "100", age_ms=300_001)]
    assert compute_index(cs, NOW, RULE_CURRENT).stale == ("b",)


def test_no_fresh_source():
    cs = [c("a", "100", age_ms=10**7)]
    with pytest.raises(IndexUnavailable):
        index_price(cs, NOW)
    assert index_price(cs, NOW, fallback=P("99")) == P("99")
    with pytest.raises(IndexUnavailable):
        index_price([], NOW)


def test_bad_constituents_refused():
    with pytest.raises(ValueError):
        index_price([c("a", "0")], NOW)
    with pytest.raises(ValueError):
        index_price([Constituent("a", P("1"), -1, NOW)], NOW)


def test_median_even_and_odd():
    assert median([3, 1, 2]) == 2
    assert median([1, 2]) == 2  # 1.5 -> 2
    assert median([4, 1, 3, 2]) == 3  # 2.5 -> 3
    with pytest.raises(ValueError):
        median([])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**15), st.integers(1, 10**9)), min_size=1, max_size=12))
def test_capped_index_stays_within_band(pairs):
    cs = [Constituent(str(i), p, w, NOW) for i, (p, w) in enumerate(pairs)]
    r = compute_index(cs, NOW, RULE_CURRENT)
    med = median([p for p, _ in pairs])
    lo = med - med * 3 // 100 - 1
    hi = med + med * 3 // 100 + 1
    assert lo <= r.price <= hi
    assert min(p for _, p, _ in r.used) <= r.price <= max(p for _, p, _ in r.used)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**15), st.integers(-SCALE // 100, SCALE // 100), st.integers(0, 8 * H))
def test_price1_between_index_and_full_rate(index, rate, left):
    p1 = price1(index, rate, left, 8 * H)
    full = price1(index, rate, 8 * H, 8 * H)
    assert min(index, full) <= p1 <= max(index, full)


def test_duplicate_source_names_are_independent():
    cs = [c("x", "100"), c("x", "100.2"), c("x", "150")]
    r = compute_index(cs, NOW, RULE_2020)
    assert [w for _, _, w in r.used] == [P("1"), P("1"), 0]
    assert r.price == P("100.1")
