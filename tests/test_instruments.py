import datetime as dt
import json

import pytest

from perpsim.core.fixed import parse
from perpsim.core.instruments import (BracketTable, bracket_table_from_binance, default_instruments,
                                      load_bracket_file)

P = parse


@pytest.fixture(scope="module")
def btc():
    return default_instruments()["BTCUSDT"]


def test_cum_derivation_2026_btc(btc):
    """TV-CUM-1: cum re-derived by Binance's rule on the 2026 BTCUSDT table."""
    want = [0, 300, 1500, 12000, 132000, 482000, 2982000, 14482000, 26482000, 41482000, 121482000, 421482000]
    assert [b.cum for b in btc.brackets_at(dt.date(2026, 6, 1)).brackets] == [P(x) for x in want]


def test_cum_derivation_2021_btc_level3(btc):
    """TV-CUM-2: 250,000 x (1% - 0.5%) + 50 = 1,300."""
    table = btc.brackets_at(dt.date(2021, 6, 1))
    assert table.brackets[2].cum == P("1300")
    assert [b.cum for b in table.brackets] == [P(x) for x in
                                              (0, 50, 1300, 16300, 266300, 1266300, 2516300, 5016300, 25016300,
                                               100016300)]


def test_eth_2021_cums():
    eth = default_instruments()["ETHUSDT"].brackets_at(dt.date(2021, 6, 1))
    assert [b.cum for b in eth.brackets] == [P(x) for x in (0, 15, 365, 5365, 35365, 135365, 260365, 510365, 2510365)]


@pytest.mark.parametrize("notional,mm", [("250000", "1000"), ("300000", "1200"), ("1000000", "5000"),
                                         ("5000000", "38000"), ("100000000", "2018000")])
def test_maintenance_margin_rows(btc, notional, mm):
    """TV-MM-1..5 on the 2026 BTCUSDT table."""
    assert btc.brackets_at(dt.date(2026, 3, 5)).maint_margin(P(notional)) == P(mm)


def test_mm_is_continuous_at_every_boundary(btc):
    for table in btc.bracket_history:
        for lower, upper in zip(table.brackets, table.brackets[1:]):
            n = upper.floor
            assert n * lower.mmr // 10**8 - lower.cum == n * upper.mmr // 10**8 - upper.cum


def test_boundary_belongs_to_upper_tier_and_dates(btc):
    t = btc.brackets_at(dt.date(2026, 3, 5))
    assert t.for_notional(P("300000")).number == 2
    assert t.for_notional(P("299999.99")).number == 1
    assert t.for_notional(P("5000000000")).number == 12  # beyond the last cap: the last tier
    assert btc.brackets_at(dt.date(2026, 3, 4)).max_leverage == 125
    assert btc.brackets_at(dt.date(2026, 3, 5)).max_leverage == 150
    assert btc.brackets_at(dt.date(2018, 1, 1)) is btc.bracket_history[0]
    assert t.max_notional(20) == P("100000000") and t.max_notional(150) == P("300000")


def test_real_bracket_file_loads_and_cums_agree(shared_dir):
    """All 349 symbols of freqtrade's dump: cum derived by the rule equals Binance's published cum."""
    tables = load_bracket_file(shared_dir / "data/freqtrade-binance-leverage-tiers/binance_leverage_tiers.json")
    assert len(tables) == 349
    btc = tables["BTCUSDT"]
    assert btc.brackets[-1].cum == P("421481450")
    assert btc.brackets[0].max_leverage == 125
    for name, table in tables.items():
        assert table.brackets[0].cum == 0, name


def test_binance_list_format_and_wrong_cum(tmp_path):
    raw = [{"bracket": 1, "initialLeverage": 75, "notionalCap": 10000, "notionalFloor": 0, "maintMarginRatio": 0.005,
            "cum": 0.0},
           {"bracket": 2, "initialLeverage": 50, "notionalCap": 20000, "notionalFloor": 10000,
            "maintMarginRatio": "0.0065", "cum": "15.0"}]
    f = tmp_path / "b.json"
    f.write_text(json.dumps([{"symbol": "XRPUSDT", "brackets": raw}]))
    assert load_bracket_file(f)["XRPUSDT"].brackets[1].cum == P("15")
    raw[1]["cum"] = "16"
    with pytest.raises(ValueError, match="cum"):
        bracket_table_from_binance(raw)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"X/USDT:USDT": 5}', '[{"symbol": "X", "brackets": [{}]}]'])
def test_malformed_bracket_files_say_what(tmp_path, content):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(ValueError, match="bad.json"):
        load_bracket_file(f)


def test_table_rejects_gaps():
    with pytest.raises(ValueError):
        BracketTable.from_rows([(0, 100, "0.01", 10), (200, 300, "0.02", 5)])
