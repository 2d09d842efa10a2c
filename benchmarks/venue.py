"""``perpsim bench venue``: commands per second through the venue, journal FULL vs NORMAL vs off.

The same seeded command stream (trades, marks, transfers, leverage changes) runs through a
venue with the journal at synchronous=FULL, at NORMAL, and with no journal, one command per
commit and in batches of 64 (group commit). The state hashes must be equal across all runs.
Ratios are the journal-off time over each journaled time (how much durability costs).
"""
from __future__ import annotations

import random
import shutil
import tempfile
import time

from perpsim.venue.soak import ACCOUNTS, SYMBOLS, _random_command
from perpsim.venue.venue import Venue


def _stream(n: int, seed: int = 42) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    setup = [("create_account", {"deposit": {"USDT": 50_000 * 10**8}}) for _ in range(ACCOUNTS)]
    setup += [("set_mark", {"symbol": s, "price": p}) for s, (p, _, _) in SYMBOLS.items()]
    return setup + [_random_command(rng) for _ in range(n)]


def _run(stream, sync: str | None, batch: int) -> tuple[float, str]:
    d = tempfile.mkdtemp(prefix="perpsim-bench-")
    try:
        v = Venue(d, sync=sync or "OFF", journal=sync is not None, snapshot_every=0)
        t0 = time.perf_counter()
        for i in range(0, len(stream), batch):
            v.submit_batch(stream[i:i + batch])
        elapsed = time.perf_counter() - t0
        h = v.state_hash()
        v.close()
        return elapsed, h
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run(quick: bool = False) -> dict:
    stream = _stream(3_000 if quick else 20_000)
    n = len(stream)
    out: dict = {"benchmark": "venue", "quick": quick, "commands": n}
    hashes = set()
    times = {}
    for batch in (1, 64):
        for sync in ("FULL", "NORMAL", None):
            best = None
            for _ in range(3):
                t, h = _run(stream, sync, batch)
                hashes.add(h)
                best = t if best is None else min(best, t)
            name = f"{(sync or 'off').lower()}_batch{batch}"
            times[name] = best
            out[f"{name}_cmds_per_s"] = round(n / best)
            print(f"journal {sync or 'off':>6}, {batch:>2} command(s) per commit: {n / best:>9,.0f} commands/s")
    out["state_hash_equal"] = len(hashes) == 1
    out["state_hash"] = hashes.pop() if len(hashes) == 1 else None
    for batch in (1, 64):
        off = times[f"off_batch{batch}"]
        out[f"ratio_full_vs_off_batch{batch}"] = round(off / times[f"full_batch{batch}"], 3)
        out[f"ratio_normal_vs_off_batch{batch}"] = round(off / times[f"normal_batch{batch}"], 3)
    out["ratio_full_batch64_vs_full_batch1"] = round(times["full_batch1"] / times["full_batch64"], 3)
    print(f"state hash equal across all runs: {out['state_hash_equal']}")
    return out
