"""Crash soak: flood a venue in a child process, SIGKILL it at random moments, check recovery.

``python -m perpsim.venue.soak --seconds 600 [--data-dir D]`` runs until the time is up;
the test suite runs it for 20 kills. After every kill: every acknowledged command is in the
journal, unchanged; the recovered state hash equals a clean replay of the journal; the
ledger balances.

The child (``--worker``) prints ``ACK <seq> <crc>`` after each acknowledged batch (only
after the journal commit returned), so the parent knows exactly what was acknowledged.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from perpsim.core.fixed import parse
from perpsim.venue.journal import command_crc, encode_args

SYMBOLS = {"BTCUSDT": (parse("60000"), parse("0.1"), parse("0.001")),
           "ETHUSDT": (parse("3000"), parse("0.01"), parse("0.001"))}
ACCOUNTS = 5


def _random_command(rng: random.Random) -> tuple[str, dict]:
    r = rng.random()
    symbol = rng.choice(sorted(SYMBOLS))
    base, tick, step = SYMBOLS[symbol]
    price = base + rng.randint(-200, 200) * base // 10000
    price -= price % tick
    a, b = rng.sample(range(1, ACCOUNTS + 1), 2)
    if r < 0.55:
        return "trade", {"buyer": a, "seller": b, "symbol": symbol, "qty": rng.randint(1, 50) * step, "price": price,
                         "taker": rng.choice(["BUY", "SELL"])}
    if r < 0.7:
        return "set_mark", {"symbol": symbol, "price": price}
    if r < 0.8:
        return "transfer", {"account_id": a, "type": rng.choice(["MAIN_UMFUTURE", "UMFUTURE_MAIN", "MAIN_FUNDING"]),
                            "asset": "USDT", "amount": rng.randint(1, 2000) * 10**8}
    if r < 0.9:
        return "set_leverage", {"account_id": a, "symbol": symbol, "leverage": rng.randint(1, 130)}
    if r < 0.97:
        return "deposit", {"account_id": a, "asset": "USDT", "amount": rng.randint(1, 1000) * 10**8,
                           "wallet": rng.choice(["SPOT", "FUTURES"])}
    return "withdraw", {"account_id": a, "asset": "USDT", "amount": 10**12}  # usually refused


def worker(data_dir: str, seed: int) -> None:
    from perpsim.venue.venue import Venue

    venue = Venue(data_dir, sync="FULL", snapshot_every=200)
    rng = random.Random(seed)
    if venue.last_seq == 0:
        setup = [("create_account", {"deposit": {"USDT": 50_000 * 10**8}}) for _ in range(ACCOUNTS)]
        setup += [("deposit", {"account_id": i, "asset": "USDT", "amount": 20_000 * 10**8, "wallet": "SPOT"})
                  for i in range(1, ACCOUNTS + 1)]
        setup += [("set_mark", {"symbol": s, "price": p}) for s, (p, _, _) in SYMBOLS.items()]
        _ack(venue, setup)
    while True:
        _ack(venue, [_random_command(rng) for _ in range(rng.randint(1, 6))])


def _ack(venue, batch) -> None:
    venue.submit_batch(batch)
    first = venue.last_seq - len(batch) + 1
    out = []
    for i, (kind, args) in enumerate(batch):
        seq = first + i
        out.append(f"ACK {seq} {zlib.crc32(f'{kind}|{encode_args(args)}'.encode())}\n")
    sys.stdout.write("".join(out))
    sys.stdout.flush()


def check(data_dir: str | Path, acked: dict[int, int]) -> dict:
    """Recover and check: acknowledged commands present and unchanged, hash == clean replay, ledger balanced."""
    import sqlite3

    from perpsim.venue.venue import Venue, replay

    venue = Venue(data_dir, sync="FULL")
    try:
        recovered_hash = venue.state_hash()
        balanced = venue.read(lambda ex: ex.clearing.is_balanced())
        last = venue.last_seq
        tail = venue.recovery.torn
    finally:
        venue.close()
    db = sqlite3.connect(Path(data_dir) / "journal.sqlite")
    rows = {seq: (ts, kind, body, crc) for seq, ts, kind, body, crc in
            db.execute("SELECT seq, ts, kind, body, crc FROM commands")}
    db.close()
    missing = [s for s, c in acked.items() if s not in rows or zlib.crc32(f"{rows[s][1]}|{rows[s][2]}".encode()) != c]
    bad_crc = [s for s, (ts, kind, body, crc) in rows.items() if command_crc(s, ts, kind, body) != crc]
    clean, _ = replay(data_dir)
    return {"missing": missing, "bad_crc": bad_crc, "hash_equal": clean.state_hash() == recovered_hash,
            "balanced": balanced, "commands": last, "tail_dropped": bool(tail)}


def kill_cycles(data_dir: str | Path, kills: int | None = None, seconds: float | None = None,
                seed: int = 1, log=print) -> list[dict]:
    """Start the worker, kill it with SIGKILL after a random delay, check; repeat."""
    rng = random.Random(seed)
    acked: dict[int, int] = {}
    reports = []
    deadline = time.monotonic() + seconds if seconds else None
    i = 0
    while (kills is None or i < kills) and (deadline is None or time.monotonic() < deadline):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, "-m", "perpsim.venue.soak", "--worker", str(data_dir),
                                 "--seed", str(seed * 1000 + i)], stdout=subprocess.PIPE, env=env)
        first = proc.stdout.readline()  # wait until the worker has acknowledged something
        time.sleep(rng.uniform(0.01, 0.3))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        for line in (first + rest).decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "ACK":  # a line cut by the kill is not an acknowledgement
                acked[int(parts[1])] = int(parts[2])
        report = check(data_dir, acked)
        report["kill"] = i + 1
        report["acked"] = len(acked)
        log(json.dumps(report))
        reports.append(report)
        i += 1
    return reports


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", metavar="DATA_DIR")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--data-dir")
    a = p.parse_args()
    if a.worker:
        worker(a.worker, a.seed)
        return
    data_dir = a.data_dir or tempfile.mkdtemp(prefix="perpsim-soak-")
    reports = kill_cycles(data_dir, seconds=a.seconds, seed=a.seed)
    bad = [r for r in reports if r["missing"] or r["bad_crc"] or not r["hash_equal"] or not r["balanced"]]
    print(f"{len(reports)} kills, {reports[-1]['commands'] if reports else 0} commands, {len(bad)} failed checks")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
