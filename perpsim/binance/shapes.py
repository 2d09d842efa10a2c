"""Core values to Binance's JSON: decimal strings at Binance's precisions (translation only)."""
from __future__ import annotations

from perpsim.core.fixed import fmt, fmt_plain
from perpsim.core.instruments import Instrument

ASSET_DECIMALS = 8


def money(units: int) -> str:
    """Balances and PnL: 8 decimals, as Binance prints them."""
    return fmt(units, ASSET_DECIMALS)


def price(ins: Instrument, units: int) -> str:
    return fmt(units, ins.price_precision)


def qty(ins: Instrument, units: int) -> str:
    return fmt(units, ins.quantity_precision)


def rate(units: int, decimals: int = 8) -> str:
    return fmt(units, decimals)


def plain(units: int) -> str:
    return fmt_plain(units)


def symbol_info(ins: Instrument) -> dict:
    """One exchangeInfo symbol with every field ccxt reads ("Exchange Information")."""
    table = ins.brackets
    first = table.brackets[0]
    return {
        "symbol": ins.symbol, "pair": ins.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": fmt(first.mmr * 100, 4), "requiredMarginPercent": fmt(100 * 10**8 // first.max_leverage, 4),
        "baseAsset": ins.base_asset, "quoteAsset": ins.quote_asset, "marginAsset": ins.margin_asset,
        "pricePrecision": ins.price_precision, "quantityPrecision": ins.quantity_precision,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "settlePlan": 0, "triggerProtect": fmt(ins.trigger_protect, 4), "liquidationFee": fmt(ins.liquidation_fee, 6),
        "marketTakeBound": plain(ins.market_take_bound), "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": plain(ins.min_price), "maxPrice": plain(ins.max_price),
             "tickSize": plain(ins.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": plain(ins.min_qty), "maxQty": plain(ins.max_qty),
             "stepSize": plain(ins.step_size)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": plain(ins.market_min_qty), "maxQty": plain(ins.market_max_qty),
             "stepSize": plain(ins.step_size)},
            {"filterType": "MAX_NUM_ORDERS", "limit": ins.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": ins.max_num_algo_orders},
            {"filterType": "MIN_NOTIONAL", "notional": plain(ins.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": fmt(ins.multiplier_up, 4),
             "multiplierDown": fmt(ins.multiplier_down, 4), "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "permissionSets": ["GRID", "COPY"],
    }


def brackets(symbol: str, table) -> dict:
    """GET /fapi/v1/leverageBracket entry: numbers as JSON numbers, as Binance's
    "Notional and Leverage Brackets" answers."""
    rows = []
    for b in table.brackets:
        rows.append({"bracket": b.number, "initialLeverage": b.max_leverage, "notionalCap": _num(b.cap),
                     "notionalFloor": _num(b.floor), "maintMarginRatio": _num(b.mmr), "cum": float(fmt_plain(b.cum))})
    return {"symbol": symbol, "notionalCoef": 1.0, "brackets": rows}


def _num(units: int):
    text = fmt_plain(units)
    return int(text) if "." not in text else float(text)
