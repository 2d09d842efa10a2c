"""One client hammering the heaviest reads must not freeze the venue for everyone else.

A journal of 100,000 commands is written in-process (the Venue itself, journal sync OFF, batches of
1,000) once per session: a market maker and one trader who trade with each other all the way, so the
trader's own history is long (tens of thousands of fills, income rows and orders). A real server then
serves that journal; one thread requests the review, income, allOrders and userTrades of the trader in
a loop while the test pings. The reads run on reader threads with their own SQLite connections, so the
ping's p99 latency stays under 50 ms (loopback; the figure is printed).
"""
from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from perpsim.venue.venue import Venue
from serverkit import RunningServer

COMMANDS = 100_000
BATCH = 1_000
UNIT = 10**8
P99_MS = 50.0
KEY, SECRET = "a" * 64, "b" * 64


def build_long_journal(data_dir: Path) -> dict:
    """``COMMANDS`` commands: four per round (maker quotes both sides, the trader takes each)."""
    venue = Venue(data_dir, sync="OFF", clock="wall", snapshot_every=0)
    setup = [("create_account", {"deposit": {"USDT": 10**9 * UNIT}}),
             ("create_account", {"deposit": {"USDT": 10**7 * UNIT}}),
             ("set_index", {"symbol": "BTCUSDT", "price": 60_000 * UNIT})]
    maker, trader = (r.reply for r in venue.submit_batch(setup)[:2])
    venue.submit_batch([("create_api_key", {"account_id": trader, "api_key": KEY, "secret": SECRET})])
    n = venue.last_seq
    while n < COMMANDS:
        batch = []
        while len(batch) < BATCH and n + len(batch) < COMMANDS:
            i = n + len(batch)
            px = (60_000 + i % 50) * UNIT
            for side, take in (("SELL", "BUY"), ("BUY", "SELL")):
                batch.append(("place_order", {"account_id": maker, "symbol": "BTCUSDT", "side": side,
                                              "type": "LIMIT", "time_in_force": "GTC", "quantity": 1_000_000,
                                              "price": px}))
                batch.append(("place_order", {"account_id": trader, "symbol": "BTCUSDT", "side": take,
                                              "type": "MARKET", "quantity": 1_000_000}))
        results = venue.submit_batch(batch[:COMMANDS - n])
        n = venue.last_seq
        assert all(r.error is None for r in results), next(r.error for r in results if r.error)
    venue.close()
    return {"trader": trader, "commands": n}


@pytest.fixture(scope="session")
def long_journal(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("long-journal")
    t = time.perf_counter()
    info = build_long_journal(data_dir)
    info["build_s"] = time.perf_counter() - t
    info["dir"] = data_dir
    return info


def test_ping_p99_while_heavy_reads_hammer(long_journal):
    assert long_journal["commands"] == COMMANDS
    srv = RunningServer(long_journal["dir"]).start()
    acct = {"apiKey": KEY, "secretKey": SECRET}
    try:
        heavy = [("/perpsim/v1/reviews", {}), ("/fapi/v1/income", {"startTime": 0, "limit": 1000}),
                 ("/fapi/v1/allOrders", {"symbol": "BTCUSDT", "limit": 1000}),
                 ("/fapi/v1/userTrades", {"symbol": "BTCUSDT", "limit": 1000})]
        r = srv.signed("GET", "/fapi/v1/allOrders", acct, {"symbol": "BTCUSDT", "limit": 1000})
        assert r.status_code == 200 and len(r.json()) == 1000, r.text[:200]
        stop = threading.Event()
        done: list[tuple[str, float, int]] = []

        def hammer():
            i = 0
            while not stop.is_set() and i < 400:          # bounded: at most 400 heavy requests
                path, params = heavy[i % len(heavy)]
                t = time.perf_counter()
                resp = srv.signed("GET", path, acct, params)
                done.append((path, time.perf_counter() - t, resp.status_code))
                i += 1
        worker = threading.Thread(target=hammer, daemon=True)
        worker.start()
        ping = httpx.Client(base_url=srv.base, timeout=30)
        time.sleep(0.5)
        latencies = []
        deadline = time.time() + 20
        while len(latencies) < 400 and time.time() < deadline:
            t = time.perf_counter()
            assert ping.get("/fapi/v1/ping").status_code == 200
            latencies.append((time.perf_counter() - t) * 1000)
            time.sleep(0.01)
        stop.set()
        worker.join(timeout=120)
        ping.close()
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        reviews = [d for p, d, s in done if p.endswith("reviews")]
        print(f"\nlong journal: {COMMANDS} commands built in {long_journal['build_s']:.1f} s; "
              f"{len(done)} heavy reads ({len(reviews)} reviews, median {statistics.median(reviews) * 1000:.0f} ms); "
              f"ping p50 {latencies[len(latencies) // 2]:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms "
              f"over {len(latencies)} pings")
        assert all(s == 200 for _p, _d, s in done), {s for _p, _d, s in done}
        assert len(reviews) >= 2, "the hammer did not overlap the pings"
        assert p99 < P99_MS, f"ping p99 {p99:.1f} ms while heavy reads run"
    finally:
        srv.stop()
