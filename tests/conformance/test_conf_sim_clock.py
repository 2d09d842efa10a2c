"""A venue on the simulated clock (`perpsim serve --clock sim`), as each client's clock handling meets it.

binance-api.md quirk 14 and 4.2: the SDK, the connector and python-binance's sync Client stamp
wall time; ccxt with adjustForTimeDifference and python-binance's AsyncClient.create stamp the
server's time as /fapi/v1/time and /api/v3/time report it. The server checks timestamps against
wall time, so "give /fapi/v1/time and /api/v3/time the simulated time only if the timestamp
check also uses it": every client must be able to sign a request while the venue's clock is
an hour ahead of (or anywhere apart from) the wall clock.
"""
from __future__ import annotations

import ccxt
import pytest
from binance.async_client import AsyncClient
from binance.client import Client
from binance.um_futures import UMFutures

from confkit import LoopThread, localize
from serverkit import RunningServer

@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = RunningServer(tmp_path_factory.mktemp("sim"), clock="sim").start()
    s.price("BTCUSDT", "60000")
    s.admin("POST", "/admin/v1/clock", {"advanceMs": 3_600_000})
    s.acct = s.account(deposit="1000")
    yield s
    s.stop()


def test_wall_clock_clients_sign_on_a_simulated_venue(srv):
    um = UMFutures(key=srv.acct["apiKey"], secret=srv.acct["secretKey"], base_url=srv.base)
    assert [b["balance"] for b in um.balance() if b["asset"] == "USDT"] == ["1000.00000000"]
    c = Client(srv.acct["apiKey"], srv.acct["secretKey"], ping=False)
    c.FUTURES_URL = srv.base + "/fapi"
    assert float(c.futures_account()["totalWalletBalance"]) == 1000.0
    ex = localize(ccxt.binanceusdm({"apiKey": srv.acct["apiKey"], "secret": srv.acct["secretKey"],
                                    "options": {"fetchCurrencies": False}}), srv.base, srv.ws)
    assert ex.fetch_balance()["USDT"]["total"] == 1000.0


def test_ccxt_adjusted_to_the_server_clock(srv):
    ex = localize(ccxt.binanceusdm({"apiKey": srv.acct["apiKey"], "secret": srv.acct["secretKey"],
                                    "options": {"fetchCurrencies": False, "adjustForTimeDifference": True}}),
                  srv.base, srv.ws)
    ex.load_markets()
    assert ex.fetch_balance()["USDT"]["total"] == 1000.0


def test_python_binance_async_client(srv):
    saved = AsyncClient.API_URL, AsyncClient.FUTURES_URL
    AsyncClient.API_URL, AsyncClient.FUTURES_URL = srv.base + "/api", srv.base + "/fapi"
    loop = LoopThread()
    try:
        async def run():
            ac = await AsyncClient.create(srv.acct["apiKey"], srv.acct["secretKey"])
            try:
                return await ac.futures_account()
            finally:
                await ac.close_connection()
        assert float(loop.run(run())["totalWalletBalance"]) == 1000.0
    finally:
        loop.stop()
        AsyncClient.API_URL, AsyncClient.FUTURES_URL = saved
