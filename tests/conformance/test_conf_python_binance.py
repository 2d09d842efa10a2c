"""python-binance: Client (sync REST), AsyncClient and BinanceSocketManager (user stream, mark price).

One bot session, the clients unmodified but for their class-level base URLs (binance-api.md 1.2).
python-binance sends POST/PUT/DELETE parameters in a sorted form body and pings the spot API.
"""
from __future__ import annotations

import asyncio
import time

import pytest
from binance.async_client import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException
from binance.ws.streams import BinanceSocketManager

from confkit import (FILL_QTY, LEVERAGE, REST_PRICE, REST_QTY, SYMBOL, D, Inbox, LoopThread, Venue, events,
                     is_account_update, is_liquidation_update, is_order_update)


class Session:
    def __init__(self, tmp):
        self.venue = Venue(tmp)
        self.venue.seed_book()
        self._saved = {}
        for cls in (Client, AsyncClient):
            for attr, val in (("API_URL", self.venue.base + "/api"), ("FUTURES_URL", self.venue.base + "/fapi"),
                              ("FUTURES_DATA_URL", self.venue.base + "/futures/data")):
                self._saved[(cls, attr)] = getattr(cls, attr)
                setattr(cls, attr, val)
        self._saved[(BinanceSocketManager, "FSTREAM_URL")] = BinanceSocketManager.FSTREAM_URL
        BinanceSocketManager.FSTREAM_URL = self.venue.ws + "/"
        self.client = Client(self.venue.key, self.venue.secret, ping=False)
        self.loop = LoopThread()
        self.aclient = None
        self.user, self.marks, self.market, self.klines = Inbox(), Inbox(), Inbox(), Inbox()
        self.ids: dict = {}

    def start_streams(self) -> None:
        self.aclient = self.loop.run(AsyncClient.create(self.venue.key, self.venue.secret))
        bm = BinanceSocketManager(self.aclient)

        async def pump(make, inbox):
            try:   # built on the loop thread: python-binance binds a socket to the loop it is created on
                async with make() as s:
                    while True:
                        inbox.add(await s.recv())
            except asyncio.CancelledError:
                raise
            except Exception as e:
                inbox.errors.append(repr(e))
        self.loop.spawn(pump(bm.futures_user_socket, self.user))
        self.loop.spawn(pump(lambda: bm.symbol_mark_price_socket(SYMBOL), self.marks))
        self.loop.spawn(pump(lambda: bm.futures_multiplex_socket(["btcusdt@forceOrder", "btcusdt@aggTrade"]),
                             self.market))
        self.loop.spawn(pump(lambda: bm.kline_futures_socket(SYMBOL, "1m"), self.klines))   # continuousKline
        self.venue.wait_streams(user=1, market=("btcusdt@markPrice@1s", "btcusdt@forceOrder", "btcusdt@aggTrade",
                                                "btcusdt_perpetual@continuousKline_1m"))

    def close(self) -> None:
        if self.aclient is not None:
            try:
                self.loop.run(self.aclient.close_connection(), timeout=10)
            except Exception:
                pass
        self.loop.stop()
        self.client.close_connection()
        for (cls, attr), val in self._saved.items():
            setattr(cls, attr, val)
        self.venue.stop()


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    sess = Session(tmp_path_factory.mktemp("pybin"))
    yield sess
    sess.close()


def test_01_market_data(s):
    c = s.client
    assert c.futures_ping() == {}
    assert abs(c.futures_time()["serverTime"] - time.time() * 1000) < 5000
    info = c.futures_exchange_info()
    sym = next(x for x in info["symbols"] if x["symbol"] == SYMBOL)
    filters = {f["filterType"]: f for f in sym["filters"]}
    assert D(filters["LOT_SIZE"]["stepSize"]) == D("0.001") and D(filters["PRICE_FILTER"]["tickSize"]) == D("0.1")
    book = c.futures_order_book(symbol=SYMBOL)
    assert [D(p) for p, _ in book["asks"][:1]] == [D("60000")] and isinstance(book["lastUpdateId"], int)
    assert D(c.futures_mark_price(symbol=SYMBOL)["markPrice"]) == D("60000")
    ticker = c.futures_symbol_ticker(symbol=SYMBOL)          # GET /fapi/v2/ticker/price
    assert ticker["symbol"] == SYMBOL and D(ticker["price"]) >= 0


def test_02_account_and_settings(s):
    c = s.client
    s.start_streams()            # AsyncClient.create: /api/v3/ping and /api/v3/time
    bal = {b["asset"]: b for b in c.futures_account_balance()}
    assert D(bal["USDT"]["balance"]) == D("10000") and D(bal["USDT"]["availableBalance"]) == D("10000")
    acct = c.futures_account()
    assert D(acct["totalWalletBalance"]) == D("10000") and acct["canTrade"] is True
    brackets = c.futures_leverage_bracket(symbol=SYMBOL)
    assert isinstance(brackets, list) and brackets[0]["brackets"][0]["notionalFloor"] == 0
    assert c.futures_change_leverage(symbol=SYMBOL, leverage=10)["leverage"] == 10
    assert c.futures_change_leverage(symbol=SYMBOL, leverage=LEVERAGE)["leverage"] == LEVERAGE
    assert c.futures_change_margin_type(symbol=SYMBOL, marginType="ISOLATED")["code"] == 200
    with pytest.raises(BinanceAPIException) as e:
        c.futures_change_margin_type(symbol=SYMBOL, marginType="ISOLATED")
    assert (e.value.status_code, e.value.code) == (400, -4046)
    s.user.wait(lambda m: any(x.get("e") == "ACCOUNT_CONFIG_UPDATE" and x["ac"]["l"] == 10 for x in events(m)),
                10, "ACCOUNT_CONFIG_UPDATE for the leverage")
    s.venue.srv.price(SYMBOL, "60000")       # a mark update (the test venue has no index feed)
    s.marks.wait(lambda m: m["data"]["e"] == "markPriceUpdate" and m["data"]["s"] == SYMBOL, 5, "markPriceUpdate")


def test_03_resting_order_and_cancel(s):
    c = s.client
    o = c.futures_create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity=REST_QTY,
                               price=REST_PRICE)
    assert o["status"] == "NEW" and o["symbol"] == SYMBOL and o["clientOrderId"].startswith("x-Cb7ytekJ")
    oid = o["orderId"]
    q = c.futures_get_order(symbol=SYMBOL, orderId=oid)
    assert q["status"] == "NEW" and D(q["price"]) == D(REST_PRICE) and D(q["origQty"]) == D(REST_QTY)
    assert [x["orderId"] for x in c.futures_get_open_orders(symbol=SYMBOL)] == [oid]
    cancelled = c.futures_cancel_order(symbol=SYMBOL, orderId=oid)       # DELETE with a form body
    assert cancelled["status"] == "CANCELED"
    with pytest.raises(BinanceAPIException) as e:
        c.futures_cancel_order(symbol=SYMBOL, orderId=oid)
    assert e.value.code == -2011
    # conditional types go to /fapi/v1/algoOrder (quirk 1)
    algo = c.futures_create_order(symbol=SYMBOL, side="SELL", type="STOP_MARKET", quantity=REST_QTY,
                                  stopPrice="55000")
    assert algo["algoStatus"] == "NEW" and algo["orderType"] == "STOP_MARKET" and D(algo["triggerPrice"]) == D("55000")
    assert [a["algoId"] for a in c.futures_get_open_orders(symbol=SYMBOL, conditional=True)] == [algo["algoId"]]
    assert c.futures_cancel_order(symbol=SYMBOL, algoId=algo["algoId"])["algoId"] == algo["algoId"]
    s.user.wait(lambda m: any(e.get("e") == "ALGO_UPDATE" and e["o"]["aid"] == algo["algoId"]
                              and e["o"]["X"] == "CANCELED"
                              for e in events(m)), 10, "ALGO_UPDATE CANCELED")
    with pytest.raises(BinanceAPIException) as e:    # a sell stop above the mark would trigger at once
        c.futures_create_order(symbol=SYMBOL, side="SELL", type="STOP_MARKET", quantity=REST_QTY, stopPrice="61000")
    assert e.value.code == -2021
    s.user.wait(lambda m: is_order_update(m, oid, "NEW"), 10, "ORDER_TRADE_UPDATE NEW")
    s.user.wait(lambda m: is_order_update(m, oid, "CANCELED"), 10, "ORDER_TRADE_UPDATE CANCELED")


def test_04_fill_position_trades_income(s):
    c = s.client
    o = c.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=FILL_QTY)
    oid = o["orderId"]
    s.user.wait(lambda m: is_order_update(m, oid, "FILLED"), 10, "ORDER_TRADE_UPDATE FILLED")
    s.user.wait(lambda m: is_account_update(m, "ORDER"), 10, "ACCOUNT_UPDATE m=ORDER")
    assert c.futures_get_order(symbol=SYMBOL, orderId=oid)["status"] == "FILLED"
    pos = c.futures_position_information(symbol=SYMBOL)
    assert len(pos) == 1 and D(pos[0]["positionAmt"]) == D(FILL_QTY) and D(pos[0]["entryPrice"]) == D("60000")
    assert D(pos[0]["isolatedWallet"]) > 0
    trades = c.futures_account_trades(symbol=SYMBOL)
    mine = [t for t in trades if t["orderId"] == oid]
    assert len(mine) == 1 and D(mine[0]["price"]) == D("60000") and D(mine[0]["qty"]) == D(FILL_QTY)
    assert mine[0]["buyer"] is True and mine[0]["maker"] is False and D(mine[0]["commission"]) > 0
    income = c.futures_income_history(symbol=SYMBOL)
    assert any(i["incomeType"] == "COMMISSION" and D(i["income"]) < 0 for i in income)
    agg = s.market.wait(lambda m: m["stream"] == "btcusdt@aggTrade" and D(m["data"]["p"]) == D("60000"), 10,
                        "aggTrade of the fill (multiplex socket)")
    assert D(agg["data"]["q"]) == D(FILL_QTY)
    k = s.klines.wait(lambda m: m["e"] == "continuous_kline" and D(m["k"]["c"]) == D("60000"), 10,
                      "continuous_kline closing at the fill (kline_futures_socket)")
    assert k["ps"] == SYMBOL and k["ct"] == "PERPETUAL"


def test_05_liquidation(s):
    c = s.client
    assert s.venue.bot_position_amt() == D(FILL_QTY), "no long to liquidate (the fill step failed)"
    s.venue.crash()
    msg = s.user.wait(is_liquidation_update, 15, "ORDER_TRADE_UPDATE of the liquidation (autoclose-)")
    o = events(msg)[0]["o"]
    assert o["S"] == "SELL" and D(o["z"]) == D(FILL_QTY) and o["c"].startswith("autoclose-")
    s.user.wait(lambda m: any(e.get("e") == "ACCOUNT_UPDATE" and any(p["s"] == SYMBOL and D(p["pa"]) == 0
                                                                     for p in e["a"]["P"]) for e in events(m)),
                10, "ACCOUNT_UPDATE with the position closed")
    fo = s.market.wait(lambda m: m["stream"] == "btcusdt@forceOrder", 10, "forceOrder (multiplex socket)")
    assert fo["data"]["o"]["S"] == "SELL" and D(fo["data"]["o"]["z"]) == D(FILL_QTY)
    forced = c.futures_liquidation_orders(symbol=SYMBOL)
    assert len(forced) == 1 and forced[0]["side"] == "SELL" and D(forced[0]["executedQty"]) == D(FILL_QTY)
    assert forced[0]["status"] == "FILLED"
    assert all(D(p["positionAmt"]) == 0 for p in c.futures_position_information(symbol=SYMBOL))
    rows = s.loop.run(s.aclient.futures_position_information(symbol=SYMBOL))      # AsyncClient REST
    assert all(D(p["positionAmt"]) == 0 for p in rows)
    assert s.venue.ledger_balanced()


def test_06_batch_modify_cancel_all(s):
    c = s.client
    s.venue.srv.price(SYMBOL, "60000")
    res = c.futures_place_batch_order(batchOrders=[      # percent-encoded JSON in the form body
        {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "0.002", "price": "57500", "timeInForce": "GTC"},
        {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "0.002", "price": "57600",
         "timeInForce": "GTC"}])
    assert [r["status"] for r in res] == ["NEW", "NEW"] and all(r["clientOrderId"].startswith("x-Cb7ytekJ")
                                                                 for r in res)
    m = c.futures_modify_order(symbol=SYMBOL, orderId=res[0]["orderId"], side="BUY", quantity="0.003", price="57700")
    assert D(m["price"]) == D("57700") and D(m["origQty"]) == D("0.003")
    assert c.futures_cancel_all_open_orders(symbol=SYMBOL)["code"] == 200
    assert c.futures_get_open_orders(symbol=SYMBOL) == []
    for r in res:
        s.user.wait(lambda msg: is_order_update(msg, r["orderId"], "CANCELED"), 10, "ORDER_TRADE_UPDATE CANCELED")


def test_07_position_margin_on_a_cross_position(s):
    """Isolated margin cannot be added to a cross position: -4049 (binance-api.md 3.3), with no position: -4054."""
    c = s.client
    assert c.futures_change_margin_type(symbol=SYMBOL, marginType="CROSSED")["code"] == 200
    with pytest.raises(BinanceAPIException) as e:
        c.futures_change_position_margin(symbol=SYMBOL, amount="1", type=1)
    assert e.value.code in (-4049, -4054), e.value          # flat and cross
    c.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.002")
    try:
        with pytest.raises(BinanceAPIException) as e:
            c.futures_change_position_margin(symbol=SYMBOL, amount="1", type=1)
        assert (e.value.code, e.value.message) == (-4049, "Add margin only support for isolated position.")
    finally:
        c.futures_create_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.002", reduceOnly="true")
    assert all(D(p["positionAmt"]) == 0 for p in c.futures_position_information(symbol=SYMBOL))
