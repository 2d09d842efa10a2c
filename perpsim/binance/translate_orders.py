"""Orders on the user data stream and in REST replies (Binance USDⓈ-M Futures API, "Query Order" and
"Event: Order Update"). Translation only.

* ``order_json`` / ``algo_json``: an ``Order.view()`` / ``Algo.view()`` (ints of 1e-8 units)
  as Binance's JSON, with the SDK's strict types (strings for amounts, ints for ids and times).
* ORDER_TRADE_UPDATE from ``OrderUpdate`` events; ALGO_UPDATE from ``AlgoUpdate`` events;
  TRADE_LITE for every fill of an API order.
* Liquidations tell one story, Binance's: the waterfall closes a position with one liquidation
  order (client id ``autoclose-<ms>``) whatever closed it, its IOC in the book, the insurance
  fund's takeover or ADL; each close is a fill of that order with its own trade id. Binance shows
  such an order as an ordinary ``LIMIT`` IOC (``type``/``origType`` LIMIT, reduceOnly false, as in
  its forceOrders example and on real accounts' order lists, Binance.Net issue 1456), so here
  too, in REST and on the user stream: one ORDER_TRADE_UPDATE per fill, ``x`` CALCULATED, ``X``
  PARTIALLY_FILLED then FILLED on the last, ``o``/``ot`` LIMIT (never LIQUIDATION: clients parse
  ``o`` as an order type and reject it). An ADL counterparty's close is its own order
  ``adl_autoclose``, LIMIT IOC, filled once with ``x`` CALCULATED. Their NEW updates are journaled
  (allOrders lists them) but not pushed: Binance pushes the fills.
* The history tables the REST endpoints read are registered here: ``order_updates`` (userTrades),
  ``liquidations`` and ``adl_records`` (forceOrders), ``algo_updates``.
"""
from __future__ import annotations

from typing import Iterable

from perpsim.core.events import AdlRecord, LiquidationRecord
from perpsim.core.fixed import fmt, fmt_plain
from perpsim.core.orders import LIQUIDATION, AlgoUpdate, OrderUpdate
from perpsim.venue import history

from . import shapes
from .translators import Translators

USER = Translators()

history.register(OrderUpdate, "order_updates")
history.register(AlgoUpdate, "algo_updates")
history.register(LiquidationRecord, "liquidations")
history.register(AdlRecord, "adl_records")

TRAILING = "TRAILING_STOP_MARKET"
ADL_CLIENT_ID = "adl_autoclose"


# ---------------------------------------------------------------------- numbers
def avg(ins, units: int) -> str:
    """An average price: the symbol's price precision, at least 5 decimals (Binance prints "9388.74000")."""
    return fmt(units, max(ins.price_precision, 5)) if units else "0"


def quote(units: int) -> str:
    return shapes.money(units)


def rate_pct(units: int) -> str:
    """A callback rate in percent ("1.0")."""
    text = fmt_plain(units)
    return text if "." in text else text + ".0"


def price_or_zero(ins, units: int) -> str:
    return shapes.price(ins, units) if units else "0"


# ---------------------------------------------------------------------- REST shapes
def shown_type(order_type: str) -> str:
    """The order type Binance shows: a liquidation order is a LIMIT order (module docstring)."""
    return "LIMIT" if order_type == LIQUIDATION else order_type


def order_json(ins, v: dict, ack: bool = False) -> dict:
    """GET/POST/DELETE /fapi/v1/order. ``ack``: the ACK reply (the order as accepted, before any fill)."""
    liquidation = v["type"] == LIQUIDATION
    out = {
        "orderId": v["orderId"], "symbol": v["symbol"], "status": v["status"], "clientOrderId": v["clientOrderId"],
        "price": price_or_zero(ins, v["price"]), "avgPrice": avg(ins, v["avgPrice"]) if v["avgPrice"] else "0.00",
        "origQty": shapes.qty(ins, v["origQty"]), "executedQty": shapes.qty(ins, v["executedQty"]),
        "cumQty": shapes.qty(ins, v["cumQty"]), "cumQuote": quote(v["cumQuote"]),
        "timeInForce": v["timeInForce"], "type": v["type"], "reduceOnly": bool(v["reduceOnly"]),
        "closePosition": bool(v["closePosition"]), "side": v["side"], "positionSide": v["positionSide"],
        "stopPrice": price_or_zero(ins, v["stopPrice"]), "workingType": v["workingType"],
        "priceProtect": bool(v["priceProtect"]), "origType": v["origType"], "priceMatch": v.get("priceMatch", "NONE"),
        "selfTradePreventionMode": v["selfTradePreventionMode"], "goodTillDate": int(v.get("goodTillDate") or 0),
        "time": int(v["time"]), "updateTime": int(v["updateTime"]),
    }
    if liquidation:
        out.update(type="LIMIT", origType="LIMIT", reduceOnly=False)
    if v["origType"] == TRAILING:
        out["activatePrice"] = price_or_zero(ins, v.get("activatePrice") or 0)
        out["priceRate"] = rate_pct(v.get("priceRate") or 0)
    if ack:
        zero_q = shapes.qty(ins, 0)
        out.update(status="NEW", executedQty=zero_q, cumQty=zero_q, cumQuote=quote(0), avgPrice="0.00",
                   updateTime=out["time"])
    return out


def algo_json(ins, v: dict, order=None) -> dict:
    """POST/GET /fapi/v1/algoOrder, openAlgoOrders, allAlgoOrders. ``order``: the triggered order's view."""
    trailing = v["orderType"] == TRAILING
    out = {
        "algoId": v["algoId"], "clientAlgoId": v["clientAlgoId"], "algoType": "CONDITIONAL",
        "orderType": v["orderType"], "symbol": v["symbol"], "side": v["side"], "positionSide": v["positionSide"],
        "timeInForce": v["timeInForce"], "quantity": shapes.qty(ins, v["quantity"] or 0), "algoStatus": v["algoStatus"],
        "triggerPrice": price_or_zero(ins, v["triggerPrice"] or 0), "price": price_or_zero(ins, v["price"] or 0),
        "icebergQuantity": None, "selfTradePreventionMode": v["selfTradePreventionMode"],
        "workingType": v["workingType"], "priceMatch": "NONE", "closePosition": bool(v["closePosition"]),
        "priceProtect": bool(v["priceProtect"]), "reduceOnly": bool(v["reduceOnly"]),
        "activatePrice": price_or_zero(ins, v["activatePrice"] or 0) if trailing else "",
        "callbackRate": rate_pct(v["callbackRate"] or 0) if trailing else "",
        "createTime": int(v["createTime"]), "updateTime": int(v["updateTime"]),
        "triggerTime": int(v["triggerTime"] or 0), "goodTillDate": 0,
    }
    if v.get("actualOrderId"):
        out["actualOrderId"] = str(v["actualOrderId"])
        if order is not None:
            out["actualType"] = order["type"]
            out["actualPrice"] = avg(ins, order["avgPrice"]) if order["avgPrice"] else "0"
            out["actualQty"] = shapes.qty(ins, order["executedQty"])
    if v.get("rejectReason"):
        out["rejectReason"] = v["rejectReason"]
    return out


# ---------------------------------------------------------------------- user stream
def _ins(service, symbol: str):
    return service.read(lambda ex: ex.clearing.instruments[symbol])


def order_event(ins, u: OrderUpdate) -> dict:
    """The ``o`` object of ORDER_TRADE_UPDATE (Binance's "Event: Order Update")."""
    o = {"s": u.symbol, "c": u.client_order_id, "S": u.side, "o": u.order_type, "f": u.time_in_force,
         "q": shapes.qty(ins, u.orig_qty), "p": price_or_zero(ins, u.price), "ap": avg(ins, u.avg_price),
         "sp": price_or_zero(ins, u.stop_price), "x": u.execution_type, "X": u.order_status, "i": u.order_id,
         "l": shapes.qty(ins, u.last_filled_qty), "z": shapes.qty(ins, u.filled_qty),
         "L": price_or_zero(ins, u.last_filled_price), "T": u.trade_time, "t": u.trade_id,
         "b": "0", "a": "0", "m": bool(u.maker), "R": bool(u.reduce_only), "wt": u.working_type, "ot": u.orig_type,
         "ps": u.position_side, "cp": bool(u.close_position), "pP": bool(u.price_protect), "si": 0, "ss": 0,
         "rp": shapes.money(u.realized_profit), "V": u.stp_mode, "pm": "NONE", "gtd": 0,
         "er": _expire_reason(u.expire_reason)}
    if u.order_type == LIQUIDATION:
        o.update(o="LIMIT", ot="LIMIT", R=False)
    if u.commission:
        o["N"] = u.commission_asset
        o["n"] = shapes.money(u.commission)
    if u.orig_type == TRAILING:
        o["AP"] = price_or_zero(ins, u.activate_price)
        o["cr"] = rate_pct(u.callback_rate)
    if u.execution_type == "AMENDMENT":
        o["M"] = str(u.time)
    return o


def _expire_reason(reason) -> str:
    """Binance's ``er`` is a digit string; the book's reasons are names."""
    if not reason:
        return "0"
    text = str(reason)
    return text if text.isdigit() else {"STP": "1", "IOC": "2", "MARKET": "2", "BOUND": "2",
                                        "REDUCE_ONLY": "4", "FOK": "6", "MODIFY": "7"}.get(text.upper(), "0")


@USER(OrderUpdate)
def _order_update(service, u: OrderUpdate) -> Iterable:
    if u.account_id <= 0:
        return []
    if u.execution_type == "NEW" and (u.order_type == LIQUIDATION or u.client_order_id == ADL_CLIENT_ID):
        return []   # the venue's own closes are pushed as their fills (module docstring)
    ins = _ins(service, u.symbol)
    out = [(u.account_id, {"e": "ORDER_TRADE_UPDATE", "E": u.time, "T": u.trade_time or u.time,
                           "o": order_event(ins, u)})]
    if u.execution_type == "TRADE":
        out.append((u.account_id, {"e": "TRADE_LITE", "E": u.time, "T": u.trade_time, "s": u.symbol,
                                   "q": shapes.qty(ins, u.last_filled_qty), "p": price_or_zero(ins, u.price),
                                   "m": bool(u.maker), "c": u.client_order_id, "S": u.side,
                                   "L": price_or_zero(ins, u.last_filled_price),
                                   "l": shapes.qty(ins, u.last_filled_qty), "t": u.trade_id, "i": u.order_id}))
    return out


@USER(AlgoUpdate)
def _algo_update(service, a: AlgoUpdate) -> Iterable:
    if a.account_id <= 0:
        return []
    ins = _ins(service, a.symbol)
    o = {"caid": a.client_algo_id, "aid": a.algo_id, "at": "CONDITIONAL", "o": a.order_type, "s": a.symbol,
         "S": a.side, "ps": a.position_side, "f": a.time_in_force, "q": shapes.qty(ins, a.quantity or 0),
         "X": a.status, "ai": str(a.actual_order_id) if a.actual_order_id else "",
         "ap": avg(ins, a.actual_avg_price) if a.actual_avg_price else "0.00000",
         "aq": shapes.qty(ins, a.actual_qty or 0), "act": a.actual_type or "0",
         "tp": price_or_zero(ins, a.trigger_price or 0), "p": price_or_zero(ins, a.price or 0), "V": a.stp_mode,
         "wt": a.working_type, "pm": "NONE", "cp": bool(a.close_position), "pP": bool(a.price_protect),
         "R": bool(a.reduce_only), "tt": int(a.trigger_time or 0), "gtd": 0, "rm": a.reject_reason or ""}
    if a.order_type == TRAILING:
        o["AP"] = price_or_zero(ins, a.activate_price or 0)
        o["cr"] = rate_pct(a.callback_rate or 0)
    return [(a.account_id, {"e": "ALGO_UPDATE", "T": a.time, "E": a.time, "o": o})]


def liquidation_order_id(ex, account_id: int, symbol: str, time: int) -> int:
    """The id of the waterfall's order for a liquidation at ``time`` (0 if none): for records
    journaled before they carried it."""
    cid = f"autoclose-{time}"
    for o in reversed(ex.orders.orders.values()):
        if o.time < time:
            break
        if o.account_id == account_id and o.symbol == symbol and o.client_order_id == cid:
            return o.order_id
    return 0


def liquidation_order(ex, r) -> tuple[int, object]:
    """A LiquidationRecord's (or a forceOrders row's) order id and the order itself (None if unknown)."""
    get = r.get if isinstance(r, dict) else (lambda k, d=None: getattr(r, k, d))
    oid = get("order_id") or liquidation_order_id(ex, get("account_id"), get("symbol"), get("time"))
    return oid, ex.orders.orders.get(oid)


def liquidation_price(r) -> int:
    """The liquidation order's limit: the bankruptcy price, else the execution price."""
    return r.bankruptcy_price or r.execution_price


__all__ = ["order_json", "algo_json", "avg", "quote", "liquidation_order", "liquidation_order_id",
           "liquidation_price", "shown_type"]
