"""The venue: the one loop that owns the state.

Commands go in through ``submit``/``submit_batch``. Under one lock (one writer) a batch is
stamped by the clock, appended to the journal, applied to the exchange, its events written to
the history tables, and the transaction committed: one fsync per batch (group commit) when
``sync`` is FULL. Only then are the results returned (acknowledged) and the events published to
subscribers. Readers go through ``read`` and never see half a command.

On open, the venue recovers: the journal's tail is checked (a corrupt tail is dropped and
reported in ``recovery``), the newest valid snapshot is loaded and the journal after it is
replayed. Recovery reproduces the state hash of a clean replay.
"""
from __future__ import annotations

import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from perpsim.core.exchange import Command, Exchange, Result
from perpsim.core.instruments import Instrument

from .clock import make_clock
from .history import History
from .journal import Journal, TailReport

JOURNAL_FILE = "journal.sqlite"


def default_data_dir() -> Path:
    """``$PERPSIM_DATA_DIR``, else ``~/.local/share/perpsim`` (XDG), else ``./perpsim-data``."""
    if os.environ.get("PERPSIM_DATA_DIR"):
        return Path(os.environ["PERPSIM_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or (Path.home() / ".local" / "share" if Path.home().exists() else None)
    return Path(base) / "perpsim" if base else Path("perpsim-data")


class VenueFault(RuntimeError):
    """The journal could not be written: the venue stops accepting commands (recover by reopening)."""


@dataclass
class Recovery:
    snapshot_seq: int = 0
    replayed: int = 0
    tail: TailReport | None = None

    def __str__(self) -> str:
        s = f"recovered from snapshot at seq {self.snapshot_seq}, replayed {self.replayed} command(s)"
        return s + (f"; {self.tail}" if self.tail else "")


Subscriber = Callable[[int, Command, Result], None]


class Venue:
    def __init__(self, data_dir: str | Path | None = None, sync: str = "FULL", snapshot_every: int = 10_000,
                 clock: str = "sim", instruments: dict[str, Instrument] | None = None, journal: bool = True):
        self.clock = make_clock(clock)
        self.snapshot_every = snapshot_every
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._faulted = False
        self.recovery = Recovery()
        self.journal: Journal | None = None
        self.history: History | None = None
        self.exchange = Exchange(instruments)
        if journal:
            path = Path(data_dir) if data_dir is not None else default_data_dir()
            self.journal = Journal(path / JOURNAL_FILE, sync)
            self.history = History(self.journal.db)
            self._recover(instruments)

    # ------------------------------------------------------------------ recovery
    def _recover(self, instruments) -> None:
        j = self.journal
        tail = j.check_tail(repair=True)
        base = 0
        for seq, blob, state_hash in j.snapshots():
            try:
                ex = pickle.loads(blob)
            except Exception:  # an unreadable snapshot is skipped; an older one or the journal serves
                continue
            if isinstance(ex, Exchange) and ex.state_hash() == state_hash:
                self.exchange, base = ex, seq
                break
        replayed = 0
        for _seq, cmd in j.commands(after=base):
            self.exchange.apply(cmd)
            replayed += 1
        if tail:
            self.history.truncate_after(j.last_seq)
        self.recovery = Recovery(base, replayed, tail)

    # ------------------------------------------------------------------ commands
    def submit(self, kind: str, **args: Any) -> Result:
        return self.submit_batch([(kind, args)])[0]

    def submit_batch(self, items: list[tuple[str, dict]]) -> list[Result]:
        """Journal, apply and commit a batch of commands as one transaction; then publish."""
        with self._lock:
            if self._faulted:
                raise VenueFault("the venue stopped after a journal failure; reopen it to recover")
            ex = self.exchange
            cmds = []
            for kind, args in items:
                cmds.append(Command(kind, args, self.clock.stamp(ex.now)))
            j = self.journal
            if j is None:
                seqs = list(range(ex.commands + 1, ex.commands + 1 + len(cmds)))
                results = [ex.apply(c) for c in cmds]
            else:
                try:
                    j.begin()
                    seqs = j.append(cmds)
                    results = []
                    for seq, cmd in zip(seqs, cmds):
                        r = ex.apply(cmd)
                        self.history.write(seq, r.events)
                        results.append(r)
                    j.commit()
                except Exception as e:
                    # the in-memory state may be ahead of the disk: stop, the journal is the truth
                    self._faulted = True
                    j.rollback()
                    raise VenueFault(f"journal write failed: {e}") from e
                if self.snapshot_every and seqs[-1] // self.snapshot_every != (seqs[0] - 1) // self.snapshot_every:
                    self.snapshot()
            for seq, cmd, r in zip(seqs, cmds, results):
                for fn in self._subscribers:
                    fn(seq, cmd, r)
            return results

    def snapshot(self) -> None:
        with self._lock:
            if self.journal is None:
                return
            blob = pickle.dumps(self.exchange, protocol=pickle.HIGHEST_PROTOCOL)
            self.journal.begin()
            self.journal.write_snapshot(self.journal.last_seq, blob, self.exchange.state_hash())
            self.journal.commit()

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

    def close(self) -> None:
        with self._lock:
            if self.journal is not None:
                self.journal.close()
                self.journal = None


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
