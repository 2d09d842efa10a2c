"""Order commands of the exchange: each one a Binance order endpoint, run by ``Exchange.apply``.

Arguments are JSON-safe (amounts as ints of 1e-8 units, Binance's enum strings); each handler
returns ``(reply, events)`` and raises ``VenueError`` (Binance's code and message) before it
changes anything. Replies are Binance's response objects with int amounts (``Order.view``).

=========================  ==================================  ===========================
command                    Binance endpoint                    arguments
=========================  ==================================  ===========================
place_order                POST /fapi/v1/order                 account_id, symbol, side, type, quantity, price,
                                                               time_in_force, reduce_only, position_side,
                                                               client_order_id, stp_mode
cancel_order               DELETE /fapi/v1/order               account_id, symbol, order_id | client_order_id
cancel_all_orders          DELETE /fapi/v1/allOpenOrders       account_id, symbol
modify_order               PUT /fapi/v1/order                  account_id, symbol, side, quantity, price,
                                                               order_id | client_order_id
place_algo_order           POST /fapi/v1/algoOrder             account_id, symbol, side, type, quantity, price,
                                                               trigger_price, time_in_force, working_type,
                                                               price_protect, reduce_only, close_position,
                                                               position_side, activate_price, callback_rate,
                                                               client_algo_id, stp_mode
cancel_algo_order          DELETE /fapi/v1/algoOrder           account_id, algo_id | client_algo_id
cancel_all_algo_orders     DELETE /fapi/v1/algoOpenOrders      account_id, symbol
batch_orders               POST /fapi/v1/batchOrders           account_id, orders (list of place_order args,
                                                               at most 5); reply: per order a view or an error
=========================  ==================================  ===========================

``FOLLOW_UPS`` are what the order layer does after another module's command changed what its
orders rest on: a new leverage changes the initial margin resting orders reserve; a direct trade
moves positions, which shrinks reduce-only orders. (A new mark reaches ``OrderManager.on_mark``
through ``Exchange.after_mark``.)
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from . import errors as E
from .errors import VenueError
from .commands import Handlers
from .orders import OrderManager

if TYPE_CHECKING:
    from .exchange import Exchange

MAX_BATCH = 5   # POST /fapi/v1/batchOrders takes at most 5 orders (-4082 beyond)

HANDLERS = Handlers()


@HANDLERS("place_order")
def _place_order(ex: Exchange, account_id: int, symbol: str, side: str, type: str, quantity: int | None = None,
                 price: int | None = None, time_in_force: str | None = None, reduce_only: bool = False,
                 position_side: str | None = None, client_order_id: str | None = None,
                 stp_mode: str | None = None):
    ex.guard.check_order(account_id, symbol, side, reduce_only, position_side, False, ex.now)
    return ex.orders.place(account_id, symbol, side, type, quantity, price, time_in_force, reduce_only,
                           position_side, client_order_id, stp_mode, ex.now)


@HANDLERS("cancel_order")
def _cancel_order(ex: Exchange, account_id: int, symbol: str, order_id: int | None = None,
                  client_order_id: str | None = None):
    return ex.orders.cancel(account_id, symbol, order_id, client_order_id, ex.now)


@HANDLERS("cancel_all_orders")
def _cancel_all_orders(ex: Exchange, account_id: int, symbol: str):
    return ex.orders.cancel_all(account_id, symbol, ex.now)


@HANDLERS("modify_order")
def _modify_order(ex: Exchange, account_id: int, symbol: str, side: str, quantity: int, price: int,
                  order_id: int | None = None, client_order_id: str | None = None):
    o = ex.orders.find(account_id, symbol, order_id, client_order_id)
    ex.guard.check_order(account_id, symbol, side, o.reduce_only, o.position_side, False, ex.now)
    return ex.orders.modify(account_id, symbol, side, quantity, price, order_id, client_order_id, ex.now)


_ALGO_ARGS = set(inspect.signature(OrderManager.place_algo).parameters) - {"self", "account_id", "symbol", "side",
                                                                          "type", "now"}


@HANDLERS("place_algo_order")
def _place_algo_order(ex: Exchange, account_id: int, symbol: str, side: str, type: str, **kw):
    unknown = sorted(set(kw) - _ALGO_ARGS)
    if unknown:
        raise VenueError(-1102, f"Malformed command 'place_algo_order': unknown argument {unknown[0]!r}")
    ex.guard.check_order(account_id, symbol, side, kw.get("reduce_only", False), kw.get("position_side"),
                         kw.get("close_position", False), ex.now)
    return ex.orders.place_algo(account_id, symbol, side, type, now=ex.now, **kw)


@HANDLERS("cancel_algo_order")
def _cancel_algo_order(ex: Exchange, account_id: int, algo_id: int | None = None, client_algo_id: str | None = None):
    return ex.orders.cancel_algo(account_id, algo_id, client_algo_id, ex.now)


@HANDLERS("cancel_all_algo_orders")
def _cancel_all_algo_orders(ex: Exchange, account_id: int, symbol: str):
    return ex.orders.cancel_all_algo(account_id, symbol, ex.now)


@HANDLERS("batch_orders")
def _batch_orders(ex: Exchange, account_id: int, orders: list):
    """Up to 5 orders, each placed on its own: a refused one answers its error, the others stand."""
    if not isinstance(orders, list) or not 1 <= len(orders) <= MAX_BATCH:
        n = len(orders) if isinstance(orders, list) else 0
        raise VenueError(-4082, f"Invalid number of batch place orders: {n}")
    replies, events = [], []
    for args in orders:
        if not isinstance(args, dict):
            replies.append(E.bad_param("batchOrders").to_dict())
            continue
        try:
            reply, evs = _place_order(ex, account_id=account_id, **args)
        except VenueError as e:
            replies.append(e.to_dict())
            continue
        except TypeError as e:
            replies.append({"code": -1102, "msg": f"Malformed order: {e}"})
            continue
        replies.append(reply)
        events += evs
    return replies, events


# ---------------------------------------------------------------------- follow-ups
def _refresh_after_leverage(ex: Exchange, args: dict) -> list:
    """A new leverage: resting orders reserve their initial margin at it."""
    ex.orders.refresh(args["account_id"], args["symbol"])
    return []


def _follow_direct_trade(ex: Exchange, args: dict) -> list:
    """A direct trade moved both positions: reduce-only orders shrink to what is left."""
    events: list = []
    for acct in sorted({args["buyer"], args["seller"]}):
        events += ex.orders.on_position_change(acct, args["symbol"], ex.now)
    return events


FOLLOW_UPS = {"set_leverage": _refresh_after_leverage, "trade": _follow_direct_trade}
