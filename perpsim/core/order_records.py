"""The order layer's vocabulary: Binance's order enumerations (types, statuses, execution types, time in
force, self-trade prevention, algoStatus) and the records of an order (``Order``) and of an algo
(conditional) order (``Algo``), as the order manager keeps them.

Enumerations as in Binance's USDⓈ-M Futures API, "Common Definition" and "New Order" pages.
"""
from __future__ import annotations

import re

from . import book as B
from .clearing import BUY, SELL
from .fixed import SCALE, round_div
from .triggers import CONTRACT_PRICE


LIMIT, MARKET = "LIMIT", "MARKET"
STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET = "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"
NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH = (
    "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH")
OPEN_STATUSES = (NEW, PARTIALLY_FILLED)
X_NEW, X_TRADE, X_CANCELED, X_EXPIRED, X_AMENDMENT = "NEW", "TRADE", "CANCELED", "EXPIRED", "AMENDMENT"
X_CALCULATED = "CALCULATED"     # a liquidation order's fills
LIQUIDATION = "LIQUIDATION"
# algoStatus values (Binance's "New Algo Order" and "Query Algo Order" pages)
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
