"""WebSocket streams: every path layout clients dial, SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS, and
the market and user-data pushes translated from the venue's events (Binance USDⓈ-M Futures API,
"Websocket Market Streams" and "User Data Streams").

Raw connections (``/ws``) receive the payload itself; combined ones (``/stream``) receive
``{"stream": name, "data": payload}``. The category prefix (/public, /market, /private) is
accepted and ignored: any stream can be served on any path.

Bounds, as Binance's WebSocket Market Streams page states them: "A single connection can listen
to a maximum of 1024 streams" (``MAX_STREAMS``) and "WebSocket connections have a limit of 10
incoming messages per second; a connection that goes beyond the limit will be disconnected"
(``MAX_INCOMING_PER_S``). A client that does not read is dropped too: each connection has a
bounded send queue (``QUEUE_LIMIT`` messages) and a send that cannot complete within
``SEND_TIMEOUT`` seconds drops the connection (docs/choices.md "The server's bounds").
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from perpsim.core.exchange import Command, Result

from .translate import market_messages, user_messages
from .translate_market import push_initial

QUEUE_LIMIT = 1_000          # messages waiting for one slow connection before it is dropped
SEND_TIMEOUT = 10.0          # seconds one frame may wait for the client to read
MAX_STREAMS = 1024           # streams (and listen keys) per connection
MAX_INCOMING_PER_S = 10      # control messages per second per connection
_STREAM = re.compile(
    r"^(!markPrice@arr(@1s)?|!forceOrder@arr|!bookTicker|!ticker@arr|!miniTicker@arr|"
    r"[a-z0-9]+@(markPrice(@1s)?|aggTrade|trade|depth(5|10|20)?(@(100|250|500)ms)?|bookTicker|"
    r"kline_(1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)|ticker|miniTicker|forceOrder)|"
    r"[a-z0-9]+_perpetual@continuousKline_(1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M))$")


class Conn:
    def __init__(self, ws: WebSocket, combined: bool):
        self.ws = ws
        self.combined = combined
        self.subs: set[str] = set()
        self.user_keys: dict[str, int] = {}      # listenKey -> account id
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.dropped = False
        self._second = 0
        self._incoming = 0

    def push(self, stream: str, payload) -> None:
        self.put({"stream": stream, "data": payload} if self.combined else payload)

    def put(self, msg) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:  # a consumer this slow is dropped, as Binance drops it
            drop(self)

    def incoming(self) -> bool:
        """Count one incoming message; False when this second's budget is spent."""
        second = int(time.monotonic())
        if second != self._second:
            self._second, self._incoming = second, 0
        self._incoming += 1
        return self._incoming <= MAX_INCOMING_PER_S


def drop(conn: Conn) -> None:
    """Disconnect now, without waiting for a client that may never read again: abort the socket
    (the server protocol is put in the scope by app.py), else close politely."""
    if conn.dropped:
        return
    conn.dropped = True
    protocol = conn.ws.scope.get("perpsim.protocol")
    transport = getattr(protocol, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        return
    asyncio.ensure_future(_close_quietly(conn.ws))


async def _close_quietly(ws) -> None:
    try:
        await asyncio.wait_for(ws.close(), SEND_TIMEOUT)
    except Exception:
        pass


class StreamHub:
    def __init__(self, service):
        self.service = service
        self.conns: set[Conn] = set()
        self._unsubscribe: Callable | None = None
        self._expiry: asyncio.Task | None = None
        self.snapshot_depth: Callable[[str, int], dict | None] | None = None  # partial-depth source

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.service.subscribe(self.on_result)
            self.service.on_listen_key_closed.append(self.key_closed)
            self._expiry = asyncio.create_task(self._expire_listen_keys())

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        for c in list(self.conns):
            try:
                await c.ws.close()
            except Exception:
                pass

    def on_result(self, seq: int, cmd: Command, result: Result) -> None:
        """Build the messages of a command's events that someone listens to, and push them: market
        messages only when a connection subscribes to a market stream, user messages only for the
        accounts whose listen keys are open."""
        if not self.conns or not result.events:
            return
        conns = list(self.conns)
        market = market_messages(self.service, cmd, result) if any(c.subs for c in conns) else ()
        watched = {acct for c in conns for acct in c.user_keys.values()}
        by_account: dict[int, list] = {}
        if watched:
            for account_id, payload in user_messages(self.service, cmd, result, watched):
                by_account.setdefault(account_id, []).append(payload)
        for conn in conns:
            for stream, payload in market:
                if stream in conn.subs:
                    conn.push(stream, payload)
            for key, acct in conn.user_keys.items():
                for payload in by_account.get(acct, ()):
                    conn.push(key, payload)

    async def _expire_listen_keys(self) -> None:
        while True:
            await asyncio.sleep(5)
            self.service.expired_listen_keys()   # each expired key reaches key_closed

    def key_closed(self, lk) -> None:
        """A listen key expired or was closed: push listenKeyExpired to its streams, then stop them."""
        msg = {"e": "listenKeyExpired", "E": self.service.now(), "listenKey": lk.key}
        for conn in list(self.conns):
            if conn.user_keys.pop(lk.key, None) is not None:
                conn.push(lk.key, msg)

    # ------------------------------------------------------------------ control frames
    def subscribe(self, conn: Conn, names: list) -> str | None:
        """Add streams or listen keys; returns an error message for an invalid one (nothing added)."""
        streams, keys = [], {}
        for name in names:
            if not isinstance(name, str) or len(name) > 200:
                return "Invalid request: invalid stream"
            acct = self.service.account_for_listen_key(name)
            if acct is not None:
                keys[name] = acct
            elif _STREAM.match(name):
                streams.append(name)
            else:
                return "Invalid request: invalid stream"
        if len(conn.subs | set(streams)) + len(conn.user_keys.keys() | keys.keys()) > MAX_STREAMS:
            return f"Invalid request: too many streams; a connection listens to at most {MAX_STREAMS}"
        conn.subs.update(streams)
        conn.user_keys.update(keys)
        push_initial(self.service, conn, streams)   # partial depth: the top of the book, after the reply
        return None


async def websocket_endpoint(hub: StreamHub, ws: WebSocket) -> None:
    path = ws.url.path
    combined = path.endswith("/stream")
    conn = Conn(ws, combined)
    initial: list[str] = []
    rest = ws.path_params.get("rest")
    if rest:
        initial += [s for s in rest.split("/") if s and not s.isdigit()]  # ccxt's /ws/<slot> is not a stream
    if ws.query_params.get("streams"):
        initial += [s for s in ws.query_params["streams"].split("/") if s]
    if ws.query_params.get("listenKey"):
        initial.append(ws.query_params["listenKey"])
    await ws.accept()
    error = hub.subscribe(conn, initial) if initial else None
    if error is not None:
        await ws.send_json({"error": {"code": 2, "msg": error}})
        await ws.close()
        return
    hub.conns.add(conn)
    sender = asyncio.create_task(_sender(conn))
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect" or conn.dropped:
                break
            if not conn.incoming():   # over 10 messages a second: disconnected, as Binance does
                drop(conn)
                break
            text = message.get("text")
            if text is None:  # a binary frame: Binance speaks JSON text only
                conn.put({"error": {"code": 3, "msg": "Invalid JSON: binary frames are not supported"}})
                continue
            reply = handle_control(hub, conn, text)
            if reply is not None:
                conn.put(reply)  # through the queue: replies keep their order with pushes
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.conns.discard(conn)
        sender.cancel()


async def _sender(conn: Conn) -> None:
    try:
        while not conn.dropped:
            msg = await conn.queue.get()
            try:
                await asyncio.wait_for(conn.ws.send_text(json.dumps(msg, separators=(",", ":"))), SEND_TIMEOUT)
            except asyncio.TimeoutError:   # the client stopped reading
                drop(conn)
                return
    except Exception:
        return


def handle_control(hub: StreamHub, conn: Conn, text: str) -> dict | None:
    """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, with the id echoed in its own type
    (a string id comes back a string, a number a number, as Binance's "Live Subscribing/Unsubscribing to streams")."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}
    if not isinstance(msg, dict):
        return {"error": {"code": 3, "msg": "Invalid JSON: not an object"}}
    rid = msg.get("id")
    if rid is not None and (not isinstance(rid, (int, str)) or isinstance(rid, bool)):
        return {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}, "id": None}
    method = msg.get("method")
    params = msg.get("params", [])
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(conn.subs) + sorted(conn.user_keys), "id": rid}
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not isinstance(params, list):
            return {"error": {"code": 2, "msg": "Invalid request: params must be an array"}, "id": rid}
        if method == "SUBSCRIBE":
            err = hub.subscribe(conn, params)
            if err:
                return {"error": {"code": 2, "msg": err}, "id": rid}
        else:
            for name in params:
                if isinstance(name, str):
                    conn.subs.discard(name)
                    conn.user_keys.pop(name, None)
        return {"result": None, "id": rid}
    return {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": rid}
