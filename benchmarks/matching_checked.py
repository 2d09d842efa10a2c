"""Benchmark B2, second half: matching with the full pre-trade path on (issue 3: "at least 1x
with the full pre-trade margin check on").

The same seeded workloads as benchmarks/matching.py (its generators), sent as
``Exchange.apply(Command("place_order" | "cancel_order", ...))``: argument checks, Binance's
filters, the cost-to-open margin check, matching, settlement of both sides of every fill
through the clearing core (positions, commission, realized PnL), reserved order margin, market
data, every event built, and the exchange's post-command risk re-check. Peers as in
benchmarks/matching.py, timed in the same process, interleaved, GC off in the loop, best of N.

Two of ours: ``ours_checked`` (every command through ``Exchange.apply``, the headline) and
``ours_order_layer`` (``OrderManager.place/cancel`` directly: the same checks, matching,
settlement and events, without the exchange's post-command risk re-check).

Mapping: one workload tick = 60 USDT on BTCUSDT (prices 59,400..60,600 around a mark of
60,000: inside PERCENT_PRICE and marketTakeBound), one unit = 0.002 BTC (every order above
MIN_NOTIONAL), owner = ``oid & 63`` (64 funded accounts, self-trades allowed as in the peers).
BTCUSDT's MAX_NUM_ORDERS (200 per account) is lifted for the run: the workload rests ~25k
orders per 64 owners. Traded quantity is checked equal to the peers'.
"""
from __future__ import annotations

import dataclasses
import gc
import statistics
import time

from benchmarks.matching import (BUY, CANCEL_CMD, LIMIT_CMD, MARKET_CMD, gen_base, gen_mixed,
                                 run_cython_orderbook, run_lightmatchingengine)
from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import parse
from perpsim.core.instruments import default_instruments

SYM = "BTCUSDT"
TICK = parse("60")
UNIT = parse("0.002")
OWNERS = 64


def _venue() -> Exchange:
    ins = default_instruments()
    ins[SYM] = dataclasses.replace(ins[SYM], max_num_orders=10**9)
    ex = Exchange(ins)
    for _ in range(OWNERS):
        assert ex.apply(Command("create_account", {"deposit": {"USDT": parse("100000000")}})).ok
    assert ex.apply(Command("set_mark", {"symbol": SYM, "price": 1000 * TICK})).ok
    return ex


def _commands(cmds: list[tuple]) -> list[tuple]:
    """Workload tuples -> (kind, workload id, args) with our units (built before timing)."""
    out = []
    for kind, oid, side, px, q in cmds:
        acct = (oid & 63) + 1
        s = "BUY" if side == BUY else "SELL"
        if kind == CANCEL_CMD:
            out.append((1, oid, {"account_id": acct, "symbol": SYM, "order_id": 0}))
        elif kind == MARKET_CMD:
            out.append((0, oid, {"account_id": acct, "symbol": SYM, "side": s, "type": "MARKET",
                                 "quantity": q * UNIT}))
        else:
            out.append((0, oid, {"account_id": acct, "symbol": SYM, "side": s, "type": "LIMIT",
                                 "quantity": q * UNIT, "price": px * TICK,
                                 "time_in_force": "GTC" if kind == LIMIT_CMD else "IOC"}))
    return out


def run_checked(cmds: list[tuple], keep: bool = False) -> tuple[float, int | None]:
    """Every command through Exchange.apply; returns (seconds, traded units)."""
    ex = _venue()
    work = _commands(cmds)
    apply = ex.apply
    orders = ex.orders.orders
    ids: dict[int, int] = {}
    refused = 0
    t = 1_700_000_000_000
    t0 = time.perf_counter()
    for kind, oid, args in work:
        t += 1
        if kind == 0:
            r = apply(Command("place_order", args, t))
            if r.error is None:
                ids[oid] = r.reply["orderId"]
            else:
                refused += 1
        else:
            our = ids.get(oid)
            o = orders.get(our) if our else None
            if o is not None and o.is_open:     # as the peers: only open orders are cancelled
                args["order_id"] = our
                apply(Command("cancel_order", args, t))
    dt = time.perf_counter() - t0
    if refused:
        raise AssertionError(f"{refused} orders refused")
    if not keep:
        return dt, None
    ex.orders.check()
    assert ex.clearing.is_balanced()
    traded = sum(o.executed for o in orders.values() if o.side == "BUY")
    return dt, traded // UNIT


def run_order_layer(cmds: list[tuple], keep: bool = False) -> tuple[float, int | None]:
    """The same through ``OrderManager`` directly: filters, cost-to-open check, matching,
    settlement, reserve, market data and events, without the exchange's command envelope and
    its post-command risk re-check (liquidation detector, margin calls)."""
    ex = _venue()
    work = _commands(cmds)
    om = ex.orders
    place, cancel, orders = om.place, om.cancel, om.orders
    ids: dict[int, int] = {}
    t = 1_700_000_000_000
    t0 = time.perf_counter()
    for kind, oid, a in work:
        t += 1
        if kind == 0:
            reply, _ = place(a["account_id"], SYM, a["side"], a["type"], a["quantity"], a.get("price"),
                             a.get("time_in_force"), now=t)
            ids[oid] = reply["orderId"]
        else:
            our = ids.get(oid)
            o = orders.get(our) if our else None
            if o is not None and o.is_open:
                cancel(a["account_id"], SYM, our, now=t)
    dt = time.perf_counter() - t0
    if not keep:
        return dt, None
    om.check()
    assert ex.clearing.is_balanced()
    return dt, sum(o.executed for o in orders.values() if o.side == "BUY") // UNIT


ENGINES = {"ours_checked": run_checked, "ours_order_layer": run_order_layer,
           "lightmatchingengine": run_lightmatchingengine, "cython_orderbook": run_cython_orderbook}


def _timed(fn, cmds) -> float:
    gc.collect()
    gc.disable()
    try:
        return fn(cmds)[0]
    finally:
        gc.enable()


def measure(name: str, cmds: list[tuple], repeat: int) -> dict:
    times: dict[str, list[float]] = {k: [] for k in ENGINES}
    for _ in range(repeat):
        for eng, fn in ENGINES.items():
            times[eng].append(_timed(fn, cmds))
    traded = {eng: fn(cmds, True)[1] for eng, fn in ENGINES.items()}
    if len(set(traded.values())) != 1:
        raise AssertionError(f"{name}: traded quantities differ: {traded}")
    n = len(cmds)
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    res = {"workload": name, "commands": n, "traded_qty": traded["ours_checked"]}
    for eng in ENGINES:
        res[f"{eng}_best_s"] = round(best[eng], 4)
        res[f"{eng}_per_s"] = round(n / best[eng])
        print(f"  [{name}] {eng:<20} best {best[eng] * 1e3:9.1f} ms  median {med[eng] * 1e3:9.1f} ms  "
              f"{best[eng] / n * 1e6:6.2f} us/cmd", flush=True)
    for eng in ("lightmatchingengine", "cython_orderbook"):
        res[f"ratio_vs_{eng}_checked"] = round(best[eng] / best["ours_checked"], 3)
        res[f"median_ratio_vs_{eng}_checked"] = round(med[eng] / med["ours_checked"], 2)
        res[f"order_layer_ratio_vs_{eng}"] = round(best[eng] / best["ours_order_layer"], 3)
        print(f"  [{name}] ours with checks vs {eng}: {res[f'ratio_vs_{eng}_checked']:.3f}x through "
              f"Exchange.apply, {res[f'order_layer_ratio_vs_{eng}']:.3f}x through the order layer", flush=True)
    return res


def run_full_check(quick: bool = False) -> dict:
    """B2 with the full pre-trade check; ``quick`` = 20k commands, else 100k."""
    n = 20_000 if quick else 100_000
    repeat = 2 if quick else 3
    base = measure("base", gen_base(n), repeat)
    mixed = measure("mixed", gen_mixed(n), repeat)
    return {
        "benchmark": "matching_checked",
        "quick": quick,
        "orders": n,
        "ours_checked_orders_per_s": base["ours_checked_per_s"],
        "ratio_vs_lightmatchingengine_checked": base["ratio_vs_lightmatchingengine_checked"],
        "ratio_vs_cython_orderbook_checked": base["ratio_vs_cython_orderbook_checked"],
        "mixed_ratio_vs_lightmatchingengine_checked": mixed["ratio_vs_lightmatchingengine_checked"],
        "mixed_ratio_vs_cython_orderbook_checked": mixed["ratio_vs_cython_orderbook_checked"],
        "order_layer_orders_per_s": base["ours_order_layer_per_s"],
        "order_layer_ratio_vs_lightmatchingengine": base["order_layer_ratio_vs_lightmatchingengine"],
        "order_layer_ratio_vs_cython_orderbook": base["order_layer_ratio_vs_cython_orderbook"],
        "traded_qty": base["traded_qty"],
        "runs": [base, mixed],
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run_full_check("--quick" in sys.argv)))
