"""The post-liquidation review (perpsim/review): seed 000's questions answered from Binance-shaped data."""
import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from perpsim.cli.main import app
from perpsim.core.events import LiquidationRecord
from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import parse
from perpsim.review import binance_data, review
from perpsim.review.analysis import D

P = parse
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR


class Run:
    """An exchange whose events are all kept (the venue's event stream)."""

    def __init__(self):
        self.ex = Exchange()
        self.events = []
        self.ok("create_account", deposit={"USDT": P("110")})
        self.ok("create_account", deposit={"USDT": P("100000000")})
        self.ok("fund_insurance", asset="USDT", amount=P("100000000"))
        self.ok("set_index", symbol="BTCUSDT", price=P("50000"))

    def ok(self, kind, **args):
        r = self.ex.apply(Command(kind, args, self.ex.now))
        assert r.ok, (kind, r.error)
        self.events += r.events
        return r

    def later(self, ms):
        self.ok("advance_clock", ms=ms)

    def add_margin(self, amount):
        self.ok("deposit", account_id=1, asset="USDT", amount=P(amount), wallet="SPOT")
        self.ok("transfer", account_id=1, type="MAIN_UMFUTURE", asset="USDT", amount=P(amount))

    def liquidated(self, qty, lev, side="BUY", isolated=True, price="50000"):
        cfg = self.ex.clearing.config(self.ex.clearing.accounts[1], "BTCUSDT")
        if cfg.isolated != isolated:
            self.ok("set_margin_type", account_id=1, symbol="BTCUSDT",
                    margin_type="ISOLATED" if isolated else "CROSSED")
        if cfg.leverage != lev:
            self.ok("set_leverage", account_id=1, symbol="BTCUSDT", leverage=lev)
        self.ok("set_index", symbol="BTCUSDT", price=P(price))
        if side == "BUY":
            self.ok("trade", buyer=1, seller=2, symbol="BTCUSDT", qty=P(qty), price=P(price))
        else:
            self.ok("trade", buyer=2, seller=1, symbol="BTCUSDT", qty=P(qty), price=P(price))
        self.later(30 * MIN)
        move = Decimal(price) / lev * Decimal("1.05")
        crash = Decimal(price) - move if side == "BUY" else Decimal(price) + move
        r = self.ok("set_index", symbol="BTCUSDT", price=P(str(int(crash))))
        assert [x.account_id for x in r.events if isinstance(x, LiquidationRecord)] == [1]
        self.ok("set_index", symbol="BTCUSDT", price=P(price))

    def review(self, **kw):
        return review(binance_data(self.events, 1, self.ex), **kw)


def codes(r):
    return {s["code"] for s in r["entry"]["signals"]}


# ---------------------------------------------------------------------- seed 000's death spirals
def test_margin_added_after_each_liquidation_is_recognised_and_tabulated():
    v = Run()
    v.liquidated("0.02", 10)                  # margin 100
    for k, amount in enumerate(("200", "400", "800")):
        v.later(10 * MIN)
        v.add_margin(amount)
        v.liquidated(str(Decimal("0.04") * 2 ** k), 10)   # margin 200, 400, 800: "adding more"
    out = v.review()
    rs = out["liquidations"]
    assert len(rs) == 4 and rs[0]["entry"]["verdict"] == "planned"
    for r in rs[1:]:
        assert r["entry"]["verdict"] == "impulse"
        assert {"AFTER_LIQUIDATION", "MARGIN_ADDED", "SIZE_DOUBLED"} <= codes(r)
        assert "MARGIN_ADDED" in r["entry"]["deathSpiral"] and "martingale" in r["entry"]["patterns"]
    table = out["cumulative"]
    assert [row["positionMargin"] for row in table] == ["100", "100", "200", "400", "800"]
    assert [row["totalInvested"] for row in table] == ["110", "110", "310", "710", "1510"]
    assert table[0]["remaining"] == "110"
    assert all(Decimal(row["remaining"]) < 12 for row in table[1:])     # each time back to (almost) nothing
    assert rs[0]["shareOfMargin"] == "90.91%" and all(r["overloaded"] for r in rs)   # 100 of 110, ...
    assert {q["code"] for q in out["quitSignals"]} == {"MORE_THAN_THREE_LIQUIDATIONS", "REPEATED_IMPULSE",
                                                        "INVESTED_MORE_AFTER_LOSSES"}
    assert out["stopTradingFutures"] and any("Spot DCA" in a for a in out["alternatives"])
    assert any("Simple Earn" in a for a in out["alternatives"])


def test_leverage_raised_to_win_it_back():
    v = Run()
    v.add_margin("1000")
    v.liquidated("0.01", 5)
    v.later(5 * MIN)
    v.liquidated("0.01", 10)
    v.later(5 * MIN)
    v.liquidated("0.01", 20)
    rs = v.review()["liquidations"]
    assert [r["leverage"] for r in rs] == [5, 10, 20] and not rs[0]["leverageEstimated"]
    assert "LEVERAGE_RAISED" in codes(rs[1]) and "LEVERAGE_RAISED" in codes(rs[2])
    assert "leverage raised 10x -> 20x" in " ".join(s["msg"] for s in rs[2]["entry"]["signals"])
    assert rs[2]["highLeverage"] and "Halve the leverage: 20x -> 10x or lower." in rs[2]["recommendations"]
    assert "revenge" in rs[1]["entry"]["patterns"]


def test_direction_flipped_in_anger():
    v = Run()
    v.add_margin("1000")
    v.liquidated("0.01", 10, side="BUY")
    v.later(3 * MIN)
    v.liquidated("0.01", 10, side="SELL")
    rs = v.review()["liquidations"]
    assert [r["direction"] for r in rs] == ["LONG", "SHORT"]
    assert "DIRECTION_FLIPPED" in codes(rs[1]) and "DIRECTION_FLIPPED" in rs[1]["entry"]["deathSpiral"]
    assert not codes(rs[0])


# ---------------------------------------------------------------------- the other questions
def test_share_loss_rate_funding_stop_loss_trend_planned():
    v = Run()
    v.add_margin("890")                                          # 1,000 in the futures wallet
    for h in range(24):                                         # a rising market: 24 hourly marks
        v.ok("set_index", symbol="BTCUSDT", price=P(str(40000 + 400 * h)))
        v.later(HOUR)
    v.ok("settle_funding", symbol="BTCUSDT")                     # nothing held yet: no funding
    v.liquidated("0.01", 10, price="50000")                      # with the trend, planned
    out = v.review()
    r, = out["liquidations"]
    assert r["entry"]["verdict"] == "planned" and r["trend"]["verdict"] == "with"
    assert r["shareOfMargin"] == "5.00%" and not r["overloaded"]    # 50 of 1,000
    assert r["marginType"] == "ISOLATED" and r["leverage"] == 10
    assert not r["stopLoss"]["set"] and any("stop-loss" in x for x in r["recommendations"])
    assert r["loss"] == "50.25" and r["equityAtLiquidation"] == "-0.25"   # margin + taker fee 0.25
    assert r["lossRate"] == "100.50%"
    assert r["appeal"]["eligible"] is False and "cannot be appealed" in r["appeal"]["why"]
    assert out["quitSignals"] == [] and not out["stopTradingFutures"]


def test_export_matches_the_venue():
    v = Run()
    v.add_margin("1000")
    v.liquidated("0.01", 10)
    data = binance_data(v.events, 1, v.ex)
    ch = v.ex.clearing
    total = sum(D(r["income"]) for r in data["income"])
    wallets = ch.balance(1, "FUTURES", "USDT") + sum(p.wallet.balance for p in ch.accounts[1].positions.values()
                                                     if p.wallet is not None)
    assert total == D(wallets) / 10**8
    f, = data["forceOrders"]
    assert f["clientOrderId"].startswith("autoclose-") and f["side"] == "SELL"
    assert [t["orderId"] for t in data["userTrades"] if t["orderId"] == f["orderId"]]   # liquidation fills tagged
    json.dumps(data)                                              # JSON-safe
    assert data["klines"]["BTCUSDT"][0][0] % HOUR == 0 and len(data["klines"]["BTCUSDT"][0]) == 12


# ---------------------------------------------------------------------- pure, handwritten Binance data
def seed_example(**extra):
    """Seed 000's "Truth About the Liquidated Amount": initial margin 100, equity at liquidation 0.5."""
    data = {
        "income": [{"symbol": "", "incomeType": "TRANSFER", "income": "1000", "asset": "USDT", "time": 1000,
                    "tranId": 1, "tradeId": ""},
                   {"symbol": "BTCUSDT", "incomeType": "REALIZED_PNL", "income": "-99.5", "asset": "USDT",
                    "time": 9 * HOUR, "tranId": 2, "tradeId": ""}],
        "userTrades": [{"symbol": "BTCUSDT", "id": 1, "orderId": 11, "side": "BUY", "positionSide": "BOTH",
                        "price": "50000", "qty": "0.02", "realizedPnl": "0", "commission": "0",
                        "commissionAsset": "USDT", "time": 2 * HOUR, "maker": False, "buyer": True}],
        "forceOrders": [{"orderId": 99, "symbol": "BTCUSDT", "status": "FILLED", "clientOrderId": "autoclose-1",
                         "price": "45000", "avgPrice": "45025", "origQty": "0.02", "executedQty": "0.02",
                         "cumQuote": "900.5", "side": "SELL", "positionSide": "BOTH", "type": "LIMIT",
                         "time": 9 * HOUR, "updateTime": 9 * HOUR}],
        "configUpdates": [{"symbol": "BTCUSDT", "time": 0, "leverage": 10},
                          {"symbol": "BTCUSDT", "time": 0, "marginType": "ISOLATED"}],
    }
    data.update(extra)
    return data


def test_seed_000_actual_loss_rate():
    r, = review(seed_example())["liquidations"]
    assert (r["initialMargin"], r["equityAtLiquidation"], r["loss"], r["lossRate"]) == ("100", "0.5", "99.5", "99.50%")
    assert r["shareOfMargin"] == "10.00%" and r["heldMs"] == 7 * HOUR


def test_leverage_estimated_without_config_and_stop_loss_from_algo_orders():
    data = seed_example(configUpdates=[], algoOrders=[
        {"algoId": 5, "orderType": "STOP_MARKET", "symbol": "BTCUSDT", "side": "SELL", "positionSide": "BOTH",
         "triggerPrice": "48000", "algoStatus": "NEW", "createTime": 2 * HOUR, "updateTime": 2 * HOUR,
         "closePosition": True}])
    r, = review(data)["liquidations"]
    assert r["leverage"] == 10 and r["leverageEstimated"] and r["marginType"] == "unknown"
    assert r["stopLoss"]["set"] and not r["stopLoss"]["beyondLiquidation"]
    # a stop below the liquidation price never fires first; a stop cancelled before entry does not count
    data["algoOrders"][0]["triggerPrice"] = "44000"
    assert review(data)["liquidations"][0]["stopLoss"]["beyondLiquidation"]
    data["algoOrders"][0].update(algoStatus="CANCELED", updateTime=HOUR, triggerPrice="48000")
    assert not review(data)["liquidations"][0]["stopLoss"]["set"]
    data["allOrders"] = [{"orderId": 7, "type": "STOP_MARKET", "symbol": "BTCUSDT", "side": "SELL",
                          "positionSide": "BOTH", "stopPrice": "47000", "status": "NEW", "time": 3 * HOUR,
                          "updateTime": 3 * HOUR}]
    assert review(data)["liquidations"][0]["stopLoss"]["set"]


def test_trend_against_and_funding_paid_and_appeal_window():
    klines = [[h * HOUR, "0", "0", "0", str(60000 - 100 * h), "0", (h + 1) * HOUR - 1, "0", 0, "0", "0", "0"]
              for h in range(-30, 2)]
    data = seed_example(klines={"BTCUSDT": klines}, incidents=[
        {"id": 3, "kind": "STALE_INDEX", "start": 9 * HOUR - 5000, "end": 9 * HOUR + 5000, "symbol": "BTCUSDT"}])
    data["income"].append({"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-12", "asset": "USDT",
                           "time": 8 * HOUR, "tranId": 3, "tradeId": ""})
    r, = review(data)["liquidations"]
    assert r["trend"]["verdict"] == "against"         # a long at 50,000 below the falling 20-kline average
    assert r["funding"]["paid"] == "12" and r["loss"] == "111.5" and r["lossRate"] == "111.50%"
    assert r["appeal"]["eligible"] and r["appeal"]["incident"]["id"] == 3
    assert any("Funding" in x for x in r["recommendations"])


def test_nothing_to_review():
    out = review({})
    assert out["liquidations"] == [] and out["summary"]["advice"] == "No liquidation in the data."
    with pytest.raises(ValueError):
        D(0.5)


# ---------------------------------------------------------------------- the CLI
def test_cli_review_from_a_file_and_from_a_venue(tmp_path):
    path = tmp_path / "account.json"
    path.write_text(json.dumps(seed_example()))
    runner = CliRunner()
    res = runner.invoke(app, ["review", str(path)])
    assert res.exit_code == 0, res.output
    assert "What was the leverage?" in res.output and "99.50%" in res.output
    res = runner.invoke(app, ["review", str(path), "--json"])
    assert json.loads(res.output)["liquidations"][0]["lossRate"] == "99.50%"
    assert runner.invoke(app, ["review"]).exit_code == 2
    # a venue's data directory
    from perpsim.venue.venue import Venue
    venue = Venue(tmp_path / "venue", sync="OFF")
    for kind, args in [("create_account", {"deposit": {"USDT": P("1000")}}),
                       ("create_account", {"deposit": {"USDT": P("10000000")}}),
                       ("fund_insurance", {"asset": "USDT", "amount": P("10000000")}),
                       ("set_index", {"symbol": "BTCUSDT", "price": P("50000")}),
                       ("set_margin_type", {"account_id": 1, "symbol": "BTCUSDT", "margin_type": "ISOLATED"}),
                       ("set_leverage", {"account_id": 1, "symbol": "BTCUSDT", "leverage": 10}),
                       ("trade", {"buyer": 1, "seller": 2, "symbol": "BTCUSDT", "qty": P("0.01"), "price": P("50000")}),
                       ("set_index", {"symbol": "BTCUSDT", "price": P("44000")})]:
        assert venue.submit(kind, **args).ok
    venue.close()
    res = runner.invoke(app, ["review", "--data-dir", str(tmp_path / "venue"), "--account", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["summary"]["count"] == 1 and out["liquidations"][0]["leverage"] == 10
