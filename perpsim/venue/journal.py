"""The write-ahead command journal and snapshots, in one SQLite database (WAL mode).

A command is in the journal, committed, before it is applied or acknowledged. Rows carry a
CRC-32 over their content, so a corrupted tail is found and dropped on open (and the operator
told what was dropped) instead of replaying into a silently wrong state. The database records
the state format it was written with; another format is refused.

``sync`` is SQLite's ``synchronous`` pragma: FULL (live: every commit reaches the disk),
NORMAL (WAL commits survive a process crash, not a power loss), OFF (simulations).
"""
from __future__ import annotations

import json
import sqlite3
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from perpsim.core.exchange import STATE_FORMAT, Command

FORMAT_NAME = "perpsim-journal"
SYNC_MODES = ("FULL", "NORMAL", "OFF")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
    seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY, state BLOB NOT NULL, state_hash TEXT NOT NULL, crc INTEGER NOT NULL);
"""


class JournalError(Exception):
    """The journal cannot be used (another format, unreadable file); the message says why."""


def encode_args(args: dict) -> str:
    return json.dumps(args, sort_keys=True, separators=(",", ":"))


def command_crc(seq: int, ts: int, kind: str, body: str) -> int:
    return zlib.crc32(f"{seq}|{ts}|{kind}|{body}".encode())


@dataclass
class TailReport:
    """What opening the journal found wrong at its tail, and dropped."""

    dropped_from: int | None = None
    dropped: int = 0
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.dropped > 0

    def __str__(self) -> str:
        if not self.dropped:
            return "journal tail intact"
        return (f"dropped {self.dropped} journal row(s) from seq {self.dropped_from}: " + "; ".join(self.reasons[:5]))


class Journal:
    """Append commands in batches (one transaction each = group commit); read them back verified."""

    def __init__(self, path: str | Path, sync: str = "FULL", create: bool = True):
        if sync not in SYNC_MODES:
            raise JournalError(f"sync must be one of {', '.join(SYNC_MODES)}")
        self.path = Path(path)
        if not create and not self.path.exists():
            raise JournalError(f"no journal at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={sync}")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise JournalError(f"{self.path}: not a perpsim journal ({e})") from None
        self._check_format()
        self.last_seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM commands").fetchone()[0]

    def _check_format(self) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM meta"))
        if not rows:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                [("format", FORMAT_NAME), ("state_format", str(STATE_FORMAT))])
            return
        if rows.get("format") != FORMAT_NAME:
            raise JournalError(f"{self.path}: not a perpsim journal (format {rows.get('format')!r})")
        if rows.get("state_format") != str(STATE_FORMAT):
            raise JournalError(
                f"{self.path}: written by another perpsim version (state format {rows.get('state_format')}, "
                f"this perpsim reads format {STATE_FORMAT}); replay it with that version or start a new data directory")

    # ------------------------------------------------------------------ writing
    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def append(self, commands: Iterable[Command]) -> list[int]:
        """Insert commands inside the caller's transaction; returns their sequence numbers."""
        rows, seqs = [], []
        for cmd in commands:
            self.last_seq += 1
            body = encode_args(cmd.args)
            rows.append((self.last_seq, cmd.ts, cmd.kind, body, command_crc(self.last_seq, cmd.ts, cmd.kind, body)))
            seqs.append(self.last_seq)
        self.db.executemany("INSERT INTO commands VALUES (?, ?, ?, ?, ?)", rows)
        return seqs

    def write_snapshot(self, seq: int, state: bytes, state_hash: str) -> None:
        crc = zlib.crc32(state) ^ zlib.crc32(state_hash.encode()) ^ seq
        self.db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", (seq, state, state_hash, crc))
        # keep the two newest snapshots
        self.db.execute("DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 2)")

    # ------------------------------------------------------------------ reading
    def snapshots(self) -> Iterator[tuple[int, bytes, str]]:
        """Valid snapshots, newest first."""
        for seq, state, state_hash, crc in self.db.execute(
                "SELECT seq, state, state_hash, crc FROM snapshots ORDER BY seq DESC"):
            if zlib.crc32(state) ^ zlib.crc32(state_hash.encode()) ^ seq == crc:
                yield seq, state, state_hash

    def commands(self, after: int = 0) -> Iterator[tuple[int, Command]]:
        """Verified commands after ``after``; stops at the first bad row (see ``check_tail``)."""
        expected = after + 1
        for seq, ts, kind, body, crc in self.db.execute(
                "SELECT seq, ts, kind, body, crc FROM commands WHERE seq > ? ORDER BY seq", (after,)):
            if seq != expected or _bad_row(seq, ts, kind, body, crc):
                return
            yield seq, Command(kind, json.loads(body), ts)
            expected += 1

    def check_tail(self, repair: bool = True) -> TailReport:
        """Find the first bad row (CRC mismatch, gap, undecodable body); drop it and all after it."""
        report = TailReport()
        expected = 1
        bad_from = None
        for seq, ts, kind, body, crc in self.db.execute("SELECT seq, ts, kind, body, crc FROM commands ORDER BY seq"):
            why = "gap in sequence" if seq != expected else _bad_row(seq, ts, kind, body, crc)
            if why:
                bad_from = seq if seq == expected else expected
                report.reasons.append(f"seq {seq}: {why}")
                break
            expected += 1
        if bad_from is not None:
            report.dropped_from = bad_from
            report.dropped = self.db.execute("SELECT COUNT(*) FROM commands WHERE seq >= ?", (bad_from,)).fetchone()[0]
            if repair:
                self.db.execute("DELETE FROM commands WHERE seq >= ?", (bad_from,))
                self.db.execute("DELETE FROM snapshots WHERE seq >= ?", (bad_from,))
                self.last_seq = bad_from - 1
        return report

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM commands").fetchone()[0]

    def close(self) -> None:
        self.rollback()
        self.db.close()


def _bad_row(seq: int, ts: int, kind: str, body: str, crc: int) -> str:
    if command_crc(seq, ts, kind, body) != crc:
        return "checksum mismatch"
    try:
        args = json.loads(body)
    except (ValueError, TypeError):
        return "undecodable body"
    if not isinstance(args, dict):
        return "body is not an object"
    return ""
