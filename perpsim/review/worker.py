"""The review of one account in a worker process (the server's review endpoint).

A review walks every row of the account's history (tens of thousands for an active bot) and sorts
them; in the server's process that work would hold the interpreter lock for long stretches and
delay every other request. A worker process opens the journal database read-only (SQLite WAL
readers never wait for the writer), reads the account's rows through their account index, and
returns only the review.
"""
from __future__ import annotations

import sqlite3

from .analysis import review
from .export import data_from_history

_DBS: dict[str, sqlite3.Connection] = {}


def _sql_of(db_path: str):
    db = _DBS.get(db_path)
    if db is None:
        db = _DBS[db_path] = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        db.execute("PRAGMA query_only=ON")

    def sql(query: str, args: tuple = ()) -> list[dict]:
        cur = db.execute(query, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    return sql


def review_account(db_path: str, account_id: int, state: dict) -> dict:
    """``review`` of the account's history rows plus ``state`` (export.review_state)."""
    return review(data_from_history(_sql_of(db_path), account_id, state))
