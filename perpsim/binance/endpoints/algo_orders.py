"""Conditional-order endpoints: STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET and
TRAILING_STOP_MARKET as Binance's algo orders (Binance USDⓈ-M Futures API, "New Algo Order",
"Query Algo Order", "Cancel Algo Order", "Current All Algo Open Orders", "Query All Algo Orders";
conditional orders moved to the algo service on 2025-12-09 by Binance's announcement).
"""
from __future__ import annotations

from perpsim.core.errors import VenueError
from perpsim.core.triggers import ALGO_TYPES
from perpsim.venue import history_queries as history

from ..params import Params, invalid
from ..routes import SIGNED, SYMBOL, SYMBOL_OPT, Param, endpoint
from ..translate_orders import algo_json
from .common import MAX_ID, POSITION_SIDES, RESP_TYPES, SIDES, TIME_RANGE, instrument, run, window


def algo_args(p: Params, account_id: int, legacy: bool = False) -> dict:
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


ALGO_PARAMS = (
    Param("algoType", required=True, enum=("CONDITIONAL",)), SYMBOL, Param("side", required=True, enum=SIDES),
    Param("type", required=True, enum=tuple(sorted(ALGO_TYPES))), Param("positionSide", enum=POSITION_SIDES),
    Param("timeInForce", enum=("GTC", "IOC", "FOK", "GTX")), Param("quantity", "number"), Param("price", "number"),
    Param("triggerPrice", "number"), Param("workingType", enum=("MARK_PRICE", "CONTRACT_PRICE")),
    Param("priceProtect", enum=("true", "false")), Param("reduceOnly", enum=("true", "false")),
    Param("closePosition", enum=("true", "false")), Param("activatePrice", "number"),
    Param("callbackRate", "number"), Param("clientAlgoId"), Param("newOrderRespType", enum=RESP_TYPES),
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
    args = algo_args(p, ctx.account_id)
    ins = instrument(ctx, args["symbol"])
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
        instrument(ctx, symbol)
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
    instrument(ctx, symbol)
    from_id = p.int("algoId", lo=0, hi=MAX_ID)
    start, end, limit = window(p, 500, 1000)

    ids = await ctx.service.history(history.algo_ids, ctx.account_id, symbol, from_id, start, end, limit)

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
    instrument(ctx, symbol)
    r = await run(ctx, "cancel_all_algo_orders", account_id=ctx.account_id, symbol=symbol)
    return r.reply
