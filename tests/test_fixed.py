from decimal import Decimal

import pytest

from perpsim.core.fixed import SCALE, ceil_div, div, floor_div, fmt, fmt_plain, mul, parse, quantize, round_div


def test_parse_exact_inputs():
    assert parse("123.45") == 12345 * 10**6
    assert parse(7) == 7 * SCALE
    assert parse(Decimal("0.00000001")) == 1
    assert parse("1e3") == 1000 * SCALE
    assert parse("-0.5") == -SCALE // 2


@pytest.mark.parametrize("bad", [1.5, "abc", "", None, True, "NaN", "Infinity", "0.000000001", "1e40", [], "1" * 80])
def test_parse_refuses_inexact_or_malformed(bad):
    with pytest.raises(ValueError):
        parse(bad)


def test_rounding_is_half_away_from_zero():
    assert round_div(5, 10) == 1 and round_div(-5, 10) == -1
    assert round_div(4, 10) == 0 and round_div(-4, 10) == 0
    assert round_div(15, -10) == -2
    assert floor_div(-1, 10) == -1 and ceil_div(1, 10) == 1
    assert mul(parse("0.5"), parse("0.00000001")) == 1  # 0.000000005 rounds up
    assert div(parse("1"), parse("3")) == 33333333
    assert quantize(parse("1.26"), parse("0.1")) == parse("1.3")


def test_format():
    assert fmt(parse("-1.5"), 2) == "-1.50"
    assert fmt(parse("26316.893264"), 2) == "26316.89"
    assert fmt(parse("0.005"), 2) == "0.01"
    assert fmt_plain(parse("60000.10")) == "60000.1"
    assert fmt_plain(0) == "0"
    assert fmt(parse("12"), 0) == "12"
