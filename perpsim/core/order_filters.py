"""Binance's order filters and their error codes, checked in this order before anything changes:
PRICE_FILTER (-4001 price <= 0, -4013 below minPrice, -4002 above maxPrice, -4014 tick), LOT_SIZE /
MARKET_LOT_SIZE (-4003, -4004, -4005, -4023), PERCENT_PRICE against the mark (-4016 / -4024),
MIN_NOTIONAL (-4164 unless reduce-only), MAX_NUM_ORDERS (-2025) and MAX_NUM_ALGO_ORDERS (-4045);
marketTakeBound for MARKET orders (-4131); client order ids (-4015, -4116).

Sources: Binance's USDⓈ-M Futures API pages "Exchange Information" (filters), "New Order" and
"Error Codes".
"""
from __future__ import annotations


from . import errors as E
from .clearing import BUY, SELL
from .errors import VenueError
from .fixed import SCALE, fmt_plain, mul
from .instruments import Instrument
from .order_records import CLIENT_ID_RE

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


class OrderFilters:
    """Binance's order filters and limits, checked before an order changes anything (a mixin of
    ``OrderManager``)."""

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
