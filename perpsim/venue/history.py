"""Read models: the history tables clients query (trades, income, settings changes ...).

Each published event type maps to one table whose columns are the event's fields plus the
``seq`` of the command that caused it and ``ev``, the event's place among that command's events
(so rows of several tables merge back into the order they were published in: the review does). Rows are written in the same transaction as the
command batch, so the tables always agree with the journal, and ``rebuild`` recreates them
from the journal alone.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Iterable

from perpsim.core.events import (AdlRecord, BalanceChanged, ConfigChanged, FundingSettled, InsuranceFundChanged,
                                 LiquidationRecord, MarginCall, PositionChanged, TradeSettled)
from perpsim.core.guard import Notification, RestrictionChanged
from perpsim.core.orders import AlgoUpdate, OrderUpdate

#: event type -> table name: every read model of the venue.
TABLES: dict[type, str] = {
    BalanceChanged: "balance_changes",   # Binance's income history (REALIZED_PNL, COMMISSION, TRANSFER, ...)
    TradeSettled: "trades",              # userTrades
    PositionChanged: "position_changes",
    ConfigChanged: "config_changes",
    FundingSettled: "funding_rates",     # GET /fapi/v1/fundingRate
    OrderUpdate: "order_updates",        # orders and allOrders
    AlgoUpdate: "algo_updates",          # allAlgoOrders
    LiquidationRecord: "liquidations",   # forceOrders, the liquidation history and the review
    AdlRecord: "adl_records",            # forceOrders (ADL)
    InsuranceFundChanged: "insurance_fund",  # the insurance funds' full history
    MarginCall: "margin_calls",
    Notification: "notifications",       # trader protection
    RestrictionChanged: "restrictions",
}


def register(event_type: type, table: str) -> None:
    TABLES[event_type] = table


def _sql_value(v):
    if v is None or isinstance(v, (int, str)):
        return v
    return json.dumps(v, sort_keys=True, default=str)


_INSERTS: dict[type, str] = {}


def _insert_sql(etype: type) -> str:
    sql = _INSERTS.get(etype)
    if sql is None:
        cols = ", ".join(f'"{f}"' for f in ("seq", "ev", *etype._fields))
        sql = _INSERTS[etype] = (f"INSERT INTO {TABLES[etype]} ({cols}) "
                                 f"VALUES ({', '.join('?' * (2 + len(etype._fields)))})")
    return sql


class History:
    def __init__(self, db: sqlite3.Connection):
        self.db = db
        for etype, table in TABLES.items():
            cols = ", ".join(f'"{f}"' for f in etype._fields)
            db.execute(f'CREATE TABLE IF NOT EXISTS {table} (seq INTEGER NOT NULL, {cols})')
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for f in (*etype._fields, "ev"):   # an event that gained a field: the table gains the column
                if f not in have:
                    db.execute(f'ALTER TABLE {table} ADD COLUMN "{f}"')
            db.execute(f"CREATE INDEX IF NOT EXISTS {table}_seq ON {table}(seq)")
            if "account_id" in etype._fields:
                db.execute(f"CREATE INDEX IF NOT EXISTS {table}_acct ON {table}(account_id, seq)")

    def write(self, seq: int, events: Iterable) -> None:
        """Insert the rows of one command's events (inside the caller's transaction)."""
        by_table: dict[type, list] = {}
        for n, e in enumerate(events):
            etype = type(e)
            if etype in TABLES:
                by_table.setdefault(etype, []).append((seq, n, *map(_sql_value, e)))
        for etype, rows in by_table.items():
            self.db.executemany(_insert_sql(etype), rows)

    def truncate_after(self, seq: int) -> None:
        for table in TABLES.values():
            self.db.execute(f"DELETE FROM {table} WHERE seq > ?", (seq,))

    def clear(self) -> None:
        self.truncate_after(-1)

    def query(self, table: str, account_id: int | None = None, limit: int = 1000, **where) -> list[dict]:
        """Rows of one table, oldest first, filtered by equality on columns."""
        if table not in TABLES.values():
            raise ValueError(f"unknown history table {table!r}")
        clauses, params = [], []
        if account_id is not None:
            clauses.append("account_id = ?")
            params.append(account_id)
        for col, value in where.items():
            if not col.isidentifier():
                raise ValueError(f"bad column {col!r}")
            clauses.append(f'"{col}" = ?')
            params.append(value)
        sql = f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        cur = self.db.execute(sql + " ORDER BY seq, rowid LIMIT ?", (*params, limit))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
