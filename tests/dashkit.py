"""A real ``perpsim serve`` in a child process and Debian's Chromium driven by Playwright, for the
dashboard's end-to-end tests. Every page error, failed request, 5xx answer and closed WebSocket is
recorded; ``Watch.assert_clean`` fails the test on any of them."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest

from serverkit import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
ADMIN = "e2e-admin-token"


def require_browser_and_build() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed: `make chromium` (or `make test`) installs it")
    if not (ROOT / "perpsim" / "web_dist" / "index.html").exists():
        pytest.fail("the dashboard is not built: run `make web` (`make test` does)")


class Serve:
    """``perpsim serve`` on a free loopback port; ``link`` is the sign-in link it printed."""

    def __init__(self, data_dir: Path, clock: str = "sim"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("perpsim", path=str(Path(sys.executable).parent)) or "perpsim"
        self.proc = subprocess.Popen([exe, "serve", "--clock", clock, "--port", str(self.port), "--data-dir",
                                      str(data_dir), "--admin-token", ADMIN, "--symbols", "BTCUSDT,ETHUSDT"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "COLUMNS": "400"})
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        self.output, deadline = [], time.time() + 60
        self.link = self.key = self.secret = None
        while self.link is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                self.stop()
                raise RuntimeError("perpsim serve printed no dashboard link:\n" + "".join(self.output))
            self.output.append(line)
            m = re.search(r"dashboard\s+(http://\S+)", line)
            if m:
                self.link = m.group(1)
                frag = urllib.parse.parse_qs(self.link.split("#", 1)[1])
                self.key, self.secret = frag["key"][0], frag["secret"][0]
        self.http = httpx.Client(base_url=self.base, timeout=30)
        deadline = time.time() + 30
        while True:
            try:
                if self.http.get("/fapi/v1/ping").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError("perpsim serve did not answer")
            time.sleep(0.1)

    def admin(self, path: str, body: dict) -> dict:
        r = self.http.post(path, json=body, headers={"X-PERPSIM-ADMIN": ADMIN})
        r.raise_for_status()
        return r.json()

    def signed(self, method: str, path: str, **params):
        params["timestamp"] = int(time.time() * 1000)
        q = urllib.parse.urlencode(params)
        q += "&signature=" + hmac.new(self.secret.encode(), q.encode(), hashlib.sha256).hexdigest()
        r = self.http.request(method, path + "?" + q, headers={"X-MBX-APIKEY": self.key})
        return r.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Watch:
    """Listens to a page: page errors, failed requests, 5xx answers, 4xx answers (kept for the test to
    judge) and WebSocket closes."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.refusals: list[tuple[str, str, int]] = []
        self.sockets_closed: list[str] = []
        self.closing = False
        self.max_weight = 0          # the highest X-MBX-USED-WEIGHT-1M the venue reported to the page
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("console", lambda m: self.errors.append(f"console error: {m.text}") if m.type == "error"
                and "status of 400" not in m.text else None)
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.method} {r.url} {r.failure}"))
        page.on("response", self._response)
        page.on("websocket", self._socket)

    def _response(self, r):
        used = r.headers.get("x-mbx-used-weight-1m")
        if used and used.isdigit():
            self.max_weight = max(self.max_weight, int(used))
        if r.status >= 500:
            self.errors.append(f"{r.status} from {r.request.method} {r.url}")
        elif r.status >= 400:
            self.refusals.append((r.request.method, r.url.split("?")[0], r.status))

    def _socket(self, ws):
        ws.on("close", lambda w: None if self.closing else self.sockets_closed.append(w.url))
        ws.on("socketerror", lambda e: self.errors.append(f"websocket error: {e}"))

    def assert_clean(self, allowed_refusals: set[str] = frozenset()) -> None:
        assert not self.errors, (self.errors, self.refusals)
        assert not self.sockets_closed, f"a WebSocket was dropped: {self.sockets_closed}"
        unexpected = [r for r in self.refusals if urllib.parse.urlparse(r[1]).path not in allowed_refusals]
        assert not unexpected, f"unexpected refusals: {unexpected}"


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 900):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def write_metrics(doc: dict) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "metrics.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **doc}, indent=1))
