"""freqtrade, unmodified, trades perpsim live (dry_run false) through ccxt's Binance USDⓈ-M API.

`make test` builds freqtrade into its own virtualenv (`.venv-freqtrade`, `make bot-venvs`); these
tests run it against a real `perpsim serve`: it starts on a fresh venue (the venue's past gives
it candles), enters, an operator's wick liquidates it, it closes its trade with the venue's
liquidation order and enters again; `freqtrade download-data --trading-mode futures` fetches
klines, mark klines and funding rates. The tests skip only if the bot's virtualenv cannot be built.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from botkit import Serve

ROOT = Path(__file__).resolve().parent.parent
FREQTRADE = ROOT / ".venv-freqtrade" / "bin" / "freqtrade"
PAIR = "ETH/USDT:USDT"


def _userdir(tmp_path: Path) -> str:
    ud = tmp_path / "ud"
    ud.mkdir(exist_ok=True)
    return str(ud)


def _ensure_freqtrade() -> None:
    marker = ROOT / ".venv-freqtrade" / ".installed"       # written by the Makefile once pip succeeded
    if not marker.exists():
        r = subprocess.run(["make", "-C", str(ROOT), "bot-venv-freqtrade"], capture_output=True, text=True,
                           timeout=1200)
        if not marker.exists():
            pytest.skip("freqtrade's virtualenv could not be built (make bot-venv-freqtrade): "
                        + (r.stderr or r.stdout)[-500:])


def ccxt_urls(base: str) -> dict:
    """ccxt's Binance URL overrides that point freqtrade at perpsim (the README's config block)."""
    return {"api": {
        "fapiPublic": f"{base}/fapi/v1", "fapiPublicV2": f"{base}/fapi/v2", "fapiPublicV3": f"{base}/fapi/v3",
        "fapiPrivate": f"{base}/fapi/v1", "fapiPrivateV2": f"{base}/fapi/v2", "fapiPrivateV3": f"{base}/fapi/v3",
        "fapiData": f"{base}/futures/data", "public": f"{base}/api/v3", "private": f"{base}/api/v3",
        "sapi": f"{base}/sapi/v1"}}


def config(base: str, key: str, secret: str, margin_mode: str, stake: int) -> dict:
    ccxt = {"urls": ccxt_urls(base), "options": {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}}
    return {
        "trading_mode": "futures", "margin_mode": margin_mode, "dry_run": False,
        "max_open_trades": 1, "stake_currency": "USDT", "stake_amount": stake, "tradable_balance_ratio": 0.99,
        "timeframe": "1m", "initial_state": "running", "bot_name": "perpsim",
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "order_types": {"entry": "market", "exit": "market", "stoploss": "market", "stoploss_on_exchange": False},
        "exchange": {"name": "binance", "key": key, "secret": secret, "enable_ws": False, "only_from_ccxt": True,
                     "ccxt_config": ccxt, "ccxt_async_config": ccxt, "pair_whitelist": [PAIR]},
        "pairlists": [{"method": "StaticPairList"}],
        "internals": {"process_throttle_secs": 1},
    }


def _trades(db: Path) -> list[dict]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            c.row_factory = sqlite3.Row
            return [dict(r) for r in c.execute("SELECT id, is_open, exit_reason, amount, leverage FROM trades "
                                               "ORDER BY id")]
    except sqlite3.OperationalError:
        return []


def _orders(db: Path, trade_id: int) -> list[dict]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute("SELECT order_id, ft_order_side, status, filled FROM orders "
                                           "WHERE ft_trade_id = ? ORDER BY id", (trade_id,))]


def _wait(pred, timeout: float, what: str, proc, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log.exists() else ""
    raise AssertionError(f"freqtrade: no {what} within {timeout}s (exit {proc.poll()}):\n{tail}")


@pytest.mark.parametrize("margin_mode", ["isolated", "cross"])
def test_freqtrade_live_through_a_liquidation(tmp_path, margin_mode):
    _ensure_freqtrade()
    venue = Serve(tmp_path / "venue", "--history-days", "1")
    bot = None
    try:
        deposit = "1000" if margin_mode == "isolated" else "300"
        if margin_mode == "cross":
            # a cross liquidation takes the whole wallet: trader protection would then pause the account
            # for days (docs/bots.md tests that); here the bot is to trade on, so it is off
            for rule in ("guard_shrink_rate", "guard_loss_rate"):
                venue.admin("POST", "/admin/v1/settings", {"name": rule, "value": 101 * 10**6})
        acct = venue.admin("POST", "/admin/v1/accounts", {"deposit": {"USDT": deposit}})
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(config(venue.base, acct["apiKey"], acct["secretKey"], margin_mode, 100)))
        db, log = tmp_path / "trades.sqlite", tmp_path / "freqtrade.log"
        bot = subprocess.Popen([str(FREQTRADE), "trade", "--config", str(cfg), "--strategy", "PerpsimTiny",
                                "--strategy-path", str(ROOT / "tests" / "bots"), "--userdir", _userdir(tmp_path),
                                "--db-url", f"sqlite:///{db}"],
                               stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=tmp_path)
        first = _wait(lambda: [t for t in _trades(db) if t["is_open"] and t["amount"]], 120, "first entry", bot, log)[0]
        assert first["leverage"] == 10
        # the venue agrees: a long ETHUSDT position of that size
        # an operator's wick: ETHUSDT 40% down and back within seconds. Isolated at 10x is liquidated
        # about 9.5% down, before freqtrade's own stop (-99% of the stake at 10x: 9.9% down); the cross
        # wallet holds three stakes and lasts to about 29% down, so there the wick gaps down at once
        # (the mark re-marks once a second inside a wick) or freqtrade's stop would close the trade first
        down_ms = 3000 if margin_mode == "isolated" else 1
        venue.admin("POST", "/admin/v1/price", {"symbol": "ETHUSDT", "wick": {"pct": -40, "downMs": down_ms,
                                                                                "upMs": 3000}})
        force = _wait(lambda: venue_force_orders(venue, acct), 30, "venue liquidation", bot, log)
        assert force[0]["status"] == "FILLED" and force[0]["clientOrderId"].startswith("autoclose-")
        if margin_mode == "cross":     # the cross wallet went with the position: the operator tops it up
            venue.admin("POST", "/admin/v1/deposit", {"accountId": acct["accountId"], "asset": "USDT",
                                                      "amount": "1000"})
        closed = _wait(lambda: [t for t in _trades(db) if t["id"] == first["id"] and not t["is_open"]], 120,
                       "liquidated trade closed", bot, log)[0]
        exit_orders = [o for o in _orders(db, first["id"]) if o["ft_order_side"] != "buy"]
        assert str(force[0]["orderId"]) in {o["order_id"] for o in exit_orders}, exit_orders
        assert closed["exit_reason"] in ("liquidation", "sold_on_exchange"), closed
        _wait(lambda: [t for t in _trades(db) if t["id"] > first["id"] and t["is_open"] and t["amount"]], 120,
              "entry after the liquidation", bot, log)
    finally:
        if bot is not None and bot.poll() is None:
            bot.terminate()
            try:
                bot.wait(30)
            except subprocess.TimeoutExpired:
                bot.kill()
        venue.stop()


def venue_force_orders(venue: Serve, acct: dict) -> list:
    from serverkit import RunningServer  # noqa: F401  (same signing as the other tests)
    import urllib.parse

    from perpsim.binance.auth import sign
    q = urllib.parse.urlencode({"symbol": "ETHUSDT", "timestamp": int(time.time() * 1000)})
    r = venue.http.get(f"/fapi/v1/forceOrders?{q}&signature={sign(acct['secretKey'], q.encode())}",
                       headers={"X-MBX-APIKEY": acct["apiKey"]})
    return r.json() if r.status_code == 200 else []


def test_freqtrade_download_data(tmp_path):
    _ensure_freqtrade()
    venue = Serve(tmp_path / "venue", "--history-days", "2")
    try:
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(config(venue.base, venue.key, venue.secret, "isolated", 100)))
        data = tmp_path / "data"
        r = subprocess.run([str(FREQTRADE), "download-data", "--config", str(cfg), "--trading-mode", "futures",
                            "--pairs", PAIR, "--timeframes", "1m", "--days", "1", "--datadir", str(data),
                            "--data-format-ohlcv", "json", "--userdir", _userdir(tmp_path)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        files = {p.name: p for p in data.rglob("*.json")}
        futures = json.loads(files["ETH_USDT_USDT-1m-futures.json"].read_text())
        assert len(futures) >= 1400 and all(b[0] - a[0] == 60_000 for a, b in zip(futures, futures[1:]))
        mark = [n for n in files if "-mark" in n]
        funding = [n for n in files if "-funding_rate" in n]
        assert mark and funding, sorted(files)
        rates = json.loads(files[funding[0]].read_text())
        assert len(rates) >= 3 and rates[0][1] == pytest.approx(0.0001)
        assert json.loads(files[mark[0]].read_text())
    finally:
        venue.stop()
