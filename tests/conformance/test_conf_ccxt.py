"""ccxt (sync) for REST and ccxt.pro for streams: one bot session, unmodified but for the URLs (binance-api.md 1.1).

The functions run in order and share the session (module-scoped): markets, account settings,
a resting order, a fill and its position, then a liquidation seen on the user stream
(watch_orders, watch_my_liquidations) and through fetch_my_liquidations (GET /fapi/v1/forceOrders).
"""
from __future__ import annotations

import asyncio
import time

import ccxt
import ccxt.pro
import pytest

from confkit import (CRASH_PRICE, FILL_QTY, LEVERAGE, REST_PRICE, REST_QTY, D, Inbox, LoopThread, Venue,
                     localize)

SYM = "BTC/USDT:USDT"


class Session:
    def __init__(self, tmp: str):
        self.venue = Venue(tmp)
        self.venue.seed_book()
        opts = {"fetchCurrencies": False, "adjustForTimeDifference": True}
        self.ex = localize(ccxt.binanceusdm({"apiKey": self.venue.key, "secret": self.venue.secret,
                                             "options": dict(opts)}), self.venue.base, self.venue.ws)
        self.loop = LoopThread()
        self.pro = None
        self.orders, self.liqs, self.balances, self.books = Inbox(), Inbox(), Inbox(), Inbox()
        self.trades, self.public_liqs, self.marks, self.ohlcv = Inbox(), Inbox(), Inbox(), Inbox()
        self.my_trades, self.positions = Inbox(), Inbox()
        self.ids: dict = {}

    def start_watchers(self) -> None:
        async def make():
            return localize(ccxt.pro.binanceusdm({"apiKey": self.venue.key, "secret": self.venue.secret,
                                                  "options": {"fetchCurrencies": False}}),
                            self.venue.base, self.venue.ws)
        self.pro = self.loop.run(make())
        self.loop.run(self.pro.load_markets())

        async def watch(method, inbox, *args):
            while True:
                try:
                    for item in await method(*args):
                        inbox.add(item)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # recorded; the assertions report them
                    inbox.errors.append(repr(e))
                    await asyncio.sleep(0.2)
        self.loop.spawn(watch(self.pro.watch_orders, self.orders, SYM))
        # (watch_my_liquidations is not watched: ccxt.pro 4.5.90 recognises a private liquidation only by
        # ORDER_TRADE_UPDATE o == "LIQUIDATION", which Binance does not send: its liquidation fills are
        # o LIMIT, x CALCULATED, c autoclose-..., as here; watch_orders sees them)
        self.loop.spawn(watch(self.pro.watch_my_trades, self.my_trades, SYM))
        self.loop.spawn(watch(self.pro.watch_positions, self.positions, [SYM]))

        async def balances():
            while True:
                try:
                    self.balances.add(await self.pro.watch_balance())
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    self.balances.errors.append(repr(e))
                    await asyncio.sleep(0.2)
        self.loop.spawn(balances())

        async def books():
            while True:
                try:
                    ob = await self.pro.watch_order_book(SYM)
                    self.books.add({"bids": [list(x) for x in ob["bids"][:5]],
                                    "asks": [list(x) for x in ob["asks"][:5]],
                                    "nonce": ob["nonce"]})
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    self.books.errors.append(repr(e))
                    await asyncio.sleep(0.2)
        self.loop.spawn(books())
        self.loop.spawn(watch(self.pro.watch_trades, self.trades, SYM))
        self.loop.spawn(watch(self.pro.watch_liquidations, self.public_liqs, SYM))
        self.loop.spawn(watch(self.pro.watch_ohlcv, self.ohlcv, SYM, "1m"))

        async def marks():
            while True:
                try:
                    self.marks.add(await self.pro.watch_mark_price(SYM))
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    self.marks.errors.append(repr(e))
                    await asyncio.sleep(0.2)
        self.loop.spawn(marks())
        self.venue.wait_streams(user=1, market=("btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@forceOrder",
                                                "btcusdt@kline_1m", "btcusdt@markPrice@1s"))

    def close(self) -> None:
        if self.pro is not None:
            try:
                self.loop.run(self.pro.close(), timeout=10)
            except Exception:
                pass
        self.loop.stop()
        self.venue.stop()


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    sess = Session(tmp_path_factory.mktemp("ccxt"))
    yield sess
    sess.close()


def test_01_markets_and_market_data(s):
    markets = s.ex.load_markets()
    m = markets[SYM]
    assert m["id"] == "BTCUSDT" and m["swap"] and m["linear"] and m["settle"] == "USDT" and m["active"]
    assert D(m["precision"]["amount"]) == D("0.001") and D(m["precision"]["price"]) == D("0.1")
    assert D(m["limits"]["cost"]["min"]) == D("100") and D(m["limits"]["amount"]["min"]) == D("0.001")
    assert abs(s.ex.fetch_time() - time.time() * 1000) < 5000
    book = s.ex.fetch_order_book(SYM)
    assert book["asks"][0][0] == 60000.0 and book["asks"][0][1] == 0.05 and isinstance(book["nonce"], int)
    fr = s.ex.fetch_funding_rate(SYM)
    assert fr["markPrice"] == 60000.0 and fr["fundingTimestamp"] > time.time() * 1000
    tiers = s.ex.fetch_leverage_tiers([SYM])[SYM]
    assert tiers[0]["minNotional"] == 0 and tiers[0]["maxLeverage"] >= tiers[-1]["maxLeverage"]


def test_02_account_settings(s):
    bal = s.ex.fetch_balance()
    assert bal["USDT"]["total"] == 10000.0 and bal["USDT"]["free"] == 10000.0
    assert s.ex.set_leverage(LEVERAGE, SYM)["leverage"] == LEVERAGE
    s.ex.set_margin_mode("isolated", SYM)
    with pytest.raises(ccxt.MarginModeAlreadySet):
        s.ex.set_margin_mode("isolated", SYM)
    assert s.ex.fetch_position_mode(SYM)["hedged"] is False
    with pytest.raises(ccxt.AuthenticationError):   # -1022 through ccxt's table
        bad = localize(ccxt.binanceusdm({"apiKey": s.venue.key, "secret": "0" * 64,
                                         "options": {"fetchCurrencies": False}}), s.venue.base, s.venue.ws)
        bad.markets, bad.markets_by_id = s.ex.markets, s.ex.markets_by_id
        bad.fetch_balance()


def test_03_resting_order_and_cancel(s):
    s.start_watchers()
    o = s.ex.create_order(SYM, "limit", "buy", float(REST_QTY), float(REST_PRICE))
    assert o["status"] == "open" and o["price"] == float(REST_PRICE) and o["amount"] == float(REST_QTY)
    assert o["clientOrderId"].startswith("x-cvBPrNm9")
    s.ids["rest"] = o["id"]
    assert s.ex.fetch_order(o["id"], SYM)["status"] == "open"
    assert o["id"] in [x["id"] for x in s.ex.fetch_open_orders(SYM)]
    c = s.ex.cancel_order(o["id"], SYM)
    assert c["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):          # -2011
        s.ex.cancel_order(o["id"], SYM)
    with pytest.raises(ccxt.InvalidOrder):           # -4164 below MIN_NOTIONAL (linear table)
        s.ex.create_order(SYM, "limit", "buy", 0.001, float(REST_PRICE))
    assert s.ex.fetch_open_orders(SYM) == []
    got = s.orders.wait(lambda o: o["id"] == s.ids["rest"] and o["status"] == "canceled", 10,
                        "watch_orders canceled order")
    assert got["price"] == float(REST_PRICE)
    # watch_order_book (REST snapshot + @depth@100ms diffs, U/u/pu checked by ccxt): the bid came and went
    s.books.wait(lambda b: [float(REST_PRICE), float(REST_QTY)] in b["bids"], 10, "the resting bid in watch_order_book")
    last = s.books.wait(lambda b: b["asks"][:1] == [[60000.0, 0.05]] and b["bids"] == [] and b is s.books.items[-1],
                        10, "the book back to the maker's ask")
    assert isinstance(last["nonce"], int)
    assert not any("Checksum" in e or "InvalidNonce" in e for e in s.books.errors), s.books.errors


def test_04_fill_position_trades(s):
    o = s.ex.create_order(SYM, "market", "buy", float(FILL_QTY))
    assert o["status"] == "closed" and o["filled"] == float(FILL_QTY) and o["average"] == 60000.0
    s.ids["fill"] = o["id"]
    pos = s.ex.fetch_positions([SYM])
    assert len(pos) == 1
    p = pos[0]
    assert p["side"] == "long" and p["contracts"] == float(FILL_QTY) and p["entryPrice"] == 60000.0
    assert p["marginMode"] == "isolated" and 57000 < p["liquidationPrice"] < 58000
    trades = s.ex.fetch_my_trades(SYM)
    mine = [t for t in trades if t["order"] == o["id"]]
    assert len(mine) == 1 and mine[0]["price"] == 60000.0 and mine[0]["amount"] == float(FILL_QTY)
    assert mine[0]["takerOrMaker"] == "taker" and mine[0]["fee"]["currency"] == "USDT" and mine[0]["fee"]["cost"] > 0
    s.orders.wait(lambda x: x["id"] == o["id"] and x["status"] == "closed", 10, "watch_orders filled market order")
    mt = s.my_trades.wait(lambda t: t["order"] == o["id"], 10, "watch_my_trades the fill")
    assert mt["price"] == 60000.0 and mt["amount"] == float(FILL_QTY) and mt["fee"]["cost"] > 0
    wp = s.positions.wait(lambda p: p["symbol"] == SYM and p["contracts"] == float(FILL_QTY), 10, "watch_positions")
    assert wp["side"] == "long" and wp["entryPrice"] == 60000.0
    t = s.trades.wait(lambda t: t["price"] == 60000.0, 10, "watch_trades (@trade) the fill")
    assert t["amount"] == float(FILL_QTY) and t["side"] == "buy"
    c = s.ohlcv.wait(lambda c: c[4] == 60000.0, 10, "watch_ohlcv candle closing at the fill")
    assert c[2] >= c[4] >= c[3] and c[5] >= float(FILL_QTY)
    ledger = s.ex.fetch_ledger("USDT")
    assert any(e["type"] == "fee" or e["info"].get("incomeType") == "COMMISSION" for e in ledger)


def test_05_liquidation(s):
    assert s.venue.bot_position_amt() == D(FILL_QTY), "no long to liquidate (the fill step failed)"
    s.venue.crash()
    closed = s.orders.wait(lambda x: (x["clientOrderId"] or "").startswith("autoclose-") and x["status"] == "closed",
                           15, "watch_orders liquidation order")
    assert closed["filled"] == float(FILL_QTY) and closed["side"] == "sell" and closed["type"] == "limit"
    assert float(CRASH_PRICE) <= closed["average"] < 60000
    rest = s.ex.fetch_order(closed["id"], SYM)          # REST tells the same story as the stream
    assert (rest["status"], rest["filled"], rest["type"], rest["average"]) == (
        "closed", closed["filled"], "limit", closed["average"])
    # the isolated margin (30 USDT) is gone: 10,000 - 0.30 commission - 30
    s.balances.wait(lambda b: b["USDT"]["total"] is not None and b["USDT"]["total"] <= 9970, 10,
                    "watch_balance after the liquidation")
    pub = s.public_liqs.wait(lambda x: x["symbol"] == SYM, 10, "watch_liquidations (public @forceOrder)")
    assert pub["contracts"] == float(FILL_QTY) and pub["side"] == "sell"
    mark = s.marks.wait(lambda m: m["markPrice"] == float(CRASH_PRICE), 10, "watch_mark_price at the crash price")
    assert mark["symbol"] == SYM
    rows = s.ex.fetch_my_liquidations(SYM)
    assert len(rows) == 1 and rows[0]["contracts"] == float(FILL_QTY) and rows[0]["side"] == "sell"
    assert s.ex.fetch_positions([SYM]) == []
    assert s.venue.ledger_balanced()


def test_06_more_rest(s):
    """After the liquidation, back at 60,000: market data, algo orders, edits, batches, margin, errors."""
    s.venue.srv.price("BTCUSDT", "60000")
    ex = s.ex
    t = ex.fetch_ticker(SYM)
    assert t["symbol"] == SYM and t["last"] == 58900.0           # the liquidation's fill was the last trade
    candles = ex.fetch_ohlcv(SYM, "1m")
    assert candles and [c[0] for c in candles] == sorted(c[0] for c in candles) and candles[-1][4] == 58900.0
    mark = ex.fetch_mark_ohlcv(SYM, "1m")
    assert mark and mark[-1][4] == 60000.0
    index = ex.fetch_index_ohlcv(SYM, "1m")                       # sends pair=, not symbol=
    assert index and index[-1][4] == 60000.0
    prices = sorted({tr["price"] for tr in ex.fetch_trades(SYM)})
    assert prices == [58900.0, 60000.0]
    s.venue.srv.admin("POST", "/admin/v1/funding", {"symbol": "BTCUSDT"})
    history = ex.fetch_funding_rate_history(SYM)
    assert history and history[-1]["symbol"] == SYM and history[-1]["fundingRate"] is not None
    fee = ex.fetch_trading_fee(SYM)
    assert fee["taker"] > fee["maker"] >= 0
    # a stop through the Algo API (quirk 1)
    stop = ex.create_order(SYM, "market", "sell", 0.002, None, {"stopLossPrice": 55000})
    assert stop["status"] == "open" and stop["triggerPrice"] == 55000.0
    assert stop["id"] in [o["id"] for o in ex.fetch_open_orders(SYM, params={"trigger": True})]
    ex.cancel_order(stop["id"], SYM, {"trigger": True})
    assert ex.fetch_open_orders(SYM, params={"trigger": True}) == []
    with pytest.raises(ccxt.OrderImmediatelyFillable):               # -2021
        ex.create_order(SYM, "market", "sell", 0.002, None, {"stopLossPrice": 61000})
    # edit, batch, cancel all
    o = ex.create_order(SYM, "limit", "buy", 0.002, 58000)
    e = ex.edit_order(o["id"], SYM, "limit", "buy", 0.003, 58100)
    assert (e["id"], e["price"], e["amount"], e["status"]) == (o["id"], 58100.0, 0.003, "open")
    batch = ex.create_orders([{"symbol": SYM, "type": "limit", "side": "buy", "amount": 0.002, "price": 57500},
                              {"symbol": SYM, "type": "limit", "side": "buy", "amount": 0.002, "price": 57600}])
    assert [b["status"] for b in batch] == ["open", "open"]
    assert len(ex.fetch_open_orders(SYM)) == 3
    ex.cancel_all_orders(SYM)
    assert ex.fetch_open_orders(SYM) == []
    # errors through ccxt's exception classes
    with pytest.raises(ccxt.InsufficientFunds):                      # -2019
        ex.create_order(SYM, "limit", "buy", 5, 59000)
    with pytest.raises(ccxt.InvalidOrder):                           # -2022
        ex.create_order(SYM, "market", "sell", 0.002, None, {"reduceOnly": True})
    with pytest.raises(ccxt.BadSymbol):                              # -1121
        ex.fapiPublicGetDepth({"symbol": "NOPEUSDT"})
    stranger = localize(ccxt.binanceusdm({"apiKey": "f" * 64, "secret": "0" * 64,
                                          "options": {"fetchCurrencies": False}}), s.venue.base, s.venue.ws)
    stranger.markets, stranger.markets_by_id = ex.markets, ex.markets_by_id
    with pytest.raises(ccxt.AuthenticationError):                    # -2015
        stranger.fetch_balance()
    late = localize(ccxt.binanceusdm({"apiKey": s.venue.key, "secret": s.venue.secret,
                                      "options": {"fetchCurrencies": False}}), s.venue.base, s.venue.ws)
    late.markets, late.markets_by_id = ex.markets, ex.markets_by_id
    late.options["timeDifference"] = 120_000
    with pytest.raises(ccxt.InvalidNonce):                           # -1021
        late.fetch_balance()
    # isolated margin in and out of a new long, then close it
    o = ex.create_order(SYM, "market", "buy", 0.002)
    assert o["status"] == "closed"
    before = ex.fetch_positions([SYM])[0]["collateral"]
    assert ex.add_margin(SYM, 10)["status"] == "ok"
    assert ex.reduce_margin(SYM, 5)["status"] == "ok"
    after = ex.fetch_positions([SYM])[0]["collateral"]
    assert abs(after - before - 5) < 1e-6
    c = ex.create_order(SYM, "market", "sell", 0.002, None, {"reduceOnly": True})
    assert c["status"] == "closed" and c["average"] == 58900.0
    assert ex.fetch_positions([SYM]) == []
    # ccxt.pro's keepalive: PUT /fapi/v1/listenKey with no listenKey parameter (binance-api.md 3.5)
    lk = ex.fapiPrivatePostListenKey()["listenKey"]
    assert ex.fapiPrivatePutListenKey() in ({}, {"listenKey": lk})
    assert s.venue.ledger_balanced()


def test_07_wallets_through_transfers(s):
    """The universal transfer moves money between real wallets: futures (fetch_balance), spot (GET /api/v3/account)
    and funding (POST /sapi/v1/asset/get-funding-asset), read with ccxt's spot class on the same host."""
    acct = s.venue.bot["accountId"]
    for wallet, amount in (("SPOT", "500"), ("FUNDING", "300")):
        s.venue.srv.admin("POST", "/admin/v1/deposit", {"accountId": acct, "asset": "USDT", "amount": amount,
                                                        "wallet": wallet})
    futures0 = s.ex.fetch_balance()["USDT"]["total"]
    s.ex.transfer("USDT", 5, "linear", "spot")
    s.ex.transfer("USDT", 7, "spot", "swap")
    s.ex.transfer("USDT", 3, "funding", "linear")
    assert abs(s.ex.fetch_balance()["USDT"]["total"] - (futures0 - 5 + 7 + 3)) < 1e-9
    spot = localize(ccxt.binance({"apiKey": s.venue.key, "secret": s.venue.secret,
                                  "options": {"fetchCurrencies": False}}), s.venue.base, s.venue.ws)
    balances = {b["asset"]: b for b in spot.privateGetAccount()["balances"]}
    assert D(balances["USDT"]["free"]) == D("498")
    funding = {b["asset"]: b for b in spot.sapiPostAssetGetFundingAsset()}
    assert D(funding["USDT"]["free"]) == D("297")
    with pytest.raises(ccxt.ExchangeError):          # more than the spot wallet holds
        s.ex.transfer("USDT", 10_000, "spot", "linear")
    assert s.venue.ledger_balanced()
