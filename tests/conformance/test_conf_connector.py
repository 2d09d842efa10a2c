"""binance-futures-connector: UMFutures (REST) and UMFuturesWebsocketClient (/ws + SUBSCRIBE, listenKey too).

One bot session with base_url and stream_url pointed at the local server (binance-api.md 1.4).
The connector has no algo-order methods (quirk 1), so its session places no stop; every 4xx
must carry both "code" and "msg" or it raises KeyError instead of ClientError.
"""
from __future__ import annotations

import json
import time

import pytest
from binance.error import ClientError
from binance.um_futures import UMFutures
from binance.websocket.um_futures.websocket_client import UMFuturesWebsocketClient

from confkit import (FILL_QTY, LEVERAGE, REST_PRICE, REST_QTY, SYMBOL, D, Inbox, Venue, events, is_account_update,
                     is_liquidation_update, is_order_update)


class Session:
    def __init__(self, tmp):
        self.venue = Venue(tmp)
        self.venue.seed_book()
        self.um = UMFutures(key=self.venue.key, secret=self.venue.secret, base_url=self.venue.base)
        self.user, self.acks = Inbox(), Inbox()
        self.ws = None

    def start_streams(self) -> None:
        def on_message(_, raw):
            msg = json.loads(raw)
            (self.acks if isinstance(msg, dict) and "id" in msg and "result" in msg else self.user).add(msg)
        self.ws = UMFuturesWebsocketClient(stream_url=self.venue.ws, on_message=on_message)
        listen_key = self.um.new_listen_key()["listenKey"]
        self.ws.user_data(listen_key=listen_key, id=1)
        self.ws.mark_price(symbol=SYMBOL.lower(), speed=1, id=2)
        self.ws.agg_trade(symbol=SYMBOL.lower(), id=3)
        self.ws.diff_book_depth(symbol=SYMBOL.lower(), speed=100, id=4)
        self.ws.liquidation_order(symbol=SYMBOL.lower(), id=5)
        self.ws.book_ticker(symbol=SYMBOL.lower(), id=6)
        for i in range(1, 7):
            self.acks.wait(lambda m: m == {"result": None, "id": i}, 10, f"SUBSCRIBE ack id {i}")
        self.listen_key = listen_key
        self.venue.wait_streams(user=1, market=("btcusdt@markPrice@1s", "btcusdt@aggTrade", "btcusdt@depth@100ms",
                                                "btcusdt@forceOrder", "btcusdt@bookTicker"))

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.stop()
            except Exception:
                pass
        self.venue.stop()


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    sess = Session(tmp_path_factory.mktemp("connector"))
    yield sess
    sess.close()


def test_01_market_data(s):
    um = s.um
    assert um.ping() == {}
    assert abs(um.time()["serverTime"] - time.time() * 1000) < 5000
    sym = next(x for x in um.exchange_info()["symbols"] if x["symbol"] == SYMBOL)
    assert sym["marginAsset"] == "USDT" and "LIMIT" in sym["orderTypes"]
    assert D(um.depth(symbol=SYMBOL, limit=5)["asks"][0][0]) == D("60000")
    assert D(um.mark_price(symbol=SYMBOL)["markPrice"]) == D("60000")
    with pytest.raises(ClientError) as e:
        um.depth(symbol="NOPEUSDT")
    assert (e.value.status_code, e.value.error_code) == (400, -1121)


def test_02_account_and_settings(s):
    um = s.um
    s.start_streams()
    bal = {b["asset"]: b for b in um.balance()}
    assert D(bal["USDT"]["balance"]) == D("10000")
    assert D(um.account()["totalWalletBalance"]) == D("10000")
    assert um.leverage_brackets(symbol=SYMBOL)[0]["symbol"] == SYMBOL
    assert um.change_leverage(symbol=SYMBOL, leverage=LEVERAGE)["leverage"] == LEVERAGE
    assert um.change_margin_type(symbol=SYMBOL, marginType="ISOLATED")["code"] == 200
    with pytest.raises(ClientError) as e:
        um.change_margin_type(symbol=SYMBOL, marginType="ISOLATED")
    assert e.value.error_code == -4046
    s.venue.srv.price(SYMBOL, "60000")       # a mark update (the test venue has no index feed)
    m = s.user.wait(lambda m: m["e"] == "markPriceUpdate" and m["s"] == SYMBOL, 5, "markPriceUpdate on /ws")
    assert D(m["p"]) == D("60000")


def test_03_resting_order_and_cancel(s):
    um = s.um
    o = um.new_order(symbol=SYMBOL, side="BUY", type="LIMIT", quantity=REST_QTY, price=REST_PRICE, timeInForce="GTC")
    oid = o["orderId"]
    assert o["status"] == "NEW"
    assert um.query_order(symbol=SYMBOL, orderId=oid)["status"] == "NEW"
    assert [x["orderId"] for x in um.get_orders(symbol=SYMBOL)] == [oid]
    assert um.cancel_order(symbol=SYMBOL, orderId=oid)["status"] == "CANCELED"
    with pytest.raises(ClientError) as e:
        um.cancel_order(symbol=SYMBOL, orderId=oid)
    assert e.value.error_code == -2011
    with pytest.raises(ClientError) as e:    # a conditional type on /fapi/v1/order: the Algo API's, not this
        um.new_order(symbol=SYMBOL, side="SELL", type="STOP_MARKET", quantity=REST_QTY, stopPrice="55000")
    assert e.value.error_code == -4120
    with pytest.raises(ClientError) as e:    # reduce-only with no position
        um.new_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity=REST_QTY, reduceOnly="true")
    assert e.value.error_code == -2022
    s.user.wait(lambda m: is_order_update(m, oid, "NEW"), 10, "ORDER_TRADE_UPDATE NEW")
    s.user.wait(lambda m: is_order_update(m, oid, "CANCELED"), 10, "ORDER_TRADE_UPDATE CANCELED")


def test_04_fill_position_trades_income(s):
    um = s.um
    o = um.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=FILL_QTY)
    oid = o["orderId"]
    s.user.wait(lambda m: is_order_update(m, oid, "FILLED"), 10, "ORDER_TRADE_UPDATE FILLED")
    s.user.wait(lambda m: is_account_update(m, "ORDER"), 10, "ACCOUNT_UPDATE m=ORDER")
    agg = s.user.wait(lambda m: m["e"] == "aggTrade" and m["p"] in ("60000.0", "60000.00", "60000"), 10,
                      "aggTrade of the fill")
    assert D(agg["q"]) == D(FILL_QTY) and agg["m"] is False and "M" not in agg
    bt = s.user.wait(lambda m: m["e"] == "bookTicker" and D(m["a"]) == D("60000") and D(m["A"]) == D("0.040"), 10,
                     "bookTicker after the fill")
    assert bt["s"] == SYMBOL
    diffs = [m for m in s.user.items if m.get("e") == "depthUpdate"]
    assert len(diffs) >= 3, diffs     # the resting bid, its cancel, the fill
    assert all(b["pu"] == a["u"] and b["U"] > a["u"] for a, b in zip(diffs, diffs[1:])), diffs
    pos = um.get_position_risk(symbol=SYMBOL)
    assert len(pos) == 1 and D(pos[0]["positionAmt"]) == D(FILL_QTY) and D(pos[0]["entryPrice"]) == D("60000")
    trades = [t for t in um.get_account_trades(symbol=SYMBOL) if t["orderId"] == oid]
    assert len(trades) == 1 and D(trades[0]["qty"]) == D(FILL_QTY) and trades[0]["side"] == "BUY"
    income = um.get_income_history(symbol=SYMBOL)
    assert any(i["incomeType"] == "COMMISSION" and D(i["income"]) < 0 for i in income)
    assert all(isinstance(i["tranId"], int) and isinstance(i["tradeId"], str) for i in income)


def test_05_liquidation(s):
    um = s.um
    assert s.venue.bot_position_amt() == D(FILL_QTY), "no long to liquidate (the fill step failed)"
    s.venue.crash()
    msg = s.user.wait(is_liquidation_update, 15, "ORDER_TRADE_UPDATE of the liquidation (autoclose-)")
    o = events(msg)[0]["o"]
    assert o["S"] == "SELL" and D(o["z"]) == D(FILL_QTY) and o["x"] in ("CALCULATED", "TRADE")
    s.user.wait(lambda m: any(e.get("e") == "ACCOUNT_UPDATE" and e["a"]["m"] == "ORDER" and
                              any(p["s"] == SYMBOL and D(p["pa"]) == 0 for p in e["a"]["P"]) for e in events(m)),
                10, "ACCOUNT_UPDATE with the position closed")
    fo = s.user.wait(lambda m: m["e"] == "forceOrder", 10, "forceOrder on the market stream")
    assert fo["o"]["s"] == SYMBOL and fo["o"]["S"] == "SELL" and D(fo["o"]["z"]) == D(FILL_QTY)
    forced = um.force_orders(symbol=SYMBOL)
    assert len(forced) == 1 and forced[0]["side"] == "SELL" and D(forced[0]["executedQty"]) == D(FILL_QTY)
    assert um.get_position_risk(symbol=SYMBOL) == [] or all(D(p["positionAmt"]) == 0
                                                            for p in um.get_position_risk(symbol=SYMBOL))
    assert s.venue.ledger_balanced()


def test_06_batch_and_modify(s):
    um = s.um
    s.venue.srv.price(SYMBOL, "60000")
    res = um.new_batch_order(batchOrders=[
        {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "0.002", "price": "57500", "timeInForce": "GTC"},
        {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "57600", "timeInForce": "GTC"},
    ])
    assert res[0]["status"] == "NEW" and res[1]["code"] == -4164, res   # the second is below MIN_NOTIONAL
    m = um.modify_order(symbol=SYMBOL, side="BUY", quantity="0.003", price="57700", orderId=res[0]["orderId"])
    assert D(m["price"]) == D("57700") and D(m["origQty"]) == D("0.003")
    s.user.wait(lambda msg: any(e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["i"] == res[0]["orderId"] and
                                e["o"]["x"] == "AMENDMENT" for e in events(msg)), 10, "ORDER_TRADE_UPDATE AMENDMENT")
    assert um.cancel_open_orders(symbol=SYMBOL)["code"] == 200
    assert um.get_orders(symbol=SYMBOL) == []


def test_07_listen_key_keepalive_and_close(s):
    """PUT extends the key; DELETE closes it: listenKeyExpired on the stream (binance-api.md 5.4, 6 f), then -1125."""
    um = s.um
    assert um.renew_listen_key(listenKey=s.listen_key) in ({}, {"listenKey": s.listen_key})
    um.close_listen_key(listenKey=s.listen_key)
    s.user.wait(lambda m: m["e"] == "listenKeyExpired" and m["listenKey"] == s.listen_key, 8,
                "listenKeyExpired after DELETE /fapi/v1/listenKey")
    with pytest.raises(ClientError) as e:
        um.renew_listen_key(listenKey=s.listen_key)
    assert e.value.error_code == -1125
