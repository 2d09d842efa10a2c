"""Request-weight limits as each client sees them: 429 with -1003, then a 418 ban (binance-api.md 4.3).

One server with a small weight budget (150 per minute per IP; a ban after 3 rejections). All
four clients share the loopback IP, as bots on one host share Binance's IP limit. Each one is
driven until it meets the limit, and must surface it as its own rate-limit error: ccxt
DDoSProtection, python-binance BinanceAPIException (status 429/418), the SDK
RateLimitBanError once banned, the connector ClientError (status 429/418, code -1003).
"""
from __future__ import annotations

import ccxt
import httpx
import pytest
from binance.client import Client
from binance.error import ClientError
from binance.exceptions import BinanceAPIException
from binance.um_futures import UMFutures
from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import RateLimitBanError
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import \
    DerivativesTradingUsdsFutures

from confkit import localize
from perpsim.binance.ratelimit import RateLimiter
from serverkit import RunningServer

WEIGHT = 150
TRIES = 400     # bounded: a minute boundary in the middle resets the count once at most


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = RunningServer(tmp_path_factory.mktemp("limits"),
                      limiter=RateLimiter(weight_per_minute=WEIGHT, ban_after=3, ban_seconds=120)).start()
    s.price("BTCUSDT", "60000")
    yield s
    s.stop()


def until_refused(call, exc_type):
    for _ in range(TRIES):
        try:
            call()
        except exc_type as e:
            return e
    raise AssertionError(f"no {exc_type.__name__} in {TRIES} requests")


def test_exchange_info_advertises_the_enforced_limit(srv):
    """exchangeInfo's rateLimits are the limits the server enforces."""
    info = srv.http.get("/fapi/v1/exchangeInfo").json()
    assert {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT} in \
        info["rateLimits"]


def test_rate_limit_through_every_client(srv):
    r = srv.http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT"})
    assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) > 0

    ex = localize(ccxt.binanceusdm({"enableRateLimit": False, "options": {"fetchCurrencies": False}}),
                  srv.base, srv.ws)
    e = until_refused(lambda: ex.fapiPublicGetDepth({"symbol": "BTCUSDT"}), ccxt.DDoSProtection)
    assert "429" in str(e) and "-1003" in str(e)

    c = Client("k", "s", ping=False)
    c.FUTURES_URL = srv.base + "/fapi"          # a per-instance override (binance-api.md 1.2)
    e = until_refused(lambda: c.futures_order_book(symbol="BTCUSDT"), BinanceAPIException)
    assert (e.status_code, e.code) in ((429, -1003), (418, -1003))

    um = UMFutures(base_url=srv.base)
    e = until_refused(lambda: um.depth(symbol="BTCUSDT"), ClientError)
    assert e.status_code in (429, 418) and e.error_code == -1003

    sdk = DerivativesTradingUsdsFutures(config_rest_api=ConfigurationRestAPI(
        api_key="", api_secret="", base_path=srv.base, timeout=5000, retries=0)).rest_api
    until_refused(lambda: sdk.order_book(symbol="BTCUSDT"), RateLimitBanError)   # by now: banned, 418

    r = httpx.get(srv.base + "/fapi/v1/ping")
    assert r.status_code == 418 and r.json()["code"] == -1003 and "banned" in r.json()["msg"]
    with pytest.raises(RateLimitBanError):
        sdk.order_book(symbol="BTCUSDT")
