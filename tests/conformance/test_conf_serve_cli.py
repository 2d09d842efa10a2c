"""`perpsim serve` itself, as the README runs it: a subprocess on a free port, driven with what it prints.

The printed REST URL, demo API key and secret and admin token are all a bot gets. ccxt trades
against the liquidity agents the command starts (no admin setup at all), ccxt.pro sees the
synthetic index feed move the mark, and a restart on the same data directory brings back the
same demo account.
"""
from __future__ import annotations

import asyncio
import signal
import time

import ccxt
import ccxt.pro
import httpx
import pytest

from botkit import Serve
from confkit import localize
from serverkit import free_port

SYM = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve-cli")
    s = Serve(d, port=free_port())
    yield s
    s.stop()


def test_a_bot_with_what_serve_prints(served):
    ex = localize(ccxt.binanceusdm({"apiKey": served.key, "secret": served.secret,
                                    "options": {"fetchCurrencies": False, "adjustForTimeDifference": True}}),
                  served.base, served.ws)
    ex.load_markets()
    assert {"BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT"} <= set(ex.markets)
    assert ex.fetch_balance()["USDT"]["total"] == 100000.0
    book = ex.fetch_order_book(SYM, 5)
    assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0]    # the liquidity agents
    o = ex.create_order(SYM, "market", "buy", 0.002)
    assert o["status"] == "closed" and o["filled"] == 0.002 and o["average"] >= book["asks"][0][0] * 0.99
    pos = ex.fetch_positions([SYM])
    assert len(pos) == 1 and pos[0]["side"] == "long" and pos[0]["contracts"] == 0.002
    c = ex.create_order(SYM, "market", "sell", 0.002, None, {"reduceOnly": True})
    assert c["status"] == "closed"
    assert ex.fetch_positions([SYM]) == []
    state = httpx.get(served.base + "/admin/v1/state", headers={"X-PERPSIM-ADMIN": served.token}).json()
    assert state["ledgerBalanced"] is True
    assert httpx.get(served.base + "/admin/v1/state").status_code == 401


def test_the_index_feed_moves_the_mark_on_the_stream(served):
    async def run():
        pro = localize(ccxt.pro.binanceusdm({"apiKey": served.key, "secret": served.secret,
                                             "options": {"fetchCurrencies": False}}), served.base, served.ws)
        try:
            await pro.load_markets()
            seen = []
            deadline = time.monotonic() + 10
            while len(seen) < 3 and time.monotonic() < deadline:
                m = await asyncio.wait_for(pro.watch_mark_price(SYM), 5)
                seen.append((m["timestamp"], m["markPrice"]))
            return seen
        finally:
            await pro.close()
    seen = asyncio.run(run())
    assert len(seen) == 3 and all(p > 0 for _, p in seen)
    assert seen[0][0] < seen[1][0] < seen[2][0]          # markPrice@1s pushes, one per feed tick


def test_restart_keeps_the_demo_account(served):
    first = (served.account, served.key, served.secret)
    assert served.stop() in (0, -signal.SIGINT, 130)
    again = Serve(served.data_dir, port=free_port())
    try:
        assert (again.account, again.key, again.secret) == first
    finally:
        again.stop()
