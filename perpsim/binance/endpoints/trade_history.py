"""Trade history endpoints: fills, income, isolated-margin changes, forced orders (liquidations and
ADL) and ADL quantiles (Binance USDⓈ-M Futures API, "Account Trade List", "Get Income History",
"Get Position Margin Change History", "User's Force Orders", "Position ADL Quantile Estimation").

The rows come from the history tables through ``perpsim/venue/history_queries.py``; this module
reads parameters and shapes Binance's JSON.
"""
from __future__ import annotations

from perpsim.core.errors import VenueError
from perpsim.core.fixed import fmt_plain, mul
from perpsim.core.liquidation.adl import adl_quantiles
from perpsim.venue import history_queries as history

from .. import shapes
from ..params import invalid
from ..routes import SIGNED, SYMBOL, SYMBOL_OPT, Param, endpoint
from ..translate_orders import ADL_CLIENT_ID, avg, liquidation_order, order_json, quote
from .common import MAX_ID, TIME_RANGE, WEEK_MS, instrument, window


@endpoint("GET", "/fapi/v1/userTrades", SIGNED, weight=5,
          params=(SYMBOL, Param("orderId", "integer"), Param("fromId", "integer")) + TIME_RANGE)
async def user_trades(ctx):
    """This account's fills of a symbol (the last 7 days unless a range or fromId is given)."""
    p = ctx.params
    symbol = p.symbol()
    ins = instrument(ctx, symbol)
    oid = p.int("orderId", lo=0, hi=MAX_ID)
    from_id = p.int("fromId", lo=0, hi=MAX_ID)
    start, end, limit = window(p, 500, 1000)
    if start is not None and end is not None and end - start > WEEK_MS:
        raise VenueError(-1127, "More than 168 hours between startTime and endTime.")
    rows = await ctx.service.history(history.fills, ctx.service.now(), ctx.account_id, symbol, oid, from_id,
                                     start, end, limit) or []
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
        instrument(ctx, symbol)
    kind = p.enum("incomeType", INCOME_TYPES)
    start, end, limit = window(p, 100, 1000)
    page = p.int("page", default=1, lo=1, hi=1000)
    reasons = INCOME_REASONS.get(kind, ()) if kind else tuple(_INCOME_OF)
    if not reasons:
        return []
    rows = await ctx.service.history(history.income_changes, ctx.service.now(), ctx.account_id, reasons, symbol,
                                     start, end, limit * page) or []
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
    ins = instrument(ctx, symbol)
    kind = p.int("type")
    if kind is not None and kind not in (1, 2):
        raise invalid("type")
    start, end, limit = window(p, 500, 500)
    rows = await ctx.service.history(history.isolated_margin_changes, ctx.account_id, symbol,
                                     None if kind is None else kind == 1, start, end, limit) or []
    return [{"symbol": symbol, "type": 1 if r["delta"] > 0 else 2, "deltaType": "USER_ADJUST",
             "amount": fmt_plain(abs(r["delta"])), "asset": r["asset"] or ins.margin_asset, "time": r["time"],
             "positionSide": r["position_side"] or "BOTH"} for r in rows]


# ---------------------------------------------------------------------- liquidations and ADL
@endpoint("GET", "/fapi/v1/forceOrders", SIGNED, weight=20,
          params=(SYMBOL_OPT, Param("autoCloseType", enum=("LIQUIDATION", "ADL"))) + TIME_RANGE)
async def force_orders(ctx):
    """This account's liquidation orders (LIQUIDATION) and ADL closes (ADL), newest last (limit 50, at most 100)."""
    p = ctx.params
    symbol = p.symbol(required=False)
    if symbol is not None:
        instrument(ctx, symbol)
    kind = p.enum("autoCloseType", ("LIQUIDATION", "ADL"))
    start, end, limit = window(p, 50, 100)
    rows: list = []
    for name, question in (("LIQUIDATION", history.liquidations), ("ADL", history.adl_closes)):
        if kind in (None, name):
            found = await ctx.service.history(question, ctx.service.now(), ctx.account_id, symbol, start, end, limit)
            rows += [(name, r) for r in found or ()]
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
        instrument(ctx, symbol)

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


__all__ = ["adl_of"]
