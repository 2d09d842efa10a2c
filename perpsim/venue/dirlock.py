"""One writer per data directory: an exclusive ``flock`` on ``DATA_DIR/venue.lock``.

The lock is held for the venue's life and released by the kernel when the process exits, however
it exits (``kill -9`` included), so a stale lock file never blocks a restart. The file names the
holder (pid, host, start time, command line) so a refused second start can say who holds it.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from .journal import JournalError

LOCK_FILE = "venue.lock"


class DirectoryLocked(JournalError):
    """Another process holds the data directory; the message names it."""


class DirLock:
    def __init__(self, data_dir: str | Path, purpose: str = "venue"):
        self.path = Path(data_dir) / LOCK_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(self.path)
            os.close(fd)
            raise DirectoryLocked(
                f"the data directory {self.path.parent} is in use by {holder}; stop that process first or use "
                "another data directory") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(sys.argv)[:300]}
        data = (json.dumps(info) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __del__(self):   # a venue dropped without close() still frees its directory
        try:
            self.release()
        except Exception:
            pass


def _describe(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return (f"pid {info['pid']} on host {info['host']} ({info.get('purpose', 'venue')}, started "
                f"{info['started']}: {info.get('command', '')})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (its lock file does not say which)"
