"""The review of any Binance-compatible USDⓈ-M account, read-only over its REST API: the same history the
dashboard reads (GET /fapi/v1/income, /fapi/v1/userTrades, /fapi/v1/allOrders, /fapi/v1/forceOrders,
/fapi/v1/symbolConfig, and /fapi/v1/markPriceKlines), signed with HMAC-SHA256 as Binance documents for
SIGNED endpoints. The key needs read permission only; nothing is placed or changed."""
from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse
from decimal import Decimal

import httpx

HOUR = 3_600_000


class RemoteError(Exception):
    pass


class Remote:
    def __init__(self, base: str, key: str, secret: str, client: httpx.Client | None = None):
        self.base, self.key, self.secret = base.rstrip("/"), key, secret
        self.http = client or httpx.Client(timeout=30)
        self.offset = 0

    def _json(self, r: httpx.Response):
        doc = r.json(parse_float=Decimal) if r.content else None
        if r.status_code >= 400 or (isinstance(doc, dict) and isinstance(doc.get("code"), int) and doc["code"] < 0):
            raise RemoteError(f"{r.request.method} {r.request.url.path}: {doc}")
        return doc

    def get(self, path: str, **params):
        return self._json(self.http.get(self.base + path, params=params))

    def signed(self, path: str, **params):
        params = {k: v for k, v in params.items() if v is not None}
        params.update(recvWindow=10000, timestamp=int(time.time() * 1000) + self.offset)
        q = urllib.parse.urlencode(params)
        q += "&signature=" + hmac.new(self.secret.encode(), q.encode(), hashlib.sha256).hexdigest()
        return self._json(self.http.get(f"{self.base}{path}?{q}", headers={"X-MBX-APIKEY": self.key}))

    def sync_time(self) -> None:
        t0 = int(time.time() * 1000)
        server = int(self.get("/fapi/v1/time")["serverTime"])
        self.offset = server - (t0 + int(time.time() * 1000)) // 2


def fetch_data(remote: Remote, symbol: str | None = None) -> dict:
    """Binance-shaped account history, as perpsim.review.analysis reads it."""
    remote.sync_time()
    income = remote.signed("/fapi/v1/income", limit=1000)
    symbols = sorted({r["symbol"] for r in income if r.get("symbol")} | ({symbol} if symbol else set()))
    if symbol:
        symbols = [symbol]
    data: dict = {"income": income, "userTrades": [], "allOrders": [], "algoOrders": [], "klines": {},
                  "forceOrders": remote.signed("/fapi/v1/forceOrders", limit=100), "configUpdates": []}
    for s in symbols:
        data["userTrades"] += remote.signed("/fapi/v1/userTrades", symbol=s, limit=1000)
        data["allOrders"] += remote.signed("/fapi/v1/allOrders", symbol=s, limit=1000)
        cfg = remote.signed("/fapi/v1/symbolConfig", symbol=s)
        for c in cfg if isinstance(cfg, list) else [cfg]:
            data["configUpdates"].append({"symbol": s, "time": 0, "leverage": int(c["leverage"]),
                                          "marginType": c["marginType"]})
        times = [int(t["time"]) for t in data["userTrades"] if t["symbol"] == s]
        if times:
            start = max(0, (min(times) // HOUR - 48) * HOUR)
            data["klines"][s] = remote.get("/fapi/v1/markPriceKlines", symbol=s, interval="1h", startTime=start,
                                           limit=1500)
    try:
        data["algoOrders"] = remote.signed("/fapi/v1/allAlgoOrders", limit=1000)
    except RemoteError:
        data["algoOrders"] = []        # not every venue keeps conditional orders apart
    return data
