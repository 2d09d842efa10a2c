"""Trade endpoints (binance-api.md 3.3, 3.4): orders, batch orders, algo orders, trades, income,
forced orders, ADL quantiles, isolated-margin history.

Handlers read parameters, submit one order command per order (perpsim/core/order_commands.py)
or read the state and the history tables, and shape Binance's JSON (translate_orders.py). The
core decides everything: filters, margin, matching, codes. Another account's order is simply
not found (-2013 on queries, -2011 on cancels).
"""
from __future__ import annotations

import ast
import json
from urllib.parse import unquote_plus, urlencode

from perpsim.core.errors import VenueError
from perpsim.core.fixed import fmt_plain, mul
from perpsim.core.liquidation.adl import adl_quantiles
from perpsim.core.triggers import ALGO_TYPES

from .. import shapes
from ..params import Params, ascii_int, invalid, mandatory
from ..routes import SIGNED, SYMBOL, SYMBOL_OPT, Param, endpoint
from ..translate_orders import (ADL_CLIENT_ID, algo_json, avg, liquidation_order,
                                liquidation_price, order_json,
                                quote)
from .common import instrument, run, time_bounds

DAY_MS = 24 * 3600 * 1000
WEEK_MS = 7 * DAY_MS
MAX_BATCH = 5
MAX_CANCEL_LIST = 10
LEGACY_SETTING = "legacy_conditional_orders"
MAX_ID = 2**63 - 1          # ids and times: SQLite integers
#: legacy_conditional_orders: a conditional order's orderId is this plus its algoId (one id space, no clash)
LEGACY_ID_BASE = 10**12

_SIDES = ("BUY", "SELL")
_POSITION_SIDES = ("BOTH", "LONG", "SHORT")
_RESP_TYPES = ("ACK", "RESULT")

ORDER_PARAMS = (
    SYMBOL, Param("side", required=True, enum=_SIDES),
    Param("type", required=True, enum=("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                                        "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")),
    Param("positionSide", enum=_POSITION_SIDES), Param("timeInForce", enum=("GTC", "IOC", "FOK", "GTX", "GTD")),
    Param("quantity", "number"), Param("price", "number"), Param("reduceOnly", enum=("true", "false")),
    Param("newClientOrderId", description="^[.A-Z:/a-z0-9_-]{1,36}$"),
    Param("newOrderRespType", enum=_RESP_TYPES), Param("selfTradePreventionMode",
                                                       enum=("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")),
    Param("priceMatch"), Param("goodTillDate", "integer"),
    Param("stopPrice", "number", description="conditional types, with the legacy_conditional_orders setting only"),
    Param("closePosition", enum=("true", "false")), Param("workingType", enum=("MARK_PRICE", "CONTRACT_PRICE")),
    Param("activationPrice", "number"), Param("callbackRate", "number"), Param("priceProtect", enum=("true", "false")),
)
ORDER_REF = (SYMBOL, Param("orderId", "integer"), Param("origClientOrderId"))
TIME_RANGE = (Param("startTime", "integer"), Param("endTime", "integer"), Param("limit", "integer"))


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


def _algo_args(p: Params, account_id: int, legacy: bool = False) -> dict:
    """place_algo_order arguments (POST /fapi/v1/algoOrder; the legacy names on /fapi/v1/order)."""
    trigger = "stopPrice" if legacy else "triggerPrice"
    activate = "activationPrice" if legacy or "activationPrice" in p else "activatePrice"
    args = {"account_id": account_id, "symbol": p.symbol(), "side": p.str("side", required=True),
            "type": p.str("type", required=True), "quantity": p.decimal("quantity"), "price": p.decimal("price"),
            "trigger_price": p.decimal(trigger), "time_in_force": p.str("timeInForce"),
            "working_type": p.str("workingType"), "price_protect": bool(p.bool("priceProtect", default=False)),
            "reduce_only": bool(p.bool("reduceOnly", default=False)),
            "close_position": bool(p.bool("closePosition", default=False)),
            "position_side": p.str("positionSide"), "activate_price": p.decimal(activate),
            "callback_rate": p.decimal("callbackRate"),
            "client_algo_id": p.str("newClientOrderId" if legacy else "clientAlgoId", max_len=64),
            "stp_mode": p.str("selfTradePreventionMode")}
    return args


def _resp_type(p: Params) -> str:
    return p.enum("newOrderRespType", _RESP_TYPES, default="ACK")


def _ins_of(ctx, symbol):
    return instrument(ctx, symbol)


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


def _window(p: Params, default_limit: int, max_limit: int) -> tuple[int | None, int | None, int]:
    start = p.int("startTime", lo=0, hi=MAX_ID)
    end = p.int("endTime", lo=0, hi=MAX_ID)
    limit = p.int("limit", default=default_limit, lo=1, hi=MAX_ID)
    if start is not None and end is not None and end < start:
        raise VenueError(-1130, "Data sent for parameter 'endTime' is not valid. It must not be before startTime.")
    return start, end, min(limit, max_limit)


async def _sql(ctx, sql: str, args: tuple) -> list[dict]:
    """Rows of the venue's history tables (on a reader thread, off the event loop)."""
    return await ctx.service.query(sql, tuple(args))


async def _history_ids(ctx, table: str, id_col: str, created: str, symbol: str, from_id, start, end,
                 limit: int) -> list[int] | None:
    """Ids of this account's orders of ``symbol`` from their creation rows in a history table,
    ascending: from ``from_id`` / ``start`` when given, else the newest ``limit``. ``None``
    without history tables."""
    if ctx.service.venue.history is None:
        return None
    where, args = ["account_id = ?", "symbol = ?", created], [ctx.account_id, symbol]
    if from_id is not None:
        where.append(f"{id_col} >= ?")
        args.append(from_id)
    time_bounds(where, args, start, end)
    newest = from_id is None and start is None
    rows = await _sql(ctx, f"SELECT DISTINCT {id_col} AS id FROM {table} WHERE {' AND '.join(where)} "
                     f"ORDER BY {id_col} {'DESC' if newest else 'ASC'} LIMIT ?", (*args, limit))
    ids = [r["id"] for r in rows]
    return ids[::-1] if newest else ids


async def _windowed(ctx, table: str, where: list[str], args: list, start, end, limit, time_col: str = "time",
              order: str = "seq, rowid", default_days: int | None = 7) -> list[dict]:
    """Rows oldest first: from ``start`` when given, else the newest ``limit`` (within the default window)."""
    where, args = list(where), list(args)
    if start is None and end is None and default_days:
        where.append(f'"{time_col}" >= ?')
        args.append(ctx.service.now() - default_days * DAY_MS)
    time_bounds(where, args, start, end, f'"{time_col}"')
    clause = " WHERE " + " AND ".join(where) if where else ""
    if start is not None:
        return await _sql(ctx, f"SELECT rowid AS _rowid, * FROM {table}{clause} ORDER BY {order} LIMIT ?", (*args, limit))
    desc = ", ".join(c.strip() + " DESC" for c in order.split(","))
    rows = await _sql(ctx, f"SELECT rowid AS _rowid, * FROM {table}{clause} ORDER BY {desc} LIMIT ?", (*args, limit))
    return rows[::-1]


# ---------------------------------------------------------------------- orders
@endpoint("POST", "/fapi/v1/order", SIGNED, weight=1, permission="TRADE", params=ORDER_PARAMS)
async def new_order(ctx):
    """Place an order (LIMIT, MARKET); conditional types answer -4120 unless the venue's
    legacy_conditional_orders setting accepts them (they become algo orders)."""
    p = ctx.params
    typ = p.str("type", required=True)
    if typ in ALGO_TYPES and _legacy(ctx):
        args = _algo_args(p, ctx.account_id, legacy=True)
        ins = _ins_of(ctx, args["symbol"])
        r = await run(ctx, "place_algo_order", **args)
        return _legacy_order_reply(ins, r.reply, None)
    args = _order_args(p, ctx.account_id)
    ack = _resp_type(p) == "ACK"
    ins = _ins_of(ctx, args["symbol"])
    r = await run(ctx, "place_order", **args)
    return order_json(ins, r.reply, ack)


def _one_order(ctx, open_only: bool):
    """One order of this account by orderId or origClientOrderId (-2013 if none, or not open when asked)."""
    p = ctx.params
    symbol = p.symbol()
    ins = _ins_of(ctx, symbol)
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
    ins = _ins_of(ctx, symbol)
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
          params=ORDER_REF + (Param("side", required=True, enum=_SIDES), Param("quantity", "number", True),
                              Param("price", "number", True), Param("priceMatch")))
async def modify_order(ctx):
    """Modify a resting LIMIT order's price and quantity."""
    p = ctx.params
    args = _modify_args(p, ctx.account_id)
    ins = _ins_of(ctx, args["symbol"])
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
            ins = _ins_of(ctx, args["symbol"])
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
            ins = _ins_of(ctx, args["symbol"])
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
    ins = _ins_of(ctx, symbol)
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
        _ins_of(ctx, symbol)

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
    ins = _ins_of(ctx, symbol)
    from_id = p.int("orderId", lo=0, hi=MAX_ID)
    start, end, limit = _window(p, 500, 1000)

    ids = await _history_ids(ctx, "order_updates", "order_id", "execution_type = 'NEW'", symbol, from_id, start, end, limit)

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
    _ins_of(ctx, symbol)
    r = await run(ctx, "cancel_all_orders", account_id=ctx.account_id, symbol=symbol)
    return r.reply


# ---------------------------------------------------------------------- algo orders
ALGO_PARAMS = (
    Param("algoType", required=True, enum=("CONDITIONAL",)), SYMBOL, Param("side", required=True, enum=_SIDES),
    Param("type", required=True, enum=tuple(sorted(ALGO_TYPES))), Param("positionSide", enum=_POSITION_SIDES),
    Param("timeInForce", enum=("GTC", "IOC", "FOK", "GTX")), Param("quantity", "number"), Param("price", "number"),
    Param("triggerPrice", "number"), Param("workingType", enum=("MARK_PRICE", "CONTRACT_PRICE")),
    Param("priceProtect", enum=("true", "false")), Param("reduceOnly", enum=("true", "false")),
    Param("closePosition", enum=("true", "false")), Param("activatePrice", "number"),
    Param("callbackRate", "number"), Param("clientAlgoId"), Param("newOrderRespType", enum=_RESP_TYPES),
    Param("selfTradePreventionMode", enum=("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")),
)
ALGO_REF = (Param("algoId", "integer"), Param("clientAlgoId"))


def _algo_ref(p: Params) -> tuple[int | None, str | None]:
    aid = p.int("algoId", lo=0, hi=MAX_ID)
    caid = p.str("clientAlgoId", max_len=64)
    if aid is None and caid is None:
        raise VenueError(-1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
    return aid, caid


def _algo_out(ex, a) -> dict:
    ins = ex.clearing.instruments[a.symbol]
    order = ex.orders.orders.get(a.actual_order_id).view() if a.actual_order_id in ex.orders.orders else None
    return algo_json(ins, a.view(), order)


@endpoint("POST", "/fapi/v1/algoOrder", SIGNED, weight=1, permission="TRADE", params=ALGO_PARAMS)
async def new_algo_order(ctx):
    """Place a conditional order (STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET)."""
    p = ctx.params
    algo_type = p.str("algoType", required=True)
    if algo_type != "CONDITIONAL":
        raise invalid("algoType")
    args = _algo_args(p, ctx.account_id)
    ins = _ins_of(ctx, args["symbol"])
    r = await run(ctx, "place_algo_order", **args)
    return algo_json(ins, r.reply)


@endpoint("GET", "/fapi/v1/algoOrder", SIGNED, weight=1, params=ALGO_REF)
async def query_algo_order(ctx):
    """A conditional order of this account by algoId or clientAlgoId; -2013 if none."""
    aid, caid = _algo_ref(ctx.params)
    return ctx.service.read(lambda ex: _algo_out(ex, ex.orders.find_algo(ctx.account_id, aid, caid)))


@endpoint("DELETE", "/fapi/v1/algoOrder", SIGNED, weight=1, permission="TRADE", params=ALGO_REF)
async def cancel_algo_order(ctx):
    """Cancel an open conditional order; -2011 for an unknown or finished one."""
    aid, caid = _algo_ref(ctx.params)
    r = await run(ctx, "cancel_algo_order", account_id=ctx.account_id, algo_id=aid, client_algo_id=caid)
    return r.reply


@endpoint("GET", "/fapi/v1/openAlgoOrders", SIGNED, weight=1,
          params=(SYMBOL_OPT, Param("algoType", enum=("CONDITIONAL",)), Param("algoId", "integer")))
async def open_algo_orders(ctx):
    """Open conditional orders of a symbol, or of every symbol."""
    p = ctx.params
    symbol = p.symbol(required=False)
    if symbol is not None:
        _ins_of(ctx, symbol)
    p.enum("algoType", ("CONDITIONAL",))
    aid = p.int("algoId", lo=0, hi=MAX_ID)

    def build(ex):
        return [_algo_out(ex, a) for a in ex.orders.open_algo_orders(ctx.account_id, symbol)
                if aid is None or a.algo_id == aid]
    return ctx.service.read(build)


@endpoint("GET", "/fapi/v1/allAlgoOrders", SIGNED, weight=5,
          params=(SYMBOL, Param("algoId", "integer"), Param("page", "integer")) + TIME_RANGE)
async def all_algo_orders(ctx):
    """Conditional orders of a symbol, any status: from algoId, or the newest (limit 500, at most 1000)."""
    p = ctx.params
    symbol = p.symbol()
    _ins_of(ctx, symbol)
    from_id = p.int("algoId", lo=0, hi=MAX_ID)
    start, end, limit = _window(p, 500, 1000)

    ids = await _history_ids(ctx, "algo_updates", "algo_id", "status = 'NEW'", symbol, from_id, start, end, limit)

    def build(ex):
        algos = ex.orders.algos
        if ids is not None:
            mine = [algos[i] for i in ids if i in algos]
        else:
            mine = [a for a in algos.values()
                    if a.account_id == ctx.account_id and a.symbol == symbol
                    and (from_id is None or a.algo_id >= from_id)
                    and (start is None or a.time >= start) and (end is None or a.time <= end)]
            mine.sort(key=lambda a: a.algo_id)
            mine = mine[:limit] if from_id is not None or start is not None else mine[-limit:]
        return [_algo_out(ex, a) for a in mine]
    return ctx.service.read(build)


@endpoint("DELETE", "/fapi/v1/algoOpenOrders", SIGNED, weight=1, permission="TRADE", params=(SYMBOL,))
async def cancel_all_algo_orders(ctx):
    """Cancel every open conditional order of a symbol."""
    symbol = ctx.params.symbol()
    _ins_of(ctx, symbol)
    r = await run(ctx, "cancel_all_algo_orders", account_id=ctx.account_id, symbol=symbol)
    return r.reply


# ---------------------------------------------------------------------- trades and income
@endpoint("GET", "/fapi/v1/userTrades", SIGNED, weight=5,
          params=(SYMBOL, Param("orderId", "integer"), Param("fromId", "integer")) + TIME_RANGE)
async def user_trades(ctx):
    """This account's fills of a symbol (the last 7 days unless a range or fromId is given)."""
    p = ctx.params
    symbol = p.symbol()
    ins = _ins_of(ctx, symbol)
    oid = p.int("orderId", lo=0, hi=MAX_ID)
    from_id = p.int("fromId", lo=0, hi=MAX_ID)
    start, end, limit = _window(p, 500, 1000)
    if start is not None and end is not None and end - start > WEEK_MS:
        raise VenueError(-1127, "More than 168 hours between startTime and endTime.")
    where = ["account_id = ?", "symbol = ?", "execution_type IN ('TRADE', 'CALCULATED')"]
    args: list = [ctx.account_id, symbol]
    if oid is not None:
        where.append("order_id = ?")
        args.append(oid)
    if from_id is not None:
        where.append("trade_id >= ?")
        args.append(from_id)
        rows = await _windowed(ctx, "order_updates", where, args, start if start is not None else 0, end, limit,
                         default_days=None)
    else:
        rows = await _windowed(ctx, "order_updates", where, args, start, end, limit,
                         default_days=None if oid is not None else 7)
    return [{"buyer": r["side"] == "BUY", "commission": shapes.money(r["commission"]),
             "commissionAsset": r["commission_asset"], "id": r["trade_id"], "maker": bool(r["maker"]),
             "orderId": r["order_id"], "price": shapes.price(ins, r["last_filled_price"]),
             "qty": shapes.qty(ins, r["last_filled_qty"]),
             "quoteQty": quote(mul(r["last_filled_qty"], r["last_filled_price"])),
             "realizedPnl": shapes.money(r["realized_profit"]), "side": r["side"],
             "positionSide": r["position_side"], "symbol": r["symbol"], "marginAsset": ins.margin_asset,
             "time": r["trade_time"]} for r in rows]


#: income type -> the balance-change reasons it lists (futures and isolated wallets).
INCOME_REASONS = {
    "TRANSFER": ("TRANSFER", "DEPOSIT", "WITHDRAW"),
    "REALIZED_PNL": ("REALIZED_PNL",),
    "FUNDING_FEE": ("FUNDING_FEE",),
    "COMMISSION": ("COMMISSION",),
    "INSURANCE_CLEAR": ("INSURANCE_CLEAR",),
}
_INCOME_OF = {reason: t for t, reasons in INCOME_REASONS.items() for reason in reasons}
INCOME_TYPES = ("TRANSFER", "WELCOME_BONUS", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION", "INSURANCE_CLEAR",
                "REFERRAL_KICKBACK", "COMMISSION_REBATE", "API_REBATE", "CONTEST_REWARD",
                "CROSS_COLLATERAL_TRANSFER", "OPTIONS_PREMIUM_FEE", "OPTIONS_SETTLE_PROFIT", "INTERNAL_TRANSFER",
                "AUTO_EXCHANGE", "DELIVERED_SETTELMENT", "COIN_SWAP_DEPOSIT", "COIN_SWAP_WITHDRAW",
                "POSITION_LIMIT_INCREASE_FEE", "STRATEGY_UMFUTURES_TRANSFER", "FEE_RETURN", "BFUSD_REWARD",
                "SPECIAL_FUNDING_FEE")


@endpoint("GET", "/fapi/v1/income", SIGNED, weight=30,
          params=(SYMBOL_OPT, Param("incomeType", enum=INCOME_TYPES), Param("page", "integer")) + TIME_RANGE)
async def income(ctx):
    """Income history from the balance changes (the last 7 days unless a range is given; limit 100, at most 1000)."""
    p = ctx.params
    symbol = p.symbol(required=False)
    if symbol is not None:
        _ins_of(ctx, symbol)
    kind = p.enum("incomeType", INCOME_TYPES)
    start, end, limit = _window(p, 100, 1000)
    page = p.int("page", default=1, lo=1, hi=1000)
    reasons = INCOME_REASONS.get(kind, ()) if kind else tuple(_INCOME_OF)
    if not reasons:
        return []
    where = ["account_id = ?", "wallet IN ('FUTURES', 'ISOLATED')", "delta != 0",
             f"reason IN ({', '.join('?' * len(reasons))})"]
    args: list = [ctx.account_id, *reasons]
    if symbol is not None:
        where.append("symbol = ?")
        args.append(symbol)
    rows = await _windowed(ctx, "balance_changes", where, args, start, end, limit * page)
    if start is not None:
        rows = rows[(page - 1) * limit:page * limit]
    else:   # the newest rows, ascending: page 1 is the last ``limit`` of them
        stop = len(rows) - (page - 1) * limit
        rows = rows[max(0, stop - limit):stop] if stop > 0 else []
    trade_ids = _income_trade_ids(ctx, rows)
    return [{"symbol": r["symbol"] or "", "incomeType": _INCOME_OF[r["reason"]], "income": shapes.money(r["delta"]),
             "asset": r["asset"], "info": _INCOME_OF[r["reason"]], "time": r["time"], "tranId": r["_rowid"],
             "tradeId": trade_ids.get(r["_rowid"], "")} for r in rows]


def _income_trade_ids(ctx, rows: list[dict]) -> dict[int, str]:
    """tradeId of COMMISSION and REALIZED_PNL rows: the fill's trade id, carried by the balance change."""
    return {r["_rowid"]: str(r["trade_id"]) for r in rows
            if r["reason"] in ("COMMISSION", "REALIZED_PNL") and r.get("trade_id")}


@endpoint("GET", "/fapi/v1/positionMargin/history", SIGNED, weight=1,
          params=(SYMBOL, Param("type", "integer", description="1 added, 2 removed")) + TIME_RANGE)
async def position_margin_history(ctx):
    """Isolated margin added (type 1) or removed (type 2) through POST /fapi/v1/positionMargin."""
    p = ctx.params
    symbol = p.symbol()
    ins = _ins_of(ctx, symbol)
    kind = p.int("type")
    if kind is not None and kind not in (1, 2):
        raise invalid("type")
    start, end, limit = _window(p, 500, 500)
    where = ["b.account_id = ?", "b.symbol = ?", "b.wallet = 'ISOLATED'", "b.reason = 'ISOLATED_MARGIN'",
             "EXISTS (SELECT 1 FROM commands c WHERE c.seq = b.seq AND c.kind = 'adjust_isolated_margin')"]
    args: list = [ctx.account_id, symbol]
    if kind is not None:
        where.append("b.delta > 0" if kind == 1 else "b.delta < 0")
    time_bounds(where, args, start, end, "b.time")
    rows = await _sql(ctx, "SELECT b.*, (SELECT c.position_side FROM position_changes c WHERE c.seq = b.seq "
                     "AND c.account_id = b.account_id AND c.symbol = b.symbol LIMIT 1) AS position_side "
                     f"FROM balance_changes b WHERE {' AND '.join(where)} ORDER BY b.seq DESC LIMIT ?", (*args, limit))
    return [{"symbol": symbol, "type": 1 if r["delta"] > 0 else 2, "deltaType": "USER_ADJUST",
             "amount": fmt_plain(abs(r["delta"])), "asset": r["asset"] or ins.margin_asset, "time": r["time"],
             "positionSide": r["position_side"] or "BOTH"} for r in rows[::-1]]


# ---------------------------------------------------------------------- liquidations and ADL
@endpoint("GET", "/fapi/v1/forceOrders", SIGNED, weight=20,
          params=(SYMBOL_OPT, Param("autoCloseType", enum=("LIQUIDATION", "ADL"))) + TIME_RANGE)
async def force_orders(ctx):
    """This account's liquidation orders (LIQUIDATION) and ADL closes (ADL), newest last (limit 50, at most 100)."""
    p = ctx.params
    symbol = p.symbol(required=False)
    if symbol is not None:
        _ins_of(ctx, symbol)
    kind = p.enum("autoCloseType", ("LIQUIDATION", "ADL"))
    start, end, limit = _window(p, 50, 100)
    where = ["account_id = ?", "qty > 0"]
    args: list = [ctx.account_id]
    if symbol is not None:
        where.append("symbol = ?")
        args.append(symbol)
    rows: list = []
    if kind in (None, "LIQUIDATION"):
        rows += [("LIQUIDATION", r) for r in await _windowed(ctx, "liquidations", where, args, start, end, limit,
                                                       default_days=None)]
    if kind in (None, "ADL"):
        rows += [("ADL", r) for r in await _windowed(ctx, "adl_records", where, args, start, end, limit,
                                               default_days=None)]
    rows.sort(key=lambda kr: (kr[1]["time"], kr[1]["seq"], kr[1]["_rowid"]))
    rows = rows[-limit:]

    def build(ex):
        out = []
        for k, r in rows:
            ins = ex.clearing.instruments[r["symbol"]]
            if k == "LIQUIDATION":    # the liquidation order itself: the same figures as GET /fapi/v1/order
                oid, o = liquidation_order(ex, dict(r, account_id=ctx.account_id))
                if o is not None:
                    out.append(_force_row(ins, order_json(ins, o.view())))
                    continue
                cid, limit_px, px = f"autoclose-{r['time']}", r["bankruptcy_price"] or r["execution_price"], \
                    r["execution_price"]
            else:
                oid, cid, limit_px, px = r["order_id"], ADL_CLIENT_ID, r["price"], r["price"]
                o = ex.orders.orders.get(oid)
                if o is not None:
                    out.append(_force_row(ins, order_json(ins, o.view())))
                    continue
            q = shapes.qty(ins, r["qty"])
            out.append({"orderId": oid, "symbol": r["symbol"], "status": "FILLED", "clientOrderId": cid,
                        "price": shapes.price(ins, limit_px), "avgPrice": avg(ins, px), "origQty": q,
                        "executedQty": q, "cumQuote": quote(mul(r["qty"], px)), "timeInForce": "IOC",
                        "type": "LIMIT", "reduceOnly": False, "closePosition": False, "side": r["side"],
                        "positionSide": r["position_side"], "stopPrice": "0", "workingType": "CONTRACT_PRICE",
                        "origType": "LIMIT", "time": r["time"], "updateTime": r["time"]})
        return out
    return ctx.service.read(build)


_FORCE_KEYS = ("orderId", "symbol", "status", "clientOrderId", "price", "avgPrice", "origQty", "executedQty",
               "cumQuote", "timeInForce", "type", "reduceOnly", "closePosition", "side", "positionSide", "stopPrice",
               "workingType", "origType", "time", "updateTime")


def _force_row(ins, order: dict) -> dict:
    """A forceOrders row: Binance's fields of the order (its forceOrders example)."""
    row = {k: order[k] for k in _FORCE_KEYS}
    row["reduceOnly"] = False
    return row


_ADL_CACHE: dict = {}


def _quantiles(ex, symbol: str | None) -> dict:
    """``adl_quantiles`` of the state as it is now, computed once per applied command."""
    key = (id(ex), ex.commands, symbol)
    hit = _ADL_CACHE.get("key")
    if hit != key:
        _ADL_CACHE.clear()
        _ADL_CACHE["key"], _ADL_CACHE["value"] = key, adl_quantiles(ex.clearing, symbol)
    return _ADL_CACHE["value"]


@endpoint("GET", "/fapi/v1/adlQuantile", SIGNED, weight=5, params=(SYMBOL_OPT,))
async def adl_quantile(ctx):
    """The ADL quantile (0 to 4) of this account's open positions, per symbol."""
    symbol = ctx.params.symbol(required=False)
    if symbol is not None:
        _ins_of(ctx, symbol)

    def build(ex):
        mine = _quantiles(ex, symbol).get(ctx.account_id, {})
        return [{"symbol": s, "adlQuantile": dict(mine[s])} for s in sorted(mine)]
    return ctx.service.read(build)


def adl_of(ex, pos) -> int:
    """positionRisk v3 ``adl``: the position's ADL quantile (0 when flat)."""
    if not pos.qty:
        return 0
    row = _quantiles(ex, None).get(pos.account_id, {}).get(pos.symbol, {})
    return int(row.get(pos.side, 0))


__all__ = ["adl_of", "parse_json_list", "liquidation_price"]
