"""The venue as an asyncio service: the sequencer, the price feed, listen keys, event fan-out.

Commands from every connection go through one queue. The sequencer takes everything waiting,
submits it as one batch (one journal commit: group commit) on a single worker thread, and
resolves each caller's future with its result; meanwhile new commands queue up for the next
batch. Events reach subscribers (the WebSocket hub) on the event loop, in sequence order.

Reads of the history tables never run on the event loop: ``query`` and ``run_read`` run on a
small pool of reader threads, each with its own read-only SQLite connection (WAL readers do
not wait for the writer), so one heavy read (a review, an income page) never stalls a ping.
"""
from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from perpsim.core.exchange import Command, Result

from .venue import Venue

MAX_BATCH = 256
READ_THREADS = 2
LISTEN_KEY_TTL_MS = 60 * 60 * 1000   # a listenKey lives 60 minutes unless kept alive [P]


@dataclass
class ListenKey:
    key: str
    account_id: int
    expires: int


@dataclass
class ServiceSettings:
    feed_step_ms: int = 1000          # index ticks (markPrice@1s)
    check_time: bool = True           # timestamp/recvWindow against wall time
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "XRPUSDT")
    liquidity: bool = True            # the market maker quotes on every index tick
    liquidity_params: dict = field(default_factory=dict)   # levels, spread_bps, step_bps, notional, growth_pct
    read_threads: int = READ_THREADS  # reader threads for history queries (each with its own connection)
    worker_processes: int = 1         # processes for the heaviest reads (reviews); 0: on a reader thread
    extra: dict = field(default_factory=dict)


def hold_setting(symbol: str) -> str:
    """The venue setting that holds a symbol's index at the operator's price (POST /admin/v1/price):
    while it is set, the index feed does not move that symbol; releasing it resumes the feed."""
    return f"operator_hold:{symbol}"


class VenueService:
    def __init__(self, venue: Venue, feed=None, settings: ServiceSettings | None = None):
        self.venue = venue
        self.feed = feed                      # object with price_at(symbol, t_ms) -> int, or None
        self.settings = settings or ServiceSettings()
        self.listen_keys: dict[str, ListenKey] = {}
        self._queue: asyncio.Queue | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sequencer")
        self._readers = ThreadPoolExecutor(max_workers=max(1, self.settings.read_threads), thread_name_prefix="reader")
        self._reader_local = threading.local()
        self._reader_dbs: list[sqlite3.Connection] = []
        self._workers = None   # a process pool, started on first use
        self._tasks: list[asyncio.Task] = []
        self._listeners: list[Callable[[int, Command, Result], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_tick: list[Callable[[], Any]] = []   # agents and other periodic work (async callables)
        self.on_listen_key_closed: list[Callable[[ListenKey], None]] = []   # closed or expired keys

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self.venue.subscribe(self._from_worker)
        self._tasks.append(asyncio.create_task(self._sequencer(), name="sequencer"))
        if self.feed is not None and self.venue.clock.kind == "wall":
            self._tasks.append(asyncio.create_task(self._feed_loop(), name="feed"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        self._executor.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if self._workers is not None:
            self._workers.shutdown(wait=True, cancel_futures=True)
            self._workers = None
        for db in self._reader_dbs:
            db.close()
        self._reader_dbs.clear()
        self.venue.close()

    # ------------------------------------------------------------------ commands
    async def submit(self, kind: str, **args: Any) -> Result:
        if asyncio.get_running_loop() is not self._loop:   # from the server's read loop: queue on the main loop
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.submit(kind, **args), self._loop))
        fut = self._loop.create_future()
        await self._queue.put((kind, args, fut))
        return await fut

    async def _sequencer(self) -> None:
        q = self._queue
        while True:
            batch = [await q.get()]
            while len(batch) < MAX_BATCH and not q.empty():
                batch.append(q.get_nowait())
            items = [(k, a) for k, a, _ in batch]
            try:
                results = await self._loop.run_in_executor(self._executor, self.venue.submit_batch, items)
            except Exception as e:  # a journal fault: every caller learns it; the venue refuses more
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for (_, _, fut), r in zip(batch, results):
                if not fut.done():
                    fut.set_result(r)

    def read(self, fn: Callable):
        return self.venue.read(fn)

    # ------------------------------------------------------------------ reads off the event loop
    def _reader_db(self) -> sqlite3.Connection | None:
        """This reader thread's read-only connection to the journal database (None without a journal)."""
        db = getattr(self._reader_local, "db", None)
        if db is None:
            journal = self.venue.journal
            if journal is None:
                return None
            db = sqlite3.connect(f"file:{journal.path}?mode=ro", uri=True, check_same_thread=False)
            db.execute("PRAGMA query_only=ON")
            self._reader_local.db = db
            self._reader_dbs.append(db)
        return db

    def sql(self, sql: str, args: tuple = ()) -> list[dict]:
        """Rows of the history tables as dicts, on the calling reader thread (see ``query``)."""
        db = self._reader_db()
        if db is None:
            return []
        cur = db.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    async def query(self, sql: str, args: tuple = ()) -> list[dict]:
        """A read-only SQL query of the history tables, run on a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, self.sql, sql, args)

    async def history(self, question: Callable, *args):
        """A question of ``history_queries.py`` (``question(self.sql, *args)``), on a reader thread;
        None when the venue keeps no history tables."""
        if self.venue.history is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(self._readers, question, self.sql, *args)

    async def run_process(self, fn: Callable, *args):
        """``fn(*args)`` in a worker process (a module-level function; arguments and result pickle): for
        reads long enough to hold the interpreter lock away from the event loop."""
        if self.settings.worker_processes <= 0:
            return await self.run_read(fn, *args)
        if self._workers is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            self._workers = ProcessPoolExecutor(self.settings.worker_processes,
                                                mp_context=multiprocessing.get_context("spawn"))
        return await asyncio.get_running_loop().run_in_executor(self._workers, fn, *args)

    async def run_read(self, fn: Callable, *args):
        """``fn(*args)`` on a reader thread: for reads that combine queries (``self.sql``) and the state
        (``self.read``) and cost more than a moment."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    # ------------------------------------------------------------------ events
    def subscribe(self, fn: Callable[[int, Command, Result], None]) -> Callable[[], None]:
        """Called on the event loop after each acknowledged command."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def _from_worker(self, seq: int, cmd: Command, result: Result) -> None:
        self._loop.call_soon_threadsafe(self._publish, seq, cmd, result)

    def _publish(self, seq: int, cmd: Command, result: Result) -> None:
        for fn in list(self._listeners):
            try:
                fn(seq, cmd, result)
            except Exception:  # one broken subscriber must not stop the others
                pass

    # ------------------------------------------------------------------ time and prices
    def now(self) -> int:
        """The venue's time (wall time in live mode)."""
        ex_now = self.read(lambda ex: ex.now)
        return max(ex_now, int(time.time() * 1000)) if self.venue.clock.kind == "wall" else ex_now

    async def _feed_loop(self) -> None:
        step = self.settings.feed_step_ms / 1000
        while True:
            await self.tick_prices(int(time.time() * 1000))
            for fn in list(self.on_tick):
                try:
                    await fn()
                except Exception:
                    pass
            await asyncio.sleep(step)

    async def tick_prices(self, t: int) -> None:
        """Submit the feed's index price of every symbol at ``t``, then the market maker's quotes."""
        if self.feed is not None:
            venues = getattr(self.feed, "constituents_at", None)
            held = self.read(lambda ex: {s for s in self.settings.symbols if ex.settings.get(hold_setting(s))})
            for symbol in self.settings.symbols:
                if symbol in held:
                    continue      # the operator's price is the index until released
                if venues is not None:
                    constituents = venues(symbol, t)
                    if constituents:
                        await self.submit("set_index_constituents", symbol=symbol, constituents=constituents)
                    continue
                price = self.feed.price_at(symbol, t)
                if price:
                    await self.submit("set_index", symbol=symbol, price=price)
        await self.requote()

    async def requote(self) -> None:
        mm = self.read(lambda ex: ex.settings.get("liquidity_account"))
        if not self.settings.liquidity or mm is None:
            return
        for symbol in self.settings.symbols:
            await self.submit("quote", account_id=mm, symbol=symbol, **self.settings.liquidity_params)

    async def ensure_liquidity_account(self, deposit: int = 10**9 * 10**8) -> int:
        """The market maker's account, created once (its id is a venue setting)."""
        mm = self.read(lambda ex: ex.settings.get("liquidity_account"))
        if mm is None:
            r = await self.submit("create_account", deposit={"USDT": deposit})
            mm = r.reply
            await self.submit("set_setting", name="liquidity_account", value=mm)
        return mm

    # ------------------------------------------------------------------ listen keys
    def listen_key(self, account_id: int) -> str:
        """POST /fapi/v1/listenKey: the account's active key (extended), or a new one
        (Binance's "Start User Data Stream": an open key is returned again, its validity extended)."""
        now = self.now()
        for lk in self.listen_keys.values():
            if lk.account_id == account_id and lk.expires > now:
                lk.expires = now + LISTEN_KEY_TTL_MS
                return lk.key
        key = secrets.token_hex(32)
        self.listen_keys[key] = ListenKey(key, account_id, now + LISTEN_KEY_TTL_MS)
        return key

    def keep_alive(self, account_id: int, key: str | None) -> str | None:
        now = self.now()
        for lk in self.listen_keys.values():
            if lk.account_id == account_id and (key is None or lk.key == key) and lk.expires > now:
                lk.expires = now + LISTEN_KEY_TTL_MS
                return lk.key
        return None

    def close_listen_key(self, account_id: int, key: str | None) -> None:
        for k in [k for k, lk in self.listen_keys.items() if lk.account_id == account_id and (key in (None, k))]:
            self._closed(self.listen_keys.pop(k))

    def _closed(self, lk: ListenKey) -> None:
        for fn in list(self.on_listen_key_closed):
            fn(lk)

    def account_for_listen_key(self, key: str) -> int | None:
        lk = self.listen_keys.get(key)
        return lk.account_id if lk is not None and lk.expires > self.now() else None

    def expired_listen_keys(self) -> list[ListenKey]:
        now = self.now()
        gone = [lk for lk in self.listen_keys.values() if lk.expires <= now]
        for lk in gone:
            del self.listen_keys[lk.key]
            self._closed(lk)
        return gone
