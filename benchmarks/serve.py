"""``perpsim bench serve``: signed order round trips per second and user-stream event latency, on loopback.

The server runs as ``perpsim serve`` does (uvicorn, Starlette, the venue service with its
sequencer and group commit), in a thread of this process, with the journal at
synchronous=NORMAL, no index feed and no rate limit. The load client is a SECOND PROCESS
(multiprocessing, spawn): a few worker threads, each with its own keep-alive httpx connection,
loop over a round trip: a signed POST /fapi/v1/order (a LIMIT buy that rests, below the best
ask) then a signed DELETE /fapi/v1/order of it. One WebSocket on the account's listen key
records when each order's ORDER_TRADE_UPDATE (x=NEW) arrives; its latency is the time from just
before the POST was sent to the arrival, both on the client's monotonic clock.

Figures: orders/s (placements; each round trip is two signed requests), round-trip p50/p99
(POST + DELETE, ms) and user-event p50/p99 (ms). Loopback only; bounded in time.
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
WORKERS = 4


# ---------------------------------------------------------------------- the load client (second process)
def _sign(secret: str, qs: str) -> str:
    return hmac.new(secret.encode(), qs.encode(), hashlib.sha256).hexdigest()


def _signed_qs(secret: str, params: dict) -> str:
    qs = urllib.parse.urlencode(dict(params, timestamp=int(time.time() * 1000)))
    return qs + "&signature=" + _sign(secret, qs)


def _load(base: str, ws_url: str, key: str, secret: str, seconds: float, workers: int, out) -> None:
    """Runs in the load process: round trips for ``seconds``, then the figures through ``out`` (a Pipe end)."""
    import httpx
    from websockets.sync.client import connect

    headers = {"X-MBX-APIKEY": key}
    listen_key = httpx.post(base + "/fapi/v1/listenKey", headers=headers).json()["listenKey"]
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    ws = connect(f"{ws_url}/private/ws?listenKey={listen_key}", max_size=2**22)
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                raw = ws.recv(timeout=0.2)
            except TimeoutError:
                continue
            except Exception:
                return
            t = time.perf_counter()
            msg = json.loads(raw)
            if msg.get("e") == "ORDER_TRADE_UPDATE" and msg["o"]["x"] == "NEW":
                arrived.setdefault(msg["o"]["c"], t)
    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    time.sleep(0.3)   # the socket is registered on the server

    roundtrips: list[list[float]] = [[] for _ in range(workers)]
    errors = [0] * workers
    deadline = time.perf_counter() + seconds

    def worker(w: int):
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                cid = f"b{w}-{i}"
                price = str(50000 + (i % 500) * 10 + w)
                qs = _signed_qs(secret, {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                         "quantity": "0.002", "price": price, "newClientOrderId": cid})
                t0 = time.perf_counter()
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
                roundtrips[w].append(time.perf_counter() - t0)

    t_start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    settle = time.perf_counter() + 3
    while len(arrived) < len(sent) and time.perf_counter() < settle:   # the last events in flight
        time.sleep(0.02)
    stop.set()
    rt.join(timeout=2)
    ws.close()
    latencies = [arrived[c] - sent[c] for c in arrived if c in sent]
    out.send({"elapsed": elapsed, "roundtrips": [x for r in roundtrips for x in r], "errors": sum(errors),
              "sent": len(sent), "latencies": latencies})
    out.close()


# ---------------------------------------------------------------------- the server (this process)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, data_dir: Path):
        import uvicorn

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
        self.uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                ws="websockets-sansio", lifespan="on"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.uv.serve()), daemon=True)

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


def run(quick: bool = False, seconds: float | None = None) -> dict:
    import httpx

    seconds = seconds or (3.0 if quick else 15.0)
    d = tempfile.mkdtemp(prefix="perpsim-bench-serve-")
    try:
        with _Server(Path(d)) as srv:
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
            recv_end, send_end = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_load, args=(base, ws, acct["apiKey"], acct["secretKey"], seconds, WORKERS,
                                                   send_end), daemon=True)
            proc.start()
            send_end.close()
            if not recv_end.poll(seconds + 60):
                proc.kill()
                raise RuntimeError("the load process gave no figures")
            res = recv_end.recv()
            proc.join(timeout=10)
            with httpx.Client(base_url=base, timeout=10) as http:
                state = http.get("/admin/v1/state", headers={"X-PERPSIM-ADMIN": srv.token}).json()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    rts, lat = res["roundtrips"], res["latencies"]
    out = {
        "benchmark": "serve", "quick": quick, "seconds": round(res["elapsed"], 2), "workers": WORKERS,
        "journal": "NORMAL", "orders": len(rts),
        "orders_per_s": round(len(rts) / res["elapsed"], 1),
        "requests_per_s": round(2 * len(rts) / res["elapsed"], 1),
        "roundtrip_p50_ms": round(1000 * statistics.median(rts), 3) if rts else None,
        "roundtrip_p99_ms": round(1000 * _pct(rts, 0.99), 3) if rts else None,
        "user_event_p50_ms": round(1000 * statistics.median(lat), 3) if lat else None,
        "user_event_p99_ms": round(1000 * _pct(lat, 0.99), 3) if lat else None,
        "user_events": len(lat), "errors": res["errors"], "ledger_balanced": state["ledgerBalanced"],
    }
    print(f"{out['orders']:,} place+cancel round trips in {out['seconds']} s with {WORKERS} connections "
          f"from a second process: {out['orders_per_s']:,} orders/s ({out['requests_per_s']:,} signed requests/s)")
    print(f"round trip p50 {out['roundtrip_p50_ms']} ms, p99 {out['roundtrip_p99_ms']} ms; "
          f"ORDER_TRADE_UPDATE after the POST: p50 {out['user_event_p50_ms']} ms, p99 {out['user_event_p99_ms']} ms "
          f"({out['user_events']:,} events); errors {out['errors']}; ledger balanced {out['ledger_balanced']}")
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick=True)))
