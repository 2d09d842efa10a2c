"""Market data over the real server: REST shapes and values after trades, WebSocket market streams,
and real clients (ccxt, ccxt.pro, python-binance's socket manager) unmodified but for their URLs.

Trades are made by two accounts crossing orders submitted to the venue (the same commands the
order endpoints submit); prices move through the admin API.
"""
from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from perpsim.core.fixed import parse
from serverkit import running_server

SYM = "BTCUSDT"


# ---------------------------------------------------------------------- helpers
def submit(srv, kind: str, **args):
    fut = asyncio.run_coroutine_threadsafe(srv.service.submit(kind, **args), srv.service._loop)
    r = fut.result(10)
    assert r.error is None, r.error
    return r


async def asubmit(srv, kind: str, **args):
    fut = asyncio.run_coroutine_threadsafe(srv.service.submit(kind, **args), srv.service._loop)
    r = await asyncio.wrap_future(fut)
    assert r.error is None, r.error
    return r


def _order_args(acct, side, qty, price=None, symbol=SYM):
    a = dict(account_id=acct["accountId"], symbol=symbol, side=side, type="LIMIT" if price else "MARKET",
             quantity=parse(qty))
    if price:
        a.update(price=parse(price), time_in_force="GTC")
    return a


def order(srv, acct, side, qty, price=None, symbol=SYM):
    return submit(srv, "place_order", **_order_args(acct, side, qty, price, symbol))


async def aorder(srv, acct, side, qty, price=None, symbol=SYM):
    return await asubmit(srv, "place_order", **_order_args(acct, side, qty, price, symbol))


def localize(ex, srv):
    """binance-api.md 1.1: every https REST section to the local server, ws to <ws>/ws."""
    for k, v in list(ex.urls["api"].items()):
        if isinstance(v, str) and v.startswith("https://"):
            ex.urls["api"][k] = srv.base + "/" + v.split("/", 3)[3]
    if isinstance(ex.urls["api"].get("ws"), dict):
        ex.urls["api"]["ws"]["linear"] = srv.ws + "/ws"
    return ex


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("market")) as s:
        s.price(SYM, "60000")
        s.price("ETHUSDT", "3000")
        s.maker = s.account("1000000")
        s.taker = s.account("1000000")
        yield s


# ---------------------------------------------------------------------- REST
def test_rest_after_trades(srv):
    mk, tk = srv.maker, srv.taker
    t0 = srv.http.get("/fapi/v1/time").json()["serverTime"]
    order(srv, mk, "BUY", "0.5", "59990")
    order(srv, mk, "BUY", "0.3", "59980")
    order(srv, mk, "SELL", "0.2", "60010")
    order(srv, mk, "SELL", "0.4", "60020")
    order(srv, tk, "SELL", "0.6", "59980")       # takes 0.5 @ 59990 and 0.1 @ 59980: one aggTrade a level
    order(srv, tk, "BUY", "0.25", None)          # market: 0.2 @ 60010, 0.05 @ 60020

    d = srv.http.get("/fapi/v1/depth", params={"symbol": SYM, "limit": 5}).json()
    assert set(d) == {"lastUpdateId", "E", "T", "bids", "asks"}
    assert d["bids"] == [["59980.0", "0.200"]] and d["asks"] == [["60020.0", "0.350"]]
    bt = srv.http.get("/fapi/v1/ticker/bookTicker", params={"symbol": SYM}).json()
    assert (bt["bidPrice"], bt["bidQty"], bt["askPrice"], bt["askQty"]) == ("59980.0", "0.200", "60020.0", "0.350")
    assert bt["lastUpdateId"] == d["lastUpdateId"]

    trades = srv.http.get("/fapi/v1/trades", params={"symbol": SYM, "limit": 4}).json()
    assert [(t["price"], t["qty"], t["isBuyerMaker"]) for t in trades] == [
        ("59990.0", "0.500", True), ("59980.0", "0.100", True), ("60010.0", "0.200", False),
        ("60020.0", "0.050", False)]
    assert trades[0]["quoteQty"] == "29995" and set(trades[0]) == {
        "id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isRPITrade"}
    assert [t["id"] for t in trades] == list(range(trades[0]["id"], trades[0]["id"] + 4))

    aggs = srv.http.get("/fapi/v1/aggTrades", params={"symbol": SYM}).json()
    assert all("M" not in a for a in aggs) and set(aggs[0]) == {"a", "p", "q", "nq", "f", "l", "T", "m"}
    last4 = aggs[-4:]
    assert [(a["p"], a["q"], a["m"]) for a in last4] == [
        ("59990.0", "0.500", True), ("59980.0", "0.100", True), ("60010.0", "0.200", False),
        ("60020.0", "0.050", False)]
    assert srv.http.get("/fapi/v1/aggTrades", params={"symbol": SYM, "fromId": last4[1]["a"],
                                                      "limit": 2}).json() == last4[1:3]
    assert srv.http.get("/fapi/v1/aggTrades", params={"symbol": SYM, "startTime": t0}).json()[-4:] == last4
    r = srv.http.get("/fapi/v1/aggTrades", params={"symbol": SYM, "startTime": t0, "endTime": t0 + 2 * 3600_000})
    assert r.status_code == 400 and r.json()["code"] == -1127

    k = srv.http.get("/fapi/v1/klines", params={"symbol": SYM, "interval": "1m", "limit": 1}).json()
    assert len(k) == 1 and len(k[0]) == 12
    row = k[0]
    assert isinstance(row[0], int) and isinstance(row[6], int) and row[6] == row[0] + 59_999 and isinstance(row[8], int)
    assert row[2] == "60020.0" and row[3] == "59980.0" and row[4] == "60020.0" and row[11] == "0"
    assert float(row[5]) >= 0.85 and float(row[9]) >= 0.25            # volume, taker buy volume
    d1 = srv.http.get("/fapi/v1/klines", params={"symbol": SYM, "interval": "1d"}).json()
    assert d1[-1][4] == "60020.0" and float(d1[-1][5]) == pytest.approx(float(row[5]))
    ck = srv.http.get("/fapi/v1/continuousKlines", params={"pair": SYM, "contractType": "PERPETUAL",
                                                           "interval": "1m", "limit": 1}).json()
    assert ck == k

    t24 = srv.http.get("/fapi/v1/ticker/24hr", params={"symbol": SYM}).json()
    assert t24["lastPrice"] == "60020.0" and t24["highPrice"] == "60020.0" and t24["lowPrice"] == "59980.0"
    assert t24["lastId"] == trades[-1]["id"] and t24["count"] >= 4
    assert isinstance(srv.http.get("/fapi/v1/ticker/24hr").json(), list)
    for path in ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price"):
        p = srv.http.get(path, params={"symbol": SYM}).json()
        assert p["price"] == "60020.0" and set(p) == {"symbol", "price", "time"}
        assert {x["symbol"] for x in srv.http.get(path).json()} >= {SYM, "ETHUSDT"}

    oi = srv.http.get("/fapi/v1/openInterest", params={"symbol": SYM}).json()
    assert oi["openInterest"] == "0.350" and oi["symbol"] == SYM   # maker long 0.6 - 0.25, taker the short


def test_rest_price_klines_funding_insurance(srv):
    for p in ("3000", "3010", "2990", "3005"):
        srv.price("ETHUSDT", p)
    mk = srv.http.get("/fapi/v1/markPriceKlines", params={"symbol": "ETHUSDT", "interval": "1m"}).json()
    ix = srv.http.get("/fapi/v1/indexPriceKlines", params={"pair": "ETHUSDT", "interval": "1m"}).json()
    last = ix[-1]
    assert len(last) == 12 and last[5] == "0" and last[7] == "0" and last[8] >= 1
    if last[8] >= 4:   # the four prices fell in one minute
        assert (last[2], last[3], last[4]) == ("3010.00000000", "2990.00000000", "3005.00000000")
    assert float(mk[-1][4]) == pytest.approx(3005, rel=0.01)
    assert srv.http.get("/fapi/v1/indexPriceKlines", params={"pair": "ETHUSDT", "interval": "1M"}).json()[-1][4] \
        == "3005.00000000"

    srv.admin("POST", "/admin/v1/funding", {"symbol": "ETHUSDT"})
    fr = srv.http.get("/fapi/v1/fundingRate", params={"symbol": "ETHUSDT"}).json()
    assert len(fr) == 1 and set(fr[0]) == {"symbol", "fundingRate", "fundingTime", "markPrice"}
    assert fr[0]["symbol"] == "ETHUSDT" and isinstance(fr[0]["fundingTime"], int)
    assert srv.http.get("/fapi/v1/fundingRate", params={"symbol": "ETHUSDT",
                                                        "startTime": fr[0]["fundingTime"] + 1}).json() == []
    info = {r["symbol"]: r for r in srv.http.get("/fapi/v1/fundingInfo").json()}
    assert info["ETHUSDT"]["fundingIntervalHours"] == 8 and "adjustedFundingRateCap" in info["ETHUSDT"]

    before = srv.http.get("/fapi/v1/insuranceBalance", params={"symbol": SYM}).json()
    srv.admin("POST", "/admin/v1/insurance", {"asset": "USDT", "amount": "12345.5"})
    after = srv.http.get("/fapi/v1/insuranceBalance", params={"symbol": SYM}).json()
    assert SYM in after["symbols"] and after["assets"][0]["asset"] == "USDT"
    assert float(after["assets"][0]["marginBalance"]) - float(before["assets"][0]["marginBalance"]) == 12345.5
    groups = srv.http.get("/fapi/v1/insuranceBalance").json()
    assert isinstance(groups, list) and groups[0]["assets"][0]["marginBalance"] == after["assets"][0]["marginBalance"]


def test_rest_errors(srv):
    cases = [("/fapi/v1/depth", {"symbol": SYM, "limit": 7}, -1130), ("/fapi/v1/depth", {}, -1102),
             ("/fapi/v1/depth", {"symbol": "NOPEUSDT"}, -1121), ("/fapi/v1/klines", {"symbol": SYM}, -1102),
             ("/fapi/v1/klines", {"symbol": SYM, "interval": "7m"}, -1120),
             ("/fapi/v1/klines", {"symbol": SYM, "interval": "1m", "limit": 1501}, -1130),
             ("/fapi/v1/klines", {"symbol": SYM, "interval": "1m", "startTime": 5, "endTime": 4}, -1023),
             ("/fapi/v1/indexPriceKlines", {"symbol": SYM, "interval": "1m"}, -1102),
             ("/fapi/v1/continuousKlines", {"pair": SYM, "contractType": "CURRENT_QUARTER", "interval": "1m"}, -1130),
             ("/fapi/v1/trades", {"symbol": SYM, "limit": "x"}, -1100), ("/fapi/v1/openInterest", {}, -1102),
             ("/fapi/v1/fundingRate", {"startTime": "9223372036854775808"}, -1130),
             ("/fapi/v1/aggTrades", {"symbol": SYM, "fromId": "-1"}, -1100),   # '^[0-9]{1,20}$'
             ("/fapi/v1/depth", {"symbol": SYM, "limit": "\u00b2"}, -1100)]
    for path, params, code in cases:
        r = srv.http.get(path, params=params)
        assert r.status_code == 400 and r.json() == {"code": code, "msg": r.json()["msg"]}, (path, params, r.text)
    assert srv.http.get("/fapi/v1/historicalTrades", params={"symbol": SYM}).json()["code"] == -2014
    r = srv.http.get("/fapi/v1/historicalTrades", params={"symbol": SYM, "fromId": 1, "limit": 2},
                     headers={"X-MBX-APIKEY": srv.maker["apiKey"]})
    assert [t["id"] for t in r.json()] == [1, 2]


def test_ccxt_rest(srv):
    import ccxt
    ex = localize(ccxt.binanceusdm({"options": {"fetchCurrencies": False}}), srv)
    ex.load_markets()
    ob = ex.fetch_order_book("BTC/USDT:USDT", 5)
    assert ob["bids"][0][0] < ob["asks"][0][0] and ob["nonce"] > 0 and ob["timestamp"]
    trades = ex.fetch_trades("BTC/USDT:USDT")
    assert trades and trades[-1]["price"] > 0 and trades[-1]["side"] in ("buy", "sell")
    ohlcv = ex.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=5)
    assert ohlcv and len(ohlcv[-1]) == 6
    assert ex.fetch_mark_ohlcv("ETH/USDT:USDT", "1m", limit=5)[-1][4] > 0
    assert ex.fetch_index_ohlcv("ETH/USDT:USDT", "1m", limit=5)[-1][4] == 3005
    t = ex.fetch_ticker("BTC/USDT:USDT")
    assert t["last"] == 60020 and t["high"] >= t["low"]
    assert ex.fetch_bids_asks(["BTC/USDT:USDT"])["BTC/USDT:USDT"]["bid"] == 59980
    assert ex.fetch_last_prices(["BTC/USDT:USDT"])["BTC/USDT:USDT"]["price"] == 60020
    assert ex.fetch_funding_rate_history("ETH/USDT:USDT")[0]["fundingRate"] is not None
    assert ex.fetch_open_interest("BTC/USDT:USDT")["openInterestAmount"] > 0
    assert ex.fetch_funding_intervals()["ETH/USDT:USDT"]["interval"] == "8h"


# ---------------------------------------------------------------------- raw WebSocket streams
async def _recv_until(ws, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.05, deadline - time.monotonic())))
        if pred(msg):
            return msg


def test_ws_streams(srv):
    async def main():
        mk, tk = srv.maker, srv.taker
        names = ["btcusdt@depth@100ms", "btcusdt@depth5", "btcusdt@bookTicker", "!bookTicker", "btcusdt@trade",
                 "btcusdt@aggTrade", "btcusdt@kline_1m", "btcusdt@ticker", "btcusdt@miniTicker", "!ticker@arr",
                 "!miniTicker@arr", "btcusdt@depth@500ms"]
        async with websockets.connect(srv.ws + "/stream") as comb, \
                websockets.connect(srv.ws + "/market/ws/btcusdt_perpetual@continuousKline_1m") as ck:
            await comb.send(json.dumps({"method": "SUBSCRIBE", "params": names, "id": 7}))
            assert json.loads(await comb.recv()) == {"result": None, "id": 7}
            await aorder(srv, mk, "BUY", "0.1", "59985")     # the new best bid, then taken
            await aorder(srv, tk, "SELL", "0.1", "59985")
            got: dict = {}
            # depth5: the snapshot on subscribing, then one a book change
            while not set(names) <= set(got) or len(got["btcusdt@depth@500ms"]) < 2 or len(got["btcusdt@depth5"]) < 3:
                m = json.loads(await asyncio.wait_for(comb.recv(), 5))
                got.setdefault(m["stream"], []).append(m["data"])
            diffs = got["btcusdt@depth@100ms"]
            assert [d["pu"] for d in diffs[1:]] == [d["u"] for d in diffs[:-1]]
            assert all(d["U"] == d["pu"] + 1 and d["e"] == "depthUpdate" and d["s"] == SYM for d in diffs)
            assert diffs[0]["b"] == [["59985.0", "0.100"]] and diffs[-1]["b"] == [["59985.0", "0.000"]]
            assert got["btcusdt@depth@500ms"] == diffs
            part = got["btcusdt@depth5"][-1]
            rest = srv.http.get("/fapi/v1/depth", params={"symbol": SYM, "limit": 5}).json()
            assert part["b"] == rest["bids"] and part["a"] == rest["asks"] and part["u"] == rest["lastUpdateId"]
            tr = got["btcusdt@trade"][-1]
            assert (tr["e"], tr["p"], tr["q"], tr["m"], tr["X"]) == ("trade", "59985.0", "0.100", True, "MARKET")
            ag = got["btcusdt@aggTrade"][-1]
            assert ag["e"] == "aggTrade" and "M" not in ag and ag["f"] == ag["l"] == tr["t"]
            kl = got["btcusdt@kline_1m"][-1]
            assert kl["e"] == "kline" and kl["k"]["c"] == "59985.0" and kl["k"]["i"] == "1m" and kl["k"]["x"] is False
            tk24 = got["btcusdt@ticker"][-1]
            assert tk24["e"] == "24hrTicker" and tk24["c"] == "59985.0" and tk24["L"] == tr["t"]
            assert got["btcusdt@miniTicker"][-1]["e"] == "24hrMiniTicker"
            assert got["!ticker@arr"][-1][0]["s"] == SYM and got["!miniTicker@arr"][-1][0]["c"] == "59985.0"
            assert got["btcusdt@bookTicker"][-1]["e"] == "bookTicker" and got["!bookTicker"]
            # python-binance's kline_futures_socket: a raw continuous kline stream named in the path
            m = json.loads(await asyncio.wait_for(ck.recv(), 5))
            assert m["e"] == "continuous_kline" and m["ps"] == SYM and m["ct"] == "PERPETUAL" and m["k"]["i"] == "1m"
    asyncio.run(main())


# ---------------------------------------------------------------------- ccxt.pro
def test_ccxt_pro_watchers(srv):
    import ccxt.pro

    async def main():
        ex = localize(ccxt.pro.binanceusdm({"options": {"fetchCurrencies": False}}), srv)
        mk, tk = srv.maker, srv.taker
        try:
            await ex.load_markets()
            sym = "BTC/USDT:USDT"
            ob = await asyncio.wait_for(ex.watch_order_book(sym), 10)
            # many book changes while ccxt keeps the book in sync (a gap would raise ChecksumError)
            placed = []
            for i in range(40):
                side = "BUY" if i % 2 == 0 else "SELL"
                px = f"{59900 - i * 10}" if side == "BUY" else f"{60100 + i * 10}"
                placed.append((await aorder(srv, mk, side, "0.01", px)).reply["orderId"])
                if i % 5 == 4:
                    await asubmit(srv, "cancel_order", account_id=mk["accountId"], symbol=SYM, order_id=placed[-3])
                if i % 7 == 6:
                    await aorder(srv, tk, "BUY" if i % 2 else "SELL", "0.02")
            rest = srv.http.get("/fapi/v1/depth", params={"symbol": SYM, "limit": 1000}).json()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:     # ccxt applies the diffs to its book as they come
                ob = ex.orderbooks.get(sym)
                if ob is not None and ob["nonce"] is not None and ob["nonce"] >= rest["lastUpdateId"]:
                    break
                await asyncio.sleep(0.05)
            assert sym in ex.orderbooks, "ccxt dropped the book (a gap in U/u/pu)"
            ob = await asyncio.wait_for(ex.watch_order_book(sym), 10) if ob["nonce"] is None else ob
            assert ob["nonce"] == rest["lastUpdateId"]
            assert ob["bids"] == [[float(p), float(q)] for p, q in rest["bids"]]
            assert ob["asks"] == [[float(p), float(q)] for p, q in rest["asks"]]

            trades_task = asyncio.ensure_future(ex.watch_trades(sym))
            agg_task = asyncio.ensure_future(ex.watch_trades(sym, params={"name": "aggTrade"}))
            ohlcv_task = asyncio.ensure_future(ex.watch_ohlcv(sym, "1m"))
            ticker_task = asyncio.ensure_future(ex.watch_ticker(sym))
            tickers_task = asyncio.ensure_future(ex.watch_tickers())
            bidask_task = asyncio.ensure_future(ex.watch_bids_asks([sym]))
            await asyncio.sleep(0.5)
            await aorder(srv, tk, "SELL", "0.01")
            agg = await asyncio.wait_for(agg_task, 10)
            assert agg[-1]["amount"] == 0.01 and agg[-1]["side"] == "sell"
            assert sym in await asyncio.wait_for(tickers_task, 10)
            ba = (await asyncio.wait_for(bidask_task, 10))[sym]
            rest_bt = srv.http.get("/fapi/v1/ticker/bookTicker", params={"symbol": SYM}).json()
            assert (ba["bid"], ba["ask"]) == (float(rest_bt["bidPrice"]), float(rest_bt["askPrice"]))
            trades = await asyncio.wait_for(trades_task, 10)
            assert trades[-1]["symbol"] == sym and trades[-1]["side"] == "sell" and trades[-1]["amount"] == 0.01
            ohlcv = await asyncio.wait_for(ohlcv_task, 10)
            assert len(ohlcv[-1]) == 6 and ohlcv[-1][4] == trades[-1]["price"]
            ticker = await asyncio.wait_for(ticker_task, 10)
            assert ticker["symbol"] == sym and ticker["last"] == trades[-1]["price"]

            mark_task = asyncio.ensure_future(ex.watch_mark_price(sym))
            await asyncio.sleep(0.5)
            await asyncio.get_running_loop().run_in_executor(None, srv.price, SYM, "60050")
            mp = await asyncio.wait_for(mark_task, 10)
            assert mp["symbol"] == sym and mp["markPrice"] > 0 and mp["indexPrice"] == 60050
        finally:
            await ex.close()
    asyncio.run(main())


# ---------------------------------------------------------------------- python-binance
def test_python_binance_mark_price_socket(srv, monkeypatch):
    from binance.async_client import AsyncClient
    from binance.client import Client
    from binance.ws.streams import BinanceSocketManager

    for cls in (Client, AsyncClient):
        monkeypatch.setattr(cls, "API_URL", srv.base + "/api")
        monkeypatch.setattr(cls, "FUTURES_URL", srv.base + "/fapi")
    monkeypatch.setattr(BinanceSocketManager, "FSTREAM_URL", srv.ws + "/")

    async def main():
        loop = asyncio.get_running_loop()

        def later(fn, *args):
            """Wake python-binance's read loop while it closes: it exits on its next message, or
            after 10 s without one (Binance pushes marks every second; this test has no feed)."""
            loop.run_in_executor(None, lambda: (time.sleep(0.3), fn(*args)))

        ac = await AsyncClient.create()
        try:
            assert set(await ac.futures_order_book(symbol=SYM, limit=5)) == {"lastUpdateId", "E", "T", "bids", "asks"}
            bm = BinanceSocketManager(ac)
            async with bm.symbol_mark_price_socket(SYM) as s:
                await asyncio.sleep(0.3)
                await loop.run_in_executor(None, srv.price, SYM, "60070")
                msg = await asyncio.wait_for(s.recv(), 10)
                assert msg["stream"] == "btcusdt@markPrice@1s" and msg["data"]["e"] == "markPriceUpdate"
                assert msg["data"]["i"].startswith("60070")
                later(srv.price, SYM, "60060")
            async with bm.kline_futures_socket(SYM) as s:
                await asyncio.sleep(0.3)
                await aorder(srv, srv.taker, "BUY", "0.01")
                msg = await asyncio.wait_for(s.recv(), 10)
                assert msg["e"] == "continuous_kline" and msg["ps"] == SYM
                later(order, srv, srv.taker, "SELL", "0.01")
        finally:
            await ac.close_connection()
    asyncio.run(main())


def test_partial_depth_on_subscribe(srv):
    """A partial depth stream sends the top of the book at once (after the SUBSCRIBE reply)."""
    async def main():
        rest = srv.http.get("/fapi/v1/depth", params={"symbol": SYM, "limit": 10}).json()
        async with websockets.connect(srv.ws + "/public/stream?streams=btcusdt@depth10@100ms") as ws:
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert m["stream"] == "btcusdt@depth10@100ms" and m["data"]["u"] == rest["lastUpdateId"]
            assert (m["data"]["b"], m["data"]["a"]) == (rest["bids"], rest["asks"])
        async with websockets.connect(srv.ws + "/ws") as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth5"], "id": "a-uuid"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"result": None, "id": "a-uuid"}
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert m["e"] == "depthUpdate" and m["b"] == rest["bids"][:5] and len(m["a"]) <= 5
    asyncio.run(main())


def test_kline_close_on_simulated_clock(tmp_path):
    """A trade opening a new bar pushes the previous bar first, closed ("x": true); REST agrees."""
    with running_server(tmp_path, clock="sim") as s:
        s.price(SYM, "60000")
        mk, tk = s.account("1000000"), s.account("1000000")

        async def main():
            async with websockets.connect(s.ws + "/ws/btcusdt@kline_1m/btcusdt@kline_5m") as ws:
                await aorder(s, mk, "BUY", "0.1", "59990")
                await aorder(s, tk, "SELL", "0.1", "59990")
                first = await _recv_until(ws, lambda m: m["k"]["i"] == "1m")
                assert first["k"]["x"] is False and first["k"]["c"] == "59990.0"
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: s.admin("POST", "/admin/v1/clock", {"advanceMs": 60_000}))
                await aorder(s, mk, "BUY", "0.1", "59980")
                await aorder(s, tk, "SELL", "0.1", "59980")
                closed = await _recv_until(ws, lambda m: m["k"]["i"] == "1m")
                assert closed["k"]["x"] is True and closed["k"]["t"] == first["k"]["t"]
                assert closed["k"]["c"] == "59990.0" and closed["k"]["n"] == 1
                opened = await _recv_until(ws, lambda m: m["k"]["i"] == "1m")
                assert opened["k"]["x"] is False and opened["k"]["t"] == first["k"]["t"] + 60_000
                rows = s.http.get("/fapi/v1/klines", params={"symbol": SYM, "interval": "1m"}).json()
                assert [r[0] for r in rows] == [first["k"]["t"], opened["k"]["t"]]
                assert rows[0][4] == "59990.0" and rows[1][4] == "59980.0"
        asyncio.run(main())
