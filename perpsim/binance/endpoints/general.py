"""General and market-state endpoints: ping, time, exchangeInfo, premiumIndex
(Binance USDⓈ-M Futures API, "Market Data Endpoints")."""
from __future__ import annotations

from perpsim.core.errors import VenueError

from .. import shapes
from ..routes import SYMBOL_OPT, endpoint


@endpoint("GET", ("/fapi/v1/ping", "/api/v3/ping"))
async def ping(ctx):
    """Test connectivity."""
    return {}


@endpoint("GET", ("/fapi/v1/time", "/api/v3/time"))
async def server_time(ctx):
    """The server's time: the clock signed requests are checked against ("Timing Security").

    On a simulated venue clock the timestamp check uses wall time, so clients that sync to this
    endpoint (ccxt's adjustForTimeDifference, python-binance's AsyncClient) must see wall time too;
    with the check off, the venue's own time."""
    if ctx.service.settings.check_time:
        import time
        return {"serverTime": int(time.time() * 1000)}
    return {"serverTime": ctx.service.now()}


@endpoint("GET", "/fapi/v1/exchangeInfo")
async def exchange_info(ctx):
    """Symbols, filters and rate limits."""
    now = ctx.service.now()

    def build(ex):
        symbols = [shapes.symbol_info(ins) for _, ins in sorted(ex.clearing.instruments.items())]
        assets = sorted({ins.margin_asset for ins in ex.clearing.instruments.values()})
        return symbols, assets
    symbols, assets = ctx.service.read(build)
    lim = ctx.service.settings.extra.get("limiter")
    return {
        "timezone": "UTC", "serverTime": now, "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": lim.weight_per_minute if lim else 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
             "limit": lim.orders_per_minute if lim else 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": lim.orders_per_10s if lim else 300}],
        "exchangeFilters": [],
        "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets],
        "symbols": symbols,
    }


def _premium(ex, symbol: str) -> dict:
    ins = ex.clearing.instruments[symbol]
    m = ex.markets.get(symbol)
    mark = ex.clearing.mark(symbol)
    index = m.index if m else mark
    rate = m.estimated_rate(ex.now).rate if m else 0
    return {"symbol": symbol, "markPrice": shapes.price(ins, mark), "indexPrice": shapes.price(ins, index),
            "estimatedSettlePrice": shapes.price(ins, index), "lastFundingRate": shapes.rate(rate),
            "interestRate": shapes.rate(m.params.interest_rate if m else 10_000),
            "nextFundingTime": m.next_funding if m else 0, "time": ex.now}


@endpoint("GET", "/fapi/v1/premiumIndex", params=(SYMBOL_OPT,))
async def premium_index(ctx):
    """Mark price, index price and funding rate."""
    symbol = ctx.params.symbol(required=False)

    def build(ex):
        if symbol is not None:
            if symbol not in ex.clearing.instruments:
                raise VenueError(-1121, "Invalid symbol.")
            return _premium(ex, symbol)
        return [_premium(ex, s) for s in sorted(ex.clearing.instruments)]
    return ctx.service.read(build)
