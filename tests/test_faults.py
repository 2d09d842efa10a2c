"""Fault injection: each fault docs/durability.md names, and its documented outcome.

For every fault: nothing acknowledged is lost without a report, the files are left as they were when
the venue refuses, and the state a venue serves is always one the journal holds (its hash equals a
clean replay of the journal, also after a restart).
"""
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from perpsim.core import exchange as core_exchange
from perpsim.core.exchange import Exchange
from perpsim.core.fixed import parse
from perpsim.venue.dirlock import DirectoryLocked
from perpsim.venue.journal import Journal, JournalDamaged, JournalError, Mark, MarkFile
from perpsim.venue.venue import Venue, VenueFault, replay

from serverkit import free_port, running_server

P = parse
PERPSIM = str(Path(sys.executable).parent / "perpsim")
JOURNAL = "journal.sqlite"


# ---------------------------------------------------------------------- helpers
def populate(v: Venue, batches: int = 10, per_batch: int = 5) -> None:
    """Accounts, a mark, then ``batches`` group-commit batches of ``per_batch`` trades each."""
    v.submit_batch([("create_account", {"deposit": {"USDT": P("100000")}}),
                    ("create_account", {"deposit": {"USDT": P("100000")}}),
                    ("set_mark", {"symbol": "BTCUSDT", "price": P("60000")})])
    for b in range(batches):
        v.submit_batch([("trade", {"buyer": 1 + i % 2, "seller": 2 - i % 2, "symbol": "BTCUSDT", "qty": P("0.01"),
                                   "price": P("60000") + (b * per_batch + i) * P("0.1")}) for i in range(per_batch)])


def made(tmp_path, **kw) -> tuple[Path, str]:
    """A closed data directory with 3 + 50 commands in 11 batches; returns it and its state hash."""
    v = Venue(tmp_path, snapshot_every=0, **kw)
    populate(v)
    h = v.state_hash()
    v.close()
    return tmp_path, h


def files_digest(d: Path) -> dict:
    """Every file's digest but the lock file's (it names whoever opened the directory last) and SQLite's
    shared-memory index (-shm, derived); an empty -wal counts as none (a reader may create one)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())
            if p.is_file() and p.name not in ("venue.lock", JOURNAL + "-shm")
            and not (p.name == JOURNAL + "-wal" and p.stat().st_size == 0)}


def prefix_hash(d: Path, upto: int) -> str:
    j = Journal(d / JOURNAL, "OFF", create=False)
    ex = Exchange()
    for seq, cmd in j.commands():
        if seq > upto:
            break
        ex.apply(cmd)
    j.close()
    return ex.state_hash()


def sql(d: Path, *statements) -> None:
    db = sqlite3.connect(d / JOURNAL)
    for s in statements:
        db.execute(*s) if isinstance(s, tuple) else db.execute(s)
    db.commit()
    db.close()


def cli(*args, input=None):
    return subprocess.run([PERPSIM, *map(str, args)], capture_output=True, text=True, input=input, timeout=60)


def served_equals_journal(v: Venue, d: Path) -> None:
    """What the venue serves is what its journal holds: a clean replay has the same hash."""
    live = v.state_hash()
    assert replay(d)[0].state_hash() == live


# ---------------------------------------------------------------------- a bad row in the middle
def test_a_bad_middle_row_is_refused_untouched_named_and_repaired_only_on_the_operators_word(tmp_path):
    d, _ = made(tmp_path)
    sql(d, "UPDATE commands SET body = replace(body, '1000000', '9000000') WHERE seq = 20")
    before = files_digest(d)
    with pytest.raises(JournalDamaged) as e:
        Venue(d)
    msg = str(e.value)
    assert "damaged at seq 20, before its last batch" in msg and "BAD ROW seq 20: checksum mismatch" in msg
    assert "--truncate-from 20      keeps a copy of the files, then drops seq 20 and after (34 command row(s))" in msg
    assert f"perpsim journal repair {d} --truncate-from 20" in msg and "Nothing was changed" in msg
    assert files_digest(d) == before          # refused: not one byte changed (the lock file aside)

    r = cli("journal", "verify", d)
    assert r.returncode == 1 and "BAD ROW seq 20: checksum mismatch" in r.stdout and r.stdout.rstrip().endswith("FAILED")
    r = cli("serve", "--data-dir", d, "--port", free_port())
    assert r.returncode == 2 and "damaged at seq 20" in r.stderr and "Traceback" not in r.stderr
    r = cli("journal", "repair", d, "--truncate-from", 20)           # no terminal, no --yes: refused
    assert r.returncode == 2 and "--yes" in r.stderr
    r = cli("journal", "repair", d, "--truncate-from", 25, "--yes")  # a cut that keeps a bad row: refused
    assert r.returncode == 2 and "seq 20 is damaged too" in r.stderr
    assert files_digest(d) == before

    r = cli("journal", "repair", d, "--truncate-from", 20, "--yes")
    assert r.returncode == 0, r.stderr
    assert "repair will drop 34 command row(s) from seq 20" in r.stdout
    backups = [p for p in d.iterdir() if p.name.startswith("backup-")]
    assert len(backups) == 1
    kept = files_digest(backups[0])
    assert all(kept[name] == before[name] for name in kept) and JOURNAL in kept
    entry = json.loads((d / "repair.log").read_text().splitlines()[-1])
    assert entry["truncate_from"] == 20 and entry["dropped"] == 34

    v = Venue(d)
    assert v.last_seq == 19 and v.state_hash() == prefix_hash(d, 19)
    assert all(row["seq"] <= 19 for row in v.history.query("trades"))
    assert v.submit("deposit", account_id=1, asset="USDT", amount=P("1")).ok and v.last_seq == 20
    served_equals_journal(v, d)
    v.close()
    assert cli("journal", "verify", d).returncode == 0


def test_a_deleted_middle_batch_frame_or_row_is_refused(tmp_path):
    d, _ = made(tmp_path)
    sql(d, "DELETE FROM commands WHERE seq = 30")
    with pytest.raises(JournalDamaged, match="damaged at seq 30"):
        Venue(d)


# ---------------------------------------------------------------------- a torn last batch
def _tear_last_batch(d: Path, acknowledged: bool) -> int:
    """The last batch's frame gone and one of its rows damaged; the mark at the batch before it
    (the batch was never acknowledged) or left at the torn batch (it was)."""
    db = sqlite3.connect(d / JOURNAL)
    first, last = db.execute("SELECT first_seq, last_seq FROM batches ORDER BY last_seq DESC LIMIT 1").fetchone()
    prev = db.execute("SELECT last_seq, chain FROM batches WHERE last_seq < ? ORDER BY last_seq DESC LIMIT 1",
                      (first,)).fetchone()
    db.execute("DELETE FROM batches WHERE last_seq = ?", (last,))
    db.execute("UPDATE commands SET crc = crc + 1 WHERE seq = ?", (last,))
    db.commit()
    db.close()
    if not acknowledged:
        MarkFile(d / "journal.mark").write(Mark(prev[0], prev[1]), sync=True)
    return first


def test_a_torn_unacknowledged_last_batch_is_dropped_and_reported(tmp_path):
    d, _ = made(tmp_path)
    first = _tear_last_batch(d, acknowledged=False)
    v = Venue(d)
    assert v.last_seq == first - 1 and v.state_hash() == prefix_hash(d, first - 1)
    assert v.recovery.torn.startswith(f"TORN LAST BATCH: dropped 5 unacknowledged journal row(s) from seq {first}")
    assert v.submit("deposit", account_id=1, asset="USDT", amount=P("1")).ok and v.last_seq == first
    served_equals_journal(v, d)
    v.close()


def test_a_torn_batch_that_was_acknowledged_is_refused(tmp_path):
    d, _ = made(tmp_path)
    _tear_last_batch(d, acknowledged=True)
    before = files_digest(d)
    with pytest.raises(JournalDamaged, match="in its last batch, which the commit mark shows was acknowledged"):
        Venue(d)
    assert files_digest(d) == before


# ---------------------------------------------------------------------- a WAL truncated while stopped
_KILLED_WRITER = textwrap.dedent("""
    import os, sys
    from perpsim.core.fixed import parse as P
    from perpsim.venue.venue import Venue
    v = Venue(sys.argv[1], snapshot_every=0)
    v.submit_batch([("create_account", {"deposit": {"USDT": P("1000")}}) for _ in range(2)])
    v.journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")     # the first batch reaches journal.sqlite
    for i in range(30):                                          # these stay in journal.sqlite-wal
        v.submit_batch([("deposit", {"account_id": 1, "asset": "USDT", "amount": P("1") + i})] * 3)
    print(v.last_seq, flush=True)
    os.kill(os.getpid(), 9)                                      # no close, no checkpoint
""")


def test_a_wal_truncated_while_stopped_is_detected_and_refused(tmp_path):
    r = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL
    acked = int(r.stdout.split()[0])
    assert acked == 92
    wal = tmp_path / (JOURNAL + "-wal")
    assert wal.stat().st_size > 0
    wal.write_bytes(b"")                       # the operator's tooling "cleans up" the WAL
    (tmp_path / (JOURNAL + "-shm")).unlink(missing_ok=True)
    with pytest.raises(JournalDamaged) as e:
        Venue(tmp_path)
    msg = str(e.value)
    assert "the commit mark says seq 92 was committed" in msg and "90 committed command(s) are missing" in msg
    r = cli("journal", "verify", tmp_path)
    assert r.returncode == 1 and "90 committed command(s) are missing" in r.stdout
    # the operator accepts the loss on record: the venue then starts on what the journal holds
    r = cli("journal", "repair", tmp_path, "--truncate-from", 3, "--yes")
    assert r.returncode == 0 and "dropped 0 command row(s)" in r.stdout
    v = Venue(tmp_path)
    assert v.last_seq == 2
    v.close()


def test_a_wal_cut_mid_frame_loses_only_unacknowledged_or_reports(tmp_path):
    r = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)], capture_output=True, text=True)
    wal = tmp_path / (JOURNAL + "-wal")
    data = wal.read_bytes()
    wal.write_bytes(data[: len(data) // 2])
    (tmp_path / (JOURNAL + "-shm")).unlink(missing_ok=True)
    with pytest.raises(JournalDamaged, match="committed command\\(s\\) are missing"):
        Venue(tmp_path)


def test_a_journal_replaced_by_another_copy_or_deleted_is_refused(tmp_path):
    d, _ = made(tmp_path / "a")
    other = tmp_path / "b"
    v = Venue(other, snapshot_every=0)
    v.submit("create_account")                  # another history, longer than d's: the mark is not ahead
    populate(v, batches=12)
    v.close()
    (d / JOURNAL).write_bytes((other / JOURNAL).read_bytes())
    with pytest.raises(JournalDamaged, match="not the one the mark was written with"):
        Venue(d)
    (d / JOURNAL).unlink()
    with pytest.raises(JournalDamaged, match="there is no journal, but the commit mark says seq 53"):
        Venue(d)


def test_a_mark_behind_the_journal_is_accepted_an_unreadable_one_refused(tmp_path):
    """Killed between COMMIT and the mark's write, the mark lags one batch: that is no loss. A mark that
    does not decode cannot vouch for anything: refused."""
    d, h = made(tmp_path)
    db = sqlite3.connect(d / JOURNAL)
    last, chain = db.execute("SELECT last_seq, chain FROM batches ORDER BY last_seq DESC LIMIT 1 OFFSET 1").fetchone()
    db.close()
    MarkFile(d / "journal.mark").write(Mark(last, chain), sync=True)
    v = Venue(d)
    assert v.state_hash() == h and v.last_seq == 53
    v.close()
    (d / "journal.mark").write_bytes(b"perpsim-mark 1 garbage\n")
    with pytest.raises(JournalDamaged, match="commit mark journal.mark is unreadable"):
        Venue(d)


def test_a_journal_from_before_batch_frames_is_framed_once_intact(tmp_path):
    d, h = made(tmp_path)
    sql(d, "DROP TABLE batches", "DELETE FROM meta WHERE key = 'framing'")
    (d / "journal.mark").unlink()
    v = Venue(d)
    assert v.state_hash() == h and v.last_seq == 53
    assert v.submit("deposit", account_id=1, asset="USDT", amount=P("1")).ok
    v.close()
    assert cli("journal", "verify", d).returncode == 0


# ---------------------------------------------------------------------- a corrupt index page
def _corrupt_page_of(d: Path, index: str) -> None:
    db = sqlite3.connect(d / JOURNAL)
    page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)).fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(d / JOURNAL, "r+b") as f:
        f.seek((page - 1) * size + 8)
        f.write(b"\x7f" * 64)


def test_a_corrupt_index_page_is_found_at_open_and_by_verify_and_reindexed_on_the_operators_word(tmp_path):
    d, h = made(tmp_path)
    assert not (d / (JOURNAL + "-wal")).exists()      # a clean close checkpointed everything into the file
    _corrupt_page_of(d, "trades_seq")
    before = files_digest(d)
    with pytest.raises(JournalDamaged) as e:
        Venue(d)
    assert "the SQLite file is damaged" in str(e.value) and "SQLITE:" in str(e.value)
    assert "--reindex" in str(e.value)
    assert files_digest(d) == before
    r = cli("journal", "verify", d)
    assert r.returncode == 1 and "SQLITE:" in r.stdout and "FAILED" in r.stdout
    r = cli("journal", "repair", d, "--reindex", "--yes")
    assert r.returncode == 0 and "integrity check: ok" in r.stdout
    v = Venue(d)
    assert v.state_hash() == h
    v.close()


def test_a_malformed_database_is_reported_as_damaged_not_as_another_format(tmp_path):
    d, _ = made(tmp_path)
    with open(d / JOURNAL, "r+b") as f:            # the schema page (page 1, after the 100-byte header)
        f.seek(100)
        f.write(b"\xff" * 200)
    with pytest.raises(JournalError) as e:
        Venue(d)
    assert "damaged" in str(e.value) and "not a perpsim journal" not in str(e.value)
    r = cli("journal", "verify", d)
    assert r.returncode in (1, 2) and "damaged" in (r.stdout + r.stderr) and "Traceback" not in r.stderr


# ---------------------------------------------------------------------- journal write failures
class _FailingCommit:
    """The journal's connection, whose next COMMIT fails as SQLite reports ``error``."""

    def __init__(self, db, error):
        self._db, self._error, self.armed = db, error, True

    def execute(self, statement, *a):
        if self.armed and statement == "COMMIT":
            self.armed = False
            raise self._error
        return self._db.execute(statement, *a)

    def __getattr__(self, name):
        return getattr(self._db, name)


def test_disk_full_at_commit_refuses_the_batch_serves_only_the_journal_and_goes_on(tmp_path):
    v = Venue(tmp_path, snapshot_every=0)
    populate(v, batches=2)
    before, last = v.state_hash(), v.last_seq
    v.journal.db = _FailingCommit(v.journal.db, sqlite3.OperationalError("database or disk is full"))
    with pytest.raises(VenueFault) as e:
        v.submit_batch([("deposit", {"account_id": 1, "asset": "USDT", "amount": P("5")}),
                        ("withdraw", {"account_id": 2, "asset": "USDT", "amount": P("5")})])
    assert e.value.code == -1001 and e.value.http_status == 503 and "nothing was done" in e.value.msg
    assert v.state_hash() == before and v.last_seq == last and not v.faulted
    assert v.submit("deposit", account_id=1, asset="USDT", amount=P("5")).ok     # the venue goes on
    served_equals_journal(v, tmp_path)
    h = v.state_hash()
    v.close()
    v = Venue(tmp_path)
    assert v.state_hash() == h
    v.close()


def test_an_io_error_at_commit_stops_the_venue_on_the_journals_state(tmp_path):
    v = Venue(tmp_path, snapshot_every=0)
    populate(v, batches=2)
    before = v.state_hash()
    v.journal.db = _FailingCommit(v.journal.db, sqlite3.OperationalError("disk I/O error"))
    with pytest.raises(VenueFault) as e:
        v.submit("deposit", account_id=1, asset="USDT", amount=P("5"))
    assert e.value.code == -1007 and "execution status unknown" in e.value.msg
    assert v.state_hash() == before and v.faulted
    with pytest.raises(VenueFault, match="The venue stopped"):
        v.submit("deposit", account_id=1, asset="USDT", amount=P("5"))
    v.close()
    v = Venue(tmp_path)
    assert v.state_hash() == before
    v.close()


def test_sqlite_full_for_real_then_space_again(tmp_path):
    """SQLite's own SQLITE_FULL (max_page_count caps the file), no injection in Python."""
    v = Venue(tmp_path, snapshot_every=0)
    populate(v, batches=1)
    pages = v.journal.db.execute("PRAGMA page_count").fetchone()[0]
    v.journal.db.execute(f"PRAGMA max_page_count={pages}")
    acked, refused = 0, 0
    for i in range(200):
        try:
            v.submit_batch([("create_account", {"deposit": {"USDT": P("10")}})] * 20)
            acked += 1
        except VenueFault as e:
            assert e.code == -1001
            refused += 1
            served_equals_journal(v, tmp_path)
            break
    assert refused == 1
    v.journal.db.execute(f"PRAGMA max_page_count={pages * 100}")
    assert v.submit("deposit", account_id=1, asset="USDT", amount=P("5")).ok
    h, last = v.state_hash(), v.last_seq
    v.close()
    v = Venue(tmp_path)
    assert v.state_hash() == h and v.last_seq == last
    v.close()


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_filesystem_refuses_batches_and_never_serves_them(tiny_tmpfs):
    d = tiny_tmpfs / "data"
    v = Venue(d, snapshot_every=0)
    populate(v, batches=1)
    filler = tiny_tmpfs / "filler"
    free = os.statvfs(tiny_tmpfs).f_bavail * os.statvfs(tiny_tmpfs).f_frsize
    filler.write_bytes(b"\0" * (free - 256 * 1024))   # leave 256 KiB, then fill it with commands
    acked, fault = 0, None
    for i in range(400):
        try:
            v.submit_batch([("create_account", {"deposit": {"USDT": P("10")}})] * 50)
            acked += 1
        except VenueFault as e:
            fault = e
            served_equals_journal(v, d)
            break
    assert fault is not None, "the filesystem never filled"
    assert acked > 0 and fault.code == -1001 and "full" in fault.msg, (acked, fault)
    filler.unlink()
    if not v.faulted:
        assert v.submit("deposit", account_id=1, asset="USDT", amount=P("5")).ok
    h, last = v.state_hash(), v.last_seq
    v.close()
    v = Venue(d)
    assert v.state_hash() == h and v.last_seq == last
    v.close()


# ---------------------------------------------------------------------- two servers on one directory
def test_a_second_venue_on_one_directory_is_refused_naming_the_holder(tmp_path):
    v = Venue(tmp_path)
    with pytest.raises(DirectoryLocked) as e:
        Venue(tmp_path)
    assert f"pid {os.getpid()}" in str(e.value) and "in use by" in str(e.value)
    r = cli("journal", "repair", tmp_path, "--reindex", "--yes")
    assert r.returncode == 2 and f"pid {os.getpid()}" in r.stderr
    v.close()
    Venue(tmp_path).close()                        # released at close


def test_a_second_perpsim_serve_is_refused_and_a_killed_holder_frees_the_directory(tmp_path):
    port = free_port()
    first = subprocess.Popen([PERPSIM, "serve", "--data-dir", str(tmp_path), "--port", str(port), "--clock", "sim"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while b"pid" not in (tmp_path / "venue.lock").read_bytes() if (tmp_path / "venue.lock").exists() else True:
            assert time.time() < deadline and first.poll() is None
            time.sleep(0.05)
        r = cli("serve", "--data-dir", tmp_path, "--port", free_port(), "--clock", "sim")
        assert r.returncode == 2 and f"in use by pid {first.pid}" in r.stderr and "Traceback" not in r.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    v = Venue(tmp_path)                            # kill -9 released the lock
    v.close()


# ---------------------------------------------------------------------- raise inside a handler
@pytest.fixture
def exploding_deposit(monkeypatch):
    """The core's deposit handler raises OverflowError for an amount of 13 (as a core bug would)."""
    real = core_exchange.HANDLERS["deposit"]

    def deposit(ex, account_id, asset, amount, wallet="FUTURES"):
        if amount == 13:
            ex.clearing.deposit(account_id, wallet, asset, 1, ex.now)   # half-done work first
            if "BTCUSDT" in ex.clearing.marks:
                ex.clearing.marks["BTCUSDT"] = 10**28
            raise OverflowError("Python int too large to convert to C long")
        return real(ex, account_id=account_id, asset=asset, amount=amount, wallet=wallet)
    monkeypatch.setitem(core_exchange.HANDLERS, "deposit", deposit)


def test_a_command_that_raises_is_refused_alone_and_the_venue_goes_on(tmp_path, exploding_deposit):
    v = Venue(tmp_path, snapshot_every=4)
    populate(v, batches=1)
    last = v.last_seq
    good = [("deposit", {"account_id": 1, "asset": "USDT", "amount": 7}),
            ("deposit", {"account_id": 1, "asset": "USDT", "amount": 13}),
            ("deposit", {"account_id": 2, "asset": "USDT", "amount": 9})]
    results = v.submit_batch(good)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error.code == -1000 and results[1].error.http_status == 500
    assert v.last_seq == last + 2                 # the failing command holds no seq
    twin = Venue(tmp_path / "twin", snapshot_every=0)
    populate(twin, batches=1)
    twin.submit_batch([good[0], good[2]])
    assert v.state_hash() == twin.state_hash()    # exactly as if it had never been sent
    assert v.read(lambda ex: ex.clearing.is_balanced())
    assert v.submit("deposit", account_id=1, asset="USDT", amount=P("1")).ok
    served_equals_journal(v, tmp_path)
    twin.close()
    v.close()


def test_without_a_journal_a_command_that_raises_stops_the_venue(exploding_deposit):
    v = Venue(journal=False)
    populate(v, batches=1)
    with pytest.raises(VenueFault) as e:
        v.submit("deposit", account_id=1, asset="USDT", amount=13)
    assert e.value.code == -1000 and "raised inside the core" in v.faulted
    with pytest.raises(VenueFault, match="The venue stopped"):
        v.submit("deposit", account_id=1, asset="USDT", amount=1)


def test_over_http_a_raising_handler_and_an_unbounded_price_change_nothing(tmp_path, exploding_deposit):
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        acct = srv.account(deposit="1000")
        r = srv.http.post("/admin/v1/price", json={"symbol": "BTCUSDT", "price": "1e20"},
                          headers={"X-PERPSIM-ADMIN": "test-admin-token"})
        assert r.status_code == 400 and r.json()["code"] in (-1130, -1100), r.text
        state = srv.service.venue.state_hash()
        r = srv.http.post("/admin/v1/deposit", json={"accountId": acct["accountId"], "asset": "USDT",
                                                     "amount": "0.00000013"},
                          headers={"X-PERPSIM-ADMIN": "test-admin-token"})
        assert r.status_code == 500 and r.json()["code"] == -1000, r.text
        assert srv.service.venue.state_hash() == state
        premium = srv.http.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()
        assert premium["markPrice"].startswith("60000")
        assert srv.price("BTCUSDT", "61000")["markPrice"].startswith("61000")   # and it goes on


def test_over_http_a_cancel_that_cannot_be_journaled_leaves_the_order_new_everywhere(tmp_path):
    """The disk-full case over the API: the cancel is answered 503 -1001 and the order stays NEW, served
    and after a restart (never CANCELED in memory only)."""
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        tr = srv.account(deposit="10000")
        r = srv.signed("POST", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                      "timeInForce": "GTC", "quantity": "0.01", "price": "59000"},
                       body=True)
        assert r.status_code == 200, r.text
        oid = r.json()["orderId"]
        j = srv.service.venue.journal
        j.db = _FailingCommit(j.db, sqlite3.OperationalError("database or disk is full"))
        r = srv.signed("DELETE", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "orderId": oid})
        assert r.status_code == 503 and r.json()["code"] == -1001, r.text
        q = srv.signed("GET", "/fapi/v1/order", tr, {"symbol": "BTCUSDT", "orderId": oid}).json()
        assert q["status"] == "NEW"
        served = srv.service.venue.state_hash()
    v = Venue(tmp_path)
    assert v.state_hash() == served
    resting = v.read(lambda ex: [(o.order_id, o.status) for o in ex.orders.open_orders(tr["accountId"])])
    assert resting == [(oid, "NEW")]
    v.close()
