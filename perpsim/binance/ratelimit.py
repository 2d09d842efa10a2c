"""Request weights and order-rate limits with Binance's headers, 429 and 418.

USD-M limits (exchangeInfo ``rateLimits`` [P]): 2,400 request weight per minute per IP; 1,200
orders per minute and 300 per 10 seconds per account. Over the weight limit: HTTP 429 with
-1003; an IP that keeps going after 429s is banned with HTTP 418 for a while (2 minutes for a
first ban here [I]; Binance scales bans from 2 minutes to 3 days). Both carry ``Retry-After``,
the seconds to wait: "A Retry-After header is sent with a 418 or 429 responses and will give the
number of seconds required to wait, in the case of a 429, to prevent a ban, or, in the case of a
418, until the ban is over" (Binance USD-M futures API, General Info, LIMITS).

The limits are keyed on the TCP peer's address (proxy headers are trusted only from the proxies an
operator names: ``perpsim serve --forwarded-allow-ips``). Binance's limits are the default; an
operator can multiply or lift them for a load test (``--rate-limits binance|off|xN``, ``from_setting``).
"""
from __future__ import annotations

import math
import time

from perpsim.core.errors import VenueError

RATE_LIMIT_SETTINGS = "binance, off, or xN (Binance's limits times N, e.g. x10)"


def _limited(code: int, msg: str, status: int, retry_after: float) -> VenueError:
    e = VenueError(code, msg)
    e.http_status = status
    e.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return e


class RateLimiter:
    def __init__(self, weight_per_minute: int = 2400, orders_per_minute: int = 1200, orders_per_10s: int = 300,
                 ban_after: int = 10, ban_seconds: int = 120, clock=time.time, enforce: bool = True):
        self.weight_per_minute = weight_per_minute
        self.orders_per_minute = orders_per_minute
        self.orders_per_10s = orders_per_10s
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self.clock = clock
        self.enforce = enforce        # False: count and report the headers, refuse nothing
        self._weights: dict[str, tuple[int, int]] = {}    # ip -> (minute, used)
        self._orders: dict[int, tuple[int, int, int, int]] = {}  # account -> (minute, n, 10s slot, n)
        self._rejections: dict[str, int] = {}
        self._banned: dict[str, float] = {}

    @classmethod
    def from_setting(cls, setting: str | None, **kw) -> "RateLimiter":
        """``binance`` (default): Binance's limits; ``off``: none enforced; ``xN``: Binance's times N."""
        text = (setting or "binance").strip().lower()
        if text == "binance":
            return cls(**kw)
        if text == "off":
            return cls(enforce=False, **kw)
        if text[:1] == "x" and text[1:].isascii() and text[1:].isdigit() and int(text[1:]) >= 1:
            n = int(text[1:])
            return cls(weight_per_minute=2400 * n, orders_per_minute=1200 * n, orders_per_10s=300 * n, **kw)
        raise ValueError(f"rate limits: {setting!r}; use {RATE_LIMIT_SETTINGS}")

    def charge(self, ip: str, weight: int) -> dict[str, str]:
        now = self.clock()
        until = self._banned.get(ip)
        if until is not None:
            if now < until:
                raise _limited(-1003, f"Way too many requests; IP({ip}) banned until {int(until * 1000)}. "
                                      "Please use the websocket for live updates to avoid bans.", 418, until - now)
            del self._banned[ip]
            self._rejections.pop(ip, None)
        minute = int(now // 60)
        m, used = self._weights.get(ip, (minute, 0))
        if m != minute:
            used = 0
        used += weight
        self._weights[ip] = (minute, used)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        if used > self.weight_per_minute and self.enforce:
            n = self._rejections.get(ip, 0) + 1
            self._rejections[ip] = n
            if n >= self.ban_after:
                self._banned[ip] = now + self.ban_seconds
            e = _limited(-1003, f"Too many requests; current limit of IP({ip}) request weight is "
                                f"{self.weight_per_minute} per 1 MINUTE. Please use WebSocket Streams for live "
                                "updates to avoid polling the API.", 429, (minute + 1) * 60 - now)
            e.headers.update(headers)
            raise e
        return headers

    def charge_order(self, account_id: int) -> dict[str, str]:
        now = self.clock()
        minute, slot = int(now // 60), int(now // 10)
        m, n_min, s, n_10 = self._orders.get(account_id, (minute, 0, slot, 0))
        n_min = n_min + 1 if m == minute else 1
        n_10 = n_10 + 1 if s == slot else 1
        self._orders[account_id] = (minute, n_min, slot, n_10)
        if (n_10 > self.orders_per_10s or n_min > self.orders_per_minute) and self.enforce:
            ten = n_10 > self.orders_per_10s
            limit, per = (self.orders_per_10s, "10 SECOND") if ten else (self.orders_per_minute, "1 MINUTE")
            wait = (slot + 1) * 10 - now if ten else (minute + 1) * 60 - now
            raise _limited(-1015, f"Too many new orders; current limit is {limit} orders per {per}.", 429, wait)
        return {"X-MBX-ORDER-COUNT-10S": str(n_10), "X-MBX-ORDER-COUNT-1M": str(n_min)}
