"""Binance's SDK (binance-sdk-derivatives-trading-usds-futures): REST and websocket_streams, user_data included.

One bot session, configured only with base_path and stream_url (binance-api.md 1.3). The SDK
validates every response against strict pydantic models and only logs a warning when a type
does not match; each step asserts that no such warning was logged, so the server's types are
the SDK's declared ones. Its parameters go in the query string for every verb; floats as str().
"""
from __future__ import annotations

import logging
import re
import time

import pytest
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketStreams
from binance_common.errors import BadRequestError
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import \
    DerivativesTradingUsdsFutures
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (ChangeMarginTypeMarginTypeEnum,
                                                                          ModifyOrderSideEnum,
                                                                          PlaceMultipleOrdersBatchOrdersParameterInner,
                                                                          NewAlgoOrderAlgoTypeEnum,
                                                                          NewAlgoOrderSideEnum,
                                                                          NewAlgoOrderTypeEnum, NewOrderSideEnum,
                                                                          NewOrderTimeInForceEnum, NewOrderTypeEnum)

from confkit import (FILL_QTY, LEVERAGE, REST_PRICE, REST_QTY, SYMBOL, D, Inbox, LoopThread, Venue, events,
                     is_account_update, is_liquidation_update, is_order_update)

TYPE_WARNINGS = ("did not match the declared types", "Failed to parse", "Unknown user data event")


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record):
        msg = record.getMessage()
        if any(w in msg for w in TYPE_WARNINGS):
            self.records.append(msg[:400])


def as_dict(model) -> dict:
    """A stream message (a pydantic model, possibly a oneOf wrapper) as Binance's JSON object.

    The SDK's user-event models drop ``e``: the model class is the event type (OrderTradeUpdate is
    ORDER_TRADE_UPDATE), so ``e`` is put back from the class name."""
    inner = getattr(model, "actual_instance", None) or model
    if isinstance(inner, dict):
        return inner
    d = inner.model_dump(by_alias=True, exclude_none=True)
    if "e" not in d:
        d["e"] = re.sub(r"(?<!^)(?=[A-Z])", "_", type(inner).__name__).upper()
    return d


class Session:
    def __init__(self, tmp):
        self.venue = Venue(tmp)
        self.venue.seed_book()
        self.warnings = Warnings()
        logging.getLogger().addHandler(self.warnings)
        self.client = DerivativesTradingUsdsFutures(
            config_rest_api=ConfigurationRestAPI(api_key=self.venue.key, api_secret=self.venue.secret,
                                                 base_path=self.venue.base, timeout=5000, retries=0),
            config_ws_streams=ConfigurationWebSocketStreams(stream_url=self.venue.ws))
        self.rest = self.client.rest_api
        self.loop = LoopThread()
        self.conn = None
        self.user, self.marks, self.market = Inbox(), Inbox(), Inbox()

    def start_streams(self) -> None:
        listen_key = self.rest.start_user_data_stream().data().listen_key

        async def connect():
            conn = await self.client.websocket_streams.create_connection()
            u = await conn.user_data(listen_key)
            u.on("message", lambda m: self.user.add(as_dict(m)))
            h = await conn.mark_price_stream(symbol=SYMBOL.lower(), update_speed="1s")
            h.on("message", lambda m: self.marks.add(as_dict(m)))
            for sub in (conn.aggregate_trade_streams(symbol="btcusdt"),
                        conn.diff_book_depth_streams(symbol="btcusdt", update_speed="100ms"),
                        conn.liquidation_order_streams(symbol="btcusdt")):
                (await sub).on("message", lambda m: self.market.add(as_dict(m)))
            return conn
        self.conn = self.loop.run(connect())
        self.listen_key = listen_key
        self.venue.wait_streams(user=1, market=("btcusdt@markPrice@1s", "btcusdt@aggTrade", "btcusdt@depth@100ms",
                                                "btcusdt@forceOrder"))

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.loop.run(self.conn.close_connection(), timeout=10)
            except Exception:
                pass
        self.loop.stop()
        logging.getLogger().removeHandler(self.warnings)
        self.venue.stop()


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    sess = Session(tmp_path_factory.mktemp("sdk"))
    yield sess
    sess.close()


@pytest.fixture(autouse=True)
def no_type_warnings(s):
    before = len(s.warnings.records)
    yield
    assert s.warnings.records[before:] == [], "the SDK's models refused the server's types"


def test_01_market_data(s):
    r = s.rest
    assert abs(r.check_server_time().data().server_time - time.time() * 1000) < 5000
    info = r.exchange_information().data()
    sym = next(x for x in info.symbols if x.symbol == SYMBOL)
    assert sym.contract_type == "PERPETUAL" and sym.margin_asset == "USDT"
    book = r.order_book(symbol=SYMBOL, limit=5).data()
    assert D(book.asks[0][0]) == D("60000") and isinstance(book.last_update_id, int)
    mark = r.mark_price(symbol=SYMBOL).data()
    inner = getattr(mark, "actual_instance", mark)
    inner = inner if not isinstance(inner, list) else inner[0]
    assert D(inner.mark_price) == D("60000")


def test_02_account_and_settings(s):
    r = s.rest
    s.start_streams()
    acct = r.account_information_v3().data()
    assert D(acct.total_wallet_balance) == D("10000") and D(acct.available_balance) == D("10000")
    bal = {b.asset: b for b in r.futures_account_balance_v3().data()}
    assert D(bal["USDT"].balance) == D("10000")
    brackets = r.notional_and_leverage_brackets(symbol=SYMBOL).data()
    assert brackets is not None
    assert r.change_initial_leverage(symbol=SYMBOL, leverage=LEVERAGE).data().leverage == LEVERAGE
    r.change_margin_type(symbol=SYMBOL, margin_type=ChangeMarginTypeMarginTypeEnum.ISOLATED).data()
    with pytest.raises(BadRequestError) as e:
        r.change_margin_type(symbol=SYMBOL, margin_type=ChangeMarginTypeMarginTypeEnum.ISOLATED)
    assert "No need to change margin type" in str(e.value)
    s.venue.srv.price(SYMBOL, "60000")       # a mark update (the test venue has no index feed)
    m = s.marks.wait(lambda m: m["e"] == "markPriceUpdate" and m["s"] == SYMBOL, 5, "markPriceUpdate")
    assert D(m["p"]) == D("60000")


def test_03_resting_order_and_cancel(s):
    r = s.rest
    o = r.new_order(symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                    time_in_force=NewOrderTimeInForceEnum.GTC, quantity=float(REST_QTY),
                    price=float(REST_PRICE)).data()         # sent as price=58000.0 (str of a float)
    assert o.status == "NEW" and D(o.price) == D(REST_PRICE)
    q = r.query_order(symbol=SYMBOL, order_id=o.order_id).data()
    assert q.status == "NEW" and D(q.orig_qty) == D(REST_QTY)
    assert [x.order_id for x in r.current_all_open_orders(symbol=SYMBOL).data()] == [o.order_id]
    assert r.cancel_order(symbol=SYMBOL, order_id=o.order_id).data().status == "CANCELED"
    with pytest.raises(BadRequestError) as e:
        r.cancel_order(symbol=SYMBOL, order_id=o.order_id)
    assert "Unknown order sent" in str(e.value)
    algo = r.new_algo_order(algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL, symbol=SYMBOL,
                            side=NewAlgoOrderSideEnum.SELL, type=NewAlgoOrderTypeEnum.STOP_MARKET,
                            quantity=float(REST_QTY), trigger_price=55000.0).data()
    assert algo.algo_status == "NEW" and D(algo.trigger_price) == D("55000")
    r.cancel_algo_order(algo_id=algo.algo_id).data()
    s.user.wait(lambda m: is_order_update(m, o.order_id, "CANCELED"), 10, "ORDER_TRADE_UPDATE CANCELED")
    s.user.wait(lambda m: any(e.get("e") == "ALGO_UPDATE" and e["o"]["aid"] == algo.algo_id and
                              e["o"]["X"] == "CANCELED" for e in events(m)), 10, "ALGO_UPDATE CANCELED")


def test_04_fill_position_trades_income(s):
    r = s.rest
    o = r.new_order(symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.MARKET,
                    quantity=float(FILL_QTY)).data()
    s.user.wait(lambda m: is_order_update(m, o.order_id, "FILLED"), 10, "ORDER_TRADE_UPDATE FILLED")
    s.user.wait(lambda m: is_account_update(m, "ORDER"), 10, "ACCOUNT_UPDATE m=ORDER")
    pos = [p for p in r.position_information_v3(symbol=SYMBOL).data() if D(p.position_amt)]
    assert len(pos) == 1 and D(pos[0].position_amt) == D(FILL_QTY) and D(pos[0].entry_price) == D("60000")
    trades = [t for t in r.account_trade_list(symbol=SYMBOL).data() if t.order_id == o.order_id]
    assert len(trades) == 1 and D(trades[0].price) == D("60000") and trades[0].buyer is True
    income = r.get_income_history(symbol=SYMBOL).data()
    assert any(i.income_type == "COMMISSION" and D(i.income) < 0 for i in income)
    agg = s.market.wait(lambda m: m["e"] == "aggTrade" and D(m["p"]) == D("60000"), 10, "aggTrade of the fill")
    assert D(agg["q"]) == D(FILL_QTY)
    diffs = [m for m in s.market.items if m.get("e") == "depthUpdate"]
    assert len(diffs) >= 3 and all(b["pu"] == a["u"] for a, b in zip(diffs, diffs[1:])), diffs


def test_05_liquidation(s):
    r = s.rest
    assert s.venue.bot_position_amt() == D(FILL_QTY), "no long to liquidate (the fill step failed)"
    s.venue.crash()
    msg = s.user.wait(is_liquidation_update, 15, "ORDER_TRADE_UPDATE of the liquidation (autoclose-)")
    assert events(msg)[0]["o"]["S"] == "SELL" and D(events(msg)[0]["o"]["z"]) == D(FILL_QTY)
    s.user.wait(lambda m: any(e.get("e") == "ACCOUNT_UPDATE" and e["a"]["m"] == "ORDER" and
                              any(p["s"] == SYMBOL and D(p["pa"]) == 0 for p in e["a"]["P"]) for e in events(m)),
                10, "ACCOUNT_UPDATE with the position closed")
    fo = s.market.wait(lambda m: m["e"] == "forceOrder", 10, "forceOrder stream")
    assert fo["o"]["S"] == "SELL" and D(fo["o"]["z"]) == D(FILL_QTY)
    forced = r.users_force_orders(symbol=SYMBOL).data()
    assert len(forced) == 1 and forced[0].side == "SELL" and D(forced[0].executed_qty) == D(FILL_QTY)
    assert all(D(p.position_amt) == 0 for p in r.position_information_v3(symbol=SYMBOL).data())
    assert s.venue.ledger_balanced()


def test_06_batch_modify_cancel_all_keepalive(s):
    r = s.rest
    s.venue.srv.price(SYMBOL, "60000")
    res = r.place_multiple_orders(batch_orders=[
        PlaceMultipleOrdersBatchOrdersParameterInner(symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC",
                                                     quantity=0.002, price=57500.0),
        PlaceMultipleOrdersBatchOrdersParameterInner(symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC",
                                                     quantity=0.002, price=57600.0)]).data()
    rows = [getattr(x, "actual_instance", x) for x in res]
    assert [x.status for x in rows] == ["NEW", "NEW"]
    m = r.modify_order(symbol=SYMBOL, side=ModifyOrderSideEnum.BUY, quantity=0.003, price=57700.0,
                       order_id=rows[0].order_id).data()
    assert D(m.price) == D("57700") and D(m.orig_qty) == D("0.003")
    assert r.cancel_all_open_orders(symbol=SYMBOL).data().code == 200
    assert r.current_all_open_orders(symbol=SYMBOL).data() == []
    assert r.keepalive_user_data_stream().data().listen_key == s.listen_key
