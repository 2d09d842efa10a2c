"""The order layer end to end through Exchange.apply: every order type and time in force,
triggers, reduce-only, closePosition, STP, modify, Binance's rejections, margin, market data."""
from __future__ import annotations

import hashlib
import pickle

import pytest

from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import parse as P
from perpsim.core.events import AggTrade, Trade
from perpsim.core.events import AlgoUpdate, DepthUpdate, OrderUpdate
from perpsim.core.events import TradeSettled

SYM = "BTCUSDT"
MARK = P("60000")


class Venue:
    def __init__(self, accounts: int = 3, deposit: str = "1000000", mark: int | None = MARK):
        self.ex = Exchange()
        self.t = 1_700_000_000_000
        for _ in range(accounts):
            self.ok("create_account", deposit={"USDT": P(deposit)})
        if mark:
            self.ok("set_mark", symbol=SYM, price=mark)

    def apply(self, kind, **args):
        self.t += 1
        return self.ex.apply(Command(kind, args, self.t))

    def ok(self, kind, **args):
        r = self.apply(kind, **args)
        assert r.error is None, r.error
        self.ex.orders.check()
        assert self.ex.clearing.is_balanced()
        return r

    def err(self, code, kind, **args):
        before = self.fingerprint()
        r = self.apply(kind, **args)
        assert r.error is not None, f"expected {code}, got {r.reply}"
        assert r.error.code == code, r.error
        assert self.fingerprint() == before      # a refused command changed nothing
        return r.error

    def fingerprint(self):
        h = hashlib.sha256()
        self.ex.orders.hash_into(h)
        return self.ex.clearing.state_hash(), h.hexdigest()

    def limit(self, acct, side, qty, price, tif="GTC", **kw):
        return self.ok("place_order", account_id=acct, symbol=SYM, side=side, type="LIMIT", quantity=P(qty),
                       price=P(price), time_in_force=tif, **kw)

    def market(self, acct, side, qty, **kw):
        return self.ok("place_order", account_id=acct, symbol=SYM, side=side, type="MARKET", quantity=P(qty), **kw)

    def algo(self, acct, side, type_, **kw):
        return self.ok("place_algo_order", account_id=acct, symbol=SYM, side=side, type=type_, **kw)

    def pos(self, acct, ps="BOTH"):
        p = self.ex.clearing.accounts[acct].positions.get((SYM, ps))
        return p.qty if p else 0

    def order(self, oid):
        return self.ex.orders.orders[oid]


def updates(events, **match):
    return [e for e in events if isinstance(e, OrderUpdate) and all(getattr(e, k) == v for k, v in match.items())]


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


@pytest.fixture
def v():
    return Venue()


# --- LIMIT and time in force ------------------------------------------------------------------

def test_gtc_rests_partial_then_full_fill_with_maker_and_taker_fees(v):
    r = v.limit(1, "SELL", "0.010", "60010")
    assert r.reply["status"] == "NEW" and r.reply["origQty"] == P("0.010")
    oid = r.reply["orderId"]
    r = v.limit(2, "BUY", "0.004", "60020")
    assert r.reply["status"] == "FILLED" and r.reply["avgPrice"] == P("60010")   # trades at the maker's price
    assert v.order(oid).status == "PARTIALLY_FILLED" and v.order(oid).executed == P("0.004")
    settled = {e.account_id: e for e in of(r.events, TradeSettled)}
    notional = P("0.004") * 60010
    assert settled[1].maker and settled[1].commission == notional * 2 // 10000   # maker 0.02%
    assert not settled[2].maker and settled[2].commission == notional * 5 // 10000  # taker 0.05%
    ups = updates(r.events, order_id=oid, execution_type="TRADE")
    assert ups[0].maker and ups[0].order_status == "PARTIALLY_FILLED" and ups[0].last_filled_qty == P("0.004")
    r = v.limit(3, "BUY", "0.006", "60010")
    assert v.order(oid).status == "FILLED" and v.pos(1) == -P("0.010")
    assert v.ex.orders.open_orders(1) == []


def test_ioc_fills_what_it_can_and_expires_the_rest(v):
    v.limit(1, "SELL", "0.003", "60010")
    r = v.limit(2, "BUY", "0.005", "60010", tif="IOC")
    assert r.reply["status"] == "EXPIRED" and r.reply["executedQty"] == P("0.003")
    assert updates(r.events, account_id=2, execution_type="EXPIRED")[0].expire_reason == "IOC"
    assert v.ex.orders.book(SYM).best_bid() is None


def test_fok_all_or_nothing(v):
    v.limit(1, "SELL", "0.003", "60010")
    v.err(-5021, "place_order", account_id=2, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.005"),
          price=P("60010"), time_in_force="FOK")
    v.err(-5021, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.003"),
          price=P("60010"), time_in_force="FOK", stp_mode="EXPIRE_TAKER")     # only its own liquidity
    r = v.limit(2, "BUY", "0.003", "60010", tif="FOK")
    assert r.reply["status"] == "FILLED"


def test_gtx_post_only(v):
    v.limit(1, "SELL", "0.003", "60010")
    v.err(-5022, "place_order", account_id=2, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.003"),
          price=P("60010"), time_in_force="GTX")
    r = v.limit(2, "BUY", "0.003", "60000", tif="GTX")
    assert r.reply["status"] == "NEW"


def test_market_sweeps_levels_and_aggregates_per_price(v):
    v.limit(1, "SELL", "0.002", "60010")
    v.limit(1, "SELL", "0.002", "60010")
    v.limit(3, "SELL", "0.002", "60020")
    r = v.market(2, "BUY", "0.005")
    assert r.reply["status"] == "FILLED"
    trades = of(r.events, Trade)
    assert [t.trade_id for t in trades] == [1, 2, 3] and not trades[0].buyer_maker
    aggs = of(r.events, AggTrade)
    assert [(a.price, a.qty, a.first_trade_id, a.last_trade_id) for a in aggs] == [
        (P("60010"), P("0.004"), 1, 2), (P("60020"), P("0.001"), 3, 3)]
    assert r.reply["avgPrice"] == (P("0.004") * 60010 + P("0.001") * 60020) * 10**8 // P("0.005")
    assert v.ex.orders.last_price(SYM) == P("60020")
    depth = of(r.events, DepthUpdate)
    assert len(depth) == 1 and depth[0].asks == {P("60010"): 0, P("60020"): P("0.001")}


def test_market_take_bound(v):
    # bound: mark 60000 x 1.05 = 63000
    v.limit(1, "SELL", "0.002", "62990")
    v.limit(1, "SELL", "0.002", "63010")
    r = v.market(2, "BUY", "0.004")
    assert r.reply["status"] == "EXPIRED" and r.reply["executedQty"] == P("0.002")
    assert updates(r.events, account_id=2, execution_type="EXPIRED")[0].expire_reason == "BOUND"
    v.err(-4131, "place_order", account_id=2, symbol=SYM, side="BUY", type="MARKET", quantity=P("0.002"))


# --- rejections with Binance's codes -------------------------------------------------------------

@pytest.mark.parametrize("code,args", [
    (-4001, dict(price=0)),
    (-4013, dict(price=P("500"))),
    (-4002, dict(price=P("5000000"))),
    (-4014, dict(price=P("60000.05"))),
    (-4003, dict(quantity=0)),
    (-4004, dict(quantity=P("0.0001"))),
    (-4005, dict(quantity=P("1001"))),
    (-4023, dict(quantity=P("0.0025"))),
    (-4016, dict(price=P("63000.1"))),
    (-4164, dict(quantity=P("0.001"))),
    (-1115, dict(time_in_force="GTD")),
    (-1117, dict(side="HOLD")),
    (-1116, dict(type="OCO")),
    (-4120, dict(type="STOP_MARKET")),
    (-4015, dict(client_order_id="bad id!")),
    (-5039, dict(stp_mode="EXPIRE_ALL")),
    (-1121, dict(symbol="DOGEUSDT")),
    (-2019, dict(quantity=P("400"))),
    (-4061, dict(position_side="LONG")),        # a one-way account naming a hedge side
])
def test_limit_rejections(v, code, args):
    base = dict(account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.002"), price=P("60000"),
                time_in_force="GTC")
    base.update(args)
    v.err(code, "place_order", **base)


def test_percent_price_floor_and_market_lot_size(v):
    v.err(-4024, "place_order", account_id=1, symbol=SYM, side="SELL", type="LIMIT", quantity=P("0.002"),
          price=P("56999.9"), time_in_force="GTC")
    v.err(-4005, "place_order", account_id=1, symbol=SYM, side="BUY", type="MARKET", quantity=P("121"))
    v.err(-1114, "place_order", account_id=1, symbol=SYM, side="BUY", type="MARKET", quantity=P("0.002"),
          time_in_force="GTC")


def test_min_notional_message_and_reduce_only_exemption(v):
    e = v.err(-4164, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.001"),
              price=P("60000"), time_in_force="GTC")
    assert e.msg == "Order's notional must be no smaller than 100.0 (unless you choose reduce only)"
    v.limit(1, "SELL", "0.002", "60000")
    v.market(2, "BUY", "0.002")
    r = v.limit(2, "SELL", "0.001", "61000", reduce_only=True)
    assert r.reply["status"] == "NEW"


def test_client_order_id_unique_among_open_orders(v):
    v.limit(1, "BUY", "0.002", "59000", client_order_id="abc")
    v.err(-4116, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.002"),
          price=P("59000"), time_in_force="GTC", client_order_id="abc")
    v.limit(2, "BUY", "0.002", "59000", client_order_id="abc")       # another account may use it
    v.ok("cancel_order", account_id=1, symbol=SYM, client_order_id="abc")
    v.limit(1, "BUY", "0.002", "59000", client_order_id="abc")       # free again once closed


def test_max_num_orders(v):
    ins = v.ex.clearing.instruments[SYM]
    for i in range(ins.max_num_orders):
        v.apply("place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.002"),
                price=P("50000") + i * P("10"), time_in_force="GTC")
    assert len(v.ex.orders.open_orders(1)) == ins.max_num_orders
    assert v.ex.clearing.accounts[1].open_orders[SYM] == ins.max_num_orders
    v.err(-2025, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.003"),
          price=P("49000"), time_in_force="GTC")


def test_max_num_algo_orders_and_would_trigger(v):
    ins = v.ex.clearing.instruments[SYM]
    v.limit(1, "SELL", "0.002", "60000")
    v.market(2, "BUY", "0.002")          # last price 60000
    for i in range(ins.max_num_algo_orders):
        v.algo(1, "BUY", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("61000") + i * P("10"))
    assert v.ex.clearing.accounts[1].open_orders[SYM] == ins.max_num_algo_orders
    v.err(-4045, "place_algo_order", account_id=1, symbol=SYM, side="BUY", type="STOP_MARKET",
          quantity=P("0.002"), trigger_price=P("62000"))
    v.err(-2021, "place_algo_order", account_id=2, symbol=SYM, side="BUY", type="STOP_MARKET",
          quantity=P("0.002"), trigger_price=P("59000"))
    v.err(-2021, "place_algo_order", account_id=2, symbol=SYM, side="SELL", type="TAKE_PROFIT_MARKET",
          quantity=P("0.002"), trigger_price=P("59000"))


def test_margin_insufficient_and_position_cap():
    v = Venue(deposit="1000")
    # 1000 USDT at 20x: 0.3 BTC at 60000 needs 900 of IM; 0.4 needs 1200
    v.err(-2019, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.4"),
          price=P("60000"), time_in_force="GTC")
    v.limit(1, "BUY", "0.3", "60000")
    # the reserve counts: a second order no longer fits
    v.err(-2019, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.1"),
          price=P("60000"), time_in_force="GTC")
    # open loss: a BUY above the mark costs IM + (price - mark) x qty
    w = Venue(deposit="1000000")
    w.t += 61 * 86_400_000            # above 20x only 60 days after the account opened
    w.ok("set_leverage", account_id=1, symbol=SYM, leverage=125)
    w.err(-2027, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("6"),
          price=P("60000"), time_in_force="GTC")


def test_reserved_margin_netting_and_release(v):
    acct = v.ex.clearing.accounts[1]
    r = v.limit(1, "BUY", "0.010", "59000")
    assert acct.order_margin[SYM] == P("0.010") * 59000 // 20
    v.limit(1, "SELL", "0.004", "61000")
    assert acct.order_margin[SYM] == P("0.010") * 59000 // 20          # max of the two sides
    before = v.ex.clearing.cross_figures(1).available_balance
    v.ok("cancel_order", account_id=1, symbol=SYM, order_id=r.reply["orderId"])
    after = v.ex.clearing.cross_figures(1).available_balance
    assert after - before == P("0.010") * 59000 // 20 - P("0.004") * 61000 // 20
    v.ok("cancel_all_orders", account_id=1, symbol=SYM)
    assert SYM not in acct.order_margin and SYM not in acct.open_orders
    # leverage change moves the reserve
    v.limit(1, "BUY", "0.010", "60000", tif="GTC")
    assert acct.order_margin[SYM] == P("0.010") * 60000 // 20
    v.ok("set_leverage", account_id=1, symbol=SYM, leverage=10)
    assert acct.order_margin[SYM] == P("0.010") * 60000 // 10
    v.ok("cancel_all_orders", account_id=1, symbol=SYM)


def test_reserved_margin_nets_against_the_position(v):
    """max(|P + B|, |P - A|) / L - |P| / L: orders that close the position reserve nothing."""
    acct = v.ex.clearing.accounts[1]
    v.limit(3, "SELL", "0.010", "60000")
    v.market(1, "BUY", "0.010")                 # long 0.010, P = 600 at the mark 60000
    v.limit(1, "SELL", "0.004", "61000")        # A = 244: closes only
    assert SYM not in acct.order_margin
    v.limit(1, "SELL", "0.026", "61000")        # A = 1830: |600 - 1830| - 600 = 630
    assert acct.order_margin[SYM] == P("630") // 20
    v.limit(1, "BUY", "0.020", "59000")         # B = 1180: |600 + 1180| - 600 = 1180 > 630
    assert acct.order_margin[SYM] == P("1180") // 20
    v.ok("set_mark", symbol=SYM, price=P("61000"))     # P = 610
    assert acct.order_margin[SYM] == P("1180") // 20
    v.ok("cancel_all_orders", account_id=1, symbol=SYM)
    assert SYM not in acct.order_margin


# --- conditional orders -------------------------------------------------------------------------

def trade_at(v, price, qty="0.002"):
    v.limit(3, "SELL", qty, price)
    return v.market(2, "BUY", qty)


def test_stop_market_on_contract_price_ignores_the_mark(v):
    trade_at(v, "60000")
    v.limit(3, "SELL", "0.010", "60600")           # liquidity for the stop
    r = v.algo(1, "BUY", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("60500"))
    aid = r.reply["algoId"]
    v.ok("set_mark", symbol=SYM, price=P("60700"))  # the mark passes it: no trigger
    assert v.ex.orders.algos[aid].status == "NEW"
    r = trade_at(v, "60550")                         # a last trade at/after the stop: fires
    a = v.ex.orders.algos[aid]
    assert a.status == "FINISHED" and a.actual_order_id
    o = v.order(a.actual_order_id)
    assert o.type == "MARKET" and o.orig_type == "STOP_MARKET" and o.status == "FILLED"
    assert of(r.events, AlgoUpdate)[0].status == "FINISHED"
    assert v.pos(1) == P("0.002")


def test_stop_market_on_mark_price_ignores_trades(v):
    trade_at(v, "60000")
    v.limit(3, "BUY", "0.010", "59000")
    r = v.algo(1, "SELL", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("59500"), working_type="MARK_PRICE")
    aid = r.reply["algoId"]
    v.limit(3, "BUY", "0.002", "59400")
    v.market(2, "SELL", "0.002")                      # last 59400: a MARK_PRICE order does not care
    assert v.ex.orders.algos[aid].status == "NEW"
    v.ok("set_mark", symbol=SYM, price=P("59450"))
    a = v.ex.orders.algos[aid]
    assert a.status == "FINISHED" and v.order(a.actual_order_id).status == "FILLED"
    assert v.pos(1) == -P("0.002")


def test_stop_limit_and_take_profit_enter_the_book_as_limit(v):
    trade_at(v, "60000")
    r = v.algo(1, "BUY", "STOP", quantity=P("0.002"), trigger_price=P("60200"), price=P("60250"))
    stop_id = r.reply["algoId"]
    r = v.algo(1, "SELL", "TAKE_PROFIT", quantity=P("0.002"), trigger_price=P("60300"), price=P("60400"))
    tp_id = r.reply["algoId"]
    trade_at(v, "60200")
    a = v.ex.orders.algos[stop_id]
    o = v.order(a.actual_order_id)
    assert a.status == "TRIGGERED" and o.type == "LIMIT" and o.price == P("60250") and o.status == "NEW"
    assert o.stop_price == P("60200") and o.orig_type == "STOP"
    trade_at(v, "60300")
    assert v.ex.orders.algos[tp_id].status == "TRIGGERED"
    assert v.order(v.ex.orders.algos[tp_id].actual_order_id).price == P("60400")
    r = v.limit(3, "SELL", "0.002", "60250")        # the stop's order fills: the algo order is FINISHED
    assert v.ex.orders.algos[stop_id].status == "FINISHED"
    assert [u.status for u in of(r.events, AlgoUpdate)] == ["FINISHED"]
    v.err(-4183, "place_algo_order", account_id=1, symbol=SYM, side="BUY", type="STOP", quantity=P("0.002"),
          trigger_price=P("61000"), price=P("64100"))


def test_trailing_stop_follows_the_price(v):
    trade_at(v, "60000")
    # SELL trailing, 1% callback, active at once: fires at high x 0.99
    r = v.algo(1, "SELL", "TRAILING_STOP_MARKET", quantity=P("0.002"), callback_rate=P("1"))
    aid = r.reply["algoId"]
    v.limit(3, "BUY", "0.010", "60000")
    for px in ("60500", "61000", "61500"):
        trade_at(v, px)
    assert v.ex.orders.triggers[SYM].get(aid).extreme == P("61500")
    # 61500 x 0.99 = 60885: 60900 does not fire, 60885 does
    v.limit(3, "BUY", "0.002", "60900")
    v.market(2, "SELL", "0.002")
    assert v.ex.orders.algos[aid].status == "NEW"
    v.limit(3, "BUY", "0.002", "60885")
    v.market(2, "SELL", "0.002")
    a = v.ex.orders.algos[aid]
    assert a.status == "FINISHED"
    assert v.order(a.actual_order_id).orig_type == "TRAILING_STOP_MARKET"


def test_trailing_stop_with_activation_price(v):
    trade_at(v, "60000")
    v.err(-2021, "place_algo_order", account_id=1, symbol=SYM, side="SELL", type="TRAILING_STOP_MARKET",
          quantity=P("0.002"), callback_rate=P("1"), activate_price=P("59000"))
    r = v.algo(1, "SELL", "TRAILING_STOP_MARKET", quantity=P("0.002"), callback_rate=P("2"),
               activate_price=P("61000"))
    aid = r.reply["algoId"]
    trade_at(v, "59000")          # a fall before activation does nothing
    assert v.ex.orders.algos[aid].status == "NEW"
    trade_at(v, "61000")          # activates, high 61000
    trade_at(v, "60000")          # 61000 x 0.98 = 59780 not reached
    assert v.ex.orders.algos[aid].status == "NEW"
    v.limit(3, "BUY", "0.004", "59780")
    v.market(2, "SELL", "0.002")
    assert v.ex.orders.algos[aid].status == "FINISHED"
    v.err(-1130, "place_algo_order", account_id=1, symbol=SYM, side="SELL", type="TRAILING_STOP_MARKET",
          quantity=P("0.002"), callback_rate=P("6"))


def test_price_protect_holds_a_trigger_while_mark_and_last_diverge(v):
    trade_at(v, "60000")
    r = v.algo(1, "SELL", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("57000"), working_type="MARK_PRICE",
               price_protect=True)
    aid = r.reply["algoId"]
    v.limit(3, "BUY", "0.010", "55000")
    v.ok("set_mark", symbol=SYM, price=P("56000"))   # |56000 - 60000| / 56000 > 5%: held
    assert v.ex.orders.algos[aid].status == "NEW"
    trade_at(v, "58000")
    v.ok("set_mark", symbol=SYM, price=P("56100"))   # |56100 - 58000| / 56100 < 5%: fires
    assert v.ex.orders.algos[aid].status == "FINISHED"


def test_triggered_order_failing_checks_is_rejected(v):
    trade_at(v, "60000")
    r = v.algo(1, "SELL", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("59500"), reduce_only=True)
    aid = r.reply["algoId"]
    v.limit(3, "BUY", "0.004", "59400")
    r = v.market(2, "SELL", "0.002")
    a = v.ex.orders.algos[aid]
    assert a.status == "REJECTED" and a.reject_reason == "ReduceOnly Order is rejected."
    assert of(r.events, AlgoUpdate)[0].status == "REJECTED"
    assert SYM not in v.ex.clearing.accounts[1].open_orders


def test_close_position(v):
    trade_at(v, "60000")
    v.limit(3, "SELL", "0.007", "60000")
    v.market(1, "BUY", "0.007")                       # account 1 long 0.007
    v.err(-4137, "place_algo_order", account_id=1, symbol=SYM, side="SELL", type="STOP_MARKET",
          quantity=P("0.007"), trigger_price=P("59000"), close_position=True)
    v.err(-1106, "place_algo_order", account_id=1, symbol=SYM, side="SELL", type="STOP",
          trigger_price=P("59000"), price=P("59000"), close_position=True)
    r = v.algo(1, "SELL", "STOP_MARKET", trigger_price=P("59500"), close_position=True)
    aid = r.reply["algoId"]
    v.limit(3, "BUY", "0.002", "60000")
    v.market(1, "SELL", "0.002")                      # long 0.005 now
    v.limit(3, "BUY", "0.020", "59400")
    v.limit(3, "BUY", "0.002", "59450")
    v.market(2, "SELL", "0.002")                      # last 59450: fires, closes 0.005
    a = v.ex.orders.algos[aid]
    o = v.order(a.actual_order_id)
    assert o.close_position and o.qty == P("0.005") and o.status == "FILLED"
    assert v.pos(1) == 0
    # nothing to close at trigger time: expired
    r = v.algo(1, "BUY", "TAKE_PROFIT_MARKET", trigger_price=P("59000"), close_position=True)
    v.limit(3, "BUY", "0.002", "59000")
    v.limit(2, "SELL", "0.017", "59000", tif="IOC")     # through 59400 down to 59000
    assert v.ex.orders.algos[r.reply["algoId"]].status == "EXPIRED"


def test_cancel_algo_orders(v):
    trade_at(v, "60000")
    r = v.algo(1, "BUY", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("61000"), client_algo_id="s1")
    v.algo(1, "BUY", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("62000"))
    assert v.ex.clearing.accounts[1].open_orders[SYM] == 2
    r = v.ok("cancel_algo_order", account_id=1, client_algo_id="s1")
    assert r.reply["code"] == "200"
    v.err(-2011, "cancel_algo_order", account_id=1, client_algo_id="s1")
    v.ok("cancel_all_algo_orders", account_id=1, symbol=SYM)
    assert SYM not in v.ex.clearing.accounts[1].open_orders and not len(v.ex.orders.triggers[SYM])


def test_stop_cascade_within_one_command(v):
    trade_at(v, "60000")
    v.limit(3, "BUY", "0.002", "59900")
    v.limit(3, "BUY", "0.002", "59800")
    v.limit(3, "BUY", "0.010", "59000")
    a1 = v.algo(1, "SELL", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("59900")).reply["algoId"]
    a2 = v.algo(2, "SELL", "STOP_MARKET", quantity=P("0.004"), trigger_price=P("59800")).reply["algoId"]
    v.market(1, "SELL", "0.002")          # last 59900 fires a1 -> last 59800 fires a2 -> last 59000
    assert v.ex.orders.algos[a1].status == "FINISHED" and v.ex.orders.algos[a2].status == "FINISHED"
    assert v.ex.orders.last_price(SYM) == P("59000")


# --- reduce-only and hedge mode -----------------------------------------------------------------

def test_reduce_only_rejected_capped_and_shrinking(v):
    v.err(-2022, "place_order", account_id=1, symbol=SYM, side="SELL", type="LIMIT", quantity=P("0.002"),
          price=P("61000"), time_in_force="GTC", reduce_only=True)
    v.limit(3, "SELL", "0.010", "60000")
    v.market(1, "BUY", "0.010")                                   # long 0.010
    v.err(-2022, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.002"),
          price=P("59000"), time_in_force="GTC", reduce_only=True)   # would increase
    r = v.limit(1, "SELL", "0.015", "61000", reduce_only=True)    # capped at the position
    ro = r.reply["orderId"]
    assert r.reply["origQty"] == P("0.010")
    v.err(-2022, "place_order", account_id=1, symbol=SYM, side="SELL", type="LIMIT", quantity=P("0.002"),
          price=P("61000"), time_in_force="GTC", reduce_only=True)   # nothing left to reduce
    assert v.ex.clearing.accounts[1].order_margin.get(SYM, 0) == 0     # reduce-only reserves nothing
    v.limit(2, "BUY", "0.004", "59900")
    r = v.market(1, "SELL", "0.004")                              # the position shrinks to 0.006
    assert v.order(ro).qty == P("0.006") and v.order(ro).status == "NEW"
    assert updates(r.events, order_id=ro, execution_type="AMENDMENT")
    v.limit(2, "BUY", "0.006", "59900")
    r = v.market(1, "SELL", "0.006")                              # flat: the order expires
    assert v.order(ro).status == "EXPIRED"
    assert updates(r.events, order_id=ro, execution_type="EXPIRED")[0].expire_reason == "REDUCE_ONLY"


def test_reduce_only_market_capped(v):
    v.limit(3, "SELL", "0.003", "60000")
    v.market(1, "BUY", "0.003")
    v.limit(2, "BUY", "0.010", "59900")
    r = v.market(1, "SELL", "0.010", reduce_only=True)
    assert r.reply["origQty"] == P("0.003") and r.reply["status"] == "FILLED" and v.pos(1) == 0


def test_hedge_mode_position_sides():
    v = Venue()
    v.ok("set_position_mode", account_id=1, dual_side=True)
    v.err(-4061, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.002"),
          price=P("60000"), time_in_force="GTC")
    v.err(-1106, "place_order", account_id=1, symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.002"),
          price=P("60000"), time_in_force="GTC", position_side="LONG", reduce_only=True)
    v.err(-2022, "place_order", account_id=1, symbol=SYM, side="SELL", type="LIMIT", quantity=P("0.002"),
          price=P("60000"), time_in_force="GTC", position_side="LONG")          # closing a flat long
    v.limit(3, "SELL", "0.004", "60000")
    v.market(1, "BUY", "0.004", position_side="LONG")
    v.limit(3, "BUY", "0.002", "59990")
    v.market(1, "SELL", "0.002", position_side="SHORT")
    assert v.pos(1, "LONG") == P("0.004") and v.pos(1, "SHORT") == -P("0.002")
    v.limit(1, "SELL", "0.003", "61000", position_side="LONG")
    v.err(-2022, "place_order", account_id=1, symbol=SYM, side="SELL", type="LIMIT", quantity=P("0.002"),
          price=P("61000"), time_in_force="GTC", position_side="LONG")          # only 0.001 left
    v.market(2, "BUY", "0.003")
    assert v.pos(1, "LONG") == P("0.001")


# --- self-trade prevention ------------------------------------------------------------------------

@pytest.mark.parametrize("mode,taker_status,maker_status,filled", [
    ("EXPIRE_TAKER", "EXPIRED_IN_MATCH", "NEW", 0),
    ("EXPIRE_MAKER", "FILLED", "EXPIRED_IN_MATCH", P("0.002")),
    ("EXPIRE_BOTH", "EXPIRED_IN_MATCH", "EXPIRED_IN_MATCH", 0),
    ("NONE", "FILLED", "FILLED", P("0.002")),
])
def test_self_trade_prevention(v, mode, taker_status, maker_status, filled):
    mine = v.limit(1, "SELL", "0.002", "60000").reply["orderId"]
    v.limit(2, "SELL", "0.002", "60010")
    r = v.limit(1, "BUY", "0.002", "60010", stp_mode=mode)
    assert r.reply["status"] == taker_status
    assert v.order(mine).status == maker_status
    assert v.order(r.reply["orderId"]).executed == filled


# --- cancel and modify -------------------------------------------------------------------------

def test_cancel_and_unknown_orders(v):
    oid = v.limit(1, "BUY", "0.002", "59000").reply["orderId"]
    r = v.ok("cancel_order", account_id=1, symbol=SYM, order_id=oid)
    assert r.reply["status"] == "CANCELED" and updates(r.events, execution_type="CANCELED")
    v.err(-2011, "cancel_order", account_id=1, symbol=SYM, order_id=oid)
    v.err(-2011, "cancel_order", account_id=2, symbol=SYM, order_id=999)
    v.err(-2011, "cancel_order", account_id=1, symbol=SYM, client_order_id="nope")
    v.err(-1102, "cancel_order", account_id=1, symbol=SYM)


def test_modify_price_requeues_and_can_trade(v):
    a = v.limit(1, "BUY", "0.002", "59000").reply["orderId"]
    b = v.limit(2, "BUY", "0.002", "59000").reply["orderId"]
    r = v.ok("modify_order", account_id=1, symbol=SYM, order_id=a, side="BUY", quantity=P("0.003"), price=P("59000"))
    assert updates(r.events, execution_type="AMENDMENT")[0].orig_qty == P("0.003")
    v.limit(3, "SELL", "0.002", "59000")
    assert v.order(b).status == "FILLED" and v.order(a).executed == 0     # a lost its priority
    v.limit(3, "SELL", "0.002", "59500")
    r = v.ok("modify_order", account_id=1, symbol=SYM, order_id=a, side="BUY", quantity=P("0.003"), price=P("59500"))
    assert v.order(a).executed == P("0.002") and v.order(a).status == "PARTIALLY_FILLED"
    assert of(r.events, Trade)
    v.err(-5027, "modify_order", account_id=1, symbol=SYM, order_id=a, side="BUY", quantity=P("0.003"),
          price=P("59500"))
    v.err(-4014, "modify_order", account_id=1, symbol=SYM, order_id=a, side="BUY", quantity=P("0.003"),
          price=P("59500.01"))
    v.err(-2013, "modify_order", account_id=1, symbol=SYM, order_id=12345, side="BUY", quantity=P("0.003"),
          price=P("59500"))
    r = v.ok("modify_order", account_id=1, symbol=SYM, order_id=a, side="BUY", quantity=P("0.002"), price=P("59400"))
    assert v.order(a).status == "CANCELED"            # new quantity not above the executed: canceled


def test_modify_only_limit_and_margin_checked():
    v = Venue(deposit="1000")
    v.limit(3, "SELL", "0.002", "60000")
    m = v.market(1, "BUY", "0.002").reply["orderId"]
    v.err(-5025, "modify_order", account_id=1, symbol=SYM, order_id=m, side="BUY", quantity=P("0.003"),
          price=P("60000"))
    oid = v.limit(1, "BUY", "0.1", "59000").reply["orderId"]
    v.err(-2019, "modify_order", account_id=1, symbol=SYM, order_id=oid, side="BUY", quantity=P("0.5"),
          price=P("59000"))


# --- batch, market data, snapshots ---------------------------------------------------------------

def test_batch_orders(v):
    r = v.ok("batch_orders", account_id=1, orders=[
        dict(symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.002"), price=P("59000"), time_in_force="GTC"),
        dict(symbol=SYM, side="BUY", type="LIMIT", quantity=P("0.001"), price=P("59000"), time_in_force="GTC"),
    ])
    assert r.reply[0]["status"] == "NEW" and r.reply[1]["code"] == -4164
    v.err(-4082, "batch_orders", account_id=1, orders=[])


def test_klines_ticker_and_book_ticker():
    v = Venue()
    t0 = v.t - v.t % 3_600_000 + 3_600_000        # an hour boundary
    prices = ["60000", "60100", "59900", "60050", "60200", "60150"]
    for i, px in enumerate(prices):
        v.t = t0 + i * 60_000 + 5_000 - 1
        v.limit(3, "SELL", "0.002", px)
        v.market(2, "BUY", "0.002")
    md = v.ex.orders.market_data(SYM)
    one = md.klines("1m")
    assert [k.open for k in one] == [P(p) for p in prices] and all(k.volume == P("0.002") for k in one)
    five = md.klines("5m")
    assert len(five) == 2
    assert five[0].open == P("60000") and five[0].high == P("60200") and five[0].low == P("59900")
    assert five[0].close == P("60200") and five[0].volume == P("0.010") and five[0].count == 5
    assert five[1].open == P("60150") and five[0].close_time == five[0].open_time + 300_000 - 1
    hour = md.klines("1h")
    assert len(hour) == 1 and hour[0].volume == P("0.012") and hour[0].first_trade_id == 1
    assert hour[0].last_trade_id == 6 and hour[0].taker_buy_volume == P("0.012")
    for iv in ("3m", "15m", "30m", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"):
        ks = md.klines(iv)
        assert sum(k.volume for k in ks) == P("0.012") and ks[-1].close == P("60150")
    # gaps are filled with flat bars
    v.t = t0 + 10 * 60_000
    v.limit(3, "SELL", "0.002", "60300")
    v.market(2, "BUY", "0.002")
    one = md.klines("1m")
    assert len(one) == 11 and one[6].volume == 0 and one[6].open == P("60150")
    tk = md.ticker_24h(v.t)
    assert tk.open_price == P("60000") and tk.high_price == P("60300") and tk.low_price == P("59900")
    assert tk.last_price == P("60300") and tk.count == 7 and tk.first_id == 1 and tk.last_id == 7
    assert tk.price_change == P("300") and tk.price_change_percent == P("0.5")
    v.limit(1, "BUY", "0.003", "59000")
    v.limit(1, "SELL", "0.004", "61000")
    bt = v.ex.orders.book_ticker(SYM)
    assert (bt.bid_price, bt.bid_qty, bt.ask_price, bt.ask_qty) == (P("59000"), P("0.003"), P("61000"), P("0.004"))
    # a day later the ticker window is empty of trades
    assert md.ticker_24h(v.t + 2 * 86_400_000).count == 0


def test_pickle_roundtrip_and_determinism():
    def script(v):
        trade_at(v, "60000")
        v.limit(1, "BUY", "0.005", "59900")
        v.algo(1, "SELL", "TRAILING_STOP_MARKET", quantity=P("0.002"), callback_rate=P("1"))
        v.limit(2, "SELL", "0.003", "60100")
    a, b = Venue(), Venue()
    script(a)
    script(b)
    assert a.ex.state_hash() == b.ex.state_hash()
    c = Venue()
    c.ex = pickle.loads(pickle.dumps(a.ex))
    c.t = a.t
    assert c.ex.state_hash() == a.ex.state_hash()
    for w in (a, c):
        trade_at(w, "61000")
        w.market(1, "SELL", "0.002")
    assert c.ex.state_hash() == a.ex.state_hash()


def test_liquidation_hooks(v):
    v.limit(1, "BUY", "0.002", "59000")
    v.algo(1, "SELL", "STOP_MARKET", quantity=P("0.002"), trigger_price=P("50000"))
    evs = v.ex.orders.cancel_for_liquidation(1, None, v.t)
    assert not v.ex.orders.open_orders(1) and not v.ex.orders.open_algo_orders(1)
    assert SYM not in v.ex.clearing.accounts[1].open_orders
    v.limit(3, "SELL", "0.004", "60000")
    v.market(1, "BUY", "0.004")
    v.limit(2, "BUY", "0.004", "59000")
    evs = v.ex.orders.liquidation_order(1, SYM, "SELL", "BOTH", P("0.004"), P("58000"), v.t)
    mine = [e for e in evs if isinstance(e, TradeSettled) and e.account_id == 1]
    assert mine and mine[0].execution == "LIQUIDATION" and mine[0].commission == 0
    assert updates(evs, account_id=1, execution_type="CALCULATED")[0].order_type == "LIQUIDATION"
    assert v.pos(1) == 0
    v.ex.orders.check()


def test_all_orders_and_pruning(v):
    a = v.limit(1, "BUY", "0.002", "59000").reply["orderId"]
    b = v.limit(1, "BUY", "0.002", "59100").reply["orderId"]
    v.ok("cancel_order", account_id=1, symbol=SYM, order_id=a)
    v.limit(3, "SELL", "0.002", "59100")                  # b fills
    assert [o.order_id for o in v.ex.orders.all_orders(1, SYM)] == [a, b]
    assert [o.order_id for o in v.ex.orders.all_orders(1, SYM, order_id=b)] == [b]
    v.t += 3 * 86_400_000 + 10
    v.limit(2, "BUY", "0.002", "59000")
    # a canceled order without fills is gone after 3 days; a filled one stays
    assert a not in v.ex.orders.orders and b in v.ex.orders.orders
    v.err(-2013, "modify_order", account_id=1, symbol=SYM, order_id=a, side="BUY", quantity=P("0.003"),
          price=P("59000"))


def test_close_position_in_hedge_mode():
    v = Venue()
    v.ok("set_position_mode", account_id=1, dual_side=True)
    trade_at(v, "60000")
    v.limit(3, "SELL", "0.006", "60000")
    v.market(1, "BUY", "0.006", position_side="LONG")
    v.err(-1130, "place_algo_order", account_id=1, symbol=SYM, side="BUY", type="STOP_MARKET",
          trigger_price=P("61000"), close_position=True, position_side="LONG")
    aid = v.algo(1, "SELL", "STOP_MARKET", trigger_price=P("59500"), close_position=True,
                 position_side="LONG").reply["algoId"]
    v.limit(1, "SELL", "0.002", "62000", position_side="LONG")      # a resting close order keeps its 0.002
    v.limit(3, "BUY", "0.010", "59400")
    v.limit(3, "BUY", "0.002", "59450")
    v.market(2, "SELL", "0.002")
    a = v.ex.orders.algos[aid]
    assert a.status == "FINISHED" and v.order(a.actual_order_id).qty == P("0.004")
    assert v.pos(1, "LONG") == P("0.002")


def test_close_orders_follow_a_position_changed_outside_the_book():
    """A hedge close order larger than the position (after ADL or a direct trade) is capped before
    it can fill; the direct ``trade`` command shrinks it at once."""
    v = Venue()
    v.ok("set_position_mode", account_id=1, dual_side=True)
    v.limit(3, "SELL", "0.006", "60000")
    v.market(1, "BUY", "0.006", position_side="LONG")
    close = v.limit(1, "SELL", "0.006", "61000", position_side="LONG").reply["orderId"]
    # a position change the order layer is not told about (as ADL would do)
    ch = v.ex.clearing
    ch.apply_fill(1, SYM, "SELL", P("0.004"), P("60000"), False, "LONG", v.t, fee=False)
    ch.apply_fill(2, SYM, "BUY", P("0.004"), P("60000"), False, None, v.t, fee=False)
    r = v.market(2, "BUY", "0.006")          # the close order is capped at 0.002 before matching
    assert v.order(close).qty == P("0.002") and v.order(close).status == "FILLED"
    assert v.pos(1, "LONG") == 0
    assert updates(r.events, order_id=close, execution_type="AMENDMENT")
    # the direct trade command: the order layer follows at once
    v.limit(3, "SELL", "0.004", "60000")
    v.market(1, "BUY", "0.004", position_side="LONG")
    close = v.limit(1, "SELL", "0.004", "61000", position_side="LONG").reply["orderId"]
    v.ok("trade", buyer=2, seller=1, symbol=SYM, qty=P("0.004"), price=P("60000"), seller_position_side="LONG")
    assert v.order(close).status == "EXPIRED"
