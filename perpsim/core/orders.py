"""The order layer: every Binance USD-M order type end to end, from request to settlement.

``OrderManager`` owns one ``OrderBook`` (book.py) and one ``TriggerBook`` (triggers.py) per
symbol, the registry of orders and algo (conditional) orders, and the market data their trades
make (marketdata.py). It validates a request with Binance's filters and codes, checks the cost
to open with the clearing house, matches it, settles every fill on both sides through
``ClearingHouse.apply_fill`` (maker flag, commission at each account's rate), keeps the margin
resting orders reserve (``Account.order_margin``) and the count of open orders
(``Account.open_orders``), fires conditional orders on mark and last prices, and returns what
happened as immutable events. A refused request raises ``VenueError`` before anything changes.

Rules and sources (developers.binance.com, USD-M: New-Order, Modify-Order, Exchange-Information and
common-definition (filters), Error-Code):

* Filters, checked in this order: PRICE_FILTER (-4001 price <= 0, -4013 below minPrice, -4002
  above maxPrice, -4014 tick), LOT_SIZE / MARKET_LOT_SIZE for MARKET (-4003 qty <= 0, -4004 below
  minQty, -4005 above maxQty, -4023 step), PERCENT_PRICE against the mark (BUY price <= mark x
  multiplierUp else -4016; SELL price >= mark x multiplierDown else -4024), MIN_NOTIONAL
  (price x qty, the mark for MARKET; -4164 unless reduce-only), MAX_NUM_ORDERS (-2025) and
  MAX_NUM_ALGO_ORDERS (-4045), per account and symbol.
* marketTakeBound: a MARKET order fills no further than mark x (1 +/- bound) (rounded to the
  tick inward) and its rest expires; if the best opposite price is already beyond it the order
  is refused with -4131.
* reduceOnly (one-way mode only, -1106 in hedge mode): -2022 if there is nothing left to
  reduce; its quantity is capped at what is left: the position minus the reduce-only orders
  already resting on that side. In hedge mode a closing order (SELL LONG, BUY SHORT) larger
  than what is left is refused with -2022. When a position shrinks, resting reduce-only and
  closing orders shrink with it, newest first (the oldest keep their quantity), and expire
  at zero; before every match they are re-capped, in case a position changed outside the book
  (ADL, insurance takeover), so none fills beyond the position it closes.
* The pre-trade check is ``ClearingHouse.check_order_cost``: cost to open (IM at the order
  price + open loss against the mark) of the opening part within the available balance
  (-2019) and the position + order within the bracket cap at the leverage (-2027). A MARKET
  order's price for this is the best opposite price (within the bound), else the mark.
* Reserved margin (``Account.order_margin[symbol]``), per position side: Binance's netting
  rule ``max(|P + B|, |P - A|) / L - |P| / L`` with P the position notional at the mark and B,
  A the resting BUY and SELL orders' open notional at their prices (docs/choices.md "Orders").
* Time in force GTC / IOC / FOK / GTX and self-trade prevention are the book's (book.py);
  a GTX order that would take is refused with -5022, a FOK order that cannot fill in full
  with -5021 (both before anything changes). Default STP mode NONE.
* Conditional orders (POST /fapi/v1/algoOrder; -4120 on /fapi/v1/order): STOP, STOP_MARKET,
  TAKE_PROFIT, TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET on MARK_PRICE or CONTRACT_PRICE, -2021
  if it would trigger at once, priceProtect. A fired order enters the book as LIMIT (STOP,
  TAKE_PROFIT) or MARKET with every check of a new order; if refused, the algo order is
  REJECTED with the reason. closePosition (STOP_MARKET / TAKE_PROFIT_MARKET) closes the whole
  position when it fires. CONTRACT_PRICE orders watch the last trade price of each order's
  matching, so a cascade of stops is processed within the command, oldest first.
* Modify (PUT /fapi/v1/order): LIMIT only (-5025), same side; the book re-queues the order.
"""
from __future__ import annotations

import re
from collections import deque
from typing import NamedTuple

from . import book as B
from . import errors as E
from .book import OrderBook
from .clearing import BUY, SELL, ClearingHouse
from .errors import VenueError
from .fixed import SCALE, fmt_plain, mul, round_div
from .instruments import Instrument
from .margin import notional
from .marketdata import MarketData
from .positions import LONG, SHORT
from .triggers import (ALGO_TYPES, CONTRACT_PRICE, MARK_PRICE, MAX_CALLBACK_RATE, MIN_CALLBACK_RATE,
                       TRAILING_STOP_MARKET, WORKING_TYPES, AlgoOrder, TriggerBook)

# --- Binance enumerations --------------------------------------------------------------------
LIMIT, MARKET = "LIMIT", "MARKET"
STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET = "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"
NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH = (
    "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH")
OPEN_STATUSES = (NEW, PARTIALLY_FILLED)
X_NEW, X_TRADE, X_CANCELED, X_EXPIRED, X_AMENDMENT = "NEW", "TRADE", "CANCELED", "EXPIRED", "AMENDMENT"
X_CALCULATED = "CALCULATED"     # a liquidation order's fills
LIQUIDATION = "LIQUIDATION"
# algoStatus values (binance-api.md 3.4)
A_NEW, A_CANCELED, A_TRIGGERED, A_FINISHED, A_REJECTED, A_EXPIRED = (
    "NEW", "CANCELED", "TRIGGERED", "FINISHED", "REJECTED", "EXPIRED")
TIFS = ("GTC", "IOC", "FOK", "GTX")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
DEFAULT_STP = "NONE"
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_SIDE_INT = {BUY: B.BUY, SELL: B.SELL}
_LIMIT_ALGOS = (STOP, TAKE_PROFIT)
_MAX_CASCADE = 10_000
PRUNE_AFTER_MS = 3 * 86_400_000

# Binance codes and messages (USD-M error-code page).
PRICE_LT_ZERO = (-4001, "Price less than 0.")
PRICE_GT_MAX = (-4002, "Price greater than max price.")
QTY_LT_ZERO = (-4003, "Quantity less than zero.")
QTY_LT_MIN = (-4004, "Quantity less than min quantity.")
QTY_GT_MAX = (-4005, "Quantity greater than max quantity.")
STOP_LT_ZERO = (-4006, "Stop price less than zero.")
STOP_GT_MAX = (-4007, "Stop price greater than max price.")
PRICE_LT_MIN = (-4013, "Price less than min price.")
PRICE_TICK = (-4014, "Price not increased by tick size.")
CLIENT_ID_BAD = (-4015, "Client order id is not valid.")
PRICE_GT_UP = (-4016, "Price is higher than mark price multiplier cap.")
QTY_STEP = (-4023, "Qty not increased by step size.")
PRICE_LT_DOWN = (-4024, "Price is lower than mark price multiplier floor.")
MAX_OPEN_ORDERS = (-2025, "Reach max open order limit.")
MAX_STOP_ORDERS = (-4045, "Reach max stop order limit.")
REDUCE_ONLY_REJECT = (-2022, "ReduceOnly Order is rejected.")
CLIENT_ID_DUP = (-4116, "clientOrderId is duplicated.")
USE_ALGO = (-4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.")
MARKET_REJECT = (-4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit")
QTY_WITH_CLOSE = (-4137, "Quantity must be zero with closePosition equals true")
LIMIT_ONLY = (-5025, "Only limit order is supported.")
FOK_REJECT = (-5021, "Due to the order could not be filled immediately, the FOK order has been rejected.")
INVALID_TIF = (-1115, "Invalid timeInForce.")
INVALID_TYPE = (-1116, "Invalid orderType.")
INVALID_SIDE = (-1117, "Invalid side.")
INVALID_STP = (-5039, "Invalid self trade prevention mode")
INVALID_WORKING_TYPE = (-4031, "Invalid parameter working type")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")


def _err(pair: tuple[int, str], msg: str | None = None) -> VenueError:
    return VenueError(pair[0], msg or pair[1])


def _not_required(name: str) -> VenueError:
    return VenueError(-1106, f"Parameter '{name}' sent when not required.")


def _is_int(v: object) -> bool:
    return v.__class__ is int


# --- events ----------------------------------------------------------------------------------

class OrderUpdate(NamedTuple):
    """One ORDER_TRADE_UPDATE (user stream ``o`` object; amounts in 1e-8 units, times in ms).

    Field -> Binance key: symbol s, client_order_id c, side S, order_type o, time_in_force f,
    orig_qty q, price p, avg_price ap, stop_price sp, execution_type x, order_status X,
    order_id i, last_filled_qty l, filled_qty z, last_filled_price L, commission_asset N,
    commission n, trade_time T, trade_id t, maker m, reduce_only R, working_type wt,
    orig_type ot, position_side ps, close_position cp, activate_price AP, callback_rate cr
    (percent), price_protect pP, realized_profit rp, stp_mode V, expire_reason er, and
    cum_quote (Binance's cumQuote, for REST replies). ``time`` is the event time E.
    """
    account_id: int
    symbol: str
    client_order_id: str
    side: str
    order_type: str
    time_in_force: str
    orig_qty: int
    price: int
    avg_price: int
    stop_price: int
    execution_type: str
    order_status: str
    order_id: int
    last_filled_qty: int
    filled_qty: int
    last_filled_price: int
    commission_asset: str
    commission: int
    trade_time: int
    trade_id: int
    maker: bool
    reduce_only: bool
    working_type: str
    orig_type: str
    position_side: str
    close_position: bool
    activate_price: int
    callback_rate: int
    price_protect: bool
    realized_profit: int
    stp_mode: str
    expire_reason: str
    cum_quote: int
    time: int


class AlgoUpdate(NamedTuple):
    """One ALGO_UPDATE (user stream ``o`` object of a conditional order).

    Field -> Binance key: client_algo_id caid, algo_id aid, order_type o, symbol s, side S,
    position_side ps, time_in_force f, quantity q, status X (algoStatus), actual_order_id ai,
    actual_avg_price ap, actual_qty aq, actual_type act, trigger_price tp, price p, stp_mode V,
    working_type wt, close_position cp, price_protect pP, reduce_only R, trigger_time tt,
    reject_reason rm; activate_price / callback_rate (percent) for trailing orders.
    """
    account_id: int
    symbol: str
    algo_id: int
    client_algo_id: str
    order_type: str
    side: str
    position_side: str
    time_in_force: str
    quantity: int
    status: str
    actual_order_id: int
    actual_avg_price: int
    actual_qty: int
    actual_type: str
    trigger_price: int
    price: int
    stp_mode: str
    working_type: str
    close_position: bool
    price_protect: bool
    reduce_only: bool
    activate_price: int
    callback_rate: int
    trigger_time: int
    reject_reason: str
    time: int


class DepthUpdate(NamedTuple):
    """A ``depthUpdate``: Binance's U / u / pu and changed levels ``{price: total}`` (0 = removed)."""
    symbol: str
    first_update_id: int
    final_update_id: int
    prev_final_update_id: int
    bids: dict
    asks: dict
    time: int


class BookTicker(NamedTuple):
    """``/fapi/v1/ticker/bookTicker`` and ``@bookTicker``: best levels and the book update id."""
    symbol: str
    bid_price: int
    bid_qty: int
    ask_price: int
    ask_qty: int
    update_id: int
    time: int


# --- records ---------------------------------------------------------------------------------

class Order:
    """One order in the registry, with Binance's order fields (``view()`` gives them)."""

    __slots__ = ("order_id", "symbol", "account_id", "client_order_id", "side", "type", "orig_type", "tif",
                 "qty", "price", "stop_price", "executed", "cum_quote", "status", "reduce_only", "closing",
                 "close_position", "position_side", "working_type", "price_protect", "stp", "activate_price",
                 "callback_rate", "time", "update_time", "algo_id", "_ck", "_cv")

    def __init__(self, order_id, symbol, account_id, client_order_id, side, type_, tif, qty, price,
                 reduce_only, closing, position_side, stp, now, orig_type=None, stop_price=0,
                 working_type=CONTRACT_PRICE, price_protect=False, close_position=False, activate_price=0,
                 callback_rate=0, algo_id=0):
        self.order_id = order_id
        self.symbol = symbol
        self.account_id = account_id
        self.client_order_id = client_order_id
        self.side = side
        self.type = type_
        self.orig_type = orig_type or type_
        self.tif = tif
        self.qty = qty
        self.price = price
        self.stop_price = stop_price
        self.executed = 0
        self.cum_quote = 0
        self.status = NEW
        self.reduce_only = reduce_only
        self.closing = closing              # reduce-only, or a hedge-mode closing order
        self.close_position = close_position
        self.position_side = position_side
        self.working_type = working_type
        self.price_protect = price_protect
        self.stp = stp
        self.activate_price = activate_price
        self.callback_rate = callback_rate
        self.time = now
        self.update_time = now
        self.algo_id = algo_id
        self._ck = False                    # counted in the reserve sums (while it rests)
        self._cv = 0                        # its contribution: open qty x price (unscaled)

    @property
    def avg_price(self) -> int:
        return round_div(self.cum_quote * SCALE, self.executed) if self.executed else 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def view(self) -> dict:
        """The order as GET /fapi/v1/order shows it (amounts as ints of 1e-8 units)."""
        return {"orderId": self.order_id, "symbol": self.symbol, "status": self.status,
                "clientOrderId": self.client_order_id, "price": self.price, "avgPrice": self.avg_price,
                "origQty": self.qty, "executedQty": self.executed, "cumQty": self.executed,
                "cumQuote": self.cum_quote, "timeInForce": self.tif, "type": self.type,
                "reduceOnly": self.reduce_only, "closePosition": self.close_position, "side": self.side,
                "positionSide": self.position_side, "stopPrice": self.stop_price,
                "workingType": self.working_type, "priceProtect": self.price_protect,
                "origType": self.orig_type, "priceMatch": "NONE", "selfTradePreventionMode": self.stp,
                "goodTillDate": 0, "time": self.time, "updateTime": self.update_time,
                "activatePrice": self.activate_price, "priceRate": self.callback_rate}

    def __repr__(self):
        return (f"Order({self.order_id} {self.side} {self.type} {self.qty}@{self.price} "
                f"exec={self.executed} {self.status})")


class Algo:
    """One conditional order (POST /fapi/v1/algoOrder); ``view()`` gives Binance's fields."""

    __slots__ = ("algo_id", "client_algo_id", "account_id", "symbol", "side", "type", "qty", "price",
                 "trigger_price", "tif", "working_type", "price_protect", "reduce_only", "close_position",
                 "position_side", "activate_price", "callback_rate", "stp", "status", "time", "update_time",
                 "trigger_time", "actual_order_id", "reject_reason")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    @property
    def is_open(self) -> bool:
        return self.status == A_NEW

    def view(self) -> dict:
        return {"algoId": self.algo_id, "clientAlgoId": self.client_algo_id, "algoType": "CONDITIONAL",
                "orderType": self.type, "symbol": self.symbol, "side": self.side,
                "positionSide": self.position_side, "timeInForce": self.tif, "quantity": self.qty,
                "algoStatus": self.status, "triggerPrice": self.trigger_price, "price": self.price,
                "selfTradePreventionMode": self.stp, "workingType": self.working_type, "priceMatch": "NONE",
                "closePosition": self.close_position, "priceProtect": self.price_protect,
                "reduceOnly": self.reduce_only, "activatePrice": self.activate_price,
                "callbackRate": self.callback_rate, "createTime": self.time, "updateTime": self.update_time,
                "triggerTime": self.trigger_time or 0, "goodTillDate": 0,
                "actualOrderId": self.actual_order_id or 0, "rejectReason": self.reject_reason or ""}


# --- the manager -----------------------------------------------------------------------------

class OrderManager:
    """Orders, books, triggers and market data of one venue (see the module docstring)."""

    def __init__(self, clearing: ClearingHouse):
        self.clearing = clearing
        self.books: dict[str, OrderBook] = {}
        self.triggers: dict[str, TriggerBook] = {}
        self.market: dict[str, MarketData] = {}
        self.orders: dict[int, Order] = {}
        self.algos: dict[int, Algo] = {}
        self.next_order_id = 0          # last orderId given (one counter for every symbol)
        self.next_algo_id = 0
        # open orders by symbol -> account -> {orderId: Order} (resting in the book)
        self.resting: dict[str, dict[int, dict[int, Order]]] = {}
        # open algo orders by symbol -> account -> {algoId: Algo}
        self.open_algos: dict[str, dict[int, dict[int, Algo]]] = {}
        self.client_ids: dict[tuple[int, str], int] = {}        # (account, clientOrderId) -> open orderId
        self.client_algo_ids: dict[tuple[int, str], int] = {}   # (account, clientAlgoId) -> open algoId
        # reserve sums: (symbol, account) -> {positionSide: [BUY open qty x price, SELL ...]} (unscaled)
        self._sums: dict[tuple[str, int], dict[str, list[int]]] = {}
        self._n_closing: dict[tuple[str, int], int] = {}        # resting reduce-only/closing orders
        self._prunable: deque = deque()     # (update time, orderId) of CANCELED/EXPIRED orders without fills

    # ------------------------------------------------------------------ per-symbol state
    def book(self, symbol: str) -> OrderBook:
        bk = self.books.get(symbol)
        if bk is None:
            bk = self.books[symbol] = OrderBook(symbol)
        return bk

    def trigger_book(self, symbol: str) -> TriggerBook:
        tb = self.triggers.get(symbol)
        if tb is None:
            tb = self.triggers[symbol] = TriggerBook(self.clearing.instruments[symbol].trigger_protect)
        return tb

    def market_data(self, symbol: str) -> MarketData:
        md = self.market.get(symbol)
        if md is None:
            md = self.market[symbol] = MarketData(symbol)
        return md

    def last_price(self, symbol: str) -> int:
        md = self.market.get(symbol)
        return md.last_price if md is not None else 0

    def book_ticker(self, symbol: str, now: int = 0) -> BookTicker:
        bk = self.book(symbol)
        bb, ba = bk.best_bid(), bk.best_ask()
        return BookTicker(symbol, bb or 0, bk.depth(B.BUY, bb) if bb else 0, ba or 0,
                          bk.depth(B.SELL, ba) if ba else 0, bk.update_id, now)

    # ------------------------------------------------------------------ lookups
    def find(self, account_id: int, symbol: str, order_id: int | None = None,
             client_order_id: str | None = None) -> Order:
        """An order of this account and symbol by orderId or (open) origClientOrderId; -2013."""
        o = None
        if order_id is not None:
            o = self.orders.get(order_id) if _is_int(order_id) else None
        elif client_order_id is not None:
            oid = self.client_ids.get((account_id, client_order_id))
            o = self.orders.get(oid) if oid is not None else None
            if o is None:   # a closed order: the newest with that id
                for cand in reversed(self.orders.values()):
                    if cand.account_id == account_id and cand.client_order_id == client_order_id:
                        o = cand
                        break
        else:
            raise VenueError(E.BAD_PARAM,
                             "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!")
        if o is None or o.account_id != account_id or o.symbol != symbol:
            raise _err(NO_SUCH_ORDER)
        return o

    def find_algo(self, account_id: int, algo_id: int | None = None, client_algo_id: str | None = None) -> Algo:
        a = None
        if algo_id is not None:
            a = self.algos.get(algo_id) if _is_int(algo_id) else None
        elif client_algo_id is not None:
            aid = self.client_algo_ids.get((account_id, client_algo_id))
            a = self.algos.get(aid) if aid is not None else None
            if a is None:
                for cand in reversed(self.algos.values()):
                    if cand.account_id == account_id and cand.client_algo_id == client_algo_id:
                        a = cand
                        break
        else:
            raise VenueError(E.BAD_PARAM, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
        if a is None or a.account_id != account_id:
            raise _err(NO_SUCH_ORDER)
        return a

    def open_orders(self, account_id: int, symbol: str | None = None) -> list[Order]:
        out = []
        for sym in sorted(self.resting) if symbol is None else (symbol,):
            out += self.resting.get(sym, {}).get(account_id, {}).values()
        return sorted(out, key=lambda o: o.order_id)

    def open_algo_orders(self, account_id: int, symbol: str | None = None) -> list[Algo]:
        out = []
        for sym in sorted(self.open_algos) if symbol is None else (symbol,):
            out += self.open_algos.get(sym, {}).get(account_id, {}).values()
        return sorted(out, key=lambda a: a.algo_id)

    # ------------------------------------------------------------------ validation helpers
    @staticmethod
    def _check_price(ins: Instrument, price: object, name: str = "price") -> int:
        if price is None:
            raise E.bad_param(name)
        if not _is_int(price):
            raise E.illegal_param(name)
        if price <= 0:
            raise _err(PRICE_LT_ZERO)
        if price < ins.min_price:
            raise _err(PRICE_LT_MIN)
        if price > ins.max_price:
            raise _err(PRICE_GT_MAX)
        if price % ins.tick_size:
            raise _err(PRICE_TICK)
        return price

    @staticmethod
    def _check_stop_price(ins: Instrument, price: object, name: str = "triggerPrice") -> int:
        if price is None:
            raise E.bad_param(name)
        if not _is_int(price):
            raise E.illegal_param(name)
        if price <= 0:
            raise _err(STOP_LT_ZERO)
        if price > ins.max_price:
            raise _err(STOP_GT_MAX)
        if price < ins.min_price:
            raise _err(PRICE_LT_MIN)
        if price % ins.tick_size:
            raise _err(PRICE_TICK)
        return price

    @staticmethod
    def _check_qty(ins: Instrument, qty: object, market: bool) -> int:
        if qty is None:
            raise E.bad_param("quantity")
        if not _is_int(qty):
            raise E.illegal_param("quantity")
        if qty <= 0:
            raise _err(QTY_LT_ZERO)
        lo, hi = (ins.market_min_qty, ins.market_max_qty) if market else (ins.min_qty, ins.max_qty)
        if qty < lo:
            raise _err(QTY_LT_MIN)
        if qty > hi:
            raise _err(QTY_GT_MAX)
        if qty % ins.step_size:
            raise _err(QTY_STEP)
        return qty

    def _check_percent_price(self, ins: Instrument, side: str, price: int) -> None:
        """PERCENT_PRICE: BUY <= mark x multiplierUp (-4016), SELL >= mark x multiplierDown (-4024)."""
        mark = self.clearing.mark(ins.symbol)
        if not mark:
            return
        if side == BUY:
            if price * SCALE > mark * ins.multiplier_up:
                raise _err(PRICE_GT_UP)
        elif price * SCALE < mark * ins.multiplier_down:
            raise _err(PRICE_LT_DOWN)

    @staticmethod
    def _check_min_notional(ins: Instrument, qty: int, price: int, reduce_only: bool, code=None) -> None:
        if reduce_only or not price:
            return
        if mul(qty, price) < ins.min_notional:
            text = fmt_plain(ins.min_notional)
            if "." not in text:
                text += ".0"
            if code is not None:
                raise VenueError(code, f"Order's notional must be no smaller than {text}")
            raise VenueError(-4164, f"Order's notional must be no smaller than {text} (unless you choose reduce only)")

    def _market_bound(self, ins: Instrument, side: str) -> int | None:
        """marketTakeBound: mark x (1 + bound) rounded down to the tick (BUY), x (1 - bound) up (SELL)."""
        mark = self.clearing.mark(ins.symbol)
        if not mark or not ins.market_take_bound:
            return None
        t = ins.tick_size
        if side == BUY:
            return mark * (SCALE + ins.market_take_bound) // (SCALE * t) * t
        return -(-(mark * (SCALE - ins.market_take_bound)) // (SCALE * t)) * t

    def _client_id(self, account_id: int, cid: object, table: dict, prefix: str, next_id: int) -> str:
        if cid is None or cid == "":
            cid = f"{prefix}{next_id}"
        if not isinstance(cid, str) or not CLIENT_ID_RE.match(cid):
            raise _err(CLIENT_ID_BAD)
        if (account_id, cid) in table:
            raise _err(CLIENT_ID_DUP)
        return cid

    def _room(self, acct, symbol: str, ps: str, side: str, exclude: int = 0) -> int:
        """What a reducing order may still close: position minus resting closing orders on that side."""
        pos = acct.positions.get((symbol, ps))
        q = pos.qty if pos is not None else 0
        room = q if side == SELL else -q
        if room <= 0:
            return 0
        for o in self.resting.get(symbol, {}).get(acct.id, {}).values():
            if o.closing and o.side == side and o.position_side == ps and o.order_id != exclude:
                room -= o.qty - o.executed
        return max(0, room)

    def _count_open(self, account_id: int, symbol: str) -> int:
        return len(self.resting.get(symbol, {}).get(account_id, ()))

    def _count_algo(self, account_id: int, symbol: str) -> int:
        return len(self.open_algos.get(symbol, {}).get(account_id, ()))

    def all_orders(self, account_id: int, symbol: str, order_id: int | None = None, start_time: int | None = None,
                   end_time: int | None = None, limit: int = 500) -> list[Order]:
        """GET /fapi/v1/allOrders: the account's orders in ``symbol`` with orderId >= ``order_id``
        (else the newest), created within [start_time, end_time], oldest first, at most ``limit``."""
        out = [o for o in self.orders.values()
               if o.account_id == account_id and o.symbol == symbol
               and (order_id is None or o.order_id >= order_id)
               and (start_time is None or o.time >= start_time) and (end_time is None or o.time <= end_time)]
        return out[:limit] if order_id is not None else out[-limit:]

    def prune(self, now: int) -> None:
        """Forget CANCELED/EXPIRED orders without fills 3 days after they closed (Binance: GET
        /fapi/v1/order no longer finds them), so the registry stays bounded."""
        dq = self._prunable
        horizon = now - PRUNE_AFTER_MS
        while dq and dq[0][0] < horizon:
            _, oid = dq.popleft()
            o = self.orders.get(oid)
            if o is not None and not o.is_open and not o.executed:
                del self.orders[oid]

    # ------------------------------------------------------------------ new orders
    def place(self, account_id: int, symbol: str, side: str, type: str, quantity: int | None = None,
              price: int | None = None, time_in_force: str | None = None, reduce_only: bool = False,
              position_side: str | None = None, client_order_id: str | None = None,
              stp_mode: str | None = None, now: int = 0) -> tuple[dict, list]:
        """POST /fapi/v1/order for LIMIT and MARKET; conditional types answer -4120."""
        if type in ALGO_TYPES:
            raise _err(USE_ALGO)
        order, events = self._submit(account_id, symbol, side, type, quantity, price, time_in_force,
                                     reduce_only, position_side, client_order_id, stp_mode, now)
        return order.view(), events

    def _submit(self, account_id, symbol, side, type_, quantity, price, tif, reduce_only, position_side,
                client_order_id, stp_mode, now, algo: Algo | None = None, close_position: bool = False):
        """Validate, reserve, match, settle; then fire what the new last price triggers."""
        ch = self.clearing
        acct = ch.account(account_id)
        ins = ch.instruments.get(symbol) if isinstance(symbol, str) else None
        if ins is None:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        if side not in (BUY, SELL):
            raise _err(INVALID_SIDE)
        if type_ not in (LIMIT, MARKET):
            raise _err(INVALID_TYPE)
        if not isinstance(reduce_only, bool):
            raise E.illegal_param("reduceOnly")
        stp = DEFAULT_STP if stp_mode is None else stp_mode
        if stp not in STP_MODES:
            raise _err(INVALID_STP)
        ps = ch.resolve_position_side(acct, side, position_side)
        if reduce_only and acct.hedge_mode:
            raise _not_required("reduceOnly")
        market = type_ == MARKET
        if market:
            if tif is not None and algo is None:
                raise VenueError(-1114, "TimeInForce parameter sent when not required.")
            if price is not None:
                raise _not_required("price")
            tif = "GTC"
        else:
            if tif is None:
                raise E.bad_param("timeInForce")
            if tif not in TIFS:
                raise _err(INVALID_TIF)
            price = self._check_price(ins, price)
        qty = self._check_qty(ins, quantity, market)
        closing = reduce_only or (ps == LONG and side == SELL) or (ps == SHORT and side == BUY)
        book = self.book(symbol)
        bside = _SIDE_INT[side]
        bound = None
        if market:
            bound = self._market_bound(ins, side)
            best = book.best_ask() if side == BUY else book.best_bid()
            if bound is not None and best is not None and (best > bound if side == BUY else best < bound):
                raise _err(MARKET_REJECT)
            mark = ch.mark(symbol)
            check_price = best if best is not None else (
                (-(-mark // ins.tick_size) * ins.tick_size if side == BUY else mark // ins.tick_size * ins.tick_size)
                if mark else None)
            notional_price = mark or check_price
        else:
            self._check_percent_price(ins, side, price)
            check_price = notional_price = price
        if closing:
            room = self._room(acct, symbol, ps, side)
            if room <= 0 or (not reduce_only and qty > room):
                raise _err(REDUCE_ONLY_REJECT)
            if qty > room:
                qty = room          # Binance caps a reduce-only order at the position
        if notional_price:
            self._check_min_notional(ins, qty, notional_price, closing)
        if not market and tif == "GTX" and book.would_take(bside, price):
            raise VenueError(B.POST_ONLY_REJECTED, B.POST_ONLY_MSG)
        if not market and tif == "FOK" and book.fillable(bside, qty, price, account_id, B.STPS[stp]) < qty:
            raise _err(FOK_REJECT)
        if self._count_open(account_id, symbol) >= ins.max_num_orders and (not market and tif == "GTC"
                                                                            or tif == "GTX"):
            raise _err(MAX_OPEN_ORDERS)
        cid = self._client_id(account_id, client_order_id, self.client_ids, "perpsim-", self.next_order_id + 1)
        if check_price and not closing:
            ch.check_order_cost(account_id, symbol, side, qty, check_price, ps)
        # ---- accepted: from here on nothing raises
        if self._prunable and self._prunable[0][0] < now - PRUNE_AFTER_MS:
            self.prune(now)
        ch._stored_config(acct, symbol)
        self.next_order_id += 1
        oid = self.next_order_id
        o = Order(oid, symbol, account_id, cid, side, type_, tif, qty, price or 0, reduce_only, closing, ps, stp,
                  now)
        if algo is not None:
            o.orig_type = algo.type
            o.stop_price = algo.trigger_price or 0
            o.working_type = algo.working_type
            o.price_protect = algo.price_protect
            o.close_position = close_position
            o.activate_price = algo.activate_price or 0
            o.callback_rate = algo.callback_rate or 0
            o.algo_id = algo.algo_id
        self.orders[oid] = o
        self.client_ids[(account_id, cid)] = oid
        events: list = [self._update(o, X_NEW, now)]
        touched = {account_id}
        events += self._sweep_reduce_only(symbol, now, touched)
        md = self.market_data(symbol)
        agg0 = md.agg_id
        last0 = md.last_price
        bev = book.place(oid, account_id, bside, qty, None if market else price, B.TIFS[tif], B.STPS[stp],
                         closing, bound)
        self._process(symbol, bev, o, now, events, touched)
        md.end_taker()
        self._after_match(symbol, touched, now, events, agg0)
        if md.last_price != last0:
            events += self._cascade(symbol, now)
        return o, events

    # ------------------------------------------------------------------ book events
    def _process(self, symbol: str, bev: list, taker: Order | None, now: int, events: list, touched: set) -> None:
        """Settle fills and record expiries/rests from one book call."""
        ch = self.clearing
        md = self.market_data(symbol)
        orders = self.orders
        for ev in bev:
            cls = ev.__class__
            if cls is B.Fill:
                m = orders[ev.maker_id]
                t = orders[ev.taker_id]
                px, q = ev.price, ev.qty
                tid = ev.trade_id
                mev = ch.apply_fill(m.account_id, symbol, m.side, q, px, True, m.position_side, now,
                                    trade_id=tid, order_id=m.order_id)
                if t.type == LIQUIDATION:
                    tev = ch.apply_fill(t.account_id, symbol, t.side, q, px, False, t.position_side, now,
                                        fee=False, execution=LIQUIDATION, release_isolated=False, trade_id=tid,
                                        order_id=t.order_id)
                else:
                    tev = ch.apply_fill(t.account_id, symbol, t.side, q, px, False, t.position_side, now,
                                        trade_id=tid, order_id=t.order_id)
                events += mev
                events += tev
                touched.add(m.account_id)
                quote = mul(q, px)
                for o, sev, rem, is_maker in ((m, mev[-2], ev.maker_remaining, True),
                                              (t, tev[-2], ev.taker_remaining, False)):
                    counted = o._ck
                    if counted:
                        self._unreserve(o)
                    o.executed += q
                    o.cum_quote += quote
                    o.update_time = now
                    if rem == 0 and o.executed == o.qty:
                        o.status = FILLED
                        self._close(o, events, now)
                    else:
                        o.status = PARTIALLY_FILLED
                        if counted:
                            self._reserve(o)
                    x = X_CALCULATED if o.type == LIQUIDATION and not is_maker else X_TRADE
                    events.append(self._update(o, x, now, q, px, sev.commission, ev.trade_id, is_maker,
                                               sev.realized_pnl, sev.commission_asset))
                events.append(md.on_trade(ev.trade_id, px, q, ev.taker_side == B.BUY, t.order_id, m.order_id, now))
            elif cls is B.OrderExpired:
                o = orders[ev.order_id]
                if o.type == LIQUIDATION:
                    continue    # the waterfall goes on with the rest; finish_liquidation closes the order
                o.status = EXPIRED_IN_MATCH if ev.reason == B.R_STP else EXPIRED
                o.update_time = now
                touched.add(o.account_id)
                self._close(o, events, now)
                events.append(self._update(o, X_EXPIRED, now, expire_reason=ev.reason))
            elif cls is B.OrderRested:
                o = orders[ev.order_id]
                self.resting.setdefault(symbol, {}).setdefault(o.account_id, {})[o.order_id] = o
                self._reserve(o)
            elif cls is B.OrderCanceled:
                o = orders[ev.order_id]
                o.status = CANCELED
                o.update_time = now
                touched.add(o.account_id)
                self._close(o, events, now)
                events.append(self._update(o, X_CANCELED, now))
            elif cls is B.OrderRejected:    # only from a modify's re-entry; never expected
                raise ev.to_error()

    def _close(self, o: Order, events: list | None = None, now: int = 0) -> None:
        """Forget a closed order in the open-order indexes; a triggered algo order whose order is
        done becomes FINISHED (algoStatus)."""
        self._unreserve(o)
        if not o.executed and o.status != FILLED:
            self._prunable.append((o.update_time, o.order_id))
        if o.algo_id and events is not None:
            a = self.algos.get(o.algo_id)
            if a is not None and a.status == A_TRIGGERED:
                a.status = A_FINISHED
                a.update_time = now
                events.append(self._algo_update(a, now, o))
        by_acct = self.resting.get(o.symbol)
        if by_acct is not None:
            mine = by_acct.get(o.account_id)
            if mine is not None and mine.pop(o.order_id, None) is not None and not mine:
                del by_acct[o.account_id]
        key = (o.account_id, o.client_order_id)
        if self.client_ids.get(key) == o.order_id:
            del self.client_ids[key]

    def _after_match(self, symbol: str, touched: set, now: int, events: list, agg0: int | None = None) -> None:
        """Shrink reduce-only orders, refresh reserved margin and counts, publish aggTrades and depth."""
        for acct_id in sorted(touched):
            events += self._enforce_reduce_only(acct_id, symbol, now)
        for acct_id in sorted(touched):
            self.refresh(acct_id, symbol)
        md = self.market.get(symbol)
        if agg0 is not None and md is not None and md.agg_id != agg0:
            events += md.aggs_since(agg0)
        diff = self.book(symbol).drain_depth()
        if diff is not None:
            events.append(DepthUpdate(symbol, diff.U, diff.u, diff.pu, diff.bids, diff.asks, now))

    def _sweep_reduce_only(self, symbol: str, now: int, touched: set) -> list:
        """Before matching: cap every account's resting reduce-only/closing orders at its position,
        in case a position changed outside the book (ADL, insurance takeover, a direct trade), so
        that no such order can fill beyond the position it closes. Accounts changed go in
        ``touched`` (their reserve is refreshed after the match)."""
        events: list = []
        for key in [k for k in self._n_closing if k[0] == symbol]:
            evs = self._enforce_reduce_only(key[1], symbol, now)
            if evs:
                touched.add(key[1])
                events += evs
        return events

    def _enforce_reduce_only(self, account_id: int, symbol: str, now: int) -> list:
        """Cap resting reduce-only/closing orders at the position, oldest first; expire at zero."""
        if not self._n_closing.get((symbol, account_id)):
            return []
        mine = self.resting[symbol][account_id]
        closing = [o for o in mine.values() if o.closing]
        if not closing:
            return []
        acct = self.clearing.accounts[account_id]
        events: list = []
        book = self.book(symbol)
        groups: dict[tuple[str, str], list[Order]] = {}
        for o in sorted(closing, key=lambda o: o.order_id):
            groups.setdefault((o.position_side, o.side), []).append(o)
        for (ps, side), group in groups.items():
            pos = acct.positions.get((symbol, ps))
            q = pos.qty if pos is not None else 0
            room = max(0, q if side == SELL else -q)
            for o in group:
                rem = o.qty - o.executed
                if rem <= room:
                    room -= rem
                    continue
                if room == 0:
                    book.cancel(o.order_id)
                    o.status = EXPIRED
                    o.update_time = now
                    self._close(o, events, now)
                    events.append(self._update(o, X_EXPIRED, now, expire_reason="REDUCE_ONLY"))
                    continue
                book.modify(o.order_id, o.price, o.executed + room)
                o.qty = o.executed + room
                self._reserve(o)
                o.update_time = now
                events.append(self._update(o, X_AMENDMENT, now))
                room = 0
        return events

    # ------------------------------------------------------------------ reserved margin
    def required_margin(self, account_id: int, symbol: str, fresh: bool = False) -> int:
        """The initial margin this account's resting orders in ``symbol`` reserve.

        Per position side, Binance's netting rule (dev.binance.vision thread "Margin Requirements", /t/margin-requirements/17078):
        ``max(|P + B|, |P - A|) / L - |P| / L`` (at least 0), where P is the signed position
        notional at the mark, B and A the notional of the resting BUY and SELL orders at their
        prices (open quantity x price) and L the leverage. ``B`` and ``A`` are kept as running
        sums; ``fresh`` recomputes them from the orders (``check`` compares both)."""
        if fresh:
            sums: dict = {}
            for o in self.resting.get(symbol, {}).get(account_id, {}).values():
                pair = sums.setdefault(o.position_side, [0, 0])
                pair[0 if o.side == BUY else 1] += (o.qty - o.executed) * o.price
        else:
            sums = self._sums.get((symbol, account_id))
            if not sums:
                return 0
        ch = self.clearing
        acct = ch.accounts[account_id]
        lev = ch.config(acct, symbol).leverage
        mark = ch.mark(symbol)
        total = 0
        for ps, (bids, asks) in sums.items():
            if not bids and not asks:
                continue
            pos = acct.positions.get((symbol, ps))
            p = pos.qty * (mark or pos.entry_price) if pos is not None and pos.qty else 0
            worst = max(abs(p + bids), abs(p - asks)) - abs(p)     # unscaled: 1e-16 units
            if worst > 0:
                total += round_div(worst, SCALE * lev)
        return total

    def _reserve(self, o: Order) -> None:
        """Count a resting order's open notional in its account's sums."""
        if o._ck:
            self._unreserve(o)
        v = (o.qty - o.executed) * o.price
        key = (o.symbol, o.account_id)
        sums = self._sums.get(key)
        if sums is None:
            sums = self._sums[key] = {}
        pair = sums.get(o.position_side)
        if pair is None:
            pair = sums[o.position_side] = [0, 0]
        pair[0 if o.side == BUY else 1] += v
        o._ck = True
        o._cv = v
        if o.closing:
            self._n_closing[key] = self._n_closing.get(key, 0) + 1

    def _unreserve(self, o: Order) -> None:
        if not o._ck:
            return
        key = (o.symbol, o.account_id)
        sums = self._sums[key]
        pair = sums[o.position_side]
        pair[0 if o.side == BUY else 1] -= o._cv
        if not pair[0] and not pair[1]:
            del sums[o.position_side]
            if not sums:
                del self._sums[key]
        o._ck = False
        o._cv = 0
        if o.closing:
            n = self._n_closing[key] - 1
            if n:
                self._n_closing[key] = n
            else:
                del self._n_closing[key]

    def refresh(self, account_id: int, symbol: str) -> None:
        """Recompute ``Account.order_margin[symbol]`` and ``Account.open_orders[symbol]``."""
        acct = self.clearing.accounts[account_id]
        need = self.required_margin(account_id, symbol)
        if need:
            acct.order_margin[symbol] = need
        else:
            acct.order_margin.pop(symbol, None)
        n = self._count_open(account_id, symbol) + self._count_algo(account_id, symbol)
        if n:
            acct.open_orders[symbol] = n
        else:
            acct.open_orders.pop(symbol, None)

    def refresh_symbol(self, symbol: str) -> None:
        """Recompute every account with resting orders in ``symbol`` (the mark moved)."""
        for acct_id in sorted(self.resting.get(symbol, {})):
            self.refresh(acct_id, symbol)

    def on_position_change(self, account_id: int, symbol: str, now: int = 0) -> list:
        """A position changed outside the book (liquidation, ADL, a direct trade): shrink
        reduce-only orders and refresh the reserved margin."""
        events = self._enforce_reduce_only(account_id, symbol, now)
        self.refresh(account_id, symbol)
        diff = self.book(symbol).drain_depth() if symbol in self.books else None
        if diff is not None:
            events.append(DepthUpdate(symbol, diff.U, diff.u, diff.pu, diff.bids, diff.asks, now))
        return events

    # ------------------------------------------------------------------ liquidation hooks
    def cancel_for_liquidation(self, account_id: int, symbol: str | None, now: int = 0) -> list:
        """The waterfall's first step: cancel the account's open orders and algo orders (of
        ``symbol``, or of every symbol for a cross scope), so nothing of it trades meanwhile."""
        events: list = []
        symbols = sorted(set(self.resting) | set(self.open_algos)) if symbol is None else [symbol]
        for sym in symbols:
            if self.resting.get(sym, {}).get(account_id):
                events += self.cancel_all(account_id, sym, now)[1]
            if self.open_algos.get(sym, {}).get(account_id):
                events += self.cancel_all_algo(account_id, sym, now)[1]
        return events

    def liquidation_order(self, account_id: int, symbol: str, side: str, position_side: str, qty: int,
                          limit: int, now: int = 0) -> list:
        """The waterfall's IOC order limited at the bankruptcy price (type LIQUIDATION, client id
        ``autoclose-<ms>``, fills reported with execution type CALCULATED, no commission for the
        liquidated side). No filters and no margin check; it only closes."""
        book = self.book(symbol)
        self.next_order_id += 1
        oid = self.next_order_id
        o = Order(oid, symbol, account_id, f"autoclose-{now}", side, LIQUIDATION, "IOC", qty, limit, True, True,
                  position_side, "NONE", now)
        self.orders[oid] = o
        events: list = [self._update(o, X_NEW, now)]
        touched = {account_id}
        events += self._sweep_reduce_only(symbol, now, touched)
        md = self.market_data(symbol)
        agg0, last0 = md.agg_id, md.last_price
        bev = book.place(oid, account_id, _SIDE_INT[side], qty, limit, B.IOC, B.STP_NONE, True, None)
        self._process(symbol, bev, o, now, events, touched)
        md.end_taker()
        self._after_match(symbol, touched, now, events, agg0)
        if md.last_price != last0:
            events += self._cascade(symbol, now)
        return events

    def next_trade_id(self, symbol: str) -> int:
        """A trade id for a fill outside the book (insurance takeover, ADL), from the symbol's counter."""
        bk = self.book(symbol)
        bk.trade_id += 1
        return bk.trade_id

    def liquidation_fill(self, order_id: int, qty: int, price: int, settled, trade_id: int, now: int) -> OrderUpdate:
        """A fill of a liquidation order outside the book: the insurance fund takes the rest over, or
        an ADL counterparty closes it. The order is the one story of the liquidation (Binance shows
        one liquidation order, ``autoclose-<ms>``, filled by whatever closed the position)."""
        o = self.orders[order_id]
        o.executed += qty
        o.cum_quote += mul(qty, price)
        o.qty = max(o.qty, o.executed)
        o.update_time = now
        o.status = FILLED if o.executed == o.qty else PARTIALLY_FILLED
        return self._update(o, X_CALCULATED, now, qty, price, 0, trade_id, False, settled.realized_pnl,
                            settled.commission_asset)

    def finish_liquidation(self, order_id: int, events: list, now: int) -> None:
        """Close a liquidation order once the waterfall is done with it: its quantity is what it closed
        (FILLED), or it EXPIRED having closed nothing. Its updates in ``events`` are rewritten to tell
        that one story: the final quantity everywhere, every fill PARTIALLY_FILLED but the last."""
        o = self.orders[order_id]
        if o.executed and o.executed != o.qty:
            o.qty = o.executed
        if o.status != FILLED:
            o.status = FILLED if o.executed else EXPIRED
            o.update_time = now
            self._close(o, events, now)
        idx = [i for i, e in enumerate(events) if e.__class__ is OrderUpdate and e.order_id == order_id]
        fills = [i for i in idx if events[i].execution_type == X_CALCULATED]
        for i in idx:
            status = events[i].order_status
            if i in fills:
                status = o.status if i == fills[-1] else PARTIALLY_FILLED
            events[i] = events[i]._replace(orig_qty=o.qty, order_status=status)
        if not o.executed:
            events.append(self._update(o, X_EXPIRED, now))

    def adl_order(self, order_id: int, account_id: int, symbol: str, side: str, position_side: str, qty: int,
                  price: int, settled, trade_id: int, now: int) -> list:
        """The order of an ADL close (client id ``adl_autoclose``, as Binance names it): a LIMIT IOC at the
        bankruptcy price, FILLED by the close; its updates are NEW and one CALCULATED fill."""
        o = Order(order_id, symbol, account_id, "adl_autoclose", side, LIMIT, "IOC", qty, price, False, True,
                  position_side, "NONE", now)
        self.orders[order_id] = o
        events = [self._update(o, X_NEW, now)]
        o.executed, o.cum_quote, o.status, o.update_time = qty, mul(qty, price), FILLED, now
        events.append(self._update(o, X_CALCULATED, now, qty, price, 0, trade_id, False, settled.realized_pnl,
                                   settled.commission_asset))
        return events

    # ------------------------------------------------------------------ cancel / modify
    def cancel(self, account_id: int, symbol: str, order_id: int | None = None,
               client_order_id: str | None = None, now: int = 0) -> tuple[dict, list]:
        """DELETE /fapi/v1/order: -2011 for an unknown or closed order."""
        self.clearing.account(account_id)
        try:
            o = self.find(account_id, symbol, order_id, client_order_id)
        except VenueError as e:
            if e.code == NO_SUCH_ORDER[0]:
                raise _err(UNKNOWN_ORDER) from None
            raise
        if not o.is_open:
            raise _err(UNKNOWN_ORDER)
        bev = self.book(symbol).cancel(o.order_id)
        events: list = []
        self._process(symbol, bev, None, now, events, {account_id})
        self._after_match(symbol, {account_id}, now, events)
        return o.view(), events

    def cancel_all(self, account_id: int, symbol: str, now: int = 0) -> tuple[dict, list]:
        """DELETE /fapi/v1/allOpenOrders (regular orders; algo orders have their own endpoint)."""
        self.clearing.account(account_id)
        if symbol not in self.clearing.instruments:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        events: list = []
        if self.resting.get(symbol, {}).get(account_id):
            bev = self.book(symbol).cancel_all(account_id)
            self._process(symbol, bev, None, now, events, {account_id})
            self._after_match(symbol, {account_id}, now, events)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}, events

    def modify(self, account_id: int, symbol: str, side: str, quantity: int, price: int,
               order_id: int | None = None, client_order_id: str | None = None, now: int = 0) -> tuple[dict, list]:
        """PUT /fapi/v1/order: a resting LIMIT order's price and/or quantity (re-queued by the book)."""
        ch = self.clearing
        acct = ch.account(account_id)
        ins = ch.instruments.get(symbol) if isinstance(symbol, str) else None
        if ins is None:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        o = self.find(account_id, symbol, order_id, client_order_id)
        if o.type != LIMIT:
            raise _err(LIMIT_ONLY)
        if not o.is_open:
            raise VenueError(-2013, "Order does not exist.")
        if side != o.side:
            raise E.illegal_param("side")
        price = self._check_price(ins, price)
        qty = self._check_qty(ins, quantity, False)
        if price == o.price and qty == o.qty:
            raise VenueError(B.NO_NEED_TO_MODIFY, "No need to modify the order.")
        self._check_percent_price(ins, o.side, price)
        cancels = qty <= o.executed or (o.tif == "GTX" and self.book(symbol).would_take(_SIDE_INT[o.side], price))
        if not cancels:
            self._check_min_notional(ins, qty, price, o.closing, code=-5029)
            if o.closing and qty - o.executed > self._room(acct, symbol, o.position_side, o.side, exclude=o.order_id):
                raise _err(REDUCE_ONLY_REJECT)
            if not o.closing:
                before = acct.order_margin.get(symbol, 0)
                saved = (o.qty, o.price)
                o.qty, o.price = qty, price
                try:
                    after = self.required_margin(account_id, symbol, fresh=True)
                finally:
                    o.qty, o.price = saved
                if after > before:
                    avail = ch.cross_figures(account_id, ins.margin_asset).available_balance
                    if after - before > avail:
                        raise VenueError(E.MARGIN_INSUFFICIENT, "Margin is insufficient.")
                pos = acct.positions.get((symbol, o.position_side))
                q = pos.qty if pos is not None else 0
                new_q = q + (qty - o.executed if o.side == BUY else o.executed - qty)
                mark = ch.mark(symbol) or price
                if notional(new_q, max(mark, price)) > ch.table(symbol).max_notional(ch.config(acct, symbol).leverage):
                    raise VenueError(E.MAX_POSITION, "Exceeded the maximum allowable position at current leverage.")
        # ---- accepted
        book = self.book(symbol)
        md = self.market_data(symbol)
        agg0, last0 = md.agg_id, md.last_price
        touched = {account_id}
        events: list = self._sweep_reduce_only(symbol, now, touched)
        self._unreserve(o)          # re-counted when it rests again
        bev = book.modify(o.order_id, price, qty)
        if bev and bev[0].__class__ is B.OrderModified:
            o.qty, o.price, o.update_time = qty, price, now
            events.append(self._update(o, X_AMENDMENT, now))
            self._process(symbol, bev[1:], o, now, events, touched)
        else:
            self._process(symbol, bev, None, now, events, touched)
        md.end_taker()
        self._after_match(symbol, touched, now, events, agg0)
        if md.last_price != last0:
            events += self._cascade(symbol, now)
        return o.view(), events

    # ------------------------------------------------------------------ algo orders
    def place_algo(self, account_id: int, symbol: str, side: str, type: str, quantity: int | None = None,
                   price: int | None = None, trigger_price: int | None = None, time_in_force: str | None = None,
                   working_type: str | None = None, price_protect: bool = False, reduce_only: bool = False,
                   close_position: bool = False, position_side: str | None = None,
                   activate_price: int | None = None, callback_rate: int | None = None,
                   client_algo_id: str | None = None, stp_mode: str | None = None,
                   now: int = 0) -> tuple[dict, list]:
        """POST /fapi/v1/algoOrder (algoType CONDITIONAL). ``callback_rate`` is Binance's percent
        (1e-8 units: 1% = 100000000), 0.1 to 5."""
        ch = self.clearing
        acct = ch.account(account_id)
        ins = ch.instruments.get(symbol) if isinstance(symbol, str) else None
        if ins is None:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        if side not in (BUY, SELL):
            raise _err(INVALID_SIDE)
        if type not in ALGO_TYPES:
            raise _err(INVALID_TYPE)
        wt = working_type or CONTRACT_PRICE
        if wt not in WORKING_TYPES:
            raise _err(INVALID_WORKING_TYPE, f"Invalid parameter working type: {wt}")
        for name, v in (("priceProtect", price_protect), ("reduceOnly", reduce_only),
                        ("closePosition", close_position)):
            if not isinstance(v, bool):
                raise E.illegal_param(name)
        stp = DEFAULT_STP if stp_mode is None else stp_mode
        if stp not in STP_MODES:
            raise _err(INVALID_STP)
        ps = ch.resolve_position_side(acct, side, position_side)
        if reduce_only and acct.hedge_mode:
            raise _not_required("reduceOnly")
        trailing = type == TRAILING_STOP_MARKET
        limit = type in _LIMIT_ALGOS
        tif = "GTC"
        if limit:
            tif = time_in_force or "GTC"
            if tif not in TIFS:
                raise _err(INVALID_TIF)
            price = self._check_price(ins, price)
        elif price is not None:
            raise _not_required("price")
        if close_position:
            if type not in (STOP_MARKET, TAKE_PROFIT_MARKET):
                raise _not_required("closePosition")
            if quantity is not None:
                raise _err(QTY_WITH_CLOSE)
            if reduce_only:
                raise _not_required("reduceOnly")
            if (side == BUY and ps == LONG) or (side == SELL and ps == SHORT):
                raise E.illegal_param("closePosition", "BUY with LONG or SELL with SHORT cannot close.")
            qty = 0
        else:
            qty = self._check_qty(ins, quantity, not limit)
        cb = 0
        act = None
        if trailing:
            if trigger_price is not None:
                raise _not_required("triggerPrice")
            if not _is_int(callback_rate):
                raise E.bad_param("callbackRate")
            cb = callback_rate
            if not MIN_CALLBACK_RATE * 100 <= cb <= MAX_CALLBACK_RATE * 100:
                raise E.illegal_param("callbackRate", "It must be between 0.1 and 5.")
            if activate_price is not None:
                act = self._check_stop_price(ins, activate_price, "activatePrice")
            stop = 0
        else:
            if activate_price is not None:
                raise _not_required("activatePrice")
            if callback_rate is not None:
                raise _not_required("callbackRate")
            stop = self._check_stop_price(ins, trigger_price)
        if limit:
            # the limit price must stay within the multipliers of the trigger price (-4183 / -4184)
            if side == BUY and price * SCALE > stop * ins.multiplier_up:
                raise VenueError(-4183, f"Limit price can't be higher than {fmt_plain(mul(stop, ins.multiplier_up))}.")
            if side == SELL and price * SCALE < stop * ins.multiplier_down:
                raise VenueError(-4184, f"Limit price can't be lower than {fmt_plain(mul(stop, ins.multiplier_down))}.")
        if qty:
            ref = price if limit else (stop or act or ch.mark(symbol) or self.last_price(symbol))
            if ref:
                self._check_min_notional(ins, qty, ref, reduce_only)
        if self._count_algo(account_id, symbol) >= ins.max_num_algo_orders:
            raise _err(MAX_STOP_ORDERS)
        caid = self._client_id(account_id, client_algo_id, self.client_algo_ids, "perpsim-algo-",
                               self.next_algo_id + 1)
        mark = ch.mark(symbol)
        last = self.last_price(symbol)
        mark_p, last_p = (mark or last), (last or mark)
        aid = self.next_algo_id + 1
        ao = AlgoOrder(aid, account_id, _SIDE_INT[side], type, stop or None, wt, price_protect, act,
                       cb // 100 if trailing else None, None)
        if trailing and act is None and not (mark_p if wt == MARK_PRICE else last_p):
            raise E.bad_param("activatePrice")
        tb = self.trigger_book(symbol)
        tb.register(ao, mark_p or None, last_p or None) if mark_p else tb.register(ao)
        # ---- accepted (register is the last check: -2021)
        ch._stored_config(acct, symbol)
        self.next_algo_id = aid
        a = Algo(algo_id=aid, client_algo_id=caid, account_id=account_id, symbol=symbol, side=side, type=type,
                 qty=qty, price=price or 0, trigger_price=stop, tif=tif, working_type=wt, price_protect=price_protect,
                 reduce_only=reduce_only, close_position=close_position, position_side=ps,
                 activate_price=act or 0, callback_rate=cb, stp=stp, status=A_NEW, time=now, update_time=now,
                 trigger_time=0, actual_order_id=0, reject_reason="")
        ao.payload = a
        self.algos[aid] = a
        self.open_algos.setdefault(symbol, {}).setdefault(account_id, {})[aid] = a
        self.client_algo_ids[(account_id, caid)] = aid
        self.refresh(account_id, symbol)
        return a.view(), [self._algo_update(a, now)]

    def cancel_algo(self, account_id: int, algo_id: int | None = None, client_algo_id: str | None = None,
                    now: int = 0) -> tuple[dict, list]:
        """DELETE /fapi/v1/algoOrder; -2011 for an unknown or finished algo order."""
        self.clearing.account(account_id)
        try:
            a = self.find_algo(account_id, algo_id, client_algo_id)
        except VenueError as e:
            if e.code == NO_SUCH_ORDER[0]:
                raise _err(UNKNOWN_ORDER) from None
            raise
        if not a.is_open:
            raise _err(UNKNOWN_ORDER)
        self.trigger_book(a.symbol).cancel(a.algo_id)
        self._finish_algo(a, A_CANCELED, now)
        return ({"algoId": a.algo_id, "clientAlgoId": a.client_algo_id, "code": "200", "msg": "success"},
                [self._algo_update(a, now)])

    def cancel_all_algo(self, account_id: int, symbol: str, now: int = 0) -> tuple[dict, list]:
        """DELETE /fapi/v1/algoOpenOrders."""
        self.clearing.account(account_id)
        if symbol not in self.clearing.instruments:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        events = []
        for a in sorted(self.open_algos.get(symbol, {}).get(account_id, {}).values(), key=lambda a: a.algo_id):
            self.trigger_book(symbol).cancel(a.algo_id)
            self._finish_algo(a, A_CANCELED, now)
            events.append(self._algo_update(a, now))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}, events

    def _finish_algo(self, a: Algo, status: str, now: int, reason: str = "") -> None:
        a.status = status
        a.update_time = now
        a.reject_reason = reason
        by = self.open_algos.get(a.symbol, {})
        mine = by.get(a.account_id)
        if mine is not None and mine.pop(a.algo_id, None) is not None and not mine:
            del by[a.account_id]
        key = (a.account_id, a.client_algo_id)
        if self.client_algo_ids.get(key) == a.algo_id:
            del self.client_algo_ids[key]
        self.refresh(a.account_id, a.symbol)

    # ------------------------------------------------------------------ triggering
    def on_mark(self, symbol: str, mark: int, now: int = 0) -> list:
        """A new mark price (the caller has set it in the clearing house): refresh the margin resting
        orders reserve (open loss moves with the mark) and fire MARK_PRICE conditional orders."""
        self.refresh_symbol(symbol)
        tb = self.triggers.get(symbol)
        if tb is None or not len(tb):
            return []
        last = self.last_price(symbol) or mark
        fired = tb.on_price(MARK_PRICE, mark, mark, last)
        events: list = []
        if fired:
            events += self._fire(symbol, fired, now)
        return events

    def _cascade(self, symbol: str, now: int) -> list:
        """Fire CONTRACT_PRICE orders at the new last price, and again after what they trade."""
        tb = self.triggers.get(symbol)
        events: list = []
        if tb is None:
            return events
        for _ in range(_MAX_CASCADE):
            if not len(tb):
                break
            last = self.last_price(symbol)
            mark = self.clearing.mark(symbol) or last
            fired = tb.on_price(CONTRACT_PRICE, last, mark, last)
            if not fired:
                break
            events += self._fire(symbol, fired, now, cascade=False)
            if self.last_price(symbol) == last:
                break
        return events

    def _fire(self, symbol: str, fired: list, now: int, cascade: bool = True) -> list:
        """Place the orders of fired algo orders, oldest first; a refused one is REJECTED."""
        events: list = []
        ch = self.clearing
        for ao in fired:
            a: Algo = ao.payload
            a.trigger_time = now
            qty = a.qty
            reduce_only = a.reduce_only
            if a.close_position:
                acct = ch.accounts[a.account_id]
                pos = acct.positions.get((symbol, a.position_side))
                q = pos.qty if pos is not None else 0
                qty = q if a.side == SELL else -q
                reduce_only = not acct.hedge_mode
                if acct.hedge_mode and qty > 0:     # what resting closing orders leave
                    qty = self._room(acct, symbol, a.position_side, a.side)
            type_ = LIMIT if a.type in _LIMIT_ALGOS else MARKET
            if qty <= 0:
                self._finish_algo(a, A_EXPIRED, now, "No position to close")
                events.append(self._algo_update(a, now))
                continue
            cid = a.client_algo_id if (a.account_id, a.client_algo_id) not in self.client_ids else None
            try:
                o, oev = self._submit(a.account_id, symbol, a.side, type_, qty, a.price if type_ == LIMIT else None,
                                      a.tif if type_ == LIMIT else None, reduce_only, a.position_side, cid, a.stp,
                                      now, algo=a, close_position=a.close_position)
            except VenueError as e:
                self._finish_algo(a, A_REJECTED, now, e.msg)
                events.append(self._algo_update(a, now))
                continue
            a.actual_order_id = o.order_id
            self._finish_algo(a, A_TRIGGERED if o.is_open else A_FINISHED, now)
            events.append(self._algo_update(a, now, o))
            events += oev
        return events

    # ------------------------------------------------------------------ events
    @staticmethod
    def _update(o: Order, x: str, now: int, last_qty: int = 0, last_price: int = 0, commission: int = 0,
                trade_id: int = 0, maker: bool = False, realized: int = 0, asset: str = "USDT",
                expire_reason: str = "") -> OrderUpdate:
        return OrderUpdate(o.account_id, o.symbol, o.client_order_id, o.side, o.type, o.tif, o.qty, o.price,
                           o.avg_price, o.stop_price, x, o.status, o.order_id, last_qty, o.executed, last_price,
                           asset, commission, now, trade_id, maker, o.reduce_only, o.working_type, o.orig_type,
                           o.position_side, o.close_position, o.activate_price, o.callback_rate, o.price_protect,
                           realized, o.stp, expire_reason, o.cum_quote, now)

    @staticmethod
    def _algo_update(a: Algo, now: int, o: Order | None = None) -> AlgoUpdate:
        return AlgoUpdate(a.account_id, a.symbol, a.algo_id, a.client_algo_id, a.type, a.side, a.position_side,
                          a.tif, a.qty, a.status, a.actual_order_id or 0, o.avg_price if o else 0,
                          o.executed if o else 0, o.type if o else "", a.trigger_price, a.price, a.stp,
                          a.working_type, a.close_position, a.price_protect, a.reduce_only, a.activate_price,
                          a.callback_rate, a.trigger_time or 0, a.reject_reason or "", now)

    # ------------------------------------------------------------------ invariants and hashing
    def check(self) -> None:
        """Invariants (tests): books uncrossed and consistent, quantities conserved, indexes exact,
        reserved margin and open-order counts as recomputed from scratch."""
        for bk in self.books.values():
            bk.check()
        for o in self.orders.values():
            assert 0 <= o.executed <= o.qty, o
            info = self.books[o.symbol].get(o.order_id) if o.symbol in self.books else None
            if o.is_open:
                assert info is not None, o
                assert o.executed + info.remaining == o.qty and info.filled == o.executed, (o, info)
                assert self.resting[o.symbol][o.account_id][o.order_id] is o
                assert self.client_ids[(o.account_id, o.client_order_id)] == o.order_id
            else:
                assert info is None, o
                assert (o.status == FILLED) == (o.executed == o.qty), o
        for sym, by in self.resting.items():
            for acct_id, mine in by.items():
                assert mine, (sym, acct_id)
                for oid, o in mine.items():
                    assert o.is_open and o.order_id == oid
        for acct in self.clearing.accounts.values():
            syms = set(acct.order_margin) | set(self.resting) | set(acct.open_orders) | set(self.open_algos)
            for sym in syms:
                need = self.required_margin(acct.id, sym, fresh=True)
                assert acct.order_margin.get(sym, 0) == need == self.required_margin(acct.id, sym), (acct.id, sym)
                n = self._count_open(acct.id, sym) + self._count_algo(acct.id, sym)
                assert acct.open_orders.get(sym, 0) == n, (acct.id, sym)
        for sym, tb in self.triggers.items():
            live = {o.algo_id for o in tb.orders()}
            opened = {aid for mine in self.open_algos.get(sym, {}).values() for aid in mine}
            assert live == opened, (sym, live, opened)

    def hash_into(self, h) -> None:
        """Feed a canonical dump of the order state into a hashlib object."""
        h.update(f"OM|{self.next_order_id}|{self.next_algo_id}\n".encode())
        for oid in sorted(self.orders):
            o = self.orders[oid]
            h.update(f"O|{oid}|{o.symbol}|{o.account_id}|{o.client_order_id}|{o.side}|{o.type}|{o.tif}|{o.qty}|"
                     f"{o.price}|{o.executed}|{o.cum_quote}|{o.status}|{int(o.closing)}|{o.position_side}|"
                     f"{o.update_time}\n".encode())
        for aid in sorted(self.algos):
            a = self.algos[aid]
            ext = None
            tb = self.triggers.get(a.symbol)
            if tb is not None and aid in tb:
                ext = tb.get(aid).extreme
            h.update(f"G|{aid}|{a.symbol}|{a.account_id}|{a.type}|{a.side}|{a.qty}|{a.price}|{a.trigger_price}|"
                     f"{a.status}|{a.actual_order_id}|{ext}\n".encode())
        for sym in sorted(self.books):
            bk = self.books[sym]
            if not bk.update_id and not bk.trade_id:
                continue        # created by a lookup, never used: the same as absent
            snap = bk.snapshot()
            h.update(f"B|{sym}|{bk.update_id}|{bk.trade_id}|{snap.bids}|{snap.asks}\n".encode())
        for sym in sorted(self.market):
            if self.market[sym].last_time or self.market[sym].trades:
                self.market[sym].hash_into(h)
