"""A venue's events as the Binance API would return them, for the review (analysis.py reads only these).

``binance_data(events, account_id)`` turns the events of ``Exchange.apply`` results into the JSON
bodies of GET /fapi/v1/userTrades, /fapi/v1/income, /fapi/v1/forceOrders and /fapi/v1/markPriceKlines
(Binance's USD-M API reference), plus the orders and the leverage / margin-type changes.

``from_history`` reads one account's rows of the venue's history tables (perpsim/venue/history.py,
indexed by account), so a review costs what that account's own history costs, whatever the length
of the journal; the server's review endpoint uses it. ``from_data_dir`` replays a venue's journal
(read-only) to get the events: the offline path of ``perpsim review`` and its oracle in the tests.
"""
from __future__ import annotations

from pathlib import Path

from perpsim.core.events import (AdlRecord, BalanceChanged, ConfigChanged, LiquidationRecord, MarkPriceUpdate,
                                 TradeSettled)
from perpsim.core.fixed import fmt_plain, mul

HOUR = 3_600_000
#: BalanceChanged reasons that are Binance income types (others are internal moves).
INCOME_TYPES = ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE", "INSURANCE_CLEAR", "TRANSFER", "COMPENSATION")


def _n(units: int) -> str:
    return fmt_plain(units)


def binance_data(events, account_id: int, exchange=None, kline_ms: int = HOUR,
                 max_leverage: dict[str, int] | None = None) -> dict:
    """Binance-shaped data of one account from a venue's events (in order). With ``exchange``, the
    orders and incidents are added (``venue_extras``); ``max_leverage`` (symbol -> the bracket table's
    maximum) gives the default leverage without an exchange."""
    trades, income, force, configs = [], [], [], []
    candles: dict[str, dict[int, list]] = {}
    force_ids: dict[tuple, int] = {}
    tran = 0
    for e in events:
        t = type(e)
        if t is MarkPriceUpdate:
            start = e.time // kline_ms * kline_ms
            c = candles.setdefault(e.symbol, {}).get(start)
            if c is None:
                candles[e.symbol][start] = [start, e.mark_price, e.mark_price, e.mark_price, e.mark_price]
            else:
                c[2], c[3], c[4] = max(c[2], e.mark_price), min(c[3], e.mark_price), e.mark_price
            continue
        if getattr(e, "account_id", None) != account_id:
            continue
        if t is LiquidationRecord or t is AdlRecord:
            oid = 9_000_000_000 + len(force)
            adl = t is AdlRecord
            price = e.price if adl else e.execution_price
            qty = e.qty
            force.append({"orderId": oid, "symbol": e.symbol, "status": "FILLED",
                          "clientOrderId": f"{'adl_autoclose' if adl else 'autoclose'}-{e.time}{len(force):05d}",
                          "price": _n(price if adl else (e.bankruptcy_price or price)), "avgPrice": _n(price),
                          "origQty": _n(qty), "executedQty": _n(qty), "cumQuote": _n(mul(qty, price)),
                          "timeInForce": "IOC", "type": "LIMIT", "reduceOnly": False, "closePosition": False,
                          "side": e.side, "positionSide": e.position_side, "stopPrice": "0",
                          "workingType": "CONTRACT_PRICE", "origType": "LIMIT", "time": e.time, "updateTime": e.time})
            force_ids[(e.time, e.symbol, e.position_side)] = oid
        elif t is TradeSettled:
            oid = force_ids.get((e.time, e.symbol, e.position_side), 0) if e.execution else len(trades) + 1
            if e.execution and not oid:
                oid = -1          # the liquidation record follows its fills: tagged below
            trades.append({"buyer": e.side == "BUY", "commission": _n(e.commission), "commissionAsset":
                           e.commission_asset, "id": len(trades) + 1, "maker": e.maker, "orderId": oid,
                           "price": _n(e.price), "qty": _n(e.qty), "quoteQty": _n(mul(e.qty, e.price)),
                           "realizedPnl": _n(e.realized_pnl), "side": e.side, "positionSide": e.position_side,
                           "symbol": e.symbol, "time": e.time, "_execution": e.execution})
        elif t is BalanceChanged:
            if e.reason not in INCOME_TYPES or e.wallet not in ("FUTURES", "ISOLATED"):
                if not (e.wallet == "FUTURES" and e.reason in ("DEPOSIT", "WITHDRAW")):
                    continue
            if e.reason == "TRANSFER" and e.wallet != "FUTURES":
                continue
            tran += 1
            kind = "TRANSFER" if e.reason in ("DEPOSIT", "WITHDRAW") else e.reason
            income.append({"symbol": e.symbol, "incomeType": kind, "income": _n(e.delta), "asset": e.asset,
                           "info": kind, "time": e.time, "tranId": tran, "tradeId": ""})
        elif t is ConfigChanged and e.symbol:
            if e.setting == "leverage":
                configs.append({"symbol": e.symbol, "time": e.time, "leverage": e.value})
            elif e.setting == "marginType":
                configs.append({"symbol": e.symbol, "time": e.time, "marginType": e.value})
    # liquidation fills carry their force order's id (records are published after their fills)
    for tr in trades:
        if tr.pop("_execution"):
            tr["orderId"] = force_ids.get((tr["time"], tr["symbol"], tr["positionSide"]), tr["orderId"])
    # the venue's defaults (cross, 20x) for symbols traded before any change
    for sym in sorted({tr["symbol"] for tr in trades}):
        first = min(tr["time"] for tr in trades if tr["symbol"] == sym)
        lev = _default_leverage(exchange, sym) if max_leverage is None else _capped_default(max_leverage.get(sym))
        for field, default in (("leverage", lev), ("marginType", "CROSSED")):
            if not any(c["symbol"] == sym and field in c and c["time"] <= first for c in configs):
                configs.insert(0, {"symbol": sym, "time": 0, field: default})
    klines = {s: [[start, _n(o), _n(h), _n(lo), _n(c), "0", start + kline_ms - 1, "0", 0, "0", "0", "0"]
                  for start, (_st, o, h, lo, c) in sorted(by.items())] for s, by in candles.items()}
    data = {"userTrades": trades, "income": income, "forceOrders": force, "klines": klines, "configUpdates": configs}
    if exchange is not None:
        data.update(venue_extras(exchange, account_id))
    return data


def _default_leverage(exchange, symbol: str) -> int:
    from perpsim.core.instruments import DEFAULT_LEVERAGE
    if exchange is None:
        return DEFAULT_LEVERAGE
    return min(DEFAULT_LEVERAGE, exchange.clearing.table(symbol).max_leverage)


def _capped_default(max_leverage: int | None) -> int:
    from perpsim.core.instruments import DEFAULT_LEVERAGE
    return DEFAULT_LEVERAGE if max_leverage is None else min(DEFAULT_LEVERAGE, max_leverage)


def venue_extras(exchange, account_id: int) -> dict:
    """Orders (allOrders / allAlgoOrders), the margin type in force, the incident log."""
    out: dict = {"allOrders": [], "algoOrders": [], "incidents": []}
    orders = getattr(exchange, "orders", None)
    if orders is not None:
        for o in sorted(getattr(orders, "orders", {}).values(), key=lambda o: o.order_id):
            if o.account_id == account_id:
                out["allOrders"].append(_order_row(o.view()))
        for a in sorted(getattr(orders, "algos", {}).values(), key=lambda a: a.algo_id):
            if a.account_id == account_id:
                out["algoOrders"].append(_order_row(a.view()))
    guard = getattr(exchange, "guard", None)
    if guard is not None:
        out["incidents"] = [dict(i) for i in guard.incidents]
    return out


_AMOUNTS = ("price", "avgPrice", "origQty", "executedQty", "cumQty", "cumQuote", "stopPrice", "quantity",
            "triggerPrice", "activatePrice")


def _order_row(view: dict) -> dict:
    return {k: (_n(x) if k in _AMOUNTS and isinstance(x, int) else x) for k, x in view.items()}


#: The history tables the review reads, and the event each row is (columns = the event's fields).
REVIEW_TABLES = (("trades", TradeSettled), ("liquidations", LiquidationRecord), ("adl_records", AdlRecord),
                 ("balance_changes", BalanceChanged), ("config_changes", ConfigChanged))
_BOOL_FIELDS = {TradeSettled: ("maker",), LiquidationRecord: ("partial",)}


def account_events(sql, account_id: int) -> list:
    """One account's review events from the history tables, in the order they were published.

    ``sql(query, args) -> [dict]`` runs a read-only query; each table is read through its
    ``(account_id, seq)`` index, so the cost is that account's rows only."""
    keyed = []
    for order, (table, etype) in enumerate(REVIEW_TABLES):
        cols = ", ".join(f'"{f}"' for f in etype._fields)
        bools = _BOOL_FIELDS.get(etype, ())
        for r in sql(f"SELECT seq, ev, rowid AS _rowid, {cols} FROM {table} WHERE account_id = ? "
                     "ORDER BY account_id, seq", (account_id,)):
            values = {f: (bool(r[f]) if f in bools and r[f] is not None else r[f]) for f in etype._fields}
            keyed.append(((r["seq"], r["ev"] if r["ev"] is not None else order, order, r["_rowid"]),
                          etype(**values)))
    keyed.sort(key=lambda kv: kv[0])
    return [e for _k, e in keyed]


def review_ids(sql, account_id: int) -> dict:
    """What the review needs from the state, by id: the account's stop orders (the review reads orders
    for their stop-losses only), its algo orders and the symbols it traded. Small, indexed queries."""
    from .analysis import STOP_TYPES

    stops = ", ".join(f"'{t}'" for t in STOP_TYPES)
    orders = [r["id"] for r in sql("SELECT DISTINCT order_id AS id FROM order_updates WHERE account_id = ? "
                                   f"AND execution_type = 'NEW' AND (order_type IN ({stops}) OR orig_type IN "
                                   f"({stops})) ORDER BY id", (account_id,))]
    algos = [r["id"] for r in sql("SELECT DISTINCT algo_id AS id FROM algo_updates WHERE account_id = ? "
                                  f"AND status = 'NEW' AND order_type IN ({stops}) ORDER BY id", (account_id,))]
    symbols = sorted({r["symbol"] for table in ("trades", "liquidations", "adl_records")
                      for r in sql(f"SELECT DISTINCT symbol FROM {table} WHERE account_id = ?", (account_id,))})
    return {"orders": orders, "algos": algos, "symbols": symbols}


def review_state(ex, ids: dict, kline_interval: str = "1h") -> dict:
    """The state the review adds to the history rows (run between commands; short): the orders' views,
    the mark klines the venue keeps (its markPriceKlines: the newest 1,500 bars), incidents, max leverage."""
    from perpsim.core.price_klines import MARK

    orders, algos = ex.orders.orders, ex.orders.algos
    pk = ex.__dict__.get("price_klines")
    symbols = [s for s in ids["symbols"] if s in ex.clearing.instruments]
    return {
        "allOrders": [_order_row(orders[i].view()) for i in ids["orders"] if i in orders],
        "algoOrders": [_order_row(algos[i].view()) for i in ids["algos"] if i in algos],
        "incidents": [dict(i) for i in ex.guard.incidents],
        "klines": {s: [[t, _n(o), _n(h), _n(lo), _n(c), "0", ct, "0", n, "0", "0", "0"]
                       for t, o, h, lo, c, ct, n in pk.klines(s, MARK, kline_interval, None, None, 1500)]
                   for s in symbols} if pk is not None else {},
        "maxLeverage": {s: ex.clearing.table(s).max_leverage for s in symbols},
    }


def data_from_history(sql, account_id: int, state: dict) -> dict:
    """One account's Binance-shaped data: its history rows (``account_events``) and ``review_state``."""
    data = binance_data(account_events(sql, account_id), account_id, None, max_leverage=state["maxLeverage"])
    data["klines"] = {s: rows for s, rows in state["klines"].items() if rows}
    for key in ("allOrders", "algoOrders", "incidents"):
        data[key] = state[key]
    return data


def from_history(sql, read, account_id: int) -> dict:
    """One account's Binance-shaped data from the history tables and the state.

    ``sql(query, args) -> [dict]`` runs read-only queries of the history tables; ``read(fn)`` runs
    ``fn(exchange)`` on the state between commands. The cost is the account's own rows."""
    ids = review_ids(sql, account_id)
    return data_from_history(sql, account_id, read(lambda ex: review_state(ex, ids)))


def from_data_dir(data_dir: str | Path, account_id: int) -> dict:
    """Replay a venue's journal (read-only) and export one account's Binance-shaped data."""
    from perpsim.core.exchange import Exchange
    from perpsim.venue.journal import Journal
    from perpsim.venue.venue import JOURNAL_FILE

    j = Journal(Path(data_dir) / JOURNAL_FILE, "OFF", create=False)
    try:
        ex = Exchange()
        events: list = []
        for _seq, cmd in j.commands():
            events += ex.apply(cmd).events
    finally:
        j.close()
    return binance_data(events, account_id, ex)
