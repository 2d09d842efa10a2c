"""A real ``perpsim serve`` server for tests: uvicorn on a free loopback port, in a thread.

    with running_server(tmp_path) as srv:
        acct = srv.account(deposit="10000")        # {"accountId", "apiKey", "secretKey"}
        srv.admin("POST", "/admin/v1/price", {"symbol": "BTCUSDT", "price": "60000"})
        srv.signed("GET", "/fapi/v3/account", acct)  # a raw signed call (httpx), for hostile tests

Clients point at ``srv.base`` (http) and ``srv.ws`` (ws). The venue uses the wall clock and
no feed (prices move only through the admin API), so tests are deterministic.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
import uvicorn

from perpsim.binance.app import Server
from perpsim.binance.auth import sign
from perpsim.binance.ratelimit import RateLimiter
from perpsim.binance.transport import ConnectionLimits, run, uvicorn_config
from perpsim.venue.service import ServiceSettings, VenueService
from perpsim.venue.venue import Venue

ADMIN_TOKEN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    def __init__(self, data_dir: Path, clock: str = "wall", limiter: RateLimiter | None = None,
                 check_time: bool = True, sync: str = "NORMAL", limits: ConnectionLimits | None = None,
                 webhook_policy=None, venue: Venue | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        venue = venue or Venue(data_dir, sync=sync, clock=clock, snapshot_every=0)
        self.limits = limits or ConnectionLimits()
        self.service = VenueService(venue, None, ServiceSettings(check_time=check_time))
        self.server = Server(self.service, ADMIN_TOKEN, limiter or RateLimiter(weight_per_minute=10**9,
                                                                               orders_per_minute=10**9,
                                                                               orders_per_10s=10**9),
                             webhook_policy=webhook_policy)
        self.http = httpx.Client(base_url=self.base, timeout=30)
        self._uv: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "RunningServer":
        config = uvicorn_config(self.server.app, "127.0.0.1", self.port, self.limits)
        self._uv = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: run(self._uv.serve()), daemon=True)
        self._thread.start()
        deadline = time.time() + 20
        while not self._uv.started:
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.http.close()
        if self._uv is not None:
            self._uv.should_exit = True
            self._thread.join(timeout=10)
        self.service.venue.close()

    # ------------------------------------------------------------------ helpers
    def admin(self, method: str, path: str, body: dict | None = None, token: str = ADMIN_TOKEN) -> dict:
        r = self.http.request(method, path, json=body, headers={"X-PERPSIM-ADMIN": token})
        r.raise_for_status()
        return r.json()

    def account(self, deposit: str = "10000", asset: str = "USDT", permissions=None) -> dict:
        body = {"deposit": {asset: deposit}}
        if permissions is not None:
            body["permissions"] = permissions
        return self.admin("POST", "/admin/v1/accounts", body)

    def price(self, symbol: str, price: str) -> dict:
        return self.admin("POST", "/admin/v1/price", {"symbol": symbol, "price": price})

    def signed(self, method: str, path: str, acct: dict, params: dict | None = None, body: bool = False,
               timestamp: int | None = None, client: httpx.Client | None = None) -> httpx.Response:
        """A signed request the way Binance documents it: params in the query (or the form body)."""
        p = dict(params or {})
        p.setdefault("timestamp", timestamp if timestamp is not None else int(time.time() * 1000))
        payload = urllib.parse.urlencode(p)
        p_sig = payload + "&signature=" + sign(acct["secretKey"], payload.encode())
        headers = {"X-MBX-APIKEY": acct["apiKey"]}
        http = client or self.http
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return http.request(method, path, content=p_sig, headers=headers)
        return http.request(method, path + "?" + p_sig, headers=headers)

    def state(self) -> dict:
        return self.admin("GET", "/admin/v1/state")


@contextlib.contextmanager
def running_server(data_dir: Path, **kw):
    srv = RunningServer(Path(data_dir), **kw).start()
    try:
        yield srv
    finally:
        srv.stop()
