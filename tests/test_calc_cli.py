"""``perpsim calc`` through the installed command: JSON in, JSON out, exit 2 on bad input."""
import json
import shutil
import subprocess
import sys

import pytest

PERPSIM = shutil.which("perpsim", path=str(__import__("pathlib").Path(sys.executable).parent)) or "perpsim"


def calc(doc, raw=None):
    text = raw if raw is not None else json.dumps(doc)
    return subprocess.run([PERPSIM, "calc"], input=text, capture_output=True, text=True, timeout=60)


def test_binance_2021_cross_example_and_cost_to_open():
    doc = {"margin_type": "cross", "wallet_balance": "1535443.01", "positions": [
        {"symbol": "BTCUSDT", "side": "LONG", "quantity": "109.488", "entry_price": "32481.98",
         "mark_price": "31967.27", "as_of": None},
        {"symbol": "ETHUSDT", "side": "LONG", "quantity": 3683.979, "entry_price": 1456.84, "mark_price": 1335.18}],
        "as_of": "2021-06-01",
        "orders": [{"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "price": "9253.30", "quantity": "1",
                    "leverage": 20, "mark_price": "9259.84"}]}
    r = calc(doc)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    btc, eth = out["positions"]
    assert round(float(btc["liquidation_price"]), 2) == 26316.89
    assert round(float(eth["liquidation_price"]), 2) == 1153.26
    assert (btc["mmr"], btc["maintenance_amount"]) == ("0.02500000", "16300.00000000")  # chosen by the 2021 table
    assert btc["maintenance_margin"] == "71200.81144400"
    assert (eth["mmr"], eth["maintenance_amount"]) == ("0.10000000", "135365.00000000")
    assert out["orders"][0] == {"symbol": "BTCUSDT", "initial_margin": "462.66500000", "open_loss": "6.54000000",
                                "cost": "469.20500000"}
    assert btc["initial_margin"] is None and out["account"]["available_balance"] is None


def test_isolated_position_with_pinned_bracket_and_file(tmp_path):
    doc = {"margin_type": "isolated", "wallet_balance": "6000", "positions": [
        {"side": "LONG", "quantity": "1", "entry_price": "60000", "mark_price": "58000", "leverage": 10,
         "mmr": "0.004", "maintenance_amount": "0"}]}
    f = tmp_path / "in.json"
    f.write_text(json.dumps(doc))
    r = subprocess.run([PERPSIM, "calc", "--file", str(f)], capture_output=True, text=True, timeout=60)
    out = json.loads(r.stdout)
    p = out["positions"][0]
    assert p["liquidation_price"] == "54216.86746988"
    assert p["bankruptcy_price"] == "54000.00000000"
    assert p["unrealized_pnl"] == "-2000.00000000"
    assert out["account"]["margin_balance"] == "4000.00000000"
    assert out["account"]["margin_ratio"] == "0.05800000"


def test_no_liquidation_price_is_null():
    r = calc({"margin_type": "cross", "wallet_balance": "100000",
              "positions": [{"symbol": "BTCUSDT", "side": "LONG", "quantity": "1", "entry_price": "60000"}]})
    assert json.loads(r.stdout)["positions"][0]["liquidation_price"] is None


@pytest.mark.parametrize("doc,field", [
    ({"wallet_balance": "1"}, "margin_type"),
    ({"margin_type": "cross"}, "wallet_balance"),
    ({"margin_type": "cross", "wallet_balance": 1.5}, None),  # a JSON float is parsed exactly: accepted
    ({"margin_type": "cross", "wallet_balance": "1", "positions": [{"side": "UP"}]}, "positions[0].side"),
    ({"margin_type": "cross", "wallet_balance": "1", "positions": [
        {"side": "LONG", "quantity": "-1", "entry_price": "1", "mmr": "0.01"}]}, "positions[0].quantity"),
    ({"margin_type": "cross", "wallet_balance": "1", "positions": [
        {"side": "LONG", "quantity": "1", "entry_price": "1"}]}, "positions[0].symbol"),
    ({"margin_type": "cross", "wallet_balance": "1", "positions": [
        {"symbol": "DOGEUSDT", "side": "LONG", "quantity": "1", "entry_price": "1"}]}, "positions[0].symbol"),
    ({"margin_type": "cross", "wallet_balance": "1", "positions": [
        {"side": "LONG", "quantity": "1", "entry_price": "1", "mmr": "0.01", "leverage": 0}]}, "positions[0].leverage"),
    ({"margin_type": "cross", "wallet_balance": "1e99"}, "wallet_balance"),
    ({"margin_type": "cross", "wallet_balance": "1", "as_of": "yesterday"}, "as_of"),
    ({"margin_type": "cross", "wallet_balance": "1", "orders": [{"side": "BUY", "quantity": "1"}]}, "orders[0].price"),
    ({"margin_type": "cross", "wallet_balance": "1", "positions": [
        {"side": "LONG", "quantity": "1", "entry_price": "1", "brackets": [{"floor": 0, "cap": 10, "mmr": "0.01"},
                                                                          {"floor": 20, "cap": 30, "mmr": "0.02"}]}]},
     "positions[0].brackets"),
    ([], "document"),
])
def test_bad_input_exits_2_naming_the_field(doc, field):
    r = calc(doc)
    if field is None:
        assert r.returncode == 0
        return
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), r.stderr


@pytest.mark.parametrize("raw", ["", "{", "not json", "[[[[" * 5000])
def test_malformed_json_exits_2(raw):
    r = calc(None, raw=raw)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.startswith("error: document")
