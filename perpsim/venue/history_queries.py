"""The questions the public API asks of the history tables (``history.py``): each a function of plain
arguments (an account, a symbol, a time window, a limit) that returns rows as dicts. The API's SQL
lives here, so the Binance adapter only translates parameters in and rows out.

Every function takes ``sql`` first (``VenueService.sql``: a statement and its arguments -> rows), so
the service can run it on a reader thread (``VenueService.history``). Times are milliseconds; a
window without bounds is the newest ``limit`` rows, and some lists default to their last 7 days, as
Binance's do ("Account Trade List", "Get Income History" in Binance's USDⓈ-M Futures API).
"""
from __future__ import annotations

from collections.abc import Callable

DAY_MS = 24 * 3600 * 1000

Sql = Callable[[str, tuple], list]


def _bounds(where: list, args: list, start, end, col: str = "time") -> None:
    if start is not None:
        where.append(f"{col} >= ?")
        args.append(start)
    if end is not None:
        where.append(f"{col} <= ?")
        args.append(end)


def _created_ids(sql: Sql, table: str, id_col: str, created: str, account_id: int, symbol: str,
                 from_id, start, end, limit: int) -> list[int]:
    """Ids of an account's orders of ``symbol`` from their creation rows, ascending: from ``from_id`` /
    ``start`` when given, else the newest ``limit``."""
    where, args = ["account_id = ?", "symbol = ?", created], [account_id, symbol]
    if from_id is not None:
        where.append(f"{id_col} >= ?")
        args.append(from_id)
    _bounds(where, args, start, end)
    newest = from_id is None and start is None
    rows = sql(f"SELECT DISTINCT {id_col} AS id FROM {table} WHERE {' AND '.join(where)} "
               f"ORDER BY {id_col} {'DESC' if newest else 'ASC'} LIMIT ?", (*args, limit))
    ids = [r["id"] for r in rows]
    return ids[::-1] if newest else ids


def order_ids(sql: Sql, account_id: int, symbol: str, from_id, start, end, limit: int) -> list[int]:
    """The orders ``allOrders`` lists: those placed (an x=NEW update) in the window."""
    return _created_ids(sql, "order_updates", "order_id", "execution_type = 'NEW'", account_id, symbol,
                        from_id, start, end, limit)


def algo_ids(sql: Sql, account_id: int, symbol: str, from_id, start, end, limit: int) -> list[int]:
    """The conditional orders ``allAlgoOrders`` lists: those placed (status NEW) in the window."""
    return _created_ids(sql, "algo_updates", "algo_id", "status = 'NEW'", account_id, symbol,
                        from_id, start, end, limit)


def _windowed(sql: Sql, now: int, table: str, where: list[str], args: list, start, end, limit: int,
              time_col: str = "time", order: str = "seq, rowid", default_days: int | None = 7) -> list[dict]:
    """Rows oldest first: from ``start`` when given, else the newest ``limit`` (within the last
    ``default_days`` when no bound is given)."""
    where, args = list(where), list(args)
    if start is None and end is None and default_days:
        where.append(f'"{time_col}" >= ?')
        args.append(now - default_days * DAY_MS)
    _bounds(where, args, start, end, f'"{time_col}"')
    clause = " WHERE " + " AND ".join(where) if where else ""
    if start is not None:
        return sql(f"SELECT rowid AS _rowid, * FROM {table}{clause} ORDER BY {order} LIMIT ?", (*args, limit))
    desc = ", ".join(c.strip() + " DESC" for c in order.split(","))
    rows = sql(f"SELECT rowid AS _rowid, * FROM {table}{clause} ORDER BY {desc} LIMIT ?", (*args, limit))
    return rows[::-1]


def _of_account(account_id: int, symbol: str | None) -> tuple[list, list]:
    where, args = ["account_id = ?"], [account_id]
    if symbol is not None:
        where.append("symbol = ?")
        args.append(symbol)
    return where, args


def fills(sql: Sql, now: int, account_id: int, symbol: str, order_id, from_id, start, end, limit: int) -> list[dict]:
    """An account's fills of a symbol (``userTrades``): of one order, from a trade id, in a window, or
    the newest of the last 7 days."""
    where, args = _of_account(account_id, symbol)
    where.append("execution_type IN ('TRADE', 'CALCULATED')")
    if order_id is not None:
        where.append("order_id = ?")
        args.append(order_id)
    if from_id is not None:
        where.append("trade_id >= ?")
        args.append(from_id)
        return _windowed(sql, now, "order_updates", where, args, start if start is not None else 0, end, limit,
                         default_days=None)
    return _windowed(sql, now, "order_updates", where, args, start, end, limit,
                     default_days=None if order_id is not None else 7)


def income_changes(sql: Sql, now: int, account_id: int, reasons: tuple, symbol: str | None, start, end,
                   limit: int) -> list[dict]:
    """The futures and isolated balance changes of ``reasons`` behind ``income`` (the last 7 days
    unless a window is given)."""
    where, args = _of_account(account_id, symbol)
    where += ["wallet IN ('FUTURES', 'ISOLATED')", "delta != 0", f"reason IN ({', '.join('?' * len(reasons))})"]
    args += list(reasons)
    return _windowed(sql, now, "balance_changes", where, args, start, end, limit)


def isolated_margin_changes(sql: Sql, account_id: int, symbol: str, added: bool | None, start, end,
                            limit: int) -> list[dict]:
    """Isolated margin an account added or removed by hand (the ``adjust_isolated_margin`` command),
    oldest first, each with the position side it went to."""
    where = ["b.account_id = ?", "b.symbol = ?", "b.wallet = 'ISOLATED'", "b.reason = 'ISOLATED_MARGIN'",
             "EXISTS (SELECT 1 FROM commands c WHERE c.seq = b.seq AND c.kind = 'adjust_isolated_margin')"]
    args: list = [account_id, symbol]
    if added is not None:
        where.append("b.delta > 0" if added else "b.delta < 0")
    _bounds(where, args, start, end, "b.time")
    rows = sql("SELECT b.*, (SELECT c.position_side FROM position_changes c WHERE c.seq = b.seq "
               "AND c.account_id = b.account_id AND c.symbol = b.symbol LIMIT 1) AS position_side "
               f"FROM balance_changes b WHERE {' AND '.join(where)} ORDER BY b.seq DESC LIMIT ?", (*args, limit))
    return rows[::-1]


def liquidations(sql: Sql, now: int, account_id: int, symbol: str | None, start, end, limit: int) -> list[dict]:
    """An account's liquidation records, oldest first (``forceOrders`` LIQUIDATION)."""
    where, args = _of_account(account_id, symbol)
    where.append("qty > 0")
    return _windowed(sql, now, "liquidations", where, args, start, end, limit, default_days=None)


def adl_closes(sql: Sql, now: int, account_id: int, symbol: str | None, start, end, limit: int) -> list[dict]:
    """An account's positions closed by auto-deleveraging, oldest first (``forceOrders`` ADL)."""
    where, args = _of_account(account_id, symbol)
    where.append("qty > 0")
    return _windowed(sql, now, "adl_records", where, args, start, end, limit, default_days=None)


def funding_rates(sql: Sql, symbol: str | None, start, end, limit: int) -> list[dict]:
    """Funding settlements, oldest first: in the window, or the newest ``limit``."""
    where, args = [], []
    if symbol is not None:
        where.append("symbol = ?")
        args.append(symbol)
    _bounds(where, args, start, end)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    newest = start is None and end is None
    rows = sql(f"SELECT symbol, funding_rate, mark_price, time FROM funding_rates{clause} "
               f"ORDER BY {'time DESC, seq DESC' if newest else 'time, seq'} LIMIT ?", (*args, limit))
    return rows[::-1] if newest else rows
