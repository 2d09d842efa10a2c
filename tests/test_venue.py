"""The durable venue: journal, recovery, corrupted tails, versions, snapshots, crash test."""
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from perpsim.core.fixed import parse
from perpsim.venue.journal import JournalError
from perpsim.venue.soak import kill_cycles
from perpsim.venue.venue import Venue, replay

P = parse
PERPSIM = str(Path(sys.executable).parent / "perpsim")


def populate(v: Venue, trades: int = 20):
    v.submit("create_account", deposit={"USDT": P("10000")})
    v.submit("create_account", deposit={"USDT": P("10000")})
    v.submit("set_mark", symbol="BTCUSDT", price=P("60000"))
    for i in range(trades):
        v.submit("trade", buyer=1 + i % 2, seller=2 - i % 2, symbol="BTCUSDT", qty=P("0.01"),
                 price=P("60000") + i * P("0.1"))


def test_sigkill_crash_test_20_kills(tmp_path):
    """A real process under a flood of commands, SIGKILLed 20 times: nothing acknowledged is lost."""
    reports = kill_cycles(tmp_path, kills=20, seed=7, log=lambda _: None)
    assert len(reports) == 20
    for r in reports:
        assert r["missing"] == [] and r["bad_crc"] == [], r
        assert r["hash_equal"] and r["balanced"], r
    assert reports[-1]["acked"] > 100


def test_recovery_reproduces_the_state_hash(tmp_path):
    v = Venue(tmp_path, snapshot_every=7)
    populate(v)
    h = v.state_hash()
    v.close()
    v2 = Venue(tmp_path)
    assert v2.state_hash() == h
    assert v2.recovery.snapshot_seq == 21 and v2.recovery.replayed == 2
    ex, n = replay(tmp_path)
    assert n == 23 and ex.state_hash() == h


def test_same_commands_same_hash_with_journal_full_normal_or_off(tmp_path):
    hashes = set()
    for i, (sync, journal) in enumerate((("FULL", True), ("NORMAL", True), ("OFF", True), ("FULL", False))):
        v = Venue(tmp_path / str(i), sync=sync, journal=journal)
        populate(v)
        hashes.add(v.state_hash())
        v.close()
    assert len(hashes) == 1


def replay_prefix(path, upto):
    from perpsim.core.exchange import Exchange
    from perpsim.venue.journal import Journal
    j = Journal(path / "journal.sqlite", "OFF", create=False)
    ex = Exchange()
    for seq, cmd in j.commands():
        if seq > upto:
            break
        ex.apply(cmd)
    j.close()
    return ex.state_hash(), upto


def test_a_garbage_row_after_the_last_batch_is_a_torn_batch(tmp_path):
    v = Venue(tmp_path, snapshot_every=0)
    populate(v, trades=3)
    v.close()
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.execute("INSERT INTO commands VALUES (9, 0, 'deposit', 'not json', 0)")
    db.commit()
    db.close()
    v2 = Venue(tmp_path)   # a row after the last batch frame, never acknowledged: a torn last batch
    assert v2.recovery.check.torn_rows == 1 and v2.last_seq == 6
    assert "TORN LAST BATCH: dropped 1 unacknowledged journal row(s) from seq 7" in v2.recovery.torn


def test_a_journal_from_another_version_is_refused(tmp_path):
    v = Venue(tmp_path)
    populate(v, trades=1)
    v.close()
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.execute("UPDATE meta SET value = '999' WHERE key = 'state_format'")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="written by another perpsim version"):
        Venue(tmp_path)
    r = subprocess.run([PERPSIM, "journal", "hash", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "another perpsim version" in r.stderr and "Traceback" not in r.stderr


def test_not_a_journal_is_refused(tmp_path):
    (tmp_path / "journal.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match="not a perpsim journal"):
        Venue(tmp_path)


def test_a_corrupted_snapshot_falls_back(tmp_path):
    v = Venue(tmp_path, snapshot_every=5)
    populate(v)
    h = v.state_hash()
    v.close()
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    newest = db.execute("SELECT MAX(seq) FROM snapshots").fetchone()[0]
    db.execute("UPDATE snapshots SET state = X'00' WHERE seq = ?", (newest,))
    db.commit()
    db.close()
    v2 = Venue(tmp_path)
    assert v2.recovery.snapshot_seq < newest and v2.state_hash() == h


def test_batches_commit_together_and_publish_in_order(tmp_path):
    v = Venue(tmp_path)
    seen = []
    v.subscribe(lambda seq, cmd, result: seen.append((seq, cmd.kind, result.ok)))
    results = v.submit_batch([("create_account", {}), ("deposit", {"account_id": 1, "asset": "USDT", "amount": 5}),
                              ("withdraw", {"account_id": 1, "asset": "USDT", "amount": 6}), ("nope", {})])
    assert [r.ok for r in results] == [True, True, False, False]
    assert results[2].error.code == -5013 and results[3].error.code == -1020
    assert seen == [(1, "create_account", True), (2, "deposit", True), (3, "withdraw", False), (4, "nope", False)]
    income = v.history.query("balance_changes", account_id=1)
    assert [(r["reason"], r["delta"]) for r in income] == [("DEPOSIT", 5)]


def test_history_tables_are_rebuilt_by_journal_replay(tmp_path):
    v = Venue(tmp_path)
    populate(v, trades=4)
    before = v.history.query("trades")
    v.close()
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.execute("DELETE FROM trades")
    db.commit()
    db.close()
    r = subprocess.run([PERPSIM, "journal", "replay", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0 and '"ledgerBalanced": true' in r.stdout
    v2 = Venue(tmp_path)
    assert v2.history.query("trades") == before and len(before) == 8
