"""What every conformance session shares: a running venue with a market maker, and a loop thread.

A session is one trading bot, written against Binance's documented USD-M API with an
unmodified client pointed at the local server (binance-api.md section 1). The venue is set up
through the admin API and a market-maker account whose resting orders are placed with the venue
command behind POST /fapi/v1/order (setup, not what a session tests):

    BTCUSDT index (so mark) at 60,000; the insurance fund seeded; the maker offers 0.050 at
    60,000 (the bot's fill) and later bids 58,900 (what the liquidation IOC sells into).

The liquidation: the bot opens 0.010 long isolated at 20x (the most a new account may use:
-4205 above), so its liquidation price is about 57,229 and its bankruptcy price 57,000; the
admin API then sets the index to 57,000 and the venue liquidates the position.
"""
from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from serverkit import RunningServer

SYMBOL = "BTCUSDT"
START_PRICE = "60000"
BOT_DEPOSIT = "10000"
FILL_QTY = "0.010"          # the bot's long
REST_QTY = "0.002"          # the bot's resting order (notional 116 at 58,000 >= MIN_NOTIONAL 100)
REST_PRICE = "58000"        # inside PERCENT_PRICE (0.95 x 60,000 = 57,000) and below the maker's ask
LEVERAGE = 20
MAKER_ASK = "60000"
MAKER_BID = "58900"         # above the bot's bankruptcy price: the liquidation IOC fills here
CRASH_PRICE = "57000"       # below the liquidation price


def D(x: Any) -> Decimal:
    return Decimal(str(x))


def units(x: str) -> int:
    """A decimal string in the venue's 1e-8 units."""
    return int(Decimal(x) * 10**8)


class Venue:
    """A running server with the maker and the bot's account; the admin helpers a session needs."""

    def __init__(self, data_dir: Path):
        self.srv = RunningServer(data_dir).start()
        self.srv.price(SYMBOL, START_PRICE)
        self.srv.admin("POST", "/admin/v1/insurance", {"asset": "USDT", "amount": "1000000"})
        self.maker = self.srv.account(deposit="10000000")
        self.bot = self.srv.account(deposit=BOT_DEPOSIT)
        self.base, self.ws = self.srv.base, self.srv.ws
        self.key, self.secret = self.bot["apiKey"], self.bot["secretKey"]

    def submit(self, kind: str, **args):
        """A venue command on the server's own loop (setup that is not under test)."""
        fut = asyncio.run_coroutine_threadsafe(self.srv.service.submit(kind, **args), self.srv.service._loop)
        r = fut.result(10)
        assert r.error is None, f"{kind} refused: {r.error}"
        return r.reply

    def maker_order(self, side: str, qty: str, price: str) -> dict:
        """The maker's resting order, placed by the venue command behind POST /fapi/v1/order."""
        return self.submit("place_order", account_id=self.maker["accountId"], symbol=SYMBOL, side=side, type="LIMIT",
                           quantity=units(qty), price=units(price), time_in_force="GTC")

    def seed_book(self) -> None:
        self.maker_order("SELL", "0.050", MAKER_ASK)

    def crash(self) -> dict:
        """The maker's bid for the liquidation IOC, then the index (and mark) below the bot's liquidation price."""
        self.maker_order("BUY", "0.050", MAKER_BID)
        return self.srv.price(SYMBOL, CRASH_PRICE)

    def bot_position_amt(self) -> Decimal:
        r = self.srv.signed("GET", "/fapi/v2/positionRisk", self.bot, {"symbol": SYMBOL})
        assert r.status_code == 200, r.text
        return sum((D(p["positionAmt"]) for p in r.json()), Decimal(0))

    def wait_streams(self, user: int = 0, market: tuple[str, ...] = (), timeout: float = 10.0) -> None:
        wait_streams(self.srv, self.bot["accountId"], user, market, timeout)

    def ledger_balanced(self) -> bool:
        return self.srv.state()["ledgerBalanced"]

    def stop(self) -> None:
        self.srv.stop()


def wait_streams(srv, account_id: int, user: int = 0, market: tuple[str, ...] = (), timeout: float = 10.0) -> None:
    """Until the server holds ``user`` connections on the account's listen key and subscriptions to ``market``
    (clients dial and subscribe in the background; events before that are not theirs to see)."""
    hub = srv.server.hub
    deadline = time.monotonic() + timeout
    while True:
        conns = list(hub.conns)
        n_user = sum(1 for c in conns if account_id in c.user_keys.values())
        subs = set().union(*(c.subs for c in conns)) if conns else set()
        if n_user >= user and all(m in subs for m in market):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the client's streams are not up within {timeout}s: {n_user} user "
                                 f"connection(s) of {user}; subscriptions {sorted(subs)}, wanted {market}")
        time.sleep(0.05)


class LoopThread:
    """An asyncio loop in a daemon thread: async clients and stream watchers live across test functions."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro) -> "asyncio.Future":
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        async def cancel_all():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.run(cancel_all(), timeout=10)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class Inbox:
    """Messages a stream callback appends (from any thread); bounded waits for one that matches."""

    def __init__(self):
        self.items: list = []
        self.errors: list = []
        self._cond = threading.Condition()

    def add(self, item) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait(self, pred: Callable[[Any], bool], timeout: float = 10.0, what: str = ""):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.items:
                    try:
                        if pred(item):
                            return item
                    except (KeyError, TypeError, AttributeError, IndexError):
                        continue
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = [str(i)[:300] for i in self.items[-8:]]
                    raise AssertionError(f"no {what or 'matching message'} within {timeout}s; "
                                         f"{len(self.items)} received, errors {self.errors[-3:]}, last: {tail}")
                self._cond.wait(left)


def events(msg) -> list[dict]:
    """User-stream payloads of a message: raw, combined ({"stream", "data"}) or a JSON string."""
    import json
    if isinstance(msg, (str, bytes)):
        try:
            msg = json.loads(msg)
        except ValueError:
            return []
    if isinstance(msg, dict) and "data" in msg and "stream" in msg:
        msg = msg["data"]
    return [msg] if isinstance(msg, dict) else []


def is_liquidation_update(msg) -> bool:
    return any(e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["c"].startswith("autoclose-") and e["o"]["X"] == "FILLED"
               and e["o"]["s"] == SYMBOL for e in events(msg))


def is_order_update(msg, order_id: int, status: str) -> bool:
    return any(e.get("e") == "ORDER_TRADE_UPDATE" and int(e["o"]["i"]) == int(order_id) and e["o"]["X"] == status
               for e in events(msg))


def is_account_update(msg, reason: str = "ORDER") -> bool:
    return any(e.get("e") == "ACCOUNT_UPDATE" and e["a"]["m"] == reason for e in events(msg))


def localize(ex, base: str, ws: str):
    """binance-api.md 1.1: every https REST section to the local host; linear error table."""
    for k, v in list(ex.urls["api"].items()):
        if isinstance(v, str) and v.startswith("https://"):
            ex.urls["api"][k] = base + "/" + v.split("/", 3)[3]
    if isinstance(ex.urls["api"].get("ws"), dict):
        ex.urls["api"]["ws"]["linear"] = ws + "/ws"
    ex.exceptions["exact"].update(ex.exceptions["linear"]["exact"])
    return ex
