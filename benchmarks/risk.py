"""Benchmark: the risk pass at a mark tick of a quiet market, indexed against a full re-check.

Population (seeded, ``random.Random(7)``), built through ``Exchange.apply``: 100k accounts (quick:
10k) in pairs that trade with each other at the index (a ``trade`` command), on BTCUSDT or ETHUSDT,
one long and one short; half the pairs isolated at 2x-5x leverage, the others cross with a wallet of
30-60% of the notional. Nobody is near a threshold: margin ratios of 1-3% (margin calls at 80%, the
guard's alerts at 50/70/90%), liquidation prices 20% or more away (the alerts at 10% and 5%).

The state is built once and loaded twice from one pickle (as a snapshot is): ``risk_scan`` "indexed"
(the default) and "full" (every holder re-checked on every mark: liquidation, margin calls, the
guard's alerts). Each runs the same ticks: a ``set_mark`` of BTCUSDT or ETHUSDT alternately, moving
0.2% up and down, through ``Exchange.apply`` (so every stage of a mark: triggers, the detector, the
waterfall, negative-balance protection, margin calls, the guard). The first tick of each symbol
builds the derived indexes and is reported apart. Check: the events of every tick and the final state
hash are equal in both modes. Timing: ``perf_counter`` per tick, GC off; the ratio is of the medians.
Memory: the resident-set growth over the first ticks of the indexed run (the detector and the two
status indexes being built), per account.
"""
from __future__ import annotations

import gc
import os
import pickle
import random
import statistics
import time

from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import SCALE

SYMBOLS = {"BTCUSDT": 60_000 * SCALE, "ETHUSDT": 3_000 * SCALE}
UNITS = {"BTCUSDT": 10**5, "ETHUSDT": 10**6}       # 0.001 BTC, 0.01 ETH


def build(accounts: int, seed: int = 7) -> Exchange:
    rng = random.Random(seed)
    ex = Exchange()
    t = 1

    def run(kind, **args):
        r = ex.apply(Command(kind, args, t))
        if not r.ok:
            raise AssertionError((kind, args, r.error))
        return r

    for s, p in SYMBOLS.items():
        run("set_index", symbol=s, price=p)
    for i in range(accounts // 2):
        s = "BTCUSDT" if i % 2 else "ETHUSDT"
        qty = rng.randint(1, 50) * UNITS[s]
        n = qty * SYMBOLS[s] // SCALE
        isolated = rng.random() < 0.5
        lev = rng.randint(2, 5)
        ids = []
        for _ in range(2):
            wallet = n // lev * 2 if isolated else n * rng.randint(30, 60) // 100
            ids.append(run("create_account", deposit={"USDT": wallet + 100 * SCALE}).reply)
            if isolated:
                run("set_margin_type", account_id=ids[-1], symbol=s, margin_type="ISOLATED")
                run("set_leverage", account_id=ids[-1], symbol=s, leverage=lev)
        run("trade", buyer=ids[0], seller=ids[1], symbol=s, qty=qty, price=SYMBOLS[s])
    return ex


def ticks(count: int) -> list[tuple[str, int]]:
    out = []
    for i in range(count):
        s = "BTCUSDT" if i % 2 == 0 else "ETHUSDT"
        step = (i // 2) % 4                            # up, back, down, back
        factor = {0: 10_020, 1: 10_000, 2: 9_980, 3: 10_000}[step]
        out.append((s, SYMBOLS[s] * factor // 10_000))
    return out


def rss() -> int:
    """Resident memory now, bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def measure(blob: bytes, mode: str, path: list) -> tuple[list[float], list[float], list, str, int]:
    ex: Exchange = pickle.loads(blob)
    t = ex.now
    assert ex.apply(Command("set_setting", {"name": "risk_scan", "value": mode}, t)).ok
    first, rest, events = [], [], []
    gc.collect()
    before = rss()
    grown = 0
    gc.disable()
    try:
        for i, (s, price) in enumerate(path):
            if i == len(SYMBOLS):
                grown = rss() - before           # the derived indexes built by the first ticks
            t += 1000
            t0 = time.perf_counter()
            r = ex.apply(Command("set_mark", {"symbol": s, "price": price}, t))
            dt = time.perf_counter() - t0
            assert r.ok
            (first if i < len(SYMBOLS) else rest).append(dt)
            events.append([repr(e) for e in r.events])
    finally:
        gc.enable()
    return first, rest, events, ex.state_hash(), grown


def run(quick: bool = False) -> dict:
    accounts = 10_000 if quick else 100_000
    count = 22 if quick else 12
    t0 = time.perf_counter()
    ex = build(accounts)
    built = time.perf_counter() - t0
    holders = sum(1 for a in ex.clearing.accounts.values() if a.has_position())
    blob = pickle.dumps(ex)
    del ex
    print(f"  built {holders} accounts holding positions in {built:.1f} s", flush=True)
    path = ticks(count)
    res = {}
    for mode in ("indexed", "full"):
        first, rest, events, state, grown = measure(blob, mode, path)
        res[mode] = (first, rest, events, state, grown)
        print(f"  {mode:<8} first ticks {[round(x * 1e3, 1) for x in first]} ms; then median "
              f"{statistics.median(rest) * 1e3:8.3f} ms, best {min(rest) * 1e3:8.3f} ms per mark", flush=True)
    if res["indexed"][2] != res["full"][2]:
        raise AssertionError("the two modes' events differ")
    if res["indexed"][3] != res["full"][3]:
        raise AssertionError("the two modes' state hashes differ")
    notes = sum(len(e) for e in res["indexed"][2])
    ind, full = statistics.median(res["indexed"][1]), statistics.median(res["full"][1])
    ratio = full / ind
    print(f"  a quiet mark tick: indexed {ind * 1e6:.0f} us, full re-check {full * 1e3:.1f} ms: {ratio:.0f}x; "
          f"events and state hash identical ({notes} events)", flush=True)
    return {"benchmark": "risk", "quick": quick, "accounts": holders, "ticks": count,
            "indexed_tick_us": round(ind * 1e6, 1), "full_tick_us": round(full * 1e6, 1),
            "indexed_first_tick_ms": round(max(res["indexed"][0]) * 1e3, 1),
            "full_first_tick_ms": round(max(res["full"][0]) * 1e3, 1),
            "index_bytes_per_account": round(res["indexed"][4] / holders),
            "ratio_vs_full_scan": round(ratio, 1), "identical": True, "state_hash": res["indexed"][3]}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run("--quick" in sys.argv)))
