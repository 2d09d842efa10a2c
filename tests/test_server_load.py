"""One client hammering the heaviest reads must not freeze the venue for everyone else.

A journal of 100,000 commands is written in-process (the Venue itself, journal sync OFF, batches of
1,000, a snapshot at the end) once per session: a market maker and one trader who trade with each
other all the way, so the trader's own history is long (tens of thousands of fills, income rows and
orders). ``perpsim serve --rate-limits off`` then serves that journal in its own process; one client
requests the trader's review on one connection and income, allOrders and userTrades on another, in
bounded loops, while the test pings. Reads run on reader threads and a read loop, reviews in a worker
process, so the ping's p99 latency stays under 50 ms (loopback; the figures are printed).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest

from perpsim.binance.auth import sign
from perpsim.venue.venue import Venue
from serverkit import free_port

PERPSIM = str(Path(sys.executable).parent / "perpsim")

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
    venue.snapshot()     # the server recovers from it instead of replaying 100k commands
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


def signed_get(http: httpx.Client, path: str, params: dict) -> httpx.Response:
    q = urllib.parse.urlencode({**params, "timestamp": int(time.time() * 1000)})
    return http.get(f"{path}?{q}&signature={sign(SECRET, q.encode())}", headers={"X-MBX-APIKEY": KEY})


def serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    out = open(log, "w")
    proc = subprocess.Popen([PERPSIM, "serve", "--port", str(port), "--data-dir", str(data_dir),
                             "--rate-limits", "off"], stdout=out, stderr=subprocess.STDOUT,
                            env=dict(os.environ, COLUMNS="200", NO_COLOR="1"))
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/fapi/v1/ping", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("perpsim serve did not start: " + log.read_text())
        time.sleep(0.1)


def test_ping_p99_while_heavy_reads_hammer(long_journal, tmp_path):
    assert long_journal["commands"] == COMMANDS
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(long_journal["dir"], port, tmp_path / "serve.log")
    try:
        heavy = [("/perpsim/v1/reviews", {}), ("/fapi/v1/income", {"startTime": 0, "limit": 1000}),
                 ("/fapi/v1/allOrders", {"symbol": "BTCUSDT", "limit": 1000}),
                 ("/fapi/v1/userTrades", {"symbol": "BTCUSDT", "limit": 1000})]
        with httpx.Client(base_url=base, timeout=30) as http:
            r = signed_get(http, "/fapi/v1/allOrders", {"symbol": "BTCUSDT", "limit": 1000})
            assert r.status_code == 200 and len(r.json()) == 1000, r.text[:200]
        def pings(client: httpx.Client, n: int) -> list[float]:
            out = []
            deadline = time.time() + 20
            while len(out) < n and time.time() < deadline:
                t = time.perf_counter()
                assert client.get("/fapi/v1/ping").status_code == 200
                out.append((time.perf_counter() - t) * 1000)
                time.sleep(0.01)
            return sorted(out)
        ping = httpx.Client(base_url=base, timeout=30)
        idle = pings(ping, 200)                       # the same pings with nothing else asking: the peer
        stop = threading.Event()
        done: list[tuple[str, float, int]] = []

        def hammer(requests):
            with httpx.Client(base_url=base, timeout=120) as http:
                i = 0
                while not stop.is_set() and i < 400:          # bounded: at most 400 heavy requests
                    path, params = requests[i % len(requests)]
                    t = time.perf_counter()
                    resp = signed_get(http, path, params)
                    done.append((path, time.perf_counter() - t, resp.status_code))
                    i += 1
        # one client on two connections: reviews on one, the long history pages on the other
        workers = [threading.Thread(target=hammer, args=(part,), daemon=True) for part in (heavy[:1], heavy[1:])]
        for w in workers:
            w.start()
        time.sleep(0.5)
        latencies = pings(ping, 400)
        stop.set()
        for w in workers:
            w.join(timeout=120)
        ping.close()
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        reviews = [d for p, d, s in done if p.endswith("reviews")]
        print(f"\nlong journal: {COMMANDS} commands built in {long_journal['build_s']:.1f} s; "
              f"{len(done)} heavy reads ({len(reviews)} reviews, median {statistics.median(reviews) * 1000:.0f} ms); "
              f"ping p50 {latencies[len(latencies) // 2]:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms "
              f"over {len(latencies)} pings; idle p50 {idle[len(idle) // 2]:.1f} ms, "
              f"p99 {idle[int(len(idle) * 0.99) - 1]:.1f} ms")
        assert all(s == 200 for _p, _d, s in done), {s for _p, _d, s in done}
        assert len(reviews) >= 2 and len(done) - len(reviews) >= 20, "the hammer did not overlap the pings"
        assert p99 < P99_MS, f"ping p99 {p99:.1f} ms while heavy reads run"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
