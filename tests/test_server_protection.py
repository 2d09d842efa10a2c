"""Trader protection through the server with a real client (python-binance): three liquidations in a
row, then an order refused until the risk test is passed, then accepted (issue 7)."""
import json

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from serverkit import running_server


def client(srv, acct) -> Client:
    c = Client(acct["apiKey"], acct["secretKey"], ping=False)
    c.FUTURES_URL = srv.base + "/fapi"
    c.API_URL = srv.base + "/api"
    return c


def position(c: Client) -> float:
    """positionAmt of BTCUSDT; v3 positionRisk lists only symbols with a position or orders."""
    return sum(float(r["positionAmt"]) for r in c.futures_position_information(symbol="BTCUSDT"))


def test_three_liquidations_then_the_risk_test(tmp_path):
    with running_server(tmp_path) as srv:
        srv.admin("POST", "/admin/v1/insurance", {"asset": "USDT", "amount": "1000000"})
        srv.price("BTCUSDT", "60000")
        maker = client(srv, srv.account(deposit="1000000"))
        acct = srv.account(deposit="1000")
        trader = client(srv, acct)
        trader.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED")
        for round_ in range(3):
            maker.futures_create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                       quantity="0.01", price="60000")
            trader.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
            assert position(trader) == 0.01
            srv.price("BTCUSDT", "56000")                      # below the 20x long's ~57,230 liquidation price
            assert position(trader) == 0
            srv.price("BTCUSDT", "60000")
        force = trader.futures_liquidation_orders(symbol="BTCUSDT")
        assert len(force) == 3
        history = srv.signed("GET", "/perpsim/v1/liquidations", acct).json()
        assert len(history) == 3
        review = srv.signed("GET", "/perpsim/v1/reviews", acct).json()
        assert len(review["liquidations"]) == 3 and review["cumulative"][-1]["liquidations"] == 3
        assert review["liquidations"][0]["leverage"] == 20
        # the endpoint reads the account's history rows; a full replay of the journal is the oracle
        from perpsim.review import from_data_dir, review as review_of
        from perpsim.review.export import from_history
        svc = srv.service
        replayed = from_data_dir(svc.venue.journal.path.parent, acct["accountId"])
        direct = from_history(svc.sql, svc.read, acct["accountId"])
        for key in ("userTrades", "income", "forceOrders", "configUpdates", "algoOrders", "incidents"):
            assert direct[key] == replayed[key], key
        assert len(direct["forceOrders"]) == 3 and direct["userTrades"]
        without_klines = [review_of({**d, "klines": {}}) for d in (direct, replayed)]
        assert without_klines[0] == without_klines[1]

        maker.futures_create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                   quantity="0.01", price="60000")
        with pytest.raises(BinanceAPIException) as e:
            trader.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
        assert e.value.code == -4087 and "risk test" in e.value.message.lower()
        status = srv.signed("GET", "/perpsim/v1/status", acct).json()
        assert "RISK_TEST" in json.dumps(status)
        # spot, funding and API access are untouched by the restriction
        assert trader.futures_account_balance()[0]["asset"] == "USDT"

        questions = srv.signed("POST", "/perpsim/v1/riskTest", acct, body=True).json()["questions"]
        assert len(questions) >= 4 and all("answer" not in q for q in questions)
        wrong = [(srv.service.read(lambda ex: ex.guard.get(acct["accountId"]).quiz["answers"][i]) + 1)
                 % len(q["options"]) for i, q in enumerate(questions)]
        r = srv.signed("POST", "/perpsim/v1/riskTest/answers", acct, {"answers": json.dumps(wrong)}, body=True)
        assert r.json()["passed"] is False
        with pytest.raises(BinanceAPIException):
            trader.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")

        srv.signed("POST", "/perpsim/v1/riskTest", acct, body=True)
        answers = srv.service.read(lambda ex: list(ex.guard.get(acct["accountId"]).quiz["answers"]))
        r = srv.signed("POST", "/perpsim/v1/riskTest/answers", acct, {"answers": json.dumps(answers)}, body=True)
        assert r.json()["passed"] is True
        trader.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
        assert position(trader) == 0.01
        assert srv.state()["ledgerBalanced"] is True


def test_preview_and_review_endpoints(tmp_path):
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        acct = srv.account(deposit="10000")
        r = srv.signed("GET", "/perpsim/v1/preview", acct,
                       {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.5", "leverage": 50, "marginType": "CROSSED"})
        body = r.json()
        assert r.status_code == 200, body
        text = json.dumps(body)
        assert "HIGH_LEVERAGE" in text and "NO_STOP_LOSS" in text
        r = srv.signed("GET", "/perpsim/v1/reviews", acct)
        assert r.status_code == 200 and r.json()["liquidations"] == []
        r = srv.signed("POST", "/perpsim/v1/coolingOff", acct, {"period": "24H"}, body=True)
        assert r.status_code == 200
        r = srv.signed("POST", "/fapi/v1/order", acct, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                        "quantity": "0.01"}, body=True)
        assert r.json()["code"] == -4192


def test_notifications_are_posted_to_the_webhook(tmp_path):
    import http.server
    import threading
    import time

    received = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        with running_server(tmp_path) as srv:
            srv.admin("POST", "/admin/v1/insurance", {"asset": "USDT", "amount": "1000000"})
            srv.price("BTCUSDT", "60000")
            maker = client(srv, srv.account(deposit="1000000"))
            acct = srv.account(deposit="1000")
            trader = client(srv, acct)
            url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
            assert srv.signed("POST", "/perpsim/v1/webhook", acct, {"url": url}, body=True).status_code == 200
            trader.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED")
            maker.futures_create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                       quantity="0.01", price="60000")
            trader.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
            srv.price("BTCUSDT", "56000")
            deadline = time.time() + 10
            while not any(r["kind"] == "LIQUIDATION" for r in received) and time.time() < deadline:
                time.sleep(0.05)
    finally:
        hook.shutdown()
    kinds = {r["kind"] for r in received}
    assert "LIQUIDATION" in kinds and all(r["accountId"] == acct["accountId"] for r in received)
