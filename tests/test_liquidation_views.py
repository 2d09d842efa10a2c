"""Every view of one liquidation tells one story (Binance's), whatever step of the waterfall closed it.

Random waterfalls on a real server: isolated or cross, leverage, a bid in the book for none, half or
all of the position, an insurance fund that is empty, small or large (so the IOC, the fund's
takeover and ADL all close positions, alone or together). For the liquidated account:
GET /fapi/v1/order, allOrders, forceOrders, userTrades, income and the user stream's
ORDER_TRADE_UPDATE (the same translation the WebSocket hub pushes) must agree.
"""
import tempfile
from decimal import Decimal as D

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from perpsim.binance.translate import user_messages
from serverkit import running_server


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def post(srv, path, acct, params):
    return srv.signed("POST", path, acct, params, body=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(isolated=st.booleans(), lev=st.sampled_from([5, 10, 20]), bid=st.sampled_from([0, 50, 100]),
       fund=st.sampled_from(["0", "50", "1000000"]), qty_steps=st.integers(20, 200))
def test_all_views_of_a_liquidation_agree(isolated, lev, bid, fund, qty_steps):
    with tempfile.TemporaryDirectory() as d, running_server(d) as srv:
        srv.price("BTCUSDT", "60000")
        if fund != "0":
            srv.admin("POST", "/admin/v1/insurance", {"asset": "USDT", "amount": fund})
        mm = srv.account(deposit="100000000")
        qty = D(qty_steps) / 1000                                    # 0.020 .. 0.200 BTC
        deposit = (qty * 60000 / lev / D("0.9")).quantize(D("0.01"))
        tr = srv.account(deposit=str(deposit))
        ok(post(srv, "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                            "timeInForce": "GTC", "quantity": str(qty), "price": "60000"}))
        if isolated:
            ok(post(srv, "/fapi/v1/marginType", tr, {"symbol": "BTCUSDT", "marginType": "ISOLATED"}))
        ok(post(srv, "/fapi/v1/leverage", tr, {"symbol": "BTCUSDT", "leverage": lev}))
        ok(post(srv, "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                            "quantity": str(qty)}))
        ok(srv.signed("DELETE", "/fapi/v1/allOpenOrders", mm, {"symbol": "BTCUSDT"}))
        if bid:   # a bid above both bankruptcy prices for part or all of the position
            bq = (qty * bid / 100).quantize(D("0.001"))
            px = (D(60000) * (1 - D("0.9") / lev)).quantize(D("0.1"))
            ok(post(srv, "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                "timeInForce": "GTC", "quantity": str(bq), "price": str(px)}))
        pushed = []
        srv.service.subscribe(lambda seq, cmd, res: pushed.extend(
            m for a, m in user_messages(srv.service, cmd, res) if a == tr["accountId"]))
        srv.price("BTCUSDT", str((D(60000) * (1 - D("1.12") / lev)).quantize(D("0.1"))))
        force = ok(srv.signed("GET", "/fapi/v1/forceOrders", tr, {"autoCloseType": "LIQUIDATION"}))
        assume(force)
        for f in force:
            oid = f["orderId"]
            order = ok(srv.signed("GET", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "orderId": oid}))
            listed = [o for o in ok(srv.signed("GET", "/fapi/v1/allOrders", tr, {"symbol": "BTCUSDT"}))
                      if o["orderId"] == oid]
            assert listed == [order]
            assert order["clientOrderId"].startswith("autoclose-") and (order["type"], order["origType"]) == (
                "LIMIT", "LIMIT")
            assert (order["status"], order["timeInForce"], order["reduceOnly"]) == ("FILLED", "IOC", False)
            assert order["executedQty"] == order["origQty"] and D(order["executedQty"]) > 0
            assert {k: f[k] for k in f} == {k: order[k] for k in f}
            fills = [t for t in ok(srv.signed("GET", "/fapi/v1/userTrades", tr, {"symbol": "BTCUSDT",
                                                                                 "orderId": oid}))]
            assert fills and sum(D(t["qty"]) for t in fills) == D(order["executedQty"])
            assert sum(D(t["quoteQty"]) for t in fills) == D(order["cumQuote"])
            assert all(t["side"] == order["side"] and t["id"] > 0 for t in fills)
            stream = [m["o"] for m in pushed if m.get("e") == "ORDER_TRADE_UPDATE" and m["o"]["i"] == oid]
            assert [(o["t"], o["l"], o["L"]) for o in stream] == [(t["id"], t["qty"], t["price"]) for t in fills]
            assert all((o["o"], o["ot"], o["x"], o["c"], o["q"]) == ("LIMIT", "LIMIT", "CALCULATED",
                                                                     order["clientOrderId"], order["origQty"])
                       for o in stream)
            assert [o["X"] for o in stream] == ["PARTIALLY_FILLED"] * (len(stream) - 1) + ["FILLED"]
            assert (stream[-1]["z"], stream[-1]["ap"]) == (order["executedQty"], order["avgPrice"])
            income = ok(srv.signed("GET", "/fapi/v1/income", tr, {"incomeType": "REALIZED_PNL", "limit": 1000}))
            ids = {str(t["id"]) for t in fills}
            mine = [i for i in income if i["tradeId"] in ids]
            assert sum(D(i["income"]) for i in mine) == sum(D(t["realizedPnl"]) for t in fills)
            assert all(i["tradeId"] != "" for i in income)
            event(f"fills {len(fills)}, fund {fund}, bid {bid}%")
        for f in ok(srv.signed("GET", "/fapi/v1/forceOrders", mm, {"autoCloseType": "ADL"})):
            order = ok(srv.signed("GET", "/fapi/v1/order", mm, {"symbol": "BTCUSDT", "orderId": f["orderId"]}))
            assert {k: f[k] for k in f} == {k: order[k] for k in f} and order["clientOrderId"] == "adl_autoclose"
            fills = ok(srv.signed("GET", "/fapi/v1/userTrades", mm, {"symbol": "BTCUSDT", "orderId": f["orderId"]}))
            assert [t["qty"] for t in fills] == [order["executedQty"]]
        assert srv.state()["ledgerBalanced"] is True
