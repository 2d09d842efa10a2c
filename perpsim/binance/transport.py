"""The HTTP server's own bounds: header timeout, keep-alive, concurrent connections, proxy headers.

A connection that sends its request headers slowly (slowloris) holds a socket and a protocol
object; a server without a header timeout can be emptied of sockets by a few thousand of them.
``HeaderTimeoutHttpTools`` is uvicorn's httptools protocol (the C parser; ``HeaderTimeoutH11`` is
the pure-Python h11 one, used where httptools is not installed) with one addition: from the moment a
connection opens (or a kept-alive connection receives the first byte of its next request) the
complete request head must arrive within ``header_timeout`` seconds, or the connection is closed.
uvicorn's ``timeout_keep_alive`` closes idle kept-alive connections and ``limit_concurrency``
answers 503 beyond that many connections and tasks.

Proxy headers (``X-Forwarded-For``): trusted only from the proxies an operator names
(``--forwarded-allow-ips``); by default none, so the rate limits key on the TCP peer and a client
cannot choose its own address.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:   # httptools is a dependency; a source checkout without it runs on h11
    HttpToolsProtocol = None


@dataclass(frozen=True)
class ConnectionLimits:
    """Defaults and their reasons: docs/choices.md "The server's bounds"."""

    header_timeout: float = 10.0          # seconds for a complete request head
    keep_alive: float = 5.0               # seconds an idle kept-alive connection stays open (uvicorn's default)
    max_concurrency: int = 2048           # connections + running requests; beyond: 503
    forwarded_allow_ips: str | None = None   # proxies whose X-Forwarded-For is trusted; None: no proxy headers


class _HeadTimer:
    """The request-head deadline shared by both protocols: armed when a connection opens and at the
    first byte of each request, disarmed when the head is complete."""

    header_timeout = ConnectionLimits.header_timeout
    _head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._awaiting_head() and not self.transport.is_closing():
            self.transport.close()


class HeaderTimeoutH11(_HeadTimer, H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout (see the module docstring)."""

    def connection_made(self, transport) -> None:   # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def _awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:      # the first bytes of a request: its head is due in time
            self._arm_head_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is complete (body, upgrade or done)
            self._disarm_head_timer()

    def connection_lost(self, exc) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)


if HttpToolsProtocol is not None:
    class HeaderTimeoutHttpTools(_HeadTimer, HttpToolsProtocol):
        """uvicorn's httptools protocol with a request-head timeout (see the module docstring)."""

        def connection_made(self, transport) -> None:   # type: ignore[override]
            super().connection_made(transport)
            self._in_head = True
            self._arm_head_timer()

        def _awaiting_head(self) -> bool:
            return self._in_head

        def on_message_begin(self) -> None:
            self._in_head = True
            self._arm_head_timer()
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._disarm_head_timer()
            super().on_headers_complete()

        def connection_lost(self, exc) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)
else:
    HeaderTimeoutHttpTools = None


def uvicorn_config(app, host: str, port: int, limits: ConnectionLimits | None = None, **kw):
    """uvicorn's Config with perpsim's bounds (the one place ``perpsim serve`` and the tests build it)."""
    import uvicorn

    limits = limits or ConnectionLimits()
    base = HeaderTimeoutHttpTools or HeaderTimeoutH11
    protocol = type(base.__name__, (base,), {"header_timeout": limits.header_timeout})
    kw.setdefault("log_level", "warning")
    # Binance pings every 3 minutes and disconnects a client silent for 10 ("WebSocket Market Streams");
    # a shorter keepalive with a binary payload broke nautilus_trader's pong
    kw.setdefault("ws_ping_interval", 180)
    kw.setdefault("ws_ping_timeout", 600)
    return uvicorn.Config(app, host=host, port=port, ws="websockets-sansio", lifespan="on", http=protocol,
                          timeout_keep_alive=limits.keep_alive, limit_concurrency=limits.max_concurrency,
                          proxy_headers=limits.forwarded_allow_ips is not None,
                          forwarded_allow_ips=limits.forwarded_allow_ips or "", **kw)


def run(main) -> None:
    """Run the server's coroutine on uvloop (libuv's event loop, as uvicorn picks it), or asyncio's own
    loop where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
