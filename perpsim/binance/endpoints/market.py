"""Market data endpoints (NONE security): depth, trades, aggTrades, klines (trade, continuous, mark,
index), funding history and intervals, tickers, open interest, insurance fund balances
(Binance USDⓈ-M Futures API, "Market Data Endpoints"). Translation only: every figure comes from the core's books, market
data, markets and history tables.

Weights are Binance's for the default ``limit`` (the registry has one weight an endpoint):
depth 10 (limit 500), trades 5, historicalTrades 20, aggTrades 20, klines 5 (limit 500).
"""
from __future__ import annotations

from perpsim.core import book as B
from perpsim.core.errors import VenueError
from perpsim.core.fixed import fmt, round_div
from perpsim.core.marketdata import HOUR, INTERVALS, bar_close
from perpsim.core.price_klines import INDEX, MARK
from perpsim.venue import bars as kline_bars
from perpsim.venue import history_queries as history

from .. import shapes
from ..params import invalid
from ..routes import SYMBOL, SYMBOL_OPT, USER_STREAM, Param, endpoint, weight_by_limit, weight_by_symbol
from .common import instrument

#: klines weigh by limit: [1, 100) 1, [100, 500) 2, [500, 1000] 5, above 10 [P: Binance's kline docs]
_KLINE_WEIGHT = weight_by_limit(((99, 1), (499, 2), (1000, 5), (1500, 10)), 500)

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
MAX_LONG = 2**63 - 1      # Binance's times and ids are Java longs (and SQLite integers)
_INTERVAL = Param("interval", required=True, enum=tuple(INTERVALS))
_START = Param("startTime", "integer", description="ms since the epoch")
_END = Param("endTime", "integer", description="ms since the epoch")
_KLINE_LIMIT = Param("limit", "integer", description="default 500, at most 1500")
_PAIR = Param("pair", required=True, description="A pair such as BTCUSDT")


# ---------------------------------------------------------------------- parameters
def _pair(ctx, name: str = "pair") -> str:
    v = ctx.params.str(name, required=True, max_len=32)
    if not (v.isalnum() and v.upper() == v):
        raise VenueError(-1121, "Invalid symbol.")
    instrument(ctx, v)
    return v


def _symbol(ctx) -> str:
    s = ctx.params.symbol()
    instrument(ctx, s)
    return s


def _symbol_opt(ctx) -> str | None:
    s = ctx.params.symbol(required=False)
    if s is not None:
        instrument(ctx, s)
    return s


def _times(ctx) -> tuple[int | None, int | None]:
    start = ctx.params.int("startTime", lo=0, hi=MAX_LONG)
    end = ctx.params.int("endTime", lo=0, hi=MAX_LONG)
    if start is not None and end is not None and start > end:
        raise VenueError(-1023, "Start time is greater than end time.")
    return start, end


def _kline_args(ctx) -> tuple[str, int | None, int | None, int]:
    iv = ctx.params.str("interval", required=True, max_len=8)
    if iv not in INTERVALS:
        raise VenueError(-1120, "Invalid interval.")
    start, end = _times(ctx)
    limit = ctx.params.int("limit", default=500, lo=1, hi=1500)
    return iv, start, end, limit


def _now(ctx) -> int:
    return ctx.service.now()


# ---------------------------------------------------------------------- order book
@endpoint("GET", "/fapi/v1/depth", weight=weight_by_limit(((50, 2), (100, 5), (500, 10), (1000, 20)), 500),
          params=(SYMBOL, Param("limit", "integer", description="5, 10, 20, 50, 100, 500 (default) or 1000")))
async def depth(ctx):
    """Order book: lastUpdateId on the id sequence of the depth streams' U/u/pu."""
    symbol = _symbol(ctx)
    limit = ctx.params.int("limit", default=500)
    if limit not in DEPTH_LIMITS:
        raise invalid("limit")
    now = _now(ctx)

    def build(ex):
        ins = ex.clearing.instruments[symbol]
        bk = ex.orders.books.get(symbol)
        snap = bk.snapshot(limit) if bk is not None else B.DepthSnapshot(0, [], [])
        return {"lastUpdateId": snap.last_update_id, "E": now, "T": ex.now,
                "bids": [[shapes.price(ins, p), shapes.qty(ins, q)] for p, q in snap.bids],
                "asks": [[shapes.price(ins, p), shapes.qty(ins, q)] for p, q in snap.asks]}
    return ctx.service.read(build)


def _book_ticker(ex, symbol: str) -> dict:
    ins = ex.clearing.instruments[symbol]
    bk = ex.orders.books.get(symbol)
    bb = bk.best_bid() if bk is not None else None
    ba = bk.best_ask() if bk is not None else None
    return {"symbol": symbol, "bidPrice": shapes.price(ins, bb or 0),
            "bidQty": shapes.qty(ins, bk.depth(B.BUY, bb) if bb else 0),
            "askPrice": shapes.price(ins, ba or 0), "askQty": shapes.qty(ins, bk.depth(B.SELL, ba) if ba else 0),
            "time": ex.now, "lastUpdateId": bk.update_id if bk is not None else 0}


@endpoint("GET", "/fapi/v1/ticker/bookTicker", weight=weight_by_symbol(2, 5), params=(SYMBOL_OPT,))
async def book_ticker(ctx):
    """Best bid and ask: an object with symbol, an array without."""
    return _one_or_all(ctx, _book_ticker)


def _one_or_all(ctx, one):
    """Binance's ticker shape: ``one(ex, symbol)`` for the symbol asked, else a list over all."""
    symbol = _symbol_opt(ctx)

    def build(ex):
        if symbol is not None:
            return one(ex, symbol)
        return [one(ex, s) for s in sorted(ex.clearing.instruments)]
    return ctx.service.read(build)


# ---------------------------------------------------------------------- trades
def _trade_row(ins, t) -> dict:
    return {"id": t.trade_id, "price": shapes.price(ins, t.price), "qty": shapes.qty(ins, t.qty),
            "quoteQty": shapes.plain(t.quote_qty), "time": t.time, "isBuyerMaker": t.buyer_maker,
            "isRPITrade": False}


@endpoint("GET", "/fapi/v1/trades", weight=5,
          params=(SYMBOL, Param("limit", "integer", description="default 500, at most 1000")))
async def recent_trades(ctx):
    """Recent trades, oldest first."""
    symbol = _symbol(ctx)
    limit = ctx.params.int("limit", default=500, lo=1, hi=1000)

    def build(ex):
        ins = ex.clearing.instruments[symbol]
        md = ex.orders.market.get(symbol)
        tape = list(md.trades)[-limit:] if md is not None else []
        return [_trade_row(ins, t) for t in tape]
    return ctx.service.read(build)


@endpoint("GET", "/fapi/v1/historicalTrades", USER_STREAM, weight=20,
          params=(SYMBOL, Param("limit", "integer"), Param("fromId", "integer")))
async def historical_trades(ctx):
    """Older trades from the tape (API key required, as on Binance), from ``fromId``."""
    symbol = _symbol(ctx)
    limit = ctx.params.int("limit", default=500, lo=1, hi=1000)
    from_id = ctx.params.int("fromId", lo=0, hi=MAX_LONG)

    def build(ex):
        ins = ex.clearing.instruments[symbol]
        md = ex.orders.market.get(symbol)
        tape = list(md.trades) if md is not None else []
        if from_id is None:
            rows = tape[-limit:]
        else:
            rows = [t for t in tape if t.trade_id >= from_id][:limit]
        return [_trade_row(ins, t) for t in rows]
    return ctx.service.read(build)


@endpoint("GET", "/fapi/v1/aggTrades", weight=20,
          params=(SYMBOL, Param("fromId", "integer"), _START, _END, Param("limit", "integer")))
async def agg_trades(ctx):
    """Aggregate trades (no "M" key: ccxt reads a trade with one as spot)."""
    symbol = _symbol(ctx)
    from_id = ctx.params.int("fromId", lo=0, hi=MAX_LONG)
    start, end = _times(ctx)
    limit = ctx.params.int("limit", default=500, lo=1, hi=1000)
    if start is not None and end is not None and end - start > HOUR:
        raise VenueError(-1127, "More than 1 hours between startTime and endTime.")

    def build(ex):
        ins = ex.clearing.instruments[symbol]
        md = ex.orders.market.get(symbol)
        rows = list(md.agg_trades) if md is not None else []
        if from_id is not None:
            rows = [a for a in rows if a.agg_id >= from_id]
        if start is not None:
            rows = [a for a in rows if a.time >= start]
        if end is not None:
            rows = [a for a in rows if a.time <= end]
        rows = rows[:limit] if (from_id is not None or start is not None) else rows[-limit:]
        out = []
        for a in rows:
            q = shapes.qty(ins, a.qty)
            out.append({"a": a.agg_id, "p": shapes.price(ins, a.price), "q": q, "nq": q, "f": a.first_trade_id,
                        "l": a.last_trade_id, "T": a.time, "m": a.buyer_maker})
        return out
    return ctx.service.read(build)


# ---------------------------------------------------------------------- klines
def _trade_klines(ctx, symbol: str) -> list:
    iv, start, end, limit = _kline_args(ctx)
    now = _now(ctx)
    past = getattr(ctx.service, "past", None)

    def build(ex):
        ins = ex.clearing.instruments[symbol]
        bars = kline_bars.window(kline_bars.trade_sources(ex, past, symbol, iv), iv, start, end, limit, now,
                                 kline_bars.trade_flat)
        return [[b[0], shapes.price(ins, b[1]), shapes.price(ins, b[2]), shapes.price(ins, b[3]),
                 shapes.price(ins, b[4]), shapes.qty(ins, b[5]), bar_close(iv, b[0]), shapes.plain(b[6]),
                 b[7], shapes.qty(ins, b[8]), shapes.plain(b[9]), "0"] for b in bars]
    return ctx.service.read(build)


def _price_klines(ctx, symbol: str, kind: str) -> list:
    iv, start, end, limit = _kline_args(ctx)
    now = _now(ctx)
    past = getattr(ctx.service, "past", None)

    def build(ex):
        bars = kline_bars.window(kline_bars.price_sources(ex, past, symbol, kind, iv), iv, start, end, limit, now,
                                 kline_bars.price_flat)
        return [[b[0], shapes.money(b[1]), shapes.money(b[2]), shapes.money(b[3]), shapes.money(b[4]), "0",
                 bar_close(iv, b[0]), "0", b[5], "0", "0", "0"] for b in bars]
    return ctx.service.read(build)


@endpoint("GET", "/fapi/v1/klines", weight=_KLINE_WEIGHT, params=(SYMBOL, _INTERVAL, _START, _END, _KLINE_LIMIT))
async def klines(ctx):
    """Trade klines: 12-column rows, oldest first."""
    return _trade_klines(ctx, _symbol(ctx))


@endpoint("GET", "/fapi/v1/continuousKlines", weight=_KLINE_WEIGHT,
          params=(_PAIR, Param("contractType", required=True, enum=("PERPETUAL",)), _INTERVAL, _START, _END,
                  _KLINE_LIMIT))
async def continuous_klines(ctx):
    """Klines of a pair's contract (PERPETUAL: the only contract type listed)."""
    pair = _pair(ctx)
    ct = ctx.params.str("contractType", required=True)
    if ct != "PERPETUAL":
        raise invalid("contractType")
    return _trade_klines(ctx, pair)


@endpoint("GET", "/fapi/v1/markPriceKlines", weight=_KLINE_WEIGHT, params=(SYMBOL, _INTERVAL, _START, _END, _KLINE_LIMIT))
async def mark_price_klines(ctx):
    """Mark price klines (volume columns "0", the count is the number of mark updates)."""
    return _price_klines(ctx, _symbol(ctx), MARK)


@endpoint("GET", "/fapi/v1/indexPriceKlines", weight=_KLINE_WEIGHT, params=(_PAIR, _INTERVAL, _START, _END, _KLINE_LIMIT))
async def index_price_klines(ctx):
    """Index price klines of a pair (``pair=``, as ccxt and python-binance send it)."""
    return _price_klines(ctx, _pair(ctx), INDEX)


# ---------------------------------------------------------------------- funding
@endpoint("GET", "/fapi/v1/fundingRate",
          params=(SYMBOL_OPT, _START, _END, Param("limit", "integer", description="default 100, at most 1000")))
async def funding_rate(ctx):
    """Funding rate history, oldest first (the settlements the venue journaled)."""
    symbol = _symbol_opt(ctx)
    start, end = _times(ctx)
    limit = ctx.params.int("limit", default=100, lo=1, hi=1000)
    newest = start is None and end is None
    found = await ctx.service.history(history.funding_rates, symbol, start, end, limit) or []
    rows = [(r["symbol"], r["funding_rate"], r["mark_price"], r["time"]) for r in found]
    instruments = ctx.service.read(lambda ex: set(ex.clearing.instruments))
    past = getattr(ctx.service, "past", None)
    if past is not None:     # the settlements of the venue's past come first (venue/past.py)
        old = sorted((t, s, r, mp) for s in ([symbol] if symbol else sorted(past.series))
                     for t, r, mp in past.funding(s) if (start is None or t >= start) and (end is None or t <= end))
        merged = [(s, r, mp, t) for t, s, r, mp in old] + rows
        rows = merged[-limit:] if newest else merged[:limit]
    return [{"symbol": s, "fundingRate": shapes.rate(r), "fundingTime": t, "markPrice": shapes.money(mp)}
            for s, r, mp, t in rows if s in instruments]


@endpoint("GET", "/fapi/v1/fundingInfo")
async def funding_info(ctx):
    """Funding cap, floor and interval of every symbol with a market."""
    def build(ex):
        out = []
        for s in sorted(ex.markets):
            m = ex.markets[s]
            out.append({"symbol": s, "adjustedFundingRateCap": shapes.rate(m.params.cap),
                        "adjustedFundingRateFloor": shapes.rate(m.params.floor),
                        "fundingIntervalHours": m.interval_hours, "disclaimer": False})
        return out
    return ctx.service.read(build)


# ---------------------------------------------------------------------- tickers
def _mark(ex, symbol: str) -> int:
    m = ex.markets.get(symbol)
    return getattr(m, "mark", 0) or 0 if m is not None else 0


def _last_price(ex, symbol: str) -> dict:
    """The last trade's price; before a symbol's first trade, its mark price (our choice, as its klines)."""
    ins = ex.clearing.instruments[symbol]
    md = ex.orders.market.get(symbol)
    traded = md is not None and md.last_price
    return {"symbol": symbol, "price": shapes.price(ins, md.last_price if traded else _mark(ex, symbol)),
            "time": (md.last_time if traded and md.last_time else ex.now)}


@endpoint("GET", ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price"), weight=weight_by_symbol(1, 2),
          params=(SYMBOL_OPT,))
async def ticker_price(ctx):
    """Last trade price: an object with symbol, an array without."""
    return _one_or_all(ctx, _last_price)


def _ticker_24h(ex, symbol: str, now: int, past=None) -> dict:
    ins = ex.clearing.instruments[symbol]
    md = ex.orders.market.get(symbol)
    if md is None:
        from perpsim.core.marketdata import MarketData
        md = MarketData(symbol)   # a throwaway: no trades yet
    t = md.ticker_24h(now)
    if not md.last_price:         # never traded: the day's mark bars, no volume (as its klines)
        bars = kline_bars.window(kline_bars.trade_sources(ex, past, symbol, "1m"), "1m", now - 24 * HOUR + 1,
                                 None, 1440, now, kline_bars.trade_flat)
        last = _mark(ex, symbol) or (bars[-1][4] if bars else 0)
        if bars:
            o, hi, lo = bars[0][1], max(b[2] for b in bars), min(b[3] for b in bars)
            t = t._replace(open_price=o, high_price=max(hi, last), low_price=min(lo, last), last_price=last,
                           price_change=last - o,
                           price_change_percent=round_div((last - o) * 100 * 10**8, o) if o else 0)
        else:
            t = t._replace(last_price=last)
    return {"symbol": symbol, "priceChange": shapes.price(ins, t.price_change),
            "priceChangePercent": fmt(t.price_change_percent, 3),
            "weightedAvgPrice": shapes.price(ins, t.weighted_avg_price), "lastPrice": shapes.price(ins, t.last_price),
            "lastQty": shapes.qty(ins, t.last_qty), "openPrice": shapes.price(ins, t.open_price),
            "highPrice": shapes.price(ins, t.high_price), "lowPrice": shapes.price(ins, t.low_price),
            "volume": shapes.qty(ins, t.volume), "quoteVolume": shapes.plain(t.quote_volume),
            "openTime": t.open_time, "closeTime": t.close_time, "firstId": t.first_id, "lastId": t.last_id,
            "count": t.count}


@endpoint("GET", "/fapi/v1/ticker/24hr", weight=weight_by_symbol(1, 40), params=(SYMBOL_OPT,))
async def ticker_24hr(ctx):
    """Rolling 24 h statistics: an object with symbol, an array without."""
    past = getattr(ctx.service, "past", None)
    now = _now(ctx)
    return _one_or_all(ctx, lambda ex, s: _ticker_24h(ex, s, now, past))


# ---------------------------------------------------------------------- open interest, insurance
@endpoint("GET", "/fapi/v1/openInterest", params=(SYMBOL,))
async def open_interest(ctx):
    """Open interest: the long side's total quantity."""
    symbol = _symbol(ctx)

    def build(ex):
        ins = ex.clearing.instruments[symbol]
        total = 0
        for acct in ex.clearing.accounts.values():
            for p in acct.open_positions():
                if p.symbol == symbol and p.qty > 0:
                    total += p.qty
        return {"openInterest": shapes.qty(ins, total), "symbol": symbol, "time": ex.now}
    return ctx.service.read(build)


def _fund_group(ex, asset: str) -> dict:
    ch = ex.clearing
    symbols = sorted(s for s, ins in ch.instruments.items() if ins.margin_asset == asset)
    fund = ex.insurance_funds.get(asset)
    balance = 0
    if fund is not None and fund in ch.accounts:
        f = ch.cross_figures(fund, asset)
        balance = f.wallet_balance + f.isolated_wallets + f.unrealized_pnl
    return {"symbols": symbols, "assets": [{"asset": asset, "marginBalance": shapes.money(balance),
                                            "updateTime": ex.now}]}


@endpoint("GET", "/fapi/v1/insuranceBalance", params=(SYMBOL_OPT,))
async def insurance_balance(ctx):
    """Insurance fund balance snapshot: the fund of the symbol's margin asset, or every fund."""
    symbol = _symbol_opt(ctx)

    def build(ex):
        if symbol is not None:
            return _fund_group(ex, ex.clearing.instruments[symbol].margin_asset)
        assets = sorted({ins.margin_asset for ins in ex.clearing.instruments.values()})
        return [_fund_group(ex, a) for a in assets]
    return ctx.service.read(build)
