"""The venue: the one loop that owns the state.

Commands go in through ``submit``/``submit_batch``. Under one lock (one writer) a batch is
stamped by the clock, appended to the journal, applied to the exchange, its events written to
the history tables, and the transaction committed: one fsync per batch (group commit) when
``sync`` is FULL. Only then are the results returned (acknowledged) and the events published to
subscribers. Readers go through ``read`` and never see half a command.

The data directory is locked for the venue's life (``dirlock``). On open, the venue checks the
journal (SQLite's quick_check, every row and batch frame, the commit mark): damage is refused with
a report (``JournalDamaged``), a torn, unacknowledged last batch is dropped and reported in
``recovery``; then the newest valid snapshot is loaded and the journal after it is replayed.

Faults while running never leave a state the journal does not hold:
- a command that raises inside the core (a bug) is refused alone with -1000: the batch's
  transaction is rolled back, the state rebuilt from the journal, the batch's other commands re-run;
- a journal write that fails (disk full, I/O error) is rolled back and the state rebuilt from the
  journal; the batch's callers get -1001 (disk full: nothing was done, the venue goes on) or -1007
  (another I/O error: the venue stops, a restart recovers what the disk holds).
The guarantees and their tests: docs/durability.md.
"""
from __future__ import annotations

import logging
import os
import pickle
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from perpsim.core.errors import VenueError
from perpsim.core.exchange import Command, Exchange, Result
from perpsim.core.instruments import Instrument

from .clock import make_clock
from .dirlock import DirLock
from .history import History
from .journal import CheckReport, Journal, JournalDamaged, JournalError, MarkFile

JOURNAL_FILE = "journal.sqlite"
log = logging.getLogger("perpsim.venue")


def default_data_dir() -> Path:
    """``$PERPSIM_DATA_DIR``, else ``~/.local/share/perpsim`` (XDG), else ``./perpsim-data``."""
    if os.environ.get("PERPSIM_DATA_DIR"):
        return Path(os.environ["PERPSIM_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or (Path.home() / ".local" / "share" if Path.home().exists() else None)
    return Path(base) / "perpsim" if base else Path("perpsim-data")


class VenueFault(VenueError):
    """The journal could not be written: the batch was not done (-1001), or its outcome is unknown and
    the venue stopped (-1007). Answered as Binance answers an internal failure (HTTP 503)."""

    http_status = 503

    def __init__(self, code: int, msg: str):
        super().__init__(code, msg)


INTERNAL_ERROR = "An unknown error occurred while processing the request."


def _internal_error() -> VenueError:
    """Binance's -1000 for a command the venue failed on (a bug, logged): HTTP 500, the fault is ours."""
    e = VenueError(-1000, INTERNAL_ERROR)
    e.http_status = 500
    return e


@dataclass
class Recovery:
    snapshot_seq: int = 0
    replayed: int = 0
    check: CheckReport | None = None

    @property
    def torn(self) -> str:
        """The report of a dropped torn last batch, or ''."""
        c = self.check
        return c.torn_line() if c is not None and c.torn_from is not None else ""

    def __str__(self) -> str:
        return f"recovered from snapshot at seq {self.snapshot_seq}, replayed {self.replayed} command(s)"


Subscriber = Callable[[int, Command, Result], None]


class _CommandFailed(Exception):
    """A command raised something other than VenueError inside the core or its history rows."""

    def __init__(self, index: int, error: BaseException):
        self.index, self.error = index, error


def _disk_full(e: BaseException) -> bool:
    return isinstance(e, sqlite3.OperationalError) and "full" in str(e)


class Venue:
    def __init__(self, data_dir: str | Path | None = None, sync: str = "FULL", snapshot_every: int = 10_000,
                 clock: str = "sim", instruments: dict[str, Instrument] | None = None, journal: bool = True,
                 integrity_check: bool = True):
        self.clock = make_clock(clock)
        self.snapshot_every = snapshot_every
        self._instruments = instruments
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._faulted = ""
        self.recovery = Recovery()
        self.journal: Journal | None = None
        self.history: History | None = None
        self.dir_lock: DirLock | None = None
        self.exchange = Exchange(instruments)
        if journal:
            path = Path(data_dir) if data_dir is not None else default_data_dir()
            self.dir_lock = DirLock(path)
            try:
                report = check_journal(path / JOURNAL_FILE, "quick_check" if integrity_check else "")
                self.journal = Journal(path / JOURNAL_FILE, sync)
                self.history = History(self.journal.db)
                self._recover(report)
            except BaseException:
                if self.journal is not None:
                    self.journal.close()
                    self.journal = None
                self.dir_lock.release()
                raise

    # ------------------------------------------------------------------ recovery
    def _recover(self, report: CheckReport) -> None:
        j = self.journal
        j.adopt(report)
        if report.torn_from is not None:
            log.warning("%s", report.torn_line())
            j.begin()
            self.history.truncate_after(j.last_seq)
            j.commit()
        base, replayed = self._load()
        self.recovery = Recovery(base, replayed, report)

    def _load(self) -> tuple[int, int]:
        """The state the journal holds: the newest valid snapshot, then every command after it."""
        j = self.journal
        ex, base = Exchange(self._instruments), 0
        for seq, blob, state_hash in j.snapshots():
            try:
                snap = pickle.loads(blob)
            except Exception:  # an unreadable snapshot is skipped; an older one or the journal serves
                continue
            if isinstance(snap, Exchange) and snap.state_hash() == state_hash:
                ex, base = snap, seq
                break
        replayed, last = 0, base
        for last, cmd in j.commands(after=base):
            ex.apply(cmd)
            replayed += 1
        if last != j.last_seq:
            raise JournalError(f"{j.path}: replay stopped at seq {last} of {j.last_seq}; run "
                               f"`perpsim journal verify {j.path.parent}`")
        self.exchange = ex
        return base, replayed

    # ------------------------------------------------------------------ commands
    def submit(self, kind: str, **args: Any) -> Result:
        return self.submit_batch([(kind, args)])[0]

    def submit_batch(self, items: list[tuple[str, dict]]) -> list[Result]:
        """Journal, apply and commit a batch of commands as one transaction; then publish."""
        with self._lock:
            if self._faulted:
                raise VenueFault(-1001, f"The venue stopped: {self._faulted} Restart it to recover from its journal.")
            ex = self.exchange
            cmds = [Command(kind, args, self.clock.stamp(ex.now)) for kind, args in items]
            if self.journal is None:
                seqs = list(range(ex.commands + 1, ex.commands + 1 + len(cmds)))
                try:
                    results = [ex.apply(c) for c in cmds]
                except Exception as e:   # no journal to rebuild from: the state is not trusted any more
                    self._faulted = f"a command raised inside the core ({type(e).__name__}: {e})."
                    log.exception("command raised inside the core; the venue (no journal) stops")
                    raise VenueFault(-1000, INTERNAL_ERROR) from e
            else:
                seqs, results = self._commit(cmds)
            for seq, cmd, r in zip(seqs, cmds, results):
                if seq is None:
                    continue
                for fn in self._subscribers:
                    fn(seq, cmd, r)
            return results

    def _commit(self, cmds: list[Command]) -> tuple[list, list[Result]]:
        """One journal transaction for the batch; a command that raises is refused alone (see module)."""
        j = self.journal
        refused: dict[int, Result] = {}
        while True:
            todo = [i for i in range(len(cmds)) if i not in refused]
            if not todo:
                return [None] * len(cmds), [refused[i] for i in range(len(cmds))]
            try:
                j.begin()
                seqs = j.append([cmds[i] for i in todo])
                done = {}
                for seq, i in zip(seqs, todo):
                    try:
                        r = self.exchange.apply(cmds[i])
                        self.history.write(seq, r.events)
                    except (sqlite3.OperationalError, OSError):
                        raise
                    except Exception as e:
                        raise _CommandFailed(i, e) from e
                    done[i] = (seq, r)
                j.commit()
            except _CommandFailed as f:
                log.error("command %s raised inside the venue; refused alone, state rebuilt from the journal",
                          cmds[f.index].kind, exc_info=f.error)
                self._rollback_and_rebuild(f.error)
                refused[f.index] = Result([], None, _internal_error())
                continue
            except Exception as e:
                self._journal_failed(e)
                raise AssertionError("unreachable")  # _journal_failed raises
            break
        self._maybe_snapshot(seqs)
        seq_of = [None] * len(cmds)
        results = []
        for i in range(len(cmds)):
            if i in done:
                seq_of[i] = done[i][0]
                results.append(done[i][1])
            else:
                results.append(refused[i])
        return seq_of, results

    def _rollback_and_rebuild(self, cause: BaseException) -> None:
        j = self.journal
        try:
            j.rollback()
            self._load()
        except Exception as e:  # the journal cannot even be read back: stop
            self._faulted = f"the journal could not be read back after a failure ({e})."
            log.exception("journal unreadable after a failure; the venue stops")
            raise VenueFault(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                                    "execution status unknown.") from cause

    def _journal_failed(self, e: BaseException) -> None:
        """A journal write failed: serve only what the journal holds; tell every caller of the batch."""
        log.error("journal write failed (%s); rebuilding the state from the journal", e)
        self._rollback_and_rebuild(e)
        if _disk_full(e):   # SQLite rolled the transaction back: nothing of the batch happened
            raise VenueFault(-1001, f"Internal error; unable to process your request. Please try again. "
                                    f"(the journal could not be written: {e}; nothing was done)") from e
        self._faulted = f"a journal write failed ({e})."
        raise VenueFault(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                                f"execution status unknown. (journal write failed: {e}; the venue stopped)") from e

    def _maybe_snapshot(self, seqs: list[int]) -> None:
        if self.snapshot_every and seqs[-1] // self.snapshot_every != (seqs[0] - 1) // self.snapshot_every:
            try:
                self.snapshot()
            except Exception as e:  # the journal holds every command: a snapshot is only a shortcut
                self.journal.rollback()
                log.warning("snapshot at seq %s not written (%s)", seqs[-1], e)

    def snapshot(self) -> None:
        with self._lock:
            if self.journal is None:
                return
            blob = pickle.dumps(self.exchange, protocol=pickle.HIGHEST_PROTOCOL)
            self.journal.begin()
            self.journal.write_snapshot(self.journal.last_seq, blob, self.exchange.state_hash())
            self.journal.commit()
            self.journal.sync_mark()

    # ------------------------------------------------------------------ readers
    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(seq, command, result)`` after each acknowledged command; returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn)

    def read(self, fn: Callable[[Exchange], Any]) -> Any:
        """Run ``fn`` on the state between commands."""
        with self._lock:
            return fn(self.exchange)

    def state_hash(self) -> str:
        return self.read(lambda ex: ex.state_hash())

    @property
    def last_seq(self) -> int:
        return self.journal.last_seq if self.journal else self.exchange.commands

    @property
    def faulted(self) -> str:
        """Why the venue stopped accepting commands, or ''."""
        return self._faulted

    def close(self) -> None:
        with self._lock:
            if self.journal is not None:
                self.journal.close()
                self.journal = None
            if self.dir_lock is not None:
                self.dir_lock.release()
                self.dir_lock = None


def check_journal(path: Path, integrity: str = "quick_check") -> CheckReport:
    """Check a journal read-only, before anything may write to it; raise ``JournalDamaged`` on damage."""
    if not path.exists() or path.stat().st_size == 0:
        report = CheckReport(path)
        exists, mark = MarkFile(path.with_suffix(".mark")).read()
        if exists and (mark is None or mark.seq):
            report.mark = mark
            report.mark_problem = (f"there is no journal, but the commit mark says seq {mark.seq} was committed"
                                   if mark else "there is no journal, and the commit mark is unreadable")
            raise JournalDamaged(report)
        return report
    j = Journal(path, "OFF", readonly=True)
    try:
        report = j.check(integrity=integrity)
    finally:
        j.close()
    if report.refuse:
        raise JournalDamaged(report)
    return report


def replay(data_dir: str | Path, instruments: dict[str, Instrument] | None = None) -> tuple[Exchange, int]:
    """Rebuild the state from the journal alone (no snapshot); returns it and the commands applied."""
    j = Journal(Path(data_dir) / JOURNAL_FILE, "OFF", create=False)
    try:
        ex = Exchange(instruments)
        n = 0
        for _seq, cmd in j.commands():
            ex.apply(cmd)
            n += 1
        return ex, n
    finally:
        j.close()
