"""nautilus_trader 1.221.0, unmodified, trades perpsim live through its Binance USDⓈ-M adapter.

A live TradingNode (tests/bots/nautilus_node.py, in the bot's own virtualenv built by
`make bot-venv-nautilus`) with base_url_http / base_url_ws pointed at a real `perpsim serve`,
signing with an Ed25519 API key: it connects, loads ETHUSDT-PERP, subscribes to quotes and its
user stream, places and cancels a limit order, buys at market and sees the fill; an operator's
wick liquidates the position and nautilus sees the liquidation order (autoclose-, FILLED) and
ends flat. Skips only if the bot's virtualenv cannot be built.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from botkit import Serve

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv-nautilus" / "bin" / "python"


def _ensure_nautilus() -> None:
    marker = ROOT / ".venv-nautilus" / ".installed"       # written by the Makefile once pip succeeded
    if not marker.exists():
        r = subprocess.run(["make", "-C", str(ROOT), "bot-venv-nautilus"], capture_output=True, text=True,
                           timeout=1200)
        if not marker.exists():
            pytest.skip("nautilus_trader's virtualenv could not be built (make bot-venv-nautilus): "
                        + (r.stderr or r.stdout)[-500:])


def test_nautilus_trading_node_through_a_liquidation(tmp_path):
    _ensure_nautilus()
    venue = Serve(tmp_path / "venue", "--history-days", "0")
    node = None
    try:
        # 40 USDT under a 0.1 ETH long at the default 20x: a 40% wick liquidates it
        acct = venue.admin("POST", "/admin/v1/accounts", {"deposit": {"USDT": "40"}, "keyType": "ED25519"})
        secret = "".join(line for line in acct["privateKey"].splitlines() if not line.startswith("-----"))
        node = subprocess.Popen([str(PYTHON), str(ROOT / "tests" / "bots" / "nautilus_node.py"), venue.base, venue.ws,
                                 acct["apiKey"], secret, "ED25519", "90"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
        seen: dict[str, list] = {}
        lines = []
        deadline = time.monotonic() + 150
        for line in node.stdout:
            lines.append(line)
            if line.startswith("{"):
                msg = json.loads(line)
                seen.setdefault(msg["event"], []).append(msg)
                if msg["event"] == "position" and "wick" not in seen:
                    seen["wick"] = [venue.admin("POST", "/admin/v1/price", {
                        "symbol": "ETHUSDT", "wick": {"pct": -40, "downMs": 3000, "upMs": 3000}})]
                if msg["event"] == "done":
                    break
            if time.monotonic() > deadline:
                break
        log = "".join(lines[-40:])
        assert seen.get("instrument", [{}])[0].get("id") == "ETHUSDT-PERP.BINANCE", log
        assert "quote" in seen, log                                    # quotes subscribed
        assert len(seen.get("accepted", [])) == 2 and len(seen.get("canceled", [])) == 1, log
        fill = seen["filled"][0]
        assert fill["qty"] == "0.100" and int(fill["venue_order_id"]) > 0, log
        assert "timeout" not in seen and "liquidation" in seen, log
        liq = seen["liquidation"][0]
        assert liq["client_order_id"].startswith("autoclose-") and liq["status"] == "FILLED", log
        assert liq["filled"] == "0.100" and liq["net"] == "0.000", log
        assert "ValidationError" not in "".join(lines), log               # it parsed every user-stream message
        # the venue's story: the same order, filled
        import urllib.parse

        from perpsim.binance.key_types import sign
        q = urllib.parse.urlencode({"symbol": "ETHUSDT", "orderId": liq["venue_order_id"],
                                    "timestamp": int(time.time() * 1000)})
        sig = urllib.parse.quote(sign("ED25519", acct["privateKey"], q.encode()), safe="")
        order = venue.http.get(f"/fapi/v1/order?{q}&signature={sig}", headers={"X-MBX-APIKEY": acct["apiKey"]}).json()
        assert (order["status"], order["type"], order["executedQty"], order["clientOrderId"]) == (
            "FILLED", "LIMIT", "0.100", liq["client_order_id"])
    finally:
        if node is not None and node.poll() is None:
            node.terminate()
            try:
                node.wait(20)
            except subprocess.TimeoutExpired:
                node.kill()
        venue.stop()
