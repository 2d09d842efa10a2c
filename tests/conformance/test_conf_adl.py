"""Auto-deleveraging seen by a bot through ccxt and ccxt.pro: the ADL execution on its user stream and in forceOrders.

The bot is short 0.010 against a trader's isolated 20x long. No bid rests and the insurance
fund is empty, so when the admin API drops the price the liquidation cannot be absorbed and the
bot's profitable short is deleveraged at the bankruptcy price: ORDER_TRADE_UPDATE with
c "adl_autoclose" (binance-api.md 5.4), GET /fapi/v1/forceOrders?autoCloseType=ADL.
"""
from __future__ import annotations

import asyncio

import ccxt
import ccxt.pro
import pytest

from confkit import Inbox, LoopThread, localize, wait_streams
from serverkit import RunningServer

SYM = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    srv = RunningServer(tmp_path_factory.mktemp("adl")).start()
    srv.price("BTCUSDT", "60000")
    victim, bot = srv.account(deposit="1000"), srv.account(deposit="10000")
    loop = LoopThread()
    yield srv, victim, bot, loop
    loop.stop()
    srv.stop()


def test_adl_on_the_user_stream_and_in_force_orders(world):
    srv, victim, bot, loop = world
    opts = {"fetchCurrencies": False}
    ex = localize(ccxt.binanceusdm({"apiKey": bot["apiKey"], "secret": bot["secretKey"], "options": opts}),
                  srv.base, srv.ws)
    ex.load_markets()
    pro = loop.run(_make_pro(srv, bot))
    orders = Inbox()

    async def watch():
        while True:
            try:
                for o in await pro.watch_orders(SYM):
                    orders.add(o)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                orders.errors.append(repr(e))
                await asyncio.sleep(0.2)
    loop.spawn(watch())
    wait_streams(srv, bot["accountId"], user=1)
    short = ex.create_order(SYM, "limit", "sell", 0.010, 60000)
    assert short["status"] == "open"
    r = srv.signed("POST", "/fapi/v1/marginType", victim, {"symbol": "BTCUSDT", "marginType": "ISOLATED"})
    assert r.status_code == 200, r.text
    r = srv.signed("POST", "/fapi/v1/order", victim, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                      "quantity": "0.010"})
    assert r.status_code == 200, r.text
    orders.wait(lambda o: o["id"] == short["id"] and o["status"] == "closed", 10, "the short filled")
    pos = ex.fetch_positions([SYM])
    assert len(pos) == 1 and pos[0]["side"] == "short" and pos[0]["contracts"] == 0.010

    assert srv.state()["insuranceFunds"].get("USDT", "0") in ("0", "0.0", "0E-8")
    srv.price("BTCUSDT", "57000")        # the victim's bankruptcy price: no bids, no insurance capacity
    adl = orders.wait(lambda o: o["clientOrderId"] == "adl_autoclose", 10, "watch_orders: the ADL execution")
    assert adl["status"] == "closed" and adl["side"] == "buy" and adl["filled"] == 0.010
    assert adl["average"] == 57000.0
    rows = ex.fetch_my_liquidations(SYM, params={"autoCloseType": "ADL"})
    assert len(rows) == 1 and rows[0]["contracts"] == 0.010 and rows[0]["side"] == "buy"
    assert ex.fetch_my_liquidations(SYM) == []          # autoCloseType=LIQUIDATION: the bot was not liquidated
    assert ex.fetch_positions([SYM]) == []
    victim_rows = srv.signed("GET", "/fapi/v1/forceOrders", victim, {"symbol": "BTCUSDT"}).json()
    assert len(victim_rows) == 1 and victim_rows[0]["clientOrderId"].startswith("autoclose-")
    assert ex.fetch_balance()["USDT"]["total"] > 10000          # the short's profit, realised by the ADL
    assert srv.state()["ledgerBalanced"] is True
    loop.run(pro.close())


async def _make_pro(srv, bot):
    pro = localize(ccxt.pro.binanceusdm({"apiKey": bot["apiKey"], "secret": bot["secretKey"],
                                         "options": {"fetchCurrencies": False}}), srv.base, srv.ws)
    await pro.load_markets()
    return pro


def test_adl_execution_has_an_order_id(world):
    """An ADL close is an order with its own id (id 0 for all would merge them in clients caching orders by id)."""
    srv, victim, bot, loop = world
    rows = srv.signed("GET", "/fapi/v1/forceOrders", bot, {"symbol": "BTCUSDT", "autoCloseType": "ADL"}).json()
    assert len(rows) == 1 and rows[0]["orderId"] > 0
