"""The endpoint registry: one declaration per endpoint drives dispatch, auth, weights and OpenAPI.

Handlers translate only: they read parameters, build a command or a read of the state, and
shape the answer as Binance does. They decide nothing (the adapter translates; the core decides).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

NONE, SIGNED, USER_STREAM, ADMIN = "NONE", "SIGNED", "USER_STREAM", "ADMIN"


@dataclass(frozen=True)
class Param:
    """A documented parameter (OpenAPI); the handler reads it with ``Params``."""

    name: str
    type: str = "string"          # string, integer, number, boolean
    required: bool = False
    enum: tuple[str, ...] = ()
    description: str = ""


@dataclass
class Ctx:
    """What a handler gets: the service, the parsed parameters and the caller."""

    service: Any
    params: Any
    account_id: int | None = None
    api_key: str | None = None
    body_json: Any = None
    weight: int = 1


Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    security: str
    weight: int | Callable[[Any], int]   # a number, or a function of the request's Params
    permission: str | None
    handler: Handler = field(compare=False)
    summary: str = ""
    params: tuple[Param, ...] = ()
    offload: bool = False     # run (and render) on the server's read loop, never on the main event loop


ROUTES: dict[tuple[str, str], Endpoint] = {}


def endpoint(method: str, paths: str | tuple[str, ...], security: str = NONE, weight: int | Callable = 1,
             permission: str | None = None, params: tuple[Param, ...] = (), summary: str = "",
             offload: bool | None = None):
    """Register a handler for one or several paths (aliases like /fapi/v1 and /fapi/v2).

    ``offload`` (default: a GET whose weight is 5 or more, or depends on the request, i.e. the reads
    Binance itself counts as heavy) runs the handler and renders its JSON on the read loop."""
    heavy = method == "GET" and (callable(weight) or weight >= 5) if offload is None else offload

    def register(fn: Handler) -> Handler:
        perm = permission if permission is not None else ("READ" if security == SIGNED else None)
        for path in (paths,) if isinstance(paths, str) else paths:
            ROUTES[(method, path)] = Endpoint(method, path, security, weight, perm, fn,
                                              summary or (fn.__doc__ or "").strip().splitlines()[0], params,
                                              heavy)
        return fn
    return register


def weight_by_limit(steps: tuple[tuple[int, int], ...], default_limit: int) -> Callable:
    """Binance's weight by ``limit``: ``steps`` of (largest limit, weight), ascending."""
    def weight(params) -> int:
        try:
            limit = params.int("limit", default=default_limit)
        except Exception:
            limit = default_limit          # a bad limit is refused by the handler; weigh the default
        for top, w in steps:
            if limit <= top:
                return w
        return steps[-1][1]
    return weight


def weight_by_symbol(with_symbol: int, without: int) -> Callable:
    """Binance's weight: ``with_symbol`` for one symbol, ``without`` for all of them."""
    return lambda params: with_symbol if "symbol" in params else without


SYMBOL = Param("symbol", required=True, description="A symbol such as BTCUSDT")
SYMBOL_OPT = Param("symbol", description="A symbol such as BTCUSDT; all symbols when omitted")
SIGNED_PARAMS = (Param("timestamp", "integer", True, description="ms since the epoch"),
                 Param("recvWindow", "integer", description="ms, at most 60000"),
                 Param("signature", required=True, description="HMAC-SHA256 hex"))


def openapi() -> dict:
    """The OpenAPI 3.1 document of every registered endpoint."""
    paths: dict = {}
    for (method, path), ep in sorted(ROUTES.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        params = list(ep.params) + (list(SIGNED_PARAMS) if ep.security == SIGNED else [])
        op: dict = {
            "summary": ep.summary,
            "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_')}",
            "parameters": [
                {"name": p.name, "in": "query", "required": p.required,
                 "schema": {"type": p.type, **({"enum": [int(v) if p.type == "integer" else v for v in p.enum]}
                                               if p.enum else {})},
                 **({"description": p.description} if p.description else {})}
                for p in params],
            "responses": {
                "200": {"description": "Binance's response shape", "content": {"application/json": {"schema": {}}}},
                "400": {"description": "A Binance error", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Error"}}}},
            },
        }
        if ep.security == ADMIN:
            op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
            op["security"] = [{"admin": []}]
        elif ep.security in (SIGNED, USER_STREAM):
            op["security"] = [{"apiKey": []}]
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "perpsim: Binance USD-M futures API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY"},
                "admin": {"type": "apiKey", "in": "header", "name": "X-PERPSIM-ADMIN"},
            },
            "schemas": {"Error": {"type": "object", "required": ["code", "msg"],
                                  "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}}}},
        },
    }
