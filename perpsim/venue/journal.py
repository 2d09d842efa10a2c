"""The write-ahead command journal and snapshots, in one SQLite database (WAL mode).

A command is in the journal, committed, before it is applied or acknowledged. Each row carries a
CRC-32 over its content. Each group-commit batch carries a frame row (``batches``: first and last
seq, a CRC over its rows' CRCs, and a hash chained over every batch before it), written in the
batch's own transaction. After each commit the chain's head is written to a small side file, the
commit mark (``journal.mark``: last committed seq and chain hash), so recovery can tell:

- a torn last batch (rows after the last intact frame, or a damaged last batch that was never
  acknowledged according to the mark): dropped automatically and reported;
- damage anywhere before the last batch, or to an acknowledged batch: the venue refuses to start,
  changes nothing, and names the rows (``check``); ``truncate_from`` is the operator's repair;
- committed batches missing from the end (the mark is ahead of the journal: a WAL file truncated or
  deleted while the venue was stopped, or a power loss at synchronous NORMAL/OFF): refused.

``sync`` is SQLite's ``synchronous`` pragma: FULL (live: every commit reaches the disk),
NORMAL (WAL commits survive a process crash, not a power loss), OFF (simulations).
The guarantees and how each is tested: docs/durability.md.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from perpsim.core.exchange import STATE_FORMAT, Command

FORMAT_NAME = "perpsim-journal"
FRAMING = "batch-v1"
SYNC_MODES = ("FULL", "NORMAL", "OFF")
GENESIS = "0" * 32          # the chain hash before the first batch

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
    seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    last_seq INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, crc INTEGER NOT NULL, chain TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY, state BLOB NOT NULL, state_hash TEXT NOT NULL, crc INTEGER NOT NULL);
"""


class JournalError(Exception):
    """The journal cannot be used (another format, unreadable file); the message says why."""


class JournalDamaged(JournalError):
    """The journal holds damage recovery must not drop; ``report`` says what and how to proceed."""

    def __init__(self, report: "CheckReport"):
        super().__init__(report.refusal())
        self.report = report


def encode_args(args: dict) -> str:
    return json.dumps(args, sort_keys=True, separators=(",", ":"))


def command_crc(seq: int, ts: int, kind: str, body: str) -> int:
    return zlib.crc32(f"{seq}|{ts}|{kind}|{body}".encode())


def batch_crc(row_crcs: Iterable[int]) -> int:
    return zlib.crc32(b"".join(c.to_bytes(4, "big") for c in row_crcs))


def chain_next(prev: str, first: int, last: int, crc: int) -> str:
    return hashlib.blake2b(f"{prev}|{first}|{last}|{crc}".encode(), digest_size=16).hexdigest()


# ---------------------------------------------------------------------- the commit mark
@dataclass(frozen=True)
class Mark:
    """The last committed batch as the venue saw it: its last seq and chain hash."""

    seq: int
    chain: str

    def encode(self) -> bytes:
        body = f"perpsim-mark 1 {self.seq:020d} {self.chain}"
        return f"{body} {zlib.crc32(body.encode()):08x}\n".encode()

    @staticmethod
    def decode(data: bytes) -> "Mark | None":
        try:
            text = data.decode().strip()
            body, crc = text.rsplit(" ", 1)
            name, version, seq, chain = body.split(" ")
            if name != "perpsim-mark" or version != "1" or int(crc, 16) != zlib.crc32(body.encode()):
                return None
            return Mark(int(seq), chain)
        except (UnicodeDecodeError, ValueError):
            return None


class MarkFile:
    """``journal.mark``: rewritten in place (one fixed-size write) after every commit.

    The write reaches the operating system before the batch is acknowledged, so it survives the
    process being killed; it is fsynced at snapshots and at close (and the WAL before it at FULL,
    so the mark is never ahead of a durable journal)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def read(self) -> tuple[bool, Mark | None]:
        """(exists, mark); a file that exists but does not decode is (True, None)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False, None
        return True, Mark.decode(data)

    def write(self, mark: Mark, sync: bool = False) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        data = mark.encode()
        os.pwrite(self.fd, data, 0)
        os.ftruncate(self.fd, len(data))
        if sync:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None


# ---------------------------------------------------------------------- what a check found
@dataclass
class Finding:
    seq: int
    what: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}"


@dataclass
class CheckReport:
    """What the journal holds and what is wrong with it, classified for recovery."""

    path: Path
    rows: int = 0
    end: int = 0                     # the last seq of the last intact batch
    last_row: int = 0                # the highest seq present
    batches: int = 0
    findings: list[Finding] = field(default_factory=list)
    sqlite: list[str] = field(default_factory=list)       # PRAGMA quick_check / integrity_check
    mark: Mark | None = None
    mark_problem: str = ""
    torn_from: int | None = None     # a torn, unacknowledged last batch starts here: droppable
    torn_rows: int = 0
    damaged_from: int | None = None  # damage that must not be dropped starts here: refuse
    damage_where: str = ""

    @property
    def refuse(self) -> bool:
        return bool(self.sqlite or self.mark_problem or self.damaged_from is not None)

    @property
    def ok(self) -> bool:
        return not self.refuse and self.torn_from is None

    def torn_line(self) -> str:
        return (f"TORN LAST BATCH: dropped {self.torn_rows} unacknowledged journal row(s) from seq {self.torn_from} "
                f"({'; '.join(str(f) for f in self.findings[:3])}); the journal ends at seq {self.torn_from - 1}")

    def lines(self, limit: int = 50) -> list[str]:
        out = [f"{self.rows} command row(s) in {self.batches} batch(es); last intact batch ends at seq {self.end}"]
        sqlite_lines = [line for m in self.sqlite for line in m.splitlines() if line.strip()]
        out += [f"SQLITE: {m}" for m in sqlite_lines[:limit]]
        if len(sqlite_lines) > limit:
            out.append(f"SQLITE: ... and {len(sqlite_lines) - limit} more line(s)")
        out += [f"BAD ROW {f}" for f in self.findings[:limit]]
        if len(self.findings) > limit:
            out.append(f"... and {len(self.findings) - limit} more bad row(s)")
        if self.mark_problem:
            out.append(f"COMMIT MARK: {self.mark_problem}")
        elif self.mark is not None:
            out.append(f"commit mark: seq {self.mark.seq} committed")
        if self.torn_from is not None and not self.refuse:
            out.append(f"torn last batch from seq {self.torn_from} ({self.torn_rows} row(s), never acknowledged): "
                       "recovery drops it")
        return out

    def refusal(self) -> str:
        """The message a refused start prints: what was found, that nothing changed, how to proceed."""
        d = self.path.parent
        head = f"refusing to open {self.path}: "
        if self.sqlite:
            head += ("the SQLite file is damaged (its integrity check failed; the history indexes may be "
                     "rebuildable, the command rows may not)")
        elif self.mark_problem:
            head += self.mark_problem
        else:
            head += (f"the journal is damaged at seq {self.damaged_from}, {self.damage_where or 'before its last batch'}; "
                     "dropping it would lose acknowledged commands")
        out = [head] + ["  " + s for s in self.lines(limit=10)[1:] if not s.startswith("COMMIT MARK")]
        out.append("Nothing was changed. To proceed:")
        out.append(f"  perpsim journal verify {d}      names every bad row")
        out.append("  restore the data directory from a backup (journal.sqlite, journal.sqlite-wal, journal.mark), or")
        if self.sqlite and self.damaged_from is None and not self.findings:
            out.append(f"  perpsim journal repair {d} --reindex      rebuilds the indexes, keeping a copy; if the "
                       "check still fails after it, the damage is in the tables: restore from a backup")
            return "\n".join(out)
        cut = self.damaged_from if self.damaged_from is not None else (self.end + 1)
        lost = max(0, self.last_row - cut + 1)
        if not lost and self.damaged_from is None:
            out.append(f"  perpsim journal repair {d} --truncate-from {cut}      keeps a copy of the files and accepts, "
                       f"on record, that the journal ends at seq {cut - 1}")
            return "\n".join(out)
        out.append(f"  perpsim journal repair {d} --truncate-from {cut}      keeps a copy of the files, then drops "
                   f"seq {cut} and after ({lost} command row(s)), accepting their loss on record")
        return "\n".join(out)


# ---------------------------------------------------------------------- the journal
class Journal:
    """Append commands in batches (one transaction each = group commit); read them back verified."""

    def __init__(self, path: str | Path, sync: str = "FULL", create: bool = True, readonly: bool = False):
        """``readonly`` opens an existing file without writing a byte (not even a checkpoint at close):
        how the venue checks a journal before it trusts it, and how ``verify`` reads one."""
        if sync not in SYNC_MODES:
            raise JournalError(f"sync must be one of {', '.join(SYNC_MODES)}")
        self.path = Path(path)
        self.sync = sync
        self.readonly = readonly
        if (readonly or not create) and not self.path.exists():
            raise JournalError(f"no journal at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.mark_file = MarkFile(self.path.with_suffix(".mark"))
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                          check_same_thread=False)
            else:
                self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute(f"PRAGMA synchronous={sync}")
                self.db.executescript(_SCHEMA)
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"meta", "commands", "batches", "snapshots"} <= tables:
                if not readonly or {"meta", "commands"} - tables:
                    raise JournalError(f"{self.path}: not a perpsim journal (tables {sorted(tables)})")
                self.framed = False   # a journal from before batch framing, read as it is
            self._check_format()
            self.last_seq, self.chain = self._head()
        except sqlite3.DatabaseError as e:
            raise sqlite_error(self.path, e) from None
        self._pending: tuple[int, str] | None = None

    def _check_format(self) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM meta"))
        if not rows and self.readonly:
            return
        if not rows:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", FORMAT_NAME), ("state_format", str(STATE_FORMAT)), ("framing", FRAMING)])
            return
        if rows.get("format") != FORMAT_NAME:
            raise JournalError(f"{self.path}: not a perpsim journal (format {rows.get('format')!r})")
        if rows.get("state_format") != str(STATE_FORMAT):
            raise JournalError(
                f"{self.path}: written by another perpsim version (state format {rows.get('state_format')}, "
                f"this perpsim reads format {STATE_FORMAT}); replay it with that version or start a new data directory")
        self.framed = self.framed and rows.get("framing") == FRAMING

    framed = True

    def _head(self) -> tuple[int, str]:
        row = self._frames_query("SELECT last_seq, chain FROM batches ORDER BY last_seq DESC LIMIT 1").fetchone()
        last = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM commands").fetchone()[0]
        return (last, row[1] if row else GENESIS)

    def _frames_query(self, sql: str):
        return self.db.execute(sql if self.framed or not self.readonly else "SELECT 1 WHERE 0")

    # ------------------------------------------------------------------ writing
    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit the batch, then write the commit mark (before the caller acknowledges anything)."""
        self.db.execute("COMMIT")
        if self._pending is not None:
            self.last_seq, self.chain = self._pending
            self._pending = None
            self.mark_file.write(Mark(self.last_seq, self.chain))

    def rollback(self) -> None:
        self._pending = None
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def append(self, commands: Iterable[Command]) -> list[int]:
        """Insert one batch of commands and its frame inside the caller's transaction; returns their seqs."""
        rows, seqs = [], []
        seq = self.last_seq
        for cmd in commands:
            seq += 1
            body = encode_args(cmd.args)
            rows.append((seq, cmd.ts, cmd.kind, body, command_crc(seq, cmd.ts, cmd.kind, body)))
            seqs.append(seq)
        if not rows:
            return seqs
        self.db.executemany("INSERT INTO commands VALUES (?, ?, ?, ?, ?)", rows)
        crc = batch_crc(r[4] for r in rows)
        chain = chain_next(self.chain, seqs[0], seqs[-1], crc)
        self.db.execute("INSERT INTO batches VALUES (?, ?, ?, ?)", (seqs[-1], seqs[0], crc, chain))
        self._pending = (seqs[-1], chain)
        return seqs

    def write_snapshot(self, seq: int, state: bytes, state_hash: str) -> None:
        crc = zlib.crc32(state) ^ zlib.crc32(state_hash.encode()) ^ seq
        self.db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", (seq, state, state_hash, crc))
        # keep the two newest snapshots
        self.db.execute("DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 2)")

    def sync_mark(self) -> None:
        """fsync the commit mark (at snapshots; the journal's own commits are fsynced by SQLite)."""
        if self.mark_file.fd is not None:
            os.fsync(self.mark_file.fd)

    # ------------------------------------------------------------------ reading
    def snapshots(self) -> Iterator[tuple[int, bytes, str]]:
        """Valid snapshots, newest first."""
        for seq, state, state_hash, crc in self.db.execute(
                "SELECT seq, state, state_hash, crc FROM snapshots ORDER BY seq DESC"):
            if zlib.crc32(state) ^ zlib.crc32(state_hash.encode()) ^ seq == crc:
                yield seq, state, state_hash

    def commands(self, after: int = 0) -> Iterator[tuple[int, Command]]:
        """Verified commands after ``after``; stops at the first bad row (``check`` classifies it)."""
        expected = after + 1
        for seq, ts, kind, body, crc in self.db.execute(
                "SELECT seq, ts, kind, body, crc FROM commands WHERE seq > ? ORDER BY seq", (after,)):
            if seq != expected or _bad_row(seq, ts, kind, body, crc):
                return
            yield seq, Command(kind, json.loads(body), ts)
            expected += 1

    def check(self, integrity: str = "quick_check") -> CheckReport:
        """Read-only: SQLite's own check, every row, every batch frame, the chain and the commit mark."""
        report = CheckReport(self.path)
        try:
            self._check_sqlite(report, integrity)
            self._check_rows(report)
        except sqlite3.DatabaseError as e:
            report.sqlite.append(str(e))
            return report
        self._classify(report)
        return report

    def _check_sqlite(self, report: CheckReport, integrity: str) -> None:
        if integrity:
            msgs = [r[0] for r in self.db.execute(f"PRAGMA {integrity}")]
            if msgs != ["ok"]:
                report.sqlite += msgs

    def _check_rows(self, report: CheckReport) -> None:
        """One pass over the rows and, beside them, the frames (memory bounded by one batch)."""
        exists, mark = self.mark_file.read()
        report.mark = mark
        if exists and mark is None:
            report.mark_problem = (f"the commit mark {self.mark_file.path.name} is unreadable, so it cannot be "
                                   "checked whether committed commands are missing")
        walk = _FrameWalk(self._frames_query("SELECT first_seq, last_seq, crc, chain FROM batches ORDER BY last_seq"),
                          report, mark)
        legacy_crc, expected = 0, 1
        for seq, ts, kind, body, crc in self.db.execute("SELECT seq, ts, kind, body, crc FROM commands ORDER BY seq"):
            report.rows += 1
            if seq != expected:
                report.findings.append(Finding(expected, f"missing (the next row present is seq {seq})"))
            why = _bad_row(seq, ts, kind, body, crc)
            if why:
                report.findings.append(Finding(seq, why))
            if self.framed:
                walk.row(seq, None if why else crc)
            elif not why:
                legacy_crc = zlib.crc32(crc.to_bytes(4, "big"), legacy_crc)
            expected = seq + 1
        report.last_row = expected - 1
        if self.framed:
            walk.finish()
        elif not report.findings and report.rows:   # from before batch framing: one batch once intact
            walk.last_frame, walk.batches, report.end = (1, report.last_row), 1, report.last_row
            if mark is not None and mark.seq == report.last_row:
                walk.mark_chain = chain_next(GENESIS, 1, report.last_row, legacy_crc)
        report.batches = walk.batches
        self._walk = walk

    def _chain_at(self, frames, seq: int) -> str:
        chain = GENESIS
        for first, last, crc, _stored in frames:
            if last > seq:
                break
            chain = chain_next(chain, first, last, crc)
        return chain

    def _classify(self, report: CheckReport) -> None:
        walk = self._walk
        last_frame_first, last_framed = walk.last_frame or (1, 0)
        bad = sorted(f.seq for f in report.findings)
        mark = report.mark
        if bad and not self.framed:   # no frames to tell a torn batch by: all damage is refused
            report.damaged_from = bad[0]
            return
        if bad:
            first_bad = bad[0]
            # damage confined to the last framed batch, or to rows after the last frame (a batch
            # whose frame never committed), is a torn last batch
            if first_bad > last_framed:
                torn = last_framed + 1
            elif first_bad >= last_frame_first and report.end == last_frame_first - 1:
                torn = last_frame_first
            else:
                torn = None
            if torn is not None and (mark is None or mark.seq < torn):
                report.torn_from = torn
                report.torn_rows = self.db.execute("SELECT COUNT(*) FROM commands WHERE seq >= ?",
                                                   (torn,)).fetchone()[0]
            else:
                report.damaged_from = first_bad
                report.damage_where = ("in its last batch, which the commit mark shows was acknowledged"
                                       if torn is not None else "before its last batch")
                return
        elif report.last_row > last_framed and self.framed:   # intact rows without a committed frame
            report.torn_from = last_framed + 1
            report.torn_rows = report.last_row - last_framed
            report.findings.append(Finding(report.torn_from, "rows after the last batch frame (a batch whose "
                                                             "commit did not complete)"))
        if report.mark_problem or mark is None:
            return
        end = report.end
        if mark.seq > end:
            report.mark_problem = (
                f"the commit mark says seq {mark.seq} was committed and acknowledged, but the journal ends at "
                f"seq {end}: {mark.seq - end} committed command(s) are missing (journal.sqlite-wal truncated, "
                "deleted or restored without it while the venue was stopped, or a power loss at synchronous "
                "NORMAL/OFF)")
        elif mark.seq and walk.mark_chain != mark.chain:
            report.mark_problem = (
                f"the commit mark (seq {mark.seq}) does not match the journal's batch at that seq: the journal "
                "file is not the one the mark was written with (another copy, or restored from elsewhere)")

    # ------------------------------------------------------------------ recovery and repair
    def adopt(self, report: CheckReport) -> None:
        """Make a checked journal writable: drop a torn last batch, frame a legacy journal, write the mark."""
        if report.refuse:
            raise JournalDamaged(report)
        self.begin()
        if report.torn_from is not None:
            self._delete_from(report.torn_from)
        if not self.framed:
            if report.end:
                crc = batch_crc(r[0] for r in self.db.execute(
                    "SELECT crc FROM commands WHERE seq <= ? ORDER BY seq", (report.end,)))
                self.db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?)",
                                (report.end, 1, crc, chain_next(GENESIS, 1, report.end, crc)))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('framing', ?)", (FRAMING,))
            self.framed = True
        self.commit()
        self.last_seq, self.chain = self._head()
        self.mark_file.write(Mark(self.last_seq, self.chain), sync=True)

    def truncate_from(self, seq: int) -> int:
        """The operator's repair: drop seq and after, re-frame what is left, rewrite the mark.

        Refused if a row before ``seq`` is damaged (the cut must remove every bad row). Returns the
        number of command rows dropped."""
        report = self.check(integrity="")
        bad = [f for f in report.findings if f.seq < seq]
        if bad:
            raise JournalError(f"seq {bad[0].seq} is damaged too ({bad[0].what}): truncate from seq {bad[0].seq} "
                               "or earlier")
        if seq < 1:
            raise JournalError("--truncate-from must be at least 1")
        self.begin()
        dropped = self.db.execute("SELECT COUNT(*) FROM commands WHERE seq >= ?", (seq,)).fetchone()[0]
        self._delete_from(seq)
        # the batch cut in two keeps its first part as a batch of its own
        last = self.db.execute("SELECT COALESCE(MAX(last_seq), 0) FROM batches").fetchone()[0]
        if last < seq - 1:
            crc = batch_crc(r[0] for r in self.db.execute(
                "SELECT crc FROM commands WHERE seq > ? AND seq < ? ORDER BY seq", (last, seq)))
            prev = self._chain_at(self.db.execute(
                "SELECT first_seq, last_seq, crc, chain FROM batches ORDER BY last_seq").fetchall(), last)
            self.db.execute("INSERT INTO batches VALUES (?, ?, ?, ?)",
                            (seq - 1, last + 1, crc, chain_next(prev, last + 1, seq - 1, crc)))
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('framing', ?)", (FRAMING,))
        self.framed = True
        self.commit()
        self.last_seq, self.chain = self._head()
        self.mark_file.write(Mark(self.last_seq, self.chain), sync=True)
        return dropped

    def _delete_from(self, seq: int) -> None:
        self.db.execute("DELETE FROM commands WHERE seq >= ?", (seq,))
        self.db.execute("DELETE FROM batches WHERE last_seq >= ?", (seq,))
        self.db.execute("DELETE FROM snapshots WHERE seq >= ?", (seq,))

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM commands").fetchone()[0]

    def close(self) -> None:
        try:
            self.rollback()
            self.db.close()
        finally:
            self.mark_file.close()


class _FrameWalk:
    """Verifies batch frames in step with the rows (both in seq order): contiguity, the rows' CRC, the chain.

    Stops verifying at the first bad frame; ``report.end`` is the last seq of the intact prefix."""

    def __init__(self, frames, report: CheckReport, mark: Mark | None):
        self.frames, self.report, self.mark = iter(frames), report, mark
        self.cur = next(self.frames, None)
        self.chain, self.prev_last, self.ok, self.batches = GENESIS, 0, True, 0
        self.last_frame: tuple[int, int] | None = None
        self.mark_chain = GENESIS if mark is not None and mark.seq == 0 else None
        self._crc, self._n, self._broken = 0, 0, False

    def row(self, seq: int, crc: int | None) -> None:
        while self.cur is not None and seq > self.cur[1]:
            self._close()
        if self.cur is not None and self.cur[0] <= seq:
            if crc is None:
                self._broken = True
            else:
                self._crc, self._n = zlib.crc32(crc.to_bytes(4, "big"), self._crc), self._n + 1

    def finish(self) -> None:
        while self.cur is not None:
            self._close()

    def _close(self) -> None:
        first, last, crc, stored = self.cur
        self.batches += 1
        self.last_frame = (first, last)
        r = self.report
        if self.ok:
            if first != self.prev_last + 1 or last < first:
                r.findings.append(Finding(self.prev_last + 1, f"batch frame {first}-{last} does not follow seq "
                                                              f"{self.prev_last}"))
                self.ok = False
            elif self._broken:   # its damaged rows are findings already
                self.ok = False
            elif self._n != last - first + 1:
                if not (r.findings and r.findings[-1].seq >= first):
                    r.findings.append(Finding(first + self._n, f"missing (its batch frame says the batch ends "
                                                               f"at seq {last})"))
                self.ok = False
            elif self._crc != crc:
                r.findings.append(Finding(first, f"batch {first}-{last}: frame checksum mismatch"))
                self.ok = False
            else:
                self.chain = chain_next(self.chain, first, last, crc)
                if stored != self.chain:
                    r.findings.append(Finding(first, f"batch {first}-{last}: chain hash mismatch"))
                    self.ok = False
                else:
                    r.end = self.prev_last = last
                    if self.mark is not None and self.mark.seq == last:
                        self.mark_chain = self.chain
        self._crc, self._n, self._broken = 0, 0, False
        self.cur = next(self.frames, None)


def sqlite_error(path: Path, e: sqlite3.DatabaseError) -> JournalError:
    """SQLite's own errors as what they are: a damaged file is not 'another format'."""
    msg = str(e)
    if "malformed" in msg or "corrupt" in msg:
        return JournalError(f"{path}: the SQLite file is damaged ({msg}). Nothing was changed; run "
                            f"`perpsim journal verify {path.parent}`, or restore the data directory from a backup")
    if "not a database" in msg:
        return JournalError(f"{path}: not a perpsim journal ({msg})")
    return JournalError(f"{path}: cannot open the journal ({msg})")


def _bad_row(seq: int, ts: int, kind: str, body: str, crc: int) -> str:
    if not isinstance(body, str) or not isinstance(kind, str) or command_crc(seq, ts, kind, body) != crc:
        return "checksum mismatch"
    try:
        args = json.loads(body)
    except (ValueError, TypeError):
        return "undecodable body"
    if not isinstance(args, dict):
        return "body is not an object"
    return ""


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
