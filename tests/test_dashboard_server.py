"""The server side of the dashboard: its pages and files on the API's port (a reload of any page gets the
page; no build -> how to build it, the API unaffected), and the /perpsim/v1 figures it shows, as decimal
strings."""
from decimal import Decimal

import pytest

import perpsim.binance.web as web
from serverkit import running_server


@pytest.fixture
def dist(tmp_path, monkeypatch):
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>dash</title>")
    (d / "assets" / "app.js").write_text("export {}")
    monkeypatch.setattr(web, "DIST", d)
    return d


def test_pages_assets_and_the_api_side_by_side(tmp_path, dist):
    with running_server(tmp_path / "v") as srv:
        for path in web.PAGES:
            r = srv.http.get(path)
            assert r.status_code == 200 and "<title>dash</title>" in r.text and r.headers["content-type"].startswith("text/html")
        r = srv.http.get("/assets/app.js")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        for bad in ("/assets/nope.js", "/assets/..%2F..%2Findex.html", "/assets/%2e%2e%2findex.html"):
            assert srv.http.get(bad).status_code == 404
        r = srv.http.get("/unknown-page")
        assert r.status_code == 404 and r.json()["code"] == -1000      # the API's answer, as before
        assert srv.http.get("/fapi/v1/ping").json() == {}


def test_without_a_build_the_page_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setattr(web, "DIST", tmp_path / "missing")
    with running_server(tmp_path / "v") as srv:
        r = srv.http.get("/positions")
        assert r.status_code == 503 and "make web" in r.text
        assert srv.http.get("/fapi/v1/time").status_code == 200


def test_figures_the_page_shows_are_decimal_strings(tmp_path):
    with running_server(tmp_path / "v") as srv:
        srv.admin("POST", "/admin/v1/insurance", {"asset": "USDT", "amount": "1000000"})
        srv.price("BTCUSDT", "60000")
        maker, acct = srv.account(deposit="1000000"), srv.account(deposit="1000")
        pv = srv.signed("GET", "/perpsim/v1/preview", acct, {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01",
                                                             "leverage": 20, "marginType": "ISOLATED"}).json()
        for k in ("liquidationPrice", "orderInitialMargin", "fee", "priceMoveToLiquidation", "shareOfAccountMargin"):
            assert isinstance(pv[k], str), k
        assert Decimal(pv["orderInitialMargin"]) == Decimal("30")      # 0.01 x 60,000 / 20
        assert srv.signed("POST", "/fapi/v1/marginType", acct, {"symbol": "BTCUSDT", "marginType": "ISOLATED"},
                          body=True).status_code == 200
        srv.signed("POST", "/fapi/v1/order", maker, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                                     "timeInForce": "GTC", "quantity": "0.01", "price": "60000"}, body=True)
        r = srv.signed("POST", "/fapi/v1/order", acct, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                        "quantity": "0.01"}, body=True)
        assert r.status_code == 200, r.text
        mr = srv.signed("GET", "/perpsim/v1/marginRatio", acct).json()
        (p,) = mr["positions"]
        risk = [x for x in srv.signed("GET", "/fapi/v2/positionRisk", acct, {"symbol": "BTCUSDT"}).json()
                if x["positionAmt"] != "0"][0]
        assert p["marginType"] == "ISOLATED" and Decimal(p["liquidationPrice"]) == Decimal(risk["liquidationPrice"])
        mb = Decimal(risk["isolatedWallet"]) + Decimal(risk["unRealizedProfit"])
        assert Decimal(p["marginBalance"]) == mb
        assert abs(Decimal(p["marginRatio"]) - Decimal(p["maintMargin"]) / mb) < Decimal("1e-8")
        srv.price("BTCUSDT", "56000")
        (rec,) = srv.signed("GET", "/perpsim/v1/liquidations", acct).json()
        assert rec["direction"] == "LONG" and rec["leverage"] == 20 and rec["adl"] is False
        assert isinstance(rec["executionPrice"], str) and rec["triggerPrice"] == rec["markPrice"]
        notes = srv.signed("GET", "/perpsim/v1/notifications", acct).json()
        liq = [n for n in notes if n["kind"] == "LIQUIDATION"][0]
        assert liq["loss"] == rec["loss"] and isinstance(liq["price"], str)
        assert srv.signed("GET", "/perpsim/v1/marginRatio", acct).json()["positions"] == []
