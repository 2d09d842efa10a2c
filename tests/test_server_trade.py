"""Trade and user-data endpoints through the real server: raw signed httpx calls and python-binance's
``Client`` (unmodified but for its base URLs, binance-api.md 1.2), and the user stream by listenKey."""
import asyncio
import json
import time
import urllib.parse

import pytest
from serverkit import running_server

from perpsim.binance.auth import sign


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def err(r, code):
    body = r.json()
    assert r.status_code >= 400 and set(body) == {"code", "msg"} and body["code"] == code, r.text
    return body


def post(srv, path, acct, params):
    return srv.signed("POST", path, acct, params, body=True)


def setup_book(srv, mm, ask="60010", bid="59990", qty="1"):
    """A market maker's two-sided quote around 60000."""
    for side, price in (("SELL", ask), ("BUY", bid)):
        o = ok(post(srv, "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "side": side, "type": "LIMIT",
                                                 "timeInForce": "GTC", "quantity": qty, "price": price}))
        assert o["status"] == "NEW"


ORDER_TYPES = {"orderId": int, "symbol": str, "status": str, "clientOrderId": str, "price": str, "avgPrice": str,
               "origQty": str, "executedQty": str, "cumQty": str, "cumQuote": str, "timeInForce": str, "type": str,
               "reduceOnly": bool, "closePosition": bool, "side": str, "positionSide": str, "stopPrice": str,
               "workingType": str, "priceProtect": bool, "origType": str, "priceMatch": str,
               "selfTradePreventionMode": str, "goodTillDate": int, "time": int, "updateTime": int}


def check_order_types(o):
    for k, t in ORDER_TYPES.items():
        assert isinstance(o[k], t) and not (t is int and isinstance(o[k], bool)), (k, o[k])


def test_orders_raw(tmp_path):
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        mm, tr = srv.account(deposit="1000000"), srv.account(deposit="10000")
        setup_book(srv, mm)
        # MARKET with RESULT: the final state
        m = ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                "quantity": "0.010", "newOrderRespType": "RESULT"}))
        check_order_types(m)
        assert (m["status"], m["executedQty"], m["avgPrice"][:7]) == ("FILLED", "0.010", "60010.0")
        assert float(m["cumQuote"]) == pytest.approx(600.1)
        # LIMIT with ACK (the default)
        lim = ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                  "timeInForce": "GTC", "quantity": "0.01", "price": "59000",
                                                  "newClientOrderId": "my-order-1"}))
        check_order_types(lim)
        assert (lim["status"], lim["price"], lim["clientOrderId"]) == ("NEW", "59000.0", "my-order-1")
        oid = lim["orderId"]
        q = ok(srv.signed("GET", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "orderId": oid}))
        assert q["orderId"] == oid and q["status"] == "NEW"
        assert ok(srv.signed("GET", "/fapi/v1/order", tr, {"symbol": "BTCUSDT",
                                                          "origClientOrderId": "my-order-1"}))["orderId"] == oid
        # another account never sees it
        err(srv.signed("GET", "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "orderId": oid}), -2013)
        err(srv.signed("GET", "/fapi/v1/openOrder", mm, {"symbol": "BTCUSDT", "orderId": oid}), -2013)
        err(srv.signed("DELETE", "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "orderId": oid}), -2011)
        err(srv.signed("PUT", "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "orderId": oid, "side": "BUY",
                                                      "quantity": "0.01", "price": "59100"}, body=True), -2013)
        # modify, list, cancel
        mod = ok(srv.signed("PUT", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "orderId": oid, "side": "BUY",
                                                          "quantity": "0.02", "price": "59100"}, body=True))
        assert (mod["price"], mod["origQty"]) == ("59100.0", "0.020")
        opens = ok(srv.signed("GET", "/fapi/v1/openOrders", tr, {"symbol": "BTCUSDT"}))
        assert [o["orderId"] for o in opens] == [oid]
        assert ok(srv.signed("GET", "/fapi/v1/openOrders", tr))[0]["orderId"] == oid
        assert ok(srv.signed("GET", "/fapi/v1/openOrder", tr, {"symbol": "BTCUSDT", "orderId": oid}))["orderId"] == oid
        c = ok(srv.signed("DELETE", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "orderId": oid}))
        assert c["status"] == "CANCELED"
        err(srv.signed("DELETE", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "orderId": oid}), -2011)
        err(srv.signed("GET", "/fapi/v1/openOrder", tr, {"symbol": "BTCUSDT", "orderId": oid}), -2013)
        alls = ok(srv.signed("GET", "/fapi/v1/allOrders", tr, {"symbol": "BTCUSDT"}))
        assert [(o["orderId"], o["status"]) for o in alls] == [(m["orderId"], "FILLED"), (oid, "CANCELED")]
        assert [o["orderId"] for o in ok(srv.signed("GET", "/fapi/v1/allOrders", tr, {
            "symbol": "BTCUSDT", "orderId": oid}))] == [oid]
        assert len(ok(srv.signed("GET", "/fapi/v1/allOrders", tr, {"symbol": "BTCUSDT", "limit": 1}))) == 1
        # conditional types belong to the algo service (quirk 1)
        err(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
                                             "quantity": "0.01", "stopPrice": "55000"}), -4120)
        err(post(srv, "/fapi/v1/order", tr, {"symbol": "NOPEUSDT", "side": "BUY", "type": "MARKET",
                                             "quantity": "0.01"}), -1121)
        # trades and income
        trades = ok(srv.signed("GET", "/fapi/v1/userTrades", tr, {"symbol": "BTCUSDT"}))
        assert len(trades) == 1
        t = trades[0]
        assert (t["orderId"], t["side"], t["maker"], t["buyer"], t["qty"], t["price"]) == (
            m["orderId"], "BUY", False, True, "0.010", "60010.0")
        assert isinstance(t["id"], int) and float(t["commission"]) > 0 and t["commissionAsset"] == "USDT"
        mk = ok(srv.signed("GET", "/fapi/v1/userTrades", mm, {"symbol": "BTCUSDT"}))
        assert len(mk) == 1 and mk[0]["maker"] is True and mk[0]["id"] == t["id"]
        inc = ok(srv.signed("GET", "/fapi/v1/income", tr))
        kinds = [i["incomeType"] for i in inc]
        assert "COMMISSION" in kinds and "TRANSFER" in kinds
        com = [i for i in inc if i["incomeType"] == "COMMISSION"]
        assert float(com[0]["income"]) == -float(t["commission"]) and isinstance(com[0]["tranId"], int)
        assert com[0]["tradeId"] == str(t["id"])
        assert all(isinstance(i["tradeId"], str) for i in inc)
        only = ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "COMMISSION"}))
        assert [i["incomeType"] for i in only] == ["COMMISSION"]
        assert ok(srv.signed("GET", "/fapi/v1/income", tr, {"startTime": int(time.time() * 1000) + 60_000})) == []
        # ADL quantile and positionRisk's adl
        adl = ok(srv.signed("GET", "/fapi/v1/adlQuantile", tr))
        assert adl[0]["symbol"] == "BTCUSDT" and isinstance(adl[0]["adlQuantile"]["BOTH"], int)
        pr = ok(srv.signed("GET", "/fapi/v3/positionRisk", tr, {"symbol": "BTCUSDT"}))
        assert isinstance(pr[0]["adl"], int) and 0 <= pr[0]["adl"] <= 4
        assert srv.state()["ledgerBalanced"] is True


def test_batch_orders_every_encoding(tmp_path):
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        tr = srv.account(deposit="100000")
        good = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                "price": "59000"}
        tiny = dict(good, quantity="0.0001")
        # ccxt: raw, unencoded JSON in a form body
        ts = int(time.time() * 1000)
        payload = f"timestamp={ts}&batchOrders=" + json.dumps([good, tiny], separators=(",", ":"))
        r = srv.http.post("/fapi/v1/batchOrders", content=payload + "&signature=" + sign(tr["secretKey"],
                                                                                              payload.encode()),
                          headers={"X-MBX-APIKEY": tr["apiKey"], "Content-Type": "application/x-www-form-urlencoded"})
        out = ok(r)
        assert out[0]["status"] == "NEW" and isinstance(out[0]["orderId"], int)
        assert set(out[1]) == {"code", "msg"} and out[1]["code"] == -4004
        # connector / SDK: percent-encoded JSON in the query
        out = ok(srv.signed("POST", "/fapi/v1/batchOrders", tr, {"batchOrders": json.dumps([good])}))
        assert out[0]["status"] == "NEW"
        # python-binance: a Python repr, percent-encoded in the body
        out = ok(srv.signed("POST", "/fapi/v1/batchOrders", tr, {"batchOrders": repr([dict(good, reduceOnly=False)])},
                            body=True))
        assert out[0]["status"] == "NEW"
        # twice percent-encoded
        twice = urllib.parse.quote(json.dumps([good]))
        out = ok(srv.signed("POST", "/fapi/v1/batchOrders", tr, {"batchOrders": twice}))
        assert out[0]["status"] == "NEW"
        err(srv.signed("POST", "/fapi/v1/batchOrders", tr, {"batchOrders": "[{not json"}), -1130)
        err(srv.signed("POST", "/fapi/v1/batchOrders", tr, {"batchOrders": json.dumps([good] * 6)}), -4082)
        # a conditional type in a batch: that item's -4120
        out = ok(srv.signed("POST", "/fapi/v1/batchOrders", tr, {"batchOrders": json.dumps(
            [good, dict(good, type="STOP", stopPrice="58000")])}))
        assert out[0]["status"] == "NEW" and out[1]["code"] == -4120
        ids = [o["orderId"] for o in ok(srv.signed("GET", "/fapi/v1/openOrders", tr, {"symbol": "BTCUSDT"}))]
        assert len(ids) == 5
        # modify two, cancel two by id list, the rest by cancel-all
        mods = ok(srv.signed("PUT", "/fapi/v1/batchOrders", tr, {"batchOrders": json.dumps([
            {"symbol": "BTCUSDT", "orderId": ids[0], "side": "BUY", "quantity": "0.02", "price": "59001"},
            {"symbol": "BTCUSDT", "orderId": 999999, "side": "BUY", "quantity": "0.02", "price": "59001"}])}))
        assert mods[0]["origQty"] == "0.020" and mods[1]["code"] == -2013
        cans = ok(srv.signed("DELETE", "/fapi/v1/batchOrders", tr, {"symbol": "BTCUSDT",
                                                                     "orderIdList": json.dumps(ids[:2] + [999999])}))
        assert [c.get("status") for c in cans[:2]] == ["CANCELED", "CANCELED"] and cans[2]["code"] == -2011
        r = ok(srv.signed("DELETE", "/fapi/v1/allOpenOrders", tr, {"symbol": "BTCUSDT"}))
        assert r == {"code": 200, "msg": "The operation of cancel all open order is done."}
        assert ok(srv.signed("GET", "/fapi/v1/openOrders", tr, {"symbol": "BTCUSDT"})) == []


def test_algo_orders_and_legacy_switch(tmp_path):
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        mm, tr = srv.account(deposit="1000000"), srv.account(deposit="10000")
        setup_book(srv, mm)
        ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}))
        a = ok(post(srv, "/fapi/v1/algoOrder", tr, {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                                                    "type": "STOP_MARKET", "quantity": "0.01", "triggerPrice": "55000",
                                                    "reduceOnly": "true", "clientAlgoId": "stop-1"}))
        assert (a["algoStatus"], a["orderType"], a["triggerPrice"], a["quantity"], a["reduceOnly"]) == (
            "NEW", "STOP_MARKET", "55000.0", "0.010", True)
        assert isinstance(a["algoId"], int) and a["icebergQuantity"] is None and a["activatePrice"] == ""
        aid = a["algoId"]
        assert ok(srv.signed("GET", "/fapi/v1/algoOrder", tr, {"algoId": aid}))["clientAlgoId"] == "stop-1"
        assert ok(srv.signed("GET", "/fapi/v1/algoOrder", tr, {"clientAlgoId": "stop-1"}))["algoId"] == aid
        err(srv.signed("GET", "/fapi/v1/algoOrder", mm, {"algoId": aid}), -2013)
        err(srv.signed("DELETE", "/fapi/v1/algoOrder", mm, {"algoId": aid}), -2011)
        assert [x["algoId"] for x in ok(srv.signed("GET", "/fapi/v1/openAlgoOrders", tr))] == [aid]
        # would trigger at once
        err(post(srv, "/fapi/v1/algoOrder", tr, {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                                                 "type": "STOP_MARKET", "quantity": "0.01", "triggerPrice": "65000"}),
            -2021)
        c = ok(srv.signed("DELETE", "/fapi/v1/algoOrder", tr, {"algoId": aid}))
        assert c == {"algoId": aid, "clientAlgoId": "stop-1", "code": "200", "msg": "success"}
        err(srv.signed("DELETE", "/fapi/v1/algoOrder", tr, {"algoId": aid}), -2011)
        hist = ok(srv.signed("GET", "/fapi/v1/allAlgoOrders", tr, {"symbol": "BTCUSDT"}))
        assert [(x["algoId"], x["algoStatus"]) for x in hist] == [(aid, "CANCELED")]
        # a trailing stop, then cancel all
        t = ok(post(srv, "/fapi/v1/algoOrder", tr, {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                                                    "type": "TRAILING_STOP_MARKET", "quantity": "0.01",
                                                    "callbackRate": "1", "reduceOnly": "true"}))
        assert t["callbackRate"] == "1.0" and t["orderType"] == "TRAILING_STOP_MARKET"
        ok(srv.signed("DELETE", "/fapi/v1/algoOpenOrders", tr, {"symbol": "BTCUSDT"}))
        assert ok(srv.signed("GET", "/fapi/v1/openAlgoOrders", tr, {"symbol": "BTCUSDT"})) == []
        # a take-profit that fires: the market trades up through it
        tp = ok(post(srv, "/fapi/v1/algoOrder", tr, {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                                                     "type": "TAKE_PROFIT_MARKET", "triggerPrice": "60500",
                                                     "closePosition": "true", "workingType": "MARK_PRICE"}))
        srv.price("BTCUSDT", "60600")
        fired = ok(srv.signed("GET", "/fapi/v1/algoOrder", tr, {"algoId": tp["algoId"]}))
        assert fired["algoStatus"] in ("TRIGGERED", "FINISHED") and fired["actualOrderId"]
        pos = ok(srv.signed("GET", "/fapi/v3/positionRisk", tr, {"symbol": "BTCUSDT"}))
        assert pos == [] or float(pos[0]["positionAmt"]) == 0
        # the legacy switch: conditional types accepted on /fapi/v1/order (for binance-futures-connector)
        srv.admin("POST", "/admin/v1/settings", {"name": "legacy_conditional_orders", "value": True})
        lo = ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
                                                 "quantity": "0.01", "stopPrice": "65000"}))
        assert (lo["type"], lo["status"], lo["stopPrice"]) == ("STOP_MARKET", "NEW", "65000.0")
        algo_id = ok(srv.signed("GET", "/fapi/v1/openAlgoOrders", tr))[0]["algoId"]
        assert lo["orderId"] == 10**12 + algo_id   # one id space with the regular orders
        ref = {"symbol": "BTCUSDT", "orderId": lo["orderId"]}
        assert ok(srv.signed("GET", "/fapi/v1/order", tr, ref))["type"] == "STOP_MARKET"
        assert ok(srv.signed("GET", "/fapi/v1/openOrder", tr, ref))["orderId"] == lo["orderId"]
        assert [o["orderId"] for o in ok(srv.signed("GET", "/fapi/v1/openOrders", tr))] == [lo["orderId"]]
        err(srv.signed("GET", "/fapi/v1/order", mm, ref), -2013)
        err(srv.signed("DELETE", "/fapi/v1/order", mm, ref), -2011)
        assert ok(srv.signed("DELETE", "/fapi/v1/order", tr, ref))["status"] == "CANCELED"
        err(srv.signed("DELETE", "/fapi/v1/order", tr, ref), -2011)
        by_cid = ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
                                                     "quantity": "0.01", "stopPrice": "65000",
                                                     "newClientOrderId": "legacy-stop"}))
        assert ok(srv.signed("DELETE", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "origClientOrderId": "legacy-stop"}
                             ))["orderId"] == by_cid["orderId"]
        srv.admin("POST", "/admin/v1/settings", {"name": "legacy_conditional_orders", "value": False})
        err(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
                                             "quantity": "0.01", "stopPrice": "65000"}), -4120)


def test_python_binance_client(tmp_path):
    from binance.client import Client
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        mm, tr = srv.account(deposit="1000000"), srv.account(deposit="10000")
        setup_book(srv, mm)
        client = Client(tr["apiKey"], tr["secretKey"], ping=False)
        client.API_URL = srv.base + "/api"
        client.FUTURES_URL = srv.base + "/fapi"
        client.FUTURES_DATA_URL = srv.base + "/futures/data"
        try:
            m = client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
                                            newOrderRespType="RESULT")
            assert m["status"] == "FILLED" and m["clientOrderId"].startswith("x-Cb7ytekJ")
            lim = client.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                              quantity="0.01", price="59000")
            assert lim["status"] == "NEW"
            assert client.futures_get_order(symbol="BTCUSDT", orderId=lim["orderId"])["status"] == "NEW"
            assert [o["orderId"] for o in client.futures_get_open_orders(symbol="BTCUSDT")] == [lim["orderId"]]
            mod = client.futures_modify_order(symbol="BTCUSDT", orderId=lim["orderId"], side="BUY",
                                              quantity="0.01", price="59100")
            assert mod["price"] == "59100.0"
            assert client.futures_cancel_order(symbol="BTCUSDT", orderId=lim["orderId"])["status"] == "CANCELED"
            from binance.exceptions import BinanceAPIException
            with pytest.raises(BinanceAPIException) as e:
                client.futures_cancel_order(symbol="BTCUSDT", orderId=lim["orderId"])
            assert e.value.code == -2011
            # conditional orders go to the algo service by themselves
            stop = client.futures_create_order(symbol="BTCUSDT", side="SELL", type="STOP_MARKET",
                                               stopPrice="55000", closePosition="true")
            assert stop["algoStatus"] == "NEW" and stop["closePosition"] is True
            assert client.futures_get_open_orders(symbol="BTCUSDT", conditional=True)[0]["algoId"] == stop["algoId"]
            c = client.futures_cancel_order(symbol="BTCUSDT", algoId=stop["algoId"])
            assert c["code"] == "200"
            batch = client.futures_place_batch_order(batchOrders=[
                {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                 "price": "58000"},
                {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                 "price": "58001"}])
            assert [b["status"] for b in batch] == ["NEW", "NEW"]
            assert len(client.futures_get_all_orders(symbol="BTCUSDT")) == 4
            client.futures_cancel_all_open_orders(symbol="BTCUSDT")
            trades = client.futures_account_trades(symbol="BTCUSDT")
            assert len(trades) == 1 and trades[0]["orderId"] == m["orderId"]
            income = client.futures_income_history()
            assert {"TRANSFER", "COMMISSION"} <= {i["incomeType"] for i in income}
            assert client.futures_adl_quantile_estimate(symbol="BTCUSDT")[0]["adlQuantile"]["BOTH"] >= 0
            assert client.futures_liquidation_orders() == []
        finally:
            client.close_connection()


def _user_streams(srv, accts, action, until, timeout=10.0):
    """Connect to /private/ws?listenKey=K for each account, run ``action`` (blocking, in a thread),
    collect messages until ``until(lists of messages)``."""
    keys = [srv.http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": a["apiKey"]}).json()["listenKey"]
            for a in accts]

    async def main():
        import websockets
        msgs = [[] for _ in keys]
        conns = [await websockets.connect(f"{srv.ws}/private/ws?listenKey={k}") for k in keys]
        try:
            await asyncio.sleep(0.2)
            await asyncio.get_running_loop().run_in_executor(None, action)
            deadline = time.time() + timeout
            while time.time() < deadline and not until(msgs):
                for i, ws in enumerate(conns):
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.05)
                    except asyncio.TimeoutError:
                        continue
                    msgs[i].append(json.loads(raw))
        finally:
            for ws in conns:
                await ws.close()
        return msgs
    return asyncio.run(main())


def _user_stream(srv, acct, action, until, timeout=10.0):
    return _user_streams(srv, [acct], action, lambda ms: until(ms[0]), timeout)[0]


def test_user_stream_orders_and_algo(tmp_path):
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        mm, tr = srv.account(deposit="1000000"), srv.account(deposit="10000")
        setup_book(srv, mm)

        def act():
            ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                "quantity": "0.01", "newClientOrderId": "mkt-1"}))
            a = ok(post(srv, "/fapi/v1/algoOrder", tr, {"algoType": "CONDITIONAL", "symbol": "BTCUSDT",
                                                        "side": "SELL", "type": "STOP_MARKET", "quantity": "0.01",
                                                        "triggerPrice": "55000", "reduceOnly": "true"}))
            ok(srv.signed("DELETE", "/fapi/v1/algoOrder", tr, {"algoId": a["algoId"]}))

        msgs = _user_stream(srv, tr, act, lambda ms: sum(m.get("e") == "ALGO_UPDATE" for m in ms) >= 2)
        otu = [m["o"] for m in msgs if m["e"] == "ORDER_TRADE_UPDATE"]
        assert [(o["x"], o["X"]) for o in otu] == [("NEW", "NEW"), ("TRADE", "FILLED")]
        fill = otu[1]
        assert (fill["c"], fill["o"], fill["l"], fill["z"], fill["L"], fill["N"], fill["m"]) == (
            "mkt-1", "MARKET", "0.010", "0.010", "60010.0", "USDT", False)
        assert isinstance(fill["i"], int) and isinstance(fill["t"], int) and float(fill["n"]) > 0
        au = [m["a"] for m in msgs if m["e"] == "ACCOUNT_UPDATE" and m["a"]["m"] == "ORDER"]
        assert au and au[0]["P"][0]["ep"] == "60010.0" and float(au[0]["P"][0]["bep"]) > 60010
        assert any(m["e"] == "TRADE_LITE" for m in msgs)
        algo = [m["o"] for m in msgs if m["e"] == "ALGO_UPDATE"]
        assert [a["X"] for a in algo] == ["NEW", "CANCELED"] and algo[0]["tp"] == "55000.0"
        assert isinstance(algo[0]["aid"], int) and algo[0]["ai"] == ""


@pytest.mark.parametrize("path", ["book", "insurance", "adl"])
def test_liquidation_force_orders_and_user_stream(tmp_path, path):
    """A small isolated long at high leverage, the price down: liquidated through the book (a market
    maker's bid), or with no bid taken over by the insurance fund, or with an empty fund closed
    against the market maker's short by ADL."""
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        if path != "adl":
            srv.admin("POST", "/admin/v1/insurance", {"asset": "USDT", "amount": "1000000"})
        mm, tr = srv.account(deposit="1000000"), srv.account(deposit="1000")
        ok(post(srv, "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                            "timeInForce": "GTC", "quantity": "1", "price": "60000"}))
        ok(post(srv, "/fapi/v1/marginType", tr, {"symbol": "BTCUSDT", "marginType": "ISOLATED"}))
        ok(post(srv, "/fapi/v1/leverage", tr, {"symbol": "BTCUSDT", "leverage": 20}))
        ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}))
        ok(srv.signed("DELETE", "/fapi/v1/allOpenOrders", mm, {"symbol": "BTCUSDT"}))
        if path == "book":   # a bid above the bankruptcy price (57000 at 20x) for the liquidation's IOC order
            ok(post(srv, "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                "timeInForce": "GTC", "quantity": "1", "price": "57100"}))
        def crash():
            srv.price("BTCUSDT", "57150")

        def done(ms):
            return any(m.get("e") == "ORDER_TRADE_UPDATE" and m["o"]["c"].startswith("autoclose-")
                       and m["o"]["X"] == "FILLED" for m in ms[0]) and \
                any(m.get("e") == "ACCOUNT_UPDATE" for m in ms[0]) and (
                    path != "adl" or any(m.get("e") == "ACCOUNT_UPDATE" for m in ms[1]))

        msgs, mm_msgs = _user_streams(srv, [tr, mm], crash, done)
        liq = [m["o"] for m in msgs if m["e"] == "ORDER_TRADE_UPDATE" and m["o"]["c"].startswith("autoclose-")]
        assert len(liq) == 1, msgs            # one fill: the book's bid, the fund's takeover or one ADL close
        o = liq[0]
        assert (o["o"], o["ot"], o["x"], o["X"], o["S"], o["f"], o["R"]) == (
            "LIMIT", "LIMIT", "CALCULATED", "FILLED", "SELL", "IOC", False)
        assert isinstance(o["t"], int) and o["t"] > 0
        assert o["l"] == o["z"] == "0.100" and float(o["ap"]) > 0 and float(o["rp"]) < 0
        assert isinstance(o["i"], int) and o["i"] > 0
        au = [m["a"] for m in msgs if m["e"] == "ACCOUNT_UPDATE"]
        assert au and au[-1]["m"] == "ORDER" and au[-1]["P"][0]["pa"] == "0.000"
        if path == "book":
            assert float(o["ap"]) == pytest.approx(57100)
        else:
            assert float(o["ap"]) == pytest.approx(57000)
        fo = ok(srv.signed("GET", "/fapi/v1/forceOrders", tr, {"autoCloseType": "LIQUIDATION"}))
        assert len(fo) == 1
        f = fo[0]
        assert (f["symbol"], f["status"], f["side"], f["executedQty"], f["timeInForce"]) == (
            "BTCUSDT", "FILLED", "SELL", "0.100", "IOC")
        assert f["clientOrderId"] == o["c"] and f["avgPrice"] == o["ap"] and f["orderId"] == o["i"]
        assert isinstance(f["updateTime"], int)
        assert ok(srv.signed("GET", "/fapi/v1/forceOrders", tr, {"autoCloseType": "ADL"})) == []
        mm_force = ok(srv.signed("GET", "/fapi/v1/forceOrders", mm))
        if path == "adl":
            assert [(x["clientOrderId"], x["side"], x["executedQty"]) for x in mm_force] == [
                ("adl_autoclose", "BUY", "0.100")]
            assert float(mm_force[0]["avgPrice"]) == pytest.approx(57000)
        else:
            assert mm_force == []
        pos = ok(srv.signed("GET", "/fapi/v3/positionRisk", tr, {"symbol": "BTCUSDT"}))
        assert pos == [] or float(pos[0]["positionAmt"]) == 0
        inc = ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "REALIZED_PNL"}))
        assert inc and float(inc[-1]["income"]) < 0
        assert inc[-1]["tradeId"] == str(o["t"])
        trades = ok(srv.signed("GET", "/fapi/v1/userTrades", tr, {"symbol": "BTCUSDT"}))
        assert (trades[-1]["orderId"], trades[-1]["id"], trades[-1]["side"], trades[-1]["qty"]) == (
            o["i"], o["t"], "SELL", "0.100")
        order = ok(srv.signed("GET", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "orderId": o["i"]}))
        assert (order["status"], order["type"], order["executedQty"], order["avgPrice"], order["clientOrderId"]) == (
            "FILLED", "LIMIT", "0.100", o["ap"], o["c"])
        listed = ok(srv.signed("GET", "/fapi/v1/allOrders", tr, {"symbol": "BTCUSDT"}))
        assert [x for x in listed if x["orderId"] == o["i"]] == [order]
        assert {k: f[k] for k in f} == {k: order[k] for k in f if k != "reduceOnly"} | {"reduceOnly": False}
        assert srv.state()["ledgerBalanced"] is True
        adl = [m["o"] for m in mm_msgs if m["e"] == "ORDER_TRADE_UPDATE"]
        if path == "adl":   # the counterparty's stream: its close, with adl_autoclose
            assert [(x["c"], x["x"], x["X"], x["S"], x["l"]) for x in adl] == [
                ("adl_autoclose", "CALCULATED", "FILLED", "BUY", "0.100")]
            assert float(adl[0]["L"]) == pytest.approx(57000) and float(adl[0]["rp"]) > 0
            assert any(m["e"] == "ACCOUNT_UPDATE" for m in mm_msgs)
        else:
            assert all(x["c"] != "adl_autoclose" for x in adl)


def test_position_margin_history(tmp_path):
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        mm, tr = srv.account(deposit="1000000"), srv.account(deposit="10000")
        setup_book(srv, mm)
        ok(post(srv, "/fapi/v1/marginType", tr, {"symbol": "BTCUSDT", "marginType": "ISOLATED"}))
        ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}))
        ok(post(srv, "/fapi/v1/positionMargin", tr, {"symbol": "BTCUSDT", "amount": "10", "type": 1}))
        ok(post(srv, "/fapi/v1/positionMargin", tr, {"symbol": "BTCUSDT", "amount": "5", "type": 2}))
        h = ok(srv.signed("GET", "/fapi/v1/positionMargin/history", tr, {"symbol": "BTCUSDT"}))
        assert [(x["type"], x["amount"], x["deltaType"], x["positionSide"]) for x in h] == [
            (1, "10", "USER_ADJUST", "BOTH"), (2, "5", "USER_ADJUST", "BOTH")]
        assert [x["type"] for x in ok(srv.signed("GET", "/fapi/v1/positionMargin/history", tr,
                                                 {"symbol": "BTCUSDT", "type": 2}))] == [2]


def test_history_queries(tmp_path):
    """userTrades by orderId and fromId, income pages and ranges, allOrders windows."""
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        mm, tr = srv.account(deposit="1000000"), srv.account(deposit="10000")
        setup_book(srv, mm, qty="5")
        ids = [ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                   "quantity": "0.01"}))["orderId"] for _ in range(3)]
        trades = ok(srv.signed("GET", "/fapi/v1/userTrades", tr, {"symbol": "BTCUSDT"}))
        assert [t["orderId"] for t in trades] == ids
        assert [t["orderId"] for t in ok(srv.signed("GET", "/fapi/v1/userTrades", tr, {
            "symbol": "BTCUSDT", "orderId": ids[1]}))] == [ids[1]]
        assert [t["id"] for t in ok(srv.signed("GET", "/fapi/v1/userTrades", tr, {
            "symbol": "BTCUSDT", "fromId": trades[1]["id"], "limit": 1}))] == [trades[1]["id"]]
        assert len(ok(srv.signed("GET", "/fapi/v1/userTrades", tr, {"symbol": "BTCUSDT", "limit": 2}))) == 2
        err(srv.signed("GET", "/fapi/v1/userTrades", tr, {"symbol": "BTCUSDT", "startTime": 0,
                                                          "endTime": 8 * 24 * 3600 * 1000}), -1127)
        assert ok(srv.signed("GET", "/fapi/v1/userTrades", tr, {"symbol": "ETHUSDT"})) == []
        com = ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "COMMISSION"}))
        assert len(com) == 3 and len({c["tranId"] for c in com}) == 3
        page1 = ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "COMMISSION", "limit": 2}))
        page2 = ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "COMMISSION", "limit": 2, "page": 2}))
        assert [c["tranId"] for c in page2 + page1] == [c["tranId"] for c in com]
        assert ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "COMMISSION", "limit": 2, "page": 3})) == []
        since = ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "COMMISSION", "startTime": 0, "limit": 2}))
        assert [c["tranId"] for c in since] == [c["tranId"] for c in com[:2]]
        assert ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "FUNDING_FEE"})) == []
        assert ok(srv.signed("GET", "/fapi/v1/income", tr, {"symbol": "ETHUSDT"})) == []
        alls = ok(srv.signed("GET", "/fapi/v1/allOrders", tr, {"symbol": "BTCUSDT", "startTime": 0, "limit": 2}))
        assert [o["orderId"] for o in alls] == ids[:2]
        assert [o["orderId"] for o in ok(srv.signed("GET", "/fapi/v1/allOrders", tr, {
            "symbol": "BTCUSDT", "limit": 2}))] == ids[1:]
        assert ok(srv.signed("GET", "/fapi/v1/allOrders", mm, {"symbol": "BTCUSDT", "orderId": ids[0]})) == []
        assert not {o["orderId"] for o in ok(srv.signed("GET", "/fapi/v1/allOrders", mm, {"symbol": "BTCUSDT"}))} & set(ids)
        err(srv.signed("GET", "/fapi/v1/allOrders", tr, {"symbol": "BTCUSDT", "orderId": "9" * 20}), -1130)
