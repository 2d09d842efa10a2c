"""Order endpoints: place, query, modify and cancel orders, one at a time or in batches of 5 (10
to cancel), and the open and all-orders lists (Binance USDⓈ-M Futures API, "New Order", "Place
Multiple Orders", "Modify Order", "Query Order", "Cancel Order", "Current All Open Orders", "All
Orders").

Handlers read parameters, submit one order command per order (perpsim/core/order_commands.py) or
read the state, and shape Binance's JSON (translate_orders.py). The core decides everything:
filters, margin, matching, codes. Another account's order is simply not found (-2013 on queries,
-2011 on cancels). With the venue's legacy_conditional_orders setting, conditional types are
accepted here as before Binance's algo-order service, and answered in the order shape.
"""
from __future__ import annotations

import ast
import json
from urllib.parse import unquote_plus, urlencode

from perpsim.core.errors import VenueError
from perpsim.core.triggers import ALGO_TYPES
from perpsim.venue import history_queries as history

from ..params import Params, ascii_int, invalid, mandatory
from ..routes import SIGNED, SYMBOL, SYMBOL_OPT, Param, endpoint
from ..translate_orders import order_json
from .algo_orders import algo_args
from .common import MAX_ID, POSITION_SIDES, RESP_TYPES, SIDES, TIME_RANGE, instrument, run, window

MAX_BATCH = 5
MAX_CANCEL_LIST = 10
LEGACY_SETTING = "legacy_conditional_orders"
#: legacy_conditional_orders: a conditional order's orderId is this plus its algoId (one id space, no clash)
LEGACY_ID_BASE = 10**12

ORDER_PARAMS = (
    SYMBOL, Param("side", required=True, enum=SIDES),
    Param("type", required=True, enum=("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                                        "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")),
    Param("positionSide", enum=POSITION_SIDES), Param("timeInForce", enum=("GTC", "IOC", "FOK", "GTX", "GTD")),
    Param("quantity", "number"), Param("price", "number"), Param("reduceOnly", enum=("true", "false")),
    Param("newClientOrderId", description="^[.A-Z:/a-z0-9_-]{1,36}$"),
    Param("newOrderRespType", enum=RESP_TYPES), Param("selfTradePreventionMode",
                                                       enum=("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")),
    Param("priceMatch"), Param("goodTillDate", "integer"),
    Param("stopPrice", "number", description="conditional types, with the legacy_conditional_orders setting only"),
    Param("closePosition", enum=("true", "false")), Param("workingType", enum=("MARK_PRICE", "CONTRACT_PRICE")),
    Param("activationPrice", "number"), Param("callbackRate", "number"), Param("priceProtect", enum=("true", "false")),
)
ORDER_REF = (SYMBOL, Param("orderId", "integer"), Param("origClientOrderId"))


# ---------------------------------------------------------------------- helpers
def _item_params(item: dict) -> Params:
    """One batch item (a JSON object) as request parameters, so it is read like a request."""
    flat = {}
    for k, v in item.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (dict, list)):
            raise invalid("batchOrders", f"Bad value for '{k}'.")
        flat[str(k)] = str(v)
    return Params(urlencode(flat).encode(), b"")


def parse_json_list(raw: str | None, name: str, max_items: int) -> list:
    """A JSON list as any client sends it: raw JSON (ccxt), percent-encoded JSON (connector,
    python-binance, once or twice encoded), or a Python repr (single quotes, True/False)."""
    if raw is None:
        raise mandatory(name)
    text = raw.strip()
    for _ in range(2):
        if text[:1] == "%":
            text = unquote_plus(text).strip()
    items = None
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):
        try:
            items = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            raise invalid(name, "Malformed JSON.") from None
    if isinstance(items, tuple):
        items = list(items)
    if not isinstance(items, list) or not items:
        raise invalid(name, "A JSON list.")
    if len(items) > max_items:
        if name == "batchOrders":
            raise VenueError(-4082, f"Invalid number of batch place orders: {len(items)}")
        raise invalid(name, f"At most {max_items} items.")
    return items


def _truthy(v) -> bool:
    return v is True or (isinstance(v, (int, str)) and str(v).lower() in ("1", "true", "yes", "on"))


def _legacy(ctx) -> bool:
    value = ctx.service.read(lambda ex: ex.settings.get(LEGACY_SETTING))
    if value is None:
        value = ctx.service.settings.extra.get(LEGACY_SETTING)
    return _truthy(value)


def _order_args(p: Params, account_id: int) -> dict:
    """place_order arguments from request parameters (types only; the core validates values)."""
    if p.raw("priceMatch") not in (None, "NONE"):
        raise VenueError(-1020, "This operation is not supported: priceMatch.")
    if p.raw("goodTillDate") is not None:
        raise VenueError(-1020, "This operation is not supported: goodTillDate.")
    return {"account_id": account_id, "symbol": p.symbol(), "side": p.str("side", required=True),
            "type": p.str("type", required=True), "quantity": p.decimal("quantity"), "price": p.decimal("price"),
            "time_in_force": p.str("timeInForce"), "reduce_only": bool(p.bool("reduceOnly", default=False)),
            "position_side": p.str("positionSide"), "client_order_id": p.str("newClientOrderId", max_len=64),
            "stp_mode": p.str("selfTradePreventionMode")}




def _resp_type(p: Params) -> str:
    return p.enum("newOrderRespType", RESP_TYPES, default="ACK")




_LEGACY_STATUS = {"NEW": "NEW", "CANCELED": "CANCELED", "EXPIRED": "EXPIRED", "REJECTED": "EXPIRED"}


def _legacy_order_reply(ins, v: dict, order: dict | None = None) -> dict:
    """A conditional order in the legacy order shape (legacy_conditional_orders setting): the algo
    order with LEGACY_ID_BASE + algoId as orderId; once triggered, the status and fills of the order
    it placed."""
    status = _LEGACY_STATUS.get(v["algoStatus"], "NEW")
    view = {"orderId": LEGACY_ID_BASE + v["algoId"], "symbol": v["symbol"], "status": status, "clientOrderId": v["clientAlgoId"],
            "price": v["price"] or 0, "avgPrice": 0, "origQty": v["quantity"] or 0, "executedQty": 0, "cumQty": 0,
            "cumQuote": 0, "timeInForce": v["timeInForce"], "type": v["orderType"], "reduceOnly": v["reduceOnly"],
            "closePosition": v["closePosition"], "side": v["side"], "positionSide": v["positionSide"],
            "stopPrice": v["triggerPrice"] or 0, "workingType": v["workingType"], "priceProtect": v["priceProtect"],
            "origType": v["orderType"], "selfTradePreventionMode": v["selfTradePreventionMode"],
            "time": v["createTime"], "updateTime": v["updateTime"], "activatePrice": v["activatePrice"],
            "priceRate": v["callbackRate"]}
    if order is not None:
        view.update({k: order[k] for k in ("status", "avgPrice", "origQty", "executedQty", "cumQty", "cumQuote",
                                           "updateTime")})
    return order_json(ins, view)


def _legacy_algo(ex, account_id: int, symbol: str, oid: int | None, cid: str | None):
    """The conditional order a legacy client names by orderId (LEGACY_ID_BASE + algoId) or by
    client id, or None."""
    if oid is not None and oid < LEGACY_ID_BASE:
        return None
    try:
        a = ex.orders.find_algo(account_id, oid - LEGACY_ID_BASE if oid is not None else None,
                                cid if oid is None else None)
    except VenueError:
        return None
    return a if a.symbol == symbol else None


def _legacy_view(ex, a) -> dict:
    order = ex.orders.orders[a.actual_order_id].view() if a.actual_order_id in ex.orders.orders else None
    return _legacy_order_reply(ex.clearing.instruments[a.symbol], a.view(), order)


def _order_ref(p: Params) -> tuple[int | None, str | None]:
    oid = p.int("orderId", lo=0, hi=MAX_ID)
    cid = p.str("origClientOrderId", max_len=64)
    if oid is None and cid is None:
        raise VenueError(-1102, "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!")
    return oid, cid



# ---------------------------------------------------------------------- orders
@endpoint("POST", "/fapi/v1/order", SIGNED, weight=1, permission="TRADE", params=ORDER_PARAMS)
async def new_order(ctx):
    """Place an order (LIMIT, MARKET); conditional types answer -4120 unless the venue's
    legacy_conditional_orders setting accepts them (they become algo orders)."""
    p = ctx.params
    typ = p.str("type", required=True)
    if typ in ALGO_TYPES and _legacy(ctx):
        args = algo_args(p, ctx.account_id, legacy=True)
        ins = instrument(ctx, args["symbol"])
        r = await run(ctx, "place_algo_order", **args)
        return _legacy_order_reply(ins, r.reply, None)
    args = _order_args(p, ctx.account_id)
    ack = _resp_type(p) == "ACK"
    ins = instrument(ctx, args["symbol"])
    r = await run(ctx, "place_order", **args)
    return order_json(ins, r.reply, ack)


def _one_order(ctx, open_only: bool):
    """One order of this account by orderId or origClientOrderId (-2013 if none, or not open when asked)."""
    p = ctx.params
    symbol = p.symbol()
    ins = instrument(ctx, symbol)
    oid, cid = _order_ref(p)
    legacy = _legacy(ctx)

    def build(ex):
        try:
            o = ex.orders.find(ctx.account_id, symbol, oid, cid)
        except VenueError as e:
            a = _legacy_algo(ex, ctx.account_id, symbol, oid, cid) if legacy and e.code == -2013 else None
            if a is None or (open_only and not a.is_open):
                raise
            return _legacy_view(ex, a)
        if open_only and not o.is_open:
            raise VenueError(-2013, "Order does not exist.")
        return order_json(ins, o.view())
    return ctx.service.read(build)


@endpoint("GET", "/fapi/v1/order", SIGNED, weight=1, params=ORDER_REF)
async def query_order(ctx):
    """An order of this account by orderId or origClientOrderId; -2013 if none."""
    return _one_order(ctx, open_only=False)


@endpoint("DELETE", "/fapi/v1/order", SIGNED, weight=1, permission="TRADE", params=ORDER_REF)
async def cancel_order(ctx):
    """Cancel an open order; -2011 for an unknown or closed one."""
    p = ctx.params
    symbol = p.symbol()
    ins = instrument(ctx, symbol)
    oid, cid = _order_ref(p)
    try:
        r = await run(ctx, "cancel_order", account_id=ctx.account_id, symbol=symbol, order_id=oid,
                      client_order_id=cid)
    except VenueError as e:
        if e.code != -2011 or not _legacy(ctx):
            raise
        a = ctx.service.read(lambda ex: _legacy_algo(ex, ctx.account_id, symbol, oid, cid))
        if a is None or not a.is_open:
            raise
        await run(ctx, "cancel_algo_order", account_id=ctx.account_id, algo_id=a.algo_id)
        return ctx.service.read(lambda ex: _legacy_view(ex, ex.orders.algos[a.algo_id]))
    return order_json(ins, r.reply)


@endpoint("PUT", "/fapi/v1/order", SIGNED, weight=1, permission="TRADE",
          params=ORDER_REF + (Param("side", required=True, enum=SIDES), Param("quantity", "number", True),
                              Param("price", "number", True), Param("priceMatch")))
async def modify_order(ctx):
    """Modify a resting LIMIT order's price and quantity."""
    p = ctx.params
    args = _modify_args(p, ctx.account_id)
    ins = instrument(ctx, args["symbol"])
    r = await run(ctx, "modify_order", **args)
    return order_json(ins, r.reply)


def _modify_args(p: Params, account_id: int) -> dict:
    if p.raw("priceMatch") not in (None, "NONE"):
        raise VenueError(-1020, "This operation is not supported: priceMatch.")
    symbol = p.symbol()
    oid, cid = _order_ref(p)
    return {"account_id": account_id, "symbol": symbol, "side": p.str("side", required=True),
            "quantity": p.decimal("quantity", required=True), "price": p.decimal("price", required=True),
            "order_id": oid, "client_order_id": cid}


# ---------------------------------------------------------------------- batches
def _error_dict(e: VenueError) -> dict:
    return {"code": e.code, "msg": e.msg}


@endpoint("POST", "/fapi/v1/batchOrders", SIGNED, weight=5, permission="TRADE",
          params=(Param("batchOrders", required=True, description="JSON list of at most 5 orders"),))
async def new_batch_orders(ctx):
    """Up to 5 orders; each answers its order or its error, in order."""
    items = parse_json_list(ctx.params.raw("batchOrders"), "batchOrders", MAX_BATCH)
    slots: list = []
    valid: list[dict] = []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise invalid("batchOrders", "Each item must be an object.")
            ip = _item_params(item)
            args = _order_args(ip, ctx.account_id)
            args.pop("account_id")
            ins = instrument(ctx, args["symbol"])
            slots.append((ins, _resp_type(ip) == "ACK"))
            valid.append(args)
        except VenueError as e:
            slots.append(_error_dict(e))
    replies = []
    if valid:
        r = await run(ctx, "batch_orders", account_id=ctx.account_id, orders=valid)
        replies = list(r.reply)
    out, it = [], iter(replies)
    for slot in slots:
        if isinstance(slot, dict):
            out.append(slot)
            continue
        reply = next(it)
        ins, ack = slot
        out.append(order_json(ins, reply, ack) if "orderId" in reply else {"code": reply["code"], "msg": reply["msg"]})
    return out


@endpoint("PUT", "/fapi/v1/batchOrders", SIGNED, weight=5, permission="TRADE",
          params=(Param("batchOrders", required=True, description="JSON list of at most 5 modifications"),))
async def modify_batch_orders(ctx):
    """Up to 5 modifications, each its own command; each answers its order or its error."""
    items = parse_json_list(ctx.params.raw("batchOrders"), "batchOrders", MAX_BATCH)
    out = []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise invalid("batchOrders", "Each item must be an object.")
            args = _modify_args(_item_params(item), ctx.account_id)
            ins = instrument(ctx, args["symbol"])
            r = await run(ctx, "modify_order", **args)
            out.append(order_json(ins, r.reply))
        except VenueError as e:
            out.append(_error_dict(e))
    return out


@endpoint("DELETE", "/fapi/v1/batchOrders", SIGNED, weight=1, permission="TRADE",
          params=(SYMBOL, Param("orderIdList", description="JSON list of at most 10 orderIds"),
                  Param("origClientOrderIdList", description="JSON list of at most 10 client order ids")))
async def cancel_batch_orders(ctx):
    """Cancel up to 10 orders by id or client id; each answers its order or its error."""
    p = ctx.params
    symbol = p.symbol()
    ins = instrument(ctx, symbol)
    if "orderIdList" in p:
        ids = parse_json_list(p.raw("orderIdList"), "orderIdList", MAX_CANCEL_LIST)
        refs = []
        for i in ids:
            if isinstance(i, str) and ascii_int(i) is not None:
                i = int(i)
            if not isinstance(i, int) or isinstance(i, bool):
                raise invalid("orderIdList")
            refs.append((i, None))
    elif "origClientOrderIdList" in p:
        cids = parse_json_list(p.raw("origClientOrderIdList"), "origClientOrderIdList", MAX_CANCEL_LIST)
        if not all(isinstance(c, str) and len(c) <= 64 for c in cids):
            raise invalid("origClientOrderIdList")
        refs = [(None, c) for c in cids]
    else:
        raise VenueError(-1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, but both were empty/null!")
    out = []
    for oid, cid in refs:
        try:
            r = await run(ctx, "cancel_order", account_id=ctx.account_id, symbol=symbol, order_id=oid,
                          client_order_id=cid)
            out.append(order_json(ins, r.reply))
        except VenueError as e:
            out.append(_error_dict(e))
    return out


# ---------------------------------------------------------------------- order lists
@endpoint("GET", "/fapi/v1/openOrders", SIGNED, weight=1, params=(SYMBOL_OPT,))
async def open_orders(ctx):
    """Open orders of a symbol, or of every symbol."""
    symbol = ctx.params.symbol(required=False)
    if symbol is not None:
        instrument(ctx, symbol)

    legacy = _legacy(ctx)

    def build(ex):
        out = [order_json(ex.clearing.instruments[o.symbol], o.view())
               for o in ex.orders.open_orders(ctx.account_id, symbol)]
        if legacy:   # the conditional orders too, as before the algo service
            out += [_legacy_view(ex, a) for a in ex.orders.open_algo_orders(ctx.account_id, symbol)]
        return out
    return ctx.service.read(build)


@endpoint("GET", "/fapi/v1/openOrder", SIGNED, weight=1, params=ORDER_REF)
async def open_order(ctx):
    """One open order; -2013 if it is unknown or no longer open."""
    return _one_order(ctx, open_only=True)


@endpoint("GET", "/fapi/v1/allOrders", SIGNED, weight=5,
          params=(SYMBOL, Param("orderId", "integer")) + TIME_RANGE)
async def all_orders(ctx):
    """Orders of a symbol, any status: from orderId, or the newest (limit 500, at most 1000)."""
    p = ctx.params
    symbol = p.symbol()
    ins = instrument(ctx, symbol)
    from_id = p.int("orderId", lo=0, hi=MAX_ID)
    start, end, limit = window(p, 500, 1000)

    ids = await ctx.service.history(history.order_ids, ctx.account_id, symbol, from_id, start, end, limit)

    def build(ex):
        orders = ex.orders.orders
        if ids is not None:
            mine = [orders[i] for i in ids if i in orders]
        else:   # no history tables (a venue without a journal): scan the registry
            mine = [o for o in orders.values()
                    if o.account_id == ctx.account_id and o.symbol == symbol
                    and (from_id is None or o.order_id >= from_id)
                    and (start is None or o.time >= start) and (end is None or o.time <= end)]
            mine.sort(key=lambda o: o.order_id)
            mine = mine[:limit] if from_id is not None or start is not None else mine[-limit:]
        return [o.view() for o in mine]
    return [order_json(ins, v) for v in ctx.service.read(build)]


@endpoint("DELETE", "/fapi/v1/allOpenOrders", SIGNED, weight=1, permission="TRADE", params=(SYMBOL,))
async def cancel_all_orders(ctx):
    """Cancel every open order of a symbol."""
    symbol = ctx.params.symbol()
    instrument(ctx, symbol)
    r = await run(ctx, "cancel_all_orders", account_id=ctx.account_id, symbol=symbol)
    return r.reply
