"""`perpsim serve` in a subprocess for the bot tests: what it printed, parsed, plus admin helpers."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from serverkit import free_port

PERPSIM = str(Path(sys.executable).parent / "perpsim")


class Serve:
    def __init__(self, data_dir: Path, *args: str, port: int | None = None):
        self.port = port or free_port()
        self.data_dir = data_dir
        self.started = time.monotonic()
        self.proc = subprocess.Popen([PERPSIM, "serve", "--port", str(self.port), "--data-dir", str(data_dir), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, COLUMNS="200", NO_COLOR="1"))
        self.out: list[str] = []
        deadline = time.monotonic() + 90
        while not any("OpenAPI" in line for line in self.out):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise AssertionError("perpsim serve did not start: " + "".join(self.out))
            self.out.append(self.proc.stdout.readline())
        text = "".join(self.out)
        self.base = re.search(r"REST\s+(http://\S+)", text).group(1)
        self.ws = re.search(r"WebSocket\s+(ws://\S+?)/ws", text).group(1)
        self.key = re.search(r"API key ([0-9a-f]{64})", text).group(1)
        self.secret = re.search(r"secret\s+([0-9a-f]{64})", text).group(1)
        self.token = re.search(r"admin token\s+(\S+)", text).group(1)
        self.account = int(re.search(r"demo account (\d+)", text).group(1))
        self.http = httpx.Client(base_url=self.base, timeout=30)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.http.get("/fapi/v1/ping")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.startup_s = time.monotonic() - self.started

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        r = self.http.request(method, path, json=body, headers={"X-PERPSIM-ADMIN": self.token})
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> int | None:
        if getattr(self, "http", None) is not None:
            self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode
