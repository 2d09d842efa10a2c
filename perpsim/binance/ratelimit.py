"""Request weights and order-rate limits with Binance's headers, 429 and 418.

USD-M limits (exchangeInfo ``rateLimits`` [P]): 2,400 request weight per minute per IP; 1,200
orders per minute and 300 per 10 seconds per account. Over the weight limit: HTTP 429 with
-1003; an IP that keeps going after 429s is banned with HTTP 418 for a while (2 minutes for a
first ban here [I]; Binance scales bans from 2 minutes to 3 days).
"""
from __future__ import annotations

import time

from perpsim.core.errors import VenueError


class RateLimiter:
    def __init__(self, weight_per_minute: int = 2400, orders_per_minute: int = 1200, orders_per_10s: int = 300,
                 ban_after: int = 10, ban_seconds: int = 120, clock=time.time):
        self.weight_per_minute = weight_per_minute
        self.orders_per_minute = orders_per_minute
        self.orders_per_10s = orders_per_10s
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self.clock = clock
        self._weights: dict[str, tuple[int, int]] = {}    # ip -> (minute, used)
        self._orders: dict[int, tuple[int, int, int, int]] = {}  # account -> (minute, n, 10s slot, n)
        self._rejections: dict[str, int] = {}
        self._banned: dict[str, float] = {}

    def charge(self, ip: str, weight: int) -> dict[str, str]:
        now = self.clock()
        until = self._banned.get(ip)
        if until is not None:
            if now < until:
                e = VenueError(-1003, f"Way too many requests; IP({ip}) banned until {int(until * 1000)}. "
                                      "Please use the websocket for live updates to avoid bans.")
                e.http_status = 418
                raise e
            del self._banned[ip]
            self._rejections.pop(ip, None)
        minute = int(now // 60)
        m, used = self._weights.get(ip, (minute, 0))
        if m != minute:
            used = 0
        used += weight
        self._weights[ip] = (minute, used)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        if used > self.weight_per_minute:
            n = self._rejections.get(ip, 0) + 1
            self._rejections[ip] = n
            if n >= self.ban_after:
                self._banned[ip] = now + self.ban_seconds
            e = VenueError(-1003, f"Too many requests; current limit of IP({ip}) request weight is "
                                  f"{self.weight_per_minute} per 1 MINUTE. Please use WebSocket Streams for live "
                                  "updates to avoid polling the API.")
            e.http_status = 429
            raise e
        return headers

    def charge_order(self, account_id: int) -> dict[str, str]:
        now = self.clock()
        minute, slot = int(now // 60), int(now // 10)
        m, n_min, s, n_10 = self._orders.get(account_id, (minute, 0, slot, 0))
        n_min = n_min + 1 if m == minute else 1
        n_10 = n_10 + 1 if s == slot else 1
        self._orders[account_id] = (minute, n_min, slot, n_10)
        if n_10 > self.orders_per_10s or n_min > self.orders_per_minute:
            limit, per = (self.orders_per_10s, "10 SECOND") if n_10 > self.orders_per_10s else \
                (self.orders_per_minute, "1 MINUTE")
            e = VenueError(-1015, f"Too many new orders; current limit is {limit} orders per {per}.")
            e.http_status = 429
            raise e
        return {"X-MBX-ORDER-COUNT-10S": str(n_10), "X-MBX-ORDER-COUNT-1M": str(n_min)}
