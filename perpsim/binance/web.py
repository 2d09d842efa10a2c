"""The practice dashboard's files: the built front-end (``perpsim/web_dist``, made from ``web/`` by
``make web``) at ``/`` and its pages, a plain client of the public API served on the same port.

Each page path answers the same ``index.html`` (the page routes itself, so a reload keeps it);
``/assets/*`` are the bundle's files. Without a build, the pages say how to make it; the API is unaffected.
"""
from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

DIST = Path(__file__).resolve().parent.parent / "web_dist"
PAGES = ("/", "/positions", "/wallets", "/liquidations", "/review", "/protection")
TYPES = {".js": "text/javascript", ".css": "text/css", ".map": "application/json", ".svg": "image/svg+xml"}

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>perpsim dashboard: not built</title>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>The dashboard is not built yet</h1>
<p>Build it from the project's folder with <code>make web</code> (it runs <code>npm ci</code> and
<code>npm run build</code> in <code>web/</code>; Node.js 20 or later is needed), then reload this page.</p>
<p>The venue's API works without it: REST under <code>/fapi</code>, WebSocket at <code>/ws</code>, the
description at <a href="/openapi.json">/openapi.json</a>.</p></body>"""


async def page(request) -> Response:
    index = DIST / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503)
    return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-cache"})


async def asset(request) -> Response:
    name = request.path_params["name"]
    path = (DIST / "assets" / name).resolve()
    if "/" in name or "\\" in name or path.parent != (DIST / "assets").resolve() or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"),
                        headers={"Cache-Control": "no-cache"})


def routes() -> list:
    return [Route(p, page, methods=["GET", "HEAD"]) for p in PAGES] + [
        Route("/assets/{name}", asset, methods=["GET", "HEAD"])]
