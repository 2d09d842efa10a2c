"""``perpsim bench serve``: signed order round trips per second and user-stream event latency, on loopback.

The server runs as ``perpsim serve`` does (uvicorn with its httptools parser on uvloop, Starlette,
the venue service with its sequencer and group commit), in a thread of this process, with the
journal at synchronous=NORMAL, no index feed and no rate limit. The load comes from OTHER
PROCESSES (multiprocessing, spawn; ``PROCESSES`` of ``THREADS`` worker threads, each with its own
keep-alive httpx connection), looping over a round trip: a signed POST /fapi/v1/order (a LIMIT buy
that rests, below the best ask) then a signed DELETE /fapi/v1/order of it. One WebSocket on the
account's listen key records when each order's ORDER_TRADE_UPDATE (x=NEW) arrives; its latency is
the time from just before the POST was sent to the arrival, both on the client's monotonic clock.

The peer, in the same run: the same server on uvicorn's pure-Python h11 parser and asyncio's own
event loop (what ``perpsim serve`` ran on before).

Figures: orders/s (placements; each round trip is two signed requests), the server process's CPU
time per signed request (every thread: event loop, sequencer, journal), round-trip p50/p99 (POST +
DELETE, ms) and user-event p50/p99 (ms). Loopback only; bounded in time. On a 2-core machine the
load processes and the server share the cores, so orders/s is bounded by the machine as much as by
the server; CPU per request is the figure that travels.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import shutil
import socket
import statistics
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

SYMBOL = "BTCUSDT"
PROCESSES = 2          # load processes
THREADS = 2            # connections per load process
STACKS = ("httptools/uvloop", "h11/asyncio")   # ours, then the peer


# ---------------------------------------------------------------------- the load client (second process)
def _sign(secret: str, qs: str) -> str:
    return hmac.new(secret.encode(), qs.encode(), hashlib.sha256).hexdigest()


def _signed_qs(secret: str, params: dict) -> str:
    qs = urllib.parse.urlencode(dict(params, timestamp=int(time.time() * 1000)))
    return qs + "&signature=" + _sign(secret, qs)


def _listen(base: str, ws_url: str, key: str, done, total, out) -> None:
    """The listener process: the account's user-data WebSocket, recording when each order's
    ORDER_TRADE_UPDATE (x=NEW) arrives (``time.monotonic``, one clock for every process on the
    machine). After ``done`` it waits for ``total`` arrivals (at most 3 s) and sends them."""
    import httpx
    from websockets.sync.client import connect

    listen_key = httpx.post(base + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": key}).json()["listenKey"]
    arrived: dict[str, float] = {}
    with connect(f"{ws_url}/private/ws?listenKey={listen_key}", max_size=2**22) as ws:
        time.sleep(0.3)   # the socket is registered on the server
        out.send("ready")
        settle = None
        while True:
            if settle is None and done.is_set():
                settle = time.monotonic() + 3
            if settle is not None and (len(arrived) >= total.value or time.monotonic() > settle):
                break
            try:
                raw = ws.recv(timeout=0.1)
            except TimeoutError:
                continue
            t = time.monotonic()
            msg = json.loads(raw)
            if msg.get("e") == "ORDER_TRADE_UPDATE" and msg["o"]["x"] == "NEW":
                arrived.setdefault(msg["o"]["c"], t)
    out.send(arrived)
    out.close()


def _load(base: str, key: str, secret: str, seconds: float, workers: int, proc: int, go, out) -> None:
    """Load process ``proc``: says "ready" through ``out`` (a Pipe end), waits for ``go`` (an Event),
    makes round trips for ``seconds`` on ``workers`` connections, then sends its figures."""
    import httpx

    headers = {"X-MBX-APIKEY": key}
    sent: dict[str, float] = {}
    clients = [httpx.Client(base_url=base, headers=headers, timeout=10) for _ in range(workers)]
    for c in clients:
        c.get("/fapi/v1/ping")   # connections open before the clock starts
    out.send("ready")
    go.wait()
    roundtrips: list[list[float]] = [[] for _ in range(workers)]
    errors = [0] * workers
    deadline = time.monotonic() + seconds

    def worker(w: int):
        http, i = clients[w], 0
        while time.monotonic() < deadline:
            i += 1
            cid = f"b{proc}-{w}-{i}"
            price = str(50000 + (i % 500) * 10 + w + THREADS * proc)
            qs = _signed_qs(secret, {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                     "quantity": "0.002", "price": price, "newClientOrderId": cid})
            t0 = time.monotonic()
            sent[cid] = t0
            r = http.post("/fapi/v1/order?" + qs)
            if r.status_code != 200:
                errors[w] += 1
                continue
            oid = r.json()["orderId"]
            r = http.delete("/fapi/v1/order?" + _signed_qs(secret, {"symbol": SYMBOL, "orderId": oid}))
            if r.status_code != 200:
                errors[w] += 1
                continue
            roundtrips[w].append(time.monotonic() - t0)

    t_start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t_start
    for c in clients:
        c.close()
    out.send({"elapsed": elapsed, "roundtrips": [x for r in roundtrips for x in r], "errors": sum(errors),
              "sent": sent})
    out.close()


# ---------------------------------------------------------------------- the server (this process)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """The server of one ``stack``: "httptools/uvloop" as ``perpsim serve`` runs, or the peer "h11/asyncio"."""

    def __init__(self, data_dir: Path, stack: str):
        import uvicorn

        from perpsim.binance import transport
        from perpsim.binance.app import Server
        from perpsim.binance.ratelimit import RateLimiter
        from perpsim.venue.service import ServiceSettings, VenueService
        from perpsim.venue.venue import Venue

        self.port = _free_port()
        self.token = "bench-admin"
        venue = Venue(data_dir, sync="NORMAL", clock="wall")
        self.service = VenueService(venue, None, ServiceSettings())
        limiter = RateLimiter(weight_per_minute=10**9, orders_per_minute=10**9, orders_per_10s=10**9)
        app = Server(self.service, self.token, limiter).app
        config = transport.uvicorn_config(app, "127.0.0.1", self.port)
        if stack == "h11/asyncio":
            config.http = transport.HeaderTimeoutH11
            loop_run = asyncio.run
        else:
            assert config.http.__mro__[1] is transport.HeaderTimeoutHttpTools, "httptools is not installed"
            loop_run = transport.run
        self.uv = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: loop_run(self.uv.serve()), daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 30
        while not self.uv.started:
            if time.time() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.uv.should_exit = True
        self.thread.join(timeout=15)
        self.service.venue.close()

    def admin(self, http, path: str, body: dict) -> dict:
        r = http.post(path, json=body, headers={"X-PERPSIM-ADMIN": self.token})
        r.raise_for_status()
        return r.json()


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _received(end, seconds: float, what: str):
    if not end.poll(seconds):
        raise RuntimeError(f"the load processes gave no {what}")
    return end.recv()


def run_stack(stack: str, seconds: float) -> dict:
    """One server of ``stack`` under the load of ``PROCESSES`` x ``THREADS`` connections for ``seconds``."""
    import httpx

    d = tempfile.mkdtemp(prefix="perpsim-bench-serve-")
    procs = []
    try:
        with _Server(Path(d), stack) as srv:
            base, ws = f"http://127.0.0.1:{srv.port}", f"ws://127.0.0.1:{srv.port}"
            with httpx.Client(base_url=base, timeout=10) as http:
                srv.admin(http, "/admin/v1/price", {"symbol": SYMBOL, "price": "60000"})
                maker = srv.admin(http, "/admin/v1/accounts", {"deposit": {"USDT": "1000000"}})
                acct = srv.admin(http, "/admin/v1/accounts", {"deposit": {"USDT": "1000000"}})
                qs = _signed_qs(maker["secretKey"], {"symbol": SYMBOL, "side": "SELL", "type": "LIMIT",
                                                     "timeInForce": "GTC", "quantity": "1", "price": "60000"})
                r = http.post("/fapi/v1/order?" + qs, headers={"X-MBX-APIKEY": maker["apiKey"]})
                r.raise_for_status()
            ctx = mp.get_context("spawn")
            go, done, total = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
            ends = []
            for i in range(PROCESSES + 1):
                recv_end, send_end = ctx.Pipe(duplex=False)
                args = ((base, ws, acct["apiKey"], done, total, send_end) if i == PROCESSES else
                        (base, acct["apiKey"], acct["secretKey"], seconds, THREADS, i, go, send_end))
                p = ctx.Process(target=_listen if i == PROCESSES else _load, args=args, daemon=True)
                p.start()
                send_end.close()
                procs.append(p)
                ends.append(recv_end)
            for e in ends:
                _received(e, 60, "ready signal")
            cpu0 = time.process_time()
            go.set()
            loads = [_received(e, seconds + 60, "figures") for e in ends[:PROCESSES]]
            cpu = time.process_time() - cpu0
            total.value = sum(len(x["sent"]) for x in loads)
            done.set()
            arrived = _received(ends[PROCESSES], 30, "user events")
            with httpx.Client(base_url=base, timeout=10) as http:
                state = http.get("/admin/v1/state", headers={"X-PERPSIM-ADMIN": srv.token}).json()
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        shutil.rmtree(d, ignore_errors=True)
    elapsed = max(x["elapsed"] for x in loads)
    rts = [t for x in loads for t in x["roundtrips"]]
    sent = {c: t for x in loads for c, t in x["sent"].items()}
    lat = [arrived[c] - sent[c] for c in arrived if c in sent]
    requests = 2 * len(rts)
    return {
        "stack": stack, "seconds": round(elapsed, 2), "orders": len(rts),
        "orders_per_s": round(len(rts) / elapsed, 1), "requests_per_s": round(requests / elapsed, 1),
        "server_cpu_ms_per_request": round(1000 * cpu / requests, 3) if requests else None,
        "roundtrip_p50_ms": round(1000 * statistics.median(rts), 3) if rts else None,
        "roundtrip_p99_ms": round(1000 * _pct(rts, 0.99), 3) if rts else None,
        "user_event_p50_ms": round(1000 * statistics.median(lat), 3) if lat else None,
        "user_event_p99_ms": round(1000 * _pct(lat, 0.99), 3) if lat else None,
        "user_events": len(lat), "errors": sum(x["errors"] for x in loads), "ledger_balanced": state["ledgerBalanced"],
    }


def run(quick: bool = False, seconds: float | None = None) -> dict:
    seconds = seconds or (3.0 if quick else 15.0)
    runs = {}
    for stack in STACKS:
        r = runs[stack] = run_stack(stack, seconds)
        print(f"{stack:17s} {r['orders']:,} place+cancel round trips in {r['seconds']} s from {PROCESSES} processes x "
              f"{THREADS} connections: {r['orders_per_s']:,} orders/s ({r['requests_per_s']:,} signed requests/s), "
              f"server CPU {r['server_cpu_ms_per_request']} ms per request")
        print(f"{'':17s} round trip p50 {r['roundtrip_p50_ms']} ms, p99 {r['roundtrip_p99_ms']} ms; ORDER_TRADE_UPDATE "
              f"after the POST: p50 {r['user_event_p50_ms']} ms, p99 {r['user_event_p99_ms']} ms "
              f"({r['user_events']:,} events); errors {r['errors']}; ledger balanced {r['ledger_balanced']}")
    ours, peer = runs[STACKS[0]], runs[STACKS[1]]
    out = dict(ours, benchmark="serve", quick=quick, journal="NORMAL", processes=PROCESSES, threads=THREADS,
               workers=PROCESSES * THREADS, peer=peer)
    out["orders_per_s_vs_h11_asyncio"] = round(ours["orders_per_s"] / peer["orders_per_s"], 2)
    out["cpu_per_request_vs_h11_asyncio"] = round(ours["server_cpu_ms_per_request"] / peer["server_cpu_ms_per_request"], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick=True)))
