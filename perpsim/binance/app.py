"""The HTTP and WebSocket server: Binance's USD-M API in front of a ``VenueService``.

Every request: parameters from the raw query and the raw body (params.py) -> request weight
(ratelimit.py) -> API key, signature, time, permission (auth.py) or the admin token -> the
endpoint's handler -> JSON. Every refusal is ``{"code", "msg"}`` with Binance's code and HTTP
status (Binance USDⓈ-M Futures API, "General Info": "HTTP Return Codes", and "Error Codes").
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
import time
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from perpsim.core.errors import VenueError

from . import endpoints  # noqa: F401  (registers the REST endpoints)
from .auth import check_api_key, check_signature
from .params import Params, ascii_int
from .ratelimit import RateLimiter
from .routes import ADMIN, ROUTES, SIGNED, SIGNED_PARAMS, USER_STREAM, Ctx, openapi
from .streams import StreamHub, websocket_endpoint
from .web import routes as web_routes
from perpsim.venue.webhooks import WebhookPolicy, WebhookSender

log = logging.getLogger("perpsim.server")

MAX_BODY = 64 * 1024

NEW_ORDER_ENDPOINTS = {("POST", "/fapi/v1/order"), ("POST", "/fapi/v1/batchOrders"), ("POST", "/fapi/v1/algoOrder")}

_STATUS = {-2014: 401, -2015: 401, -1003: 429, -1015: 429, -1002: 401}


def error_response(e: VenueError, headers: dict | None = None) -> JSONResponse:
    status = _STATUS.get(e.code, 400)
    if getattr(e, "http_status", None):
        status = e.http_status
    extra = getattr(e, "headers", None)   # Retry-After of a 429 / 418
    if extra:
        headers = {**(headers or {}), **extra}
    return JSONResponse({"code": e.code, "msg": e.msg}, status_code=status, headers=headers)


class Server:
    """Holds what the request pipeline needs; ``app`` is the ASGI application."""

    def __init__(self, service, admin_token: str, limiter: RateLimiter | None = None,
                 webhook_policy: WebhookPolicy | None = None):
        self.service = service
        self.admin_token = admin_token
        self.limiter = limiter or RateLimiter()
        service.settings.extra["limiter"] = self.limiter   # exchangeInfo advertises what is enforced
        self.webhook_policy = webhook_policy or WebhookPolicy()
        service.settings.extra["webhook_policy"] = self.webhook_policy
        self.hub = StreamHub(service)
        self.webhooks = WebhookSender(service, policy=self.webhook_policy)
        self._read_loop: asyncio.AbstractEventLoop | None = None   # heavy reads: handler and JSON off the main loop
        routes = [Route("/openapi.json", self.openapi_json, methods=["GET"])]
        for prefix in ("", "/public", "/market", "/private"):
            routes += [WebSocketRoute(prefix + "/ws", self.ws), WebSocketRoute(prefix + "/ws/{rest:path}", self.ws),
                       WebSocketRoute(prefix + "/stream", self.ws)]
        routes += web_routes()   # the practice dashboard (perpsim/binance/web.py)
        routes.append(Route("/{path:path}", self.http,
                            methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
        self.app = _with_transport(Starlette(routes=routes, lifespan=self._lifespan))

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        if self.service._loop is None:
            await self.service.start()
        self.hub.start()
        self.webhooks.start()
        self._read_loop = asyncio.new_event_loop()
        reader = threading.Thread(target=self._read_loop.run_forever, name="read-loop", daemon=True)
        reader.start()
        try:
            yield
        finally:
            await self.hub.stop()
            await self.webhooks.stop()
            self._read_loop.call_soon_threadsafe(self._read_loop.stop)
            reader.join(timeout=5)

    async def openapi_json(self, request: Request) -> JSONResponse:
        return JSONResponse(openapi())

    async def ws(self, websocket) -> None:
        await websocket_endpoint(self.hub, websocket)

    async def http(self, request: Request) -> Response:
        ep = ROUTES.get((request.method, request.url.path))
        if ep is None:
            known = any(path == request.url.path for _, path in ROUTES)
            if known:  # a known path with another verb
                return error_response(VenueError(-1020, "This operation is not supported."))
            return JSONResponse({"code": -1000, "msg": f"Unknown path {request.url.path}."}, status_code=404)
        ip = request.client.host if request.client else "-"
        headers: dict[str, str] = {}
        try:
            body = await _read_body(request)
            params = Params(request.scope.get("query_string", b""), body if ep.security != ADMIN else b"")
            if ep.security == ADMIN:   # the operator's token, not an IP, is the admin's identity: never banned with a bot
                if not self._admin_ok(request):
                    self.limiter.charge(ip, 1)
                    self._check_admin(request)
            else:
                headers = self.limiter.charge(ip, ep.weight(params) if callable(ep.weight) else ep.weight)
            ctx = Ctx(self.service, params, weight=ep.weight)
            if ep.security == ADMIN:
                ctx.body_json = _json_body(body)
            elif ep.security in (SIGNED, USER_STREAM):
                # one dict lookup needs no lock: the event loop never waits for a batch (and its fsync) here
                keys = self.service.venue.exchange.api_keys
                api_key, record = check_api_key(request.headers.get("x-mbx-apikey"), keys)
                if ep.security == SIGNED:
                    check_signature(record.secret, params, request.scope.get("query_string", b""), body,
                                    self.service.settings.check_time,
                                    key_type=getattr(record, "key_type", "HMAC"))
                if ep.permission and ep.permission not in record.permissions:
                    raise VenueError(-2015, "Invalid API-key, IP, or permissions for action.")
                ctx.account_id, ctx.api_key = record.account_id, api_key
                if (ep.method, ep.path) in NEW_ORDER_ENDPOINTS:  # Binance counts new orders only
                    headers.update(self.limiter.charge_order(record.account_id))
            for p in ep.params + (SIGNED_PARAMS if ep.security == SIGNED else ()):
                if p.type in ("integer", "number"):
                    params.check_grammar(p.name, p.type)
            if ep.offload and self._read_loop is not None:
                body = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_rendered(ep, ctx), self._read_loop))
                return Response(body, media_type="application/json", headers=headers)
            result = await ep.handler(ctx)
        except VenueError as e:
            return error_response(e, headers)
        except Exception:  # a bug: logged, answered in Binance's shape, and found by the fuzzer
            log.exception("internal error on %s %s", request.method, request.url.path)
            return JSONResponse({"code": -1000, "msg": "An unknown error occurred while processing the request."},
                                status_code=500, headers=headers)
        return JSONResponse(result, headers=headers)

    def _admin_ok(self, request: Request) -> bool:
        token = request.headers.get("x-perpsim-admin", "")
        return bool(token) and hmac.compare_digest(token.encode("utf-8", "surrogateescape"), self.admin_token.encode())

    def _check_admin(self, request: Request) -> None:
        if not self._admin_ok(request):
            e = VenueError(-2015, "Invalid admin token.")
            e.http_status = 401
            raise e


async def _rendered(ep, ctx) -> bytes:
    """The handler's answer as JSON bytes (as Starlette's JSONResponse renders it), on the read loop."""
    result = await ep.handler(ctx)
    return json.dumps(result, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def _with_transport(app):
    """Put the server protocol that owns a WebSocket connection into its scope (``perpsim.protocol``), so
    the stream hub can abort the socket of a client that stopped reading (ASGI itself offers no way)."""
    async def asgi(scope, receive, send):
        if scope["type"] == "websocket":
            scope = {**scope, "perpsim.protocol": getattr(send, "__self__", None)}
        await app(scope, receive, send)
    return asgi


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (ascii_int(declared) is None or int(declared) > MAX_BODY):
        raise VenueError(-1104, "Not all sent parameters were read; the request body is too large.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise VenueError(-1104, "Not all sent parameters were read; the request body is too large.")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_body(body: bytes):
    if not body.strip():
        return {}
    try:
        doc = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise VenueError(-1102, "Malformed JSON body.") from None
    if not isinstance(doc, dict):
        raise VenueError(-1102, "The JSON body must be an object.")
    return doc


def server_time_ms() -> int:
    return int(time.time() * 1000)
