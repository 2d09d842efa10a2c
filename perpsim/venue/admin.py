"""Operator checks on a data directory: verify, replay and hash the journal."""
from __future__ import annotations

from pathlib import Path

from perpsim.core.exchange import Exchange

from .history import History
from .journal import Journal
from .venue import JOURNAL_FILE, Venue


def verify_journal(data_dir: str | Path) -> tuple[bool, list[str]]:
    """Read-only: checksums and sequence, each snapshot's hash against a replay, the ledger invariant."""
    j = Journal(Path(data_dir) / JOURNAL_FILE, "OFF", create=False)
    lines, ok = [], True
    try:
        tail = j.check_tail(repair=False)
        if tail:
            ok = False
            lines.append(f"BAD: {tail}")
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
        lines.append(f"{n} command(s) verified; ledger {'balanced' if balanced else 'NOT BALANCED'}; "
                     f"state hash {ex.state_hash()}")
    finally:
        j.close()
    lines.append("OK" if ok else "FAILED")
    return ok, lines


def replay_journal(data_dir: str | Path) -> tuple[int, str, bool]:
    """Rebuild state and history tables from the journal alone."""
    j = Journal(Path(data_dir) / JOURNAL_FILE, "NORMAL", create=False)
    try:
        j.check_tail(repair=True)
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
        j.close()


def hash_journal(data_dir: str | Path) -> str:
    if not (Path(data_dir) / JOURNAL_FILE).exists():
        from .journal import JournalError
        raise JournalError(f"no journal at {Path(data_dir) / JOURNAL_FILE}")
    v = Venue(data_dir, sync="NORMAL")
    try:
        return v.state_hash()
    finally:
        v.close()
