"""The HTTP and WebSocket server: Binance's USD-M API in front of a ``VenueService``.

Every request: parameters from the raw query and the raw body (params.py) -> request weight
(ratelimit.py) -> API key, signature, time, permission (auth.py) or the admin token -> the
endpoint's handler -> JSON. Every refusal is ``{"code", "msg"}`` with Binance's code and HTTP
status (binance-api.md section 4.3).
"""
from __future__ import annotations

import contextlib
import hmac
import json
import logging
import time
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from perpsim.core.errors import VenueError

from . import endpoints  # noqa: F401  (registers the REST endpoints)
from .auth import check_api_key, check_signature
from .params import Params
from .ratelimit import RateLimiter
from .routes import ADMIN, ROUTES, SIGNED, USER_STREAM, Ctx, openapi
from .streams import StreamHub, websocket_endpoint
from .web import routes as web_routes
from perpsim.venue.webhooks import WebhookSender

log = logging.getLogger("perpsim.server")

MAX_BODY = 64 * 1024

NEW_ORDER_ENDPOINTS = {("POST", "/fapi/v1/order"), ("POST", "/fapi/v1/batchOrders"), ("POST", "/fapi/v1/algoOrder")}

_STATUS = {-2014: 401, -2015: 401, -1003: 429, -1015: 429, -1002: 401}


def error_response(e: VenueError, headers: dict | None = None) -> JSONResponse:
    status = _STATUS.get(e.code, 400)
    if getattr(e, "http_status", None):
        status = e.http_status
    return JSONResponse({"code": e.code, "msg": e.msg}, status_code=status, headers=headers)


class Server:
    """Holds what the request pipeline needs; ``app`` is the ASGI application."""

    def __init__(self, service, admin_token: str, limiter: RateLimiter | None = None):
        self.service = service
        self.admin_token = admin_token
        self.limiter = limiter or RateLimiter()
        service.settings.extra["limiter"] = self.limiter   # exchangeInfo advertises what is enforced
        self.hub = StreamHub(service)
        self.webhooks = WebhookSender(service)
        routes = [Route("/openapi.json", self.openapi_json, methods=["GET"])]
        for prefix in ("", "/public", "/market", "/private"):
            routes += [WebSocketRoute(prefix + "/ws", self.ws), WebSocketRoute(prefix + "/ws/{rest:path}", self.ws),
                       WebSocketRoute(prefix + "/stream", self.ws)]
        routes += web_routes()   # the practice dashboard (perpsim/binance/web.py)
        routes.append(Route("/{path:path}", self.http,
                            methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
        self.app = Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        if self.service._loop is None:
            await self.service.start()
        self.hub.start()
        self.webhooks.start()
        try:
            yield
        finally:
            await self.hub.stop()
            await self.webhooks.stop()

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
            headers = self.limiter.charge(ip, ep.weight(params) if callable(ep.weight) else ep.weight)
            ctx = Ctx(self.service, params, weight=ep.weight)
            if ep.security == ADMIN:
                self._check_admin(request)
                ctx.body_json = _json_body(body)
            elif ep.security in (SIGNED, USER_STREAM):
                keys = self.service.read(lambda ex: ex.api_keys)
                api_key, record = check_api_key(request.headers.get("x-mbx-apikey"), keys)
                if ep.security == SIGNED:
                    check_signature(record.secret, params, request.scope.get("query_string", b""), body,
                                    self.service.settings.check_time)
                if ep.permission and ep.permission not in record.permissions:
                    raise VenueError(-2015, "Invalid API-key, IP, or permissions for action.")
                ctx.account_id, ctx.api_key = record.account_id, api_key
                if (ep.method, ep.path) in NEW_ORDER_ENDPOINTS:  # Binance counts new orders only
                    headers.update(self.limiter.charge_order(record.account_id))
            result = await ep.handler(ctx)
        except VenueError as e:
            return error_response(e, headers)
        except Exception:  # a bug: logged, answered in Binance's shape, and found by the fuzzer
            log.exception("internal error on %s %s", request.method, request.url.path)
            return JSONResponse({"code": -1000, "msg": "An unknown error occurred while processing the request."},
                                status_code=500, headers=headers)
        return JSONResponse(result, headers=headers)

    def _check_admin(self, request: Request) -> None:
        token = request.headers.get("x-perpsim-admin", "")
        if not token or not hmac.compare_digest(token.encode(), self.admin_token.encode()):
            e = VenueError(-2015, "Invalid admin token.")
            e.http_status = 401
            raise e


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
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
