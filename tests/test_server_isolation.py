"""Account isolation on the running server: no key reads or changes another account; permissions; admin token.

Two traders, A and B, each with a resting order, an algo order, a position (against a maker),
trades, income and a listen key. Every read with A's key shows A's and only A's; every attempt
with A's key on B's order ids, client ids, algo ids or listen key is refused and leaves B as it was.
"""
from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import pytest
import websockets

from serverkit import ADMIN_TOKEN, RunningServer

SYM = "BTCUSDT"


def ok(r):
    assert r.status_code == 200, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}"
    return r.json()


def err(r, code: int | None = None, status: int | None = None):
    assert r.status_code >= 400, f"{r.request.method} {r.request.url.path} accepted: {r.text[:300]}"
    doc = r.json()
    assert set(doc) == {"code", "msg"}, doc
    if code is not None:
        assert doc["code"] == code, f"{r.request.method} {r.request.url.path}: {doc}"
    if status is not None:
        assert r.status_code == status, r.status_code
    return doc


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    srv = RunningServer(tmp_path_factory.mktemp("iso")).start()
    srv.price(SYM, "60000")
    maker = srv.account(deposit="1000000")
    A, B = srv.account(deposit="10000"), srv.account(deposit="20000")
    w = {"srv": srv, "A": A, "B": B}
    ok(srv.signed("POST", "/fapi/v1/order", maker, {"symbol": SYM, "side": "SELL", "type": "LIMIT",
                                                    "timeInForce": "GTC", "quantity": "0.100", "price": "60000"}))
    for name, qty, cid in (("A", "0.010", "same-client-id"), ("B", "0.020", "same-client-id")):
        acct = w[name]
        fill = ok(srv.signed("POST", "/fapi/v1/order", acct, {"symbol": SYM, "side": "BUY", "type": "MARKET",
                                                              "quantity": qty}))
        rest = ok(srv.signed("POST", "/fapi/v1/order", acct, {"symbol": SYM, "side": "BUY", "type": "LIMIT",
                                                              "timeInForce": "GTC", "quantity": "0.002",
                                                              "price": "58000", "newClientOrderId": cid}))
        algo = ok(srv.signed("POST", "/fapi/v1/algoOrder", acct, {"algoType": "CONDITIONAL", "symbol": SYM,
                                                                  "side": "SELL", "type": "STOP_MARKET",
                                                                  "quantity": "0.002", "triggerPrice": "55000",
                                                                  "clientAlgoId": cid}))
        lk = ok(srv.http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": acct["apiKey"]}))["listenKey"]
        w[name + "fill"], w[name + "rest"], w[name + "algo"], w[name + "lk"] = fill, rest, algo, lk
    yield w
    srv.stop()


def snapshot(srv, acct) -> dict:
    """Everything an account owns, as it reads it."""
    g = lambda path, **p: ok(srv.signed("GET", path, acct, p))  # noqa: E731
    return {"account": _strip_times(g("/fapi/v3/account")), "positions": _strip_times(g("/fapi/v3/positionRisk")),
            "open": g("/fapi/v1/openOrders", symbol=SYM), "algo": g("/fapi/v1/openAlgoOrders"),
            "trades": g("/fapi/v1/userTrades", symbol=SYM), "income": g("/fapi/v1/income"),
            "config": g("/fapi/v1/symbolConfig", symbol=SYM)}


def _strip_times(doc):
    if isinstance(doc, dict):
        return {k: _strip_times(v) for k, v in doc.items() if k != "updateTime"}
    if isinstance(doc, list):
        return [_strip_times(x) for x in doc]
    return doc


def test_reads_show_only_ones_own(world):
    srv, A, B = world["srv"], world["A"], world["B"]
    a, b = snapshot(srv, A), snapshot(srv, B)
    assert [o["orderId"] for o in a["open"]] == [world["Arest"]["orderId"]]
    assert [o["orderId"] for o in b["open"]] == [world["Brest"]["orderId"]]
    assert [o["algoId"] for o in a["algo"]] == [world["Aalgo"]["algoId"]]
    assert {t["orderId"] for t in a["trades"]} == {world["Afill"]["orderId"]}
    assert {t["orderId"] for t in b["trades"]} == {world["Bfill"]["orderId"]}
    assert [p["positionAmt"] for p in a["positions"] if float(p["positionAmt"])] == ["0.010"]
    assert [p["positionAmt"] for p in b["positions"] if float(p["positionAmt"])] == ["0.020"]
    assert Decimal(a["account"]["totalWalletBalance"]) < 10000 < Decimal(b["account"]["totalWalletBalance"])
    assert a["income"] and b["income"]
    assert {i["tradeId"] for i in a["income"] if i["tradeId"]} <= {str(t["id"]) for t in a["trades"]}
    assert not {i["tranId"] for i in a["income"]} & {i["tranId"] for i in b["income"]}
    all_a = ok(srv.signed("GET", "/fapi/v1/allOrders", A, {"symbol": SYM}))
    assert {o["orderId"] for o in all_a} == {world["Afill"]["orderId"], world["Arest"]["orderId"]}
    # the same client order id on both accounts: each key finds its own
    mine = ok(srv.signed("GET", "/fapi/v1/order", A, {"symbol": SYM, "origClientOrderId": "same-client-id"}))
    assert mine["orderId"] == world["Arest"]["orderId"]
    mine = ok(srv.signed("GET", "/fapi/v1/algoOrder", A, {"clientAlgoId": "same-client-id"}))
    assert mine["algoId"] == world["Aalgo"]["algoId"]
    assert world["Alk"] != world["Blk"]


def test_another_accounts_ids_are_refused(world):
    srv, A, B = world["srv"], world["A"], world["B"]
    before = snapshot(srv, B)
    boid, balgo = world["Brest"]["orderId"], world["Balgo"]["algoId"]
    s = lambda m, path, **p: srv.signed(m, path, A, p)  # noqa: E731
    err(s("GET", "/fapi/v1/order", symbol=SYM, orderId=boid), -2013)
    err(s("GET", "/fapi/v1/openOrder", symbol=SYM, orderId=boid), -2013)
    err(s("DELETE", "/fapi/v1/order", symbol=SYM, orderId=boid), -2011)
    err(s("PUT", "/fapi/v1/order", symbol=SYM, orderId=boid, side="BUY", quantity="0.002", price="58100"))
    items = ok(s("DELETE", "/fapi/v1/batchOrders", symbol=SYM, orderIdList=f"[{boid}]"))
    assert [i.get("code") for i in items] == [-2011]
    err(s("GET", "/fapi/v1/algoOrder", algoId=balgo))
    err(s("DELETE", "/fapi/v1/algoOrder", algoId=balgo))
    assert ok(s("GET", "/fapi/v1/userTrades", symbol=SYM, orderId=world["Bfill"]["orderId"])) == []
    # A's "cancel everything" cancels A's
    ok(s("DELETE", "/fapi/v1/allOpenOrders", symbol=SYM))
    ok(s("DELETE", "/fapi/v1/algoOpenOrders", symbol=SYM))
    assert ok(s("GET", "/fapi/v1/openOrders", symbol=SYM)) == []
    # A's settings and transfers move A's
    ok(s("POST", "/fapi/v1/leverage", symbol=SYM, leverage=7))
    ok(s("POST", "/sapi/v1/asset/transfer", type="UMFUTURE_MAIN", asset="USDT", amount="10"))
    after = snapshot(srv, B)
    assert after == before, "an operation with A's key changed B"


def test_listen_keys(world):
    srv, A, B = world["srv"], world["A"], world["B"]
    ha, hb = {"X-MBX-APIKEY": A["apiKey"]}, {"X-MBX-APIKEY": B["apiKey"]}
    err(srv.http.put("/fapi/v1/listenKey", params={"listenKey": world["Blk"]}, headers=ha), -1125)
    srv.http.delete("/fapi/v1/listenKey", params={"listenKey": world["Blk"]}, headers=ha)
    assert ok(srv.http.put("/fapi/v1/listenKey", params={"listenKey": world["Blk"]}, headers=hb)) == \
        {"listenKey": world["Blk"]}, "A's DELETE closed B's listen key"
    assert ok(srv.http.post("/fapi/v1/listenKey", headers=ha))["listenKey"] == world["Alk"]
    assert ok(srv.http.post("/fapi/v1/listenKey", headers=hb))["listenKey"] == world["Blk"]


def test_user_stream_carries_only_ones_own_events(world):
    srv, A, B = world["srv"], world["A"], world["B"]

    async def run():
        async with websockets.connect(f"{srv.ws}/private/ws?listenKey={world['Alk']}") as ws:
            await asyncio.sleep(0.2)
            b = await asyncio.to_thread(srv.signed, "POST", "/fapi/v1/order", B, {
                "symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.002",
                "price": "57900"})
            await asyncio.to_thread(srv.signed, "POST", "/fapi/v1/leverage", B, {"symbol": SYM, "leverage": 9})
            await asyncio.to_thread(srv.admin, "POST", "/admin/v1/deposit", {
                "accountId": B["accountId"], "asset": "USDT", "amount": "5", "wallet": "FUTURES"})
            a = await asyncio.to_thread(srv.signed, "POST", "/fapi/v1/order", A, {
                "symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.002",
                "price": "57800"})
            got = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
                except asyncio.TimeoutError:
                    if any(m.get("e") == "ORDER_TRADE_UPDATE" for m in got):
                        break
            return b.json(), a.json(), got
    b, a, got = asyncio.run(run())
    ids = [m["o"]["i"] for m in got if m.get("e") == "ORDER_TRADE_UPDATE"]
    assert ids == [a["orderId"]], f"A's stream: {got}"
    assert not any(m.get("e") == "ACCOUNT_CONFIG_UPDATE" for m in got), got
    assert not any(m.get("e") == "ACCOUNT_UPDATE" and m["a"]["m"] == "ADMIN_DEPOSIT" for m in got), got


def test_read_only_key_cannot_trade(world):
    srv, A = world["srv"], world["A"]
    ro = srv.admin("POST", "/admin/v1/apiKeys", {"accountId": A["accountId"], "permissions": ["READ"]})
    ro = dict(ro, accountId=A["accountId"])
    assert ok(srv.signed("GET", "/fapi/v3/account", ro))["assets"]
    before = snapshot(srv, A)
    for method, path, params in (
            ("POST", "/fapi/v1/order", {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                        "quantity": "0.002", "price": "58000"}),
            ("POST", "/fapi/v1/algoOrder", {"algoType": "CONDITIONAL", "symbol": SYM, "side": "SELL",
                                            "type": "STOP_MARKET", "quantity": "0.002", "triggerPrice": "55000"}),
            ("POST", "/fapi/v1/batchOrders", {"batchOrders": json.dumps([{"symbol": SYM, "side": "BUY",
                                                                          "type": "MARKET", "quantity": "0.001"}])}),
            ("DELETE", "/fapi/v1/allOpenOrders", {"symbol": SYM}),
            ("POST", "/fapi/v1/leverage", {"symbol": SYM, "leverage": 3}),
            ("POST", "/fapi/v1/marginType", {"symbol": SYM, "marginType": "ISOLATED"}),
            ("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"}),
            ("POST", "/sapi/v1/asset/transfer", {"type": "UMFUTURE_MAIN", "asset": "USDT", "amount": "1"})):
        err(srv.signed(method, path, ro, params), -2015)
    assert snapshot(srv, A) == before
    trade = srv.admin("POST", "/admin/v1/apiKeys", {"accountId": A["accountId"], "permissions": ["READ", "TRADE"]})
    err(srv.signed("POST", "/sapi/v1/asset/transfer", trade, {"type": "UMFUTURE_MAIN", "asset": "USDT",
                                                              "amount": "1"}), -2015)


def test_admin_api_refuses_without_its_token(world):
    srv = world["srv"]
    doc = srv.http.get("/openapi.json").json()
    admin = [(m.upper(), p) for p, item in doc["paths"].items() if p.startswith("/admin/") for m in item]
    assert len(admin) >= 8
    before = srv.service.read(lambda ex: ex.clearing.state_hash())
    body = {"accountId": world["A"]["accountId"], "asset": "USDT", "amount": "100", "symbol": SYM, "price": "1000",
            "deposit": {"USDT": "100"}, "name": "x", "value": 1, "advanceMs": 1000}
    for method, path in admin:
        for headers in ({}, {"X-PERPSIM-ADMIN": ""}, {"X-PERPSIM-ADMIN": ADMIN_TOKEN + "x"},
                        {"X-PERPSIM-ADMIN": ADMIN_TOKEN[:-1]}, {"X-MBX-APIKEY": world["A"]["apiKey"]}):
            r = srv.http.request(method, path, json=body if method != "GET" else None, headers=headers)
            err(r, status=401)
    assert srv.service.read(lambda ex: ex.clearing.state_hash()) == before


def test_liquidation_records_are_the_liquidated_accounts_own(world):
    srv, A, B = world["srv"], world["A"], world["B"]
    C = srv.account(deposit="1000")
    ok(srv.signed("POST", "/fapi/v1/marginType", C, {"symbol": SYM, "marginType": "ISOLATED"}))
    ok(srv.signed("POST", "/fapi/v1/order", C, {"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "0.010"}))
    maker = srv.account(deposit="1000000")
    ok(srv.signed("POST", "/fapi/v1/order", maker, {"symbol": SYM, "side": "BUY", "type": "LIMIT",
                                                    "timeInForce": "GTC", "quantity": "0.050", "price": "58900"}))
    srv.price(SYM, "57000")
    forced = ok(srv.signed("GET", "/fapi/v1/forceOrders", C, {"symbol": SYM}))
    assert len(forced) == 1 and forced[0]["side"] == "SELL"
    for acct in (A, B, maker):
        assert ok(srv.signed("GET", "/fapi/v1/forceOrders", acct, {"symbol": SYM})) == []
        assert ok(srv.signed("GET", "/fapi/v1/forceOrders", acct, {})) == []
    assert srv.state()["ledgerBalanced"] is True
