"""Operator tools on a data directory: verify, replay, hash and repair the journal.

``verify`` only reads (it may run beside a live venue). ``replay`` and ``repair`` take the data
directory's lock, so they refuse while a venue runs on it. ``repair`` is the only code that deletes
journal rows on purpose: it copies the original files first and logs what it did to
``DATA_DIR/repair.log``.
"""
from __future__ import annotations

import getpass
import json
import shutil
import socket
from pathlib import Path

from perpsim.core.exchange import Exchange

from .dirlock import DirLock
from .history import History
from .journal import Journal, JournalError, utc_now
from .venue import JOURNAL_FILE, Venue, check_journal

REPAIR_LOG = "repair.log"
JOURNAL_FILES = (JOURNAL_FILE, JOURNAL_FILE + "-wal", JOURNAL_FILE + "-shm", "journal.mark")


def verify_journal(data_dir: str | Path) -> tuple[bool, list[str]]:
    """Read-only: SQLite's integrity check, every row and batch frame, the commit mark, each snapshot's
    hash against a replay, the ledger invariant. Bad rows are named by seq."""
    j = Journal(Path(data_dir) / JOURNAL_FILE, "OFF", readonly=True)
    try:
        report = j.check(integrity="integrity_check")
        lines = report.lines(limit=200)
        ok = report.ok
        if not report.sqlite:
            snapshots = {seq: h for seq, _blob, h in j.snapshots()}
            ex = Exchange()
            n = 0
            for seq, cmd in j.commands():
                ex.apply(cmd)
                n = seq
                if seq in snapshots:
                    same = ex.state_hash() == snapshots[seq]
                    ok &= same
                    lines.append(f"snapshot at seq {seq}: {'matches' if same else 'DIFFERS FROM'} the replay")
            balanced = ex.clearing.is_balanced()
            ok &= balanced
            lines.append(f"{n} command(s) replayed; ledger {'balanced' if balanced else 'NOT BALANCED'}; "
                         f"state hash {ex.state_hash()}")
    finally:
        j.close()
    if report.refuse:
        lines += report.refusal().splitlines()[-4:]
    lines.append("OK" if ok else "FAILED")
    return ok, lines


def replay_journal(data_dir: str | Path) -> tuple[int, str, bool]:
    """Rebuild state and history tables from the journal alone (refused on a damaged journal)."""
    lock = DirLock(data_dir, "journal replay")
    j = None
    try:
        if not (Path(data_dir) / JOURNAL_FILE).exists():
            raise JournalError(f"no journal at {Path(data_dir) / JOURNAL_FILE}")
        report = check_journal(Path(data_dir) / JOURNAL_FILE)
        j = Journal(Path(data_dir) / JOURNAL_FILE, "NORMAL", create=False)
        j.adopt(report)
        history = History(j.db)
        ex = Exchange()
        n = 0
        j.begin()
        history.clear()
        for seq, cmd in j.commands():
            history.write(seq, ex.apply(cmd).events)
            n += 1
        j.commit()
        return n, ex.state_hash(), ex.clearing.is_balanced()
    finally:
        if j is not None:
            j.close()
        lock.release()


def hash_journal(data_dir: str | Path) -> str:
    if not (Path(data_dir) / JOURNAL_FILE).exists():
        raise JournalError(f"no journal at {Path(data_dir) / JOURNAL_FILE}")
    v = Venue(data_dir, sync="NORMAL")
    try:
        return v.state_hash()
    finally:
        v.close()


def repair_plan(data_dir: str | Path, truncate_from: int | None) -> list[str]:
    """What a repair would drop, read-only (shown before the operator confirms)."""
    j = Journal(Path(data_dir) / JOURNAL_FILE, "OFF", readonly=True)
    try:
        report = j.check(integrity="")
        lines = report.lines(limit=20)
        if truncate_from is not None:
            n = j.db.execute("SELECT COUNT(*) FROM commands WHERE seq >= ?", (truncate_from,)).fetchone()[0]
            lines.append(f"repair will drop {n} command row(s) from seq {truncate_from} (and their history rows and "
                         f"snapshots), and set the commit mark to seq {truncate_from - 1}")
        return lines
    finally:
        j.close()


def repair_journal(data_dir: str | Path, truncate_from: int | None = None, reindex: bool = False) -> list[str]:
    """The operator's repair: copy the files aside, then truncate from a seq and/or rebuild the indexes."""
    if truncate_from is None and not reindex:
        raise JournalError("nothing to do: give --truncate-from SEQ and/or --reindex")
    data_dir = Path(data_dir)
    if not (data_dir / JOURNAL_FILE).exists():
        raise JournalError(f"no journal at {data_dir / JOURNAL_FILE}")
    lock = DirLock(data_dir, "journal repair")
    try:
        if truncate_from is not None:   # refuse a cut that keeps a damaged row before copying anything
            j = Journal(data_dir / JOURNAL_FILE, "OFF", readonly=True)
            try:
                bad = [f for f in j.check(integrity="").findings if f.seq < truncate_from]
            finally:
                j.close()
            if bad:
                raise JournalError(f"seq {bad[0].seq} is damaged too ({bad[0].what}): truncate from seq "
                                   f"{bad[0].seq} or earlier")
            if truncate_from < 1:
                raise JournalError("--truncate-from must be at least 1")
        backup = data_dir / f"backup-{utc_now().replace(':', '')}"
        n = 1
        while backup.exists():
            backup = data_dir / f"backup-{utc_now().replace(':', '')}-{n}"
            n += 1
        backup.mkdir()
        for name in JOURNAL_FILES:   # byte for byte, before SQLite opens (and checkpoints) anything
            if (data_dir / name).exists():
                shutil.copy2(data_dir / name, backup / name)
        lines = [f"copied the original files to {backup}"]
        entry = {"time": utc_now(), "user": getpass.getuser(), "host": socket.gethostname(), "backup": str(backup)}
        j = Journal(data_dir / JOURNAL_FILE, "FULL", create=False)
        try:
            if reindex:
                j.db.execute("REINDEX")
                msgs = [r[0] for r in j.db.execute("PRAGMA integrity_check")]
                entry["reindex"] = msgs
                lines.append("rebuilt every index; integrity check: " + "; ".join(msgs[:5]))
            if truncate_from is not None:
                dropped = j.truncate_from(truncate_from)
                history = History(j.db)
                j.begin()
                history.truncate_after(truncate_from - 1)
                j.commit()
                entry.update(truncate_from=truncate_from, dropped=dropped)
                lines.append(f"dropped {dropped} command row(s) from seq {truncate_from}; the journal now ends at "
                             f"seq {j.last_seq} and the commit mark says so")
        finally:
            j.close()
        with open(data_dir / REPAIR_LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")
        lines.append(f"logged to {data_dir / REPAIR_LOG}")
        return lines
    finally:
        lock.release()
