"""Benchmark B2 (performance.md section 5): order-matching throughput against Python peers.

Workloads (performance.md section 1.3), generated with ``random.Random(42)``; per order, in
this order of draws: side = BUY if ``random() < 0.5`` else SELL, price = 1000 +
``randint(-10, 10)`` ticks, qty = ``randint(1, 10)``. 100k orders trade 219,063 units, the
figure in the doc (drawing the side with ``choice``/``randint(0, 1)`` instead gives 220,965).

* ``base``: 100k limit GTC orders.
* ``mixed``: 100k commands; a first draw ``u = random()`` picks: u < 0.10 cancel (of one of the
  last 100 orders placed, which may be filled already: a no-op everywhere), u < 0.125 MARKET,
  u < 0.15 IOC limit, else limit GTC; then side, price, qty drawn as above.

Engines, same commands, same process, back to back, each on a fresh book:

* ours (the headline): ``perpsim.core.book.OrderBook``, every order event built and
  returned, and the depth diff drained after every command (a per-command ``depthUpdate``
  with U/u/pu); ``ours_depth_batched``: the same with the depth drained every 100 commands,
  as a ``@depth@100ms`` publisher would (reported, not the headline);
* ``lightmatchingengine`` 2019.1.4: ``add_order("X", float(px), q, side)``; a market order is
  price 0.0; a MARKET or IOC remainder is canceled right after (the engine has no IOC and would
  otherwise rest a market remainder at price 0);
* ``bare_reference``: performance.md's "bare reference" (SortedDict of price -> deque, no
  ids, events or depth), written here; reported as a ceiling, not a peer;
* ``cython-orderbook`` 0.1.2: ``add_limit_order`` / ``add_market_order`` with ``Decimal``
  prices; an IOC remainder is canceled right after.

Ours runs compiled when setup.py built ``perpsim.core.book`` with Cython (book.py in Cython's
pure Python mode, as the cython-orderbook peer is compiled), else as plain Python; the JSON's
``book_implementation`` says which ran ("compiled" or "python").

Timing: ``perf_counter`` around the command loop only, GC disabled during the loop (as
``timeit`` does; the same runs with GC on are reported too), engines interleaved, best of 3
and median. Timed runs drop what the engines return, as a consumer that has published it
would; one extra untimed run per engine keeps everything and checks that the total traded
quantity is the same for all engines.
"""
from __future__ import annotations

import gc
import random
import statistics
import time
from decimal import Decimal

from perpsim.core import book as book_module
from perpsim.core.book import BUY, COMPILED, IOC, SELL, Fill, OrderBook

LIMIT_CMD, CANCEL_CMD, MARKET_CMD, IOC_CMD = 0, 1, 2, 3
BASE_TRADED_100K = 219_063


def gen_base(n: int, seed: int = 42) -> list[tuple]:
    """``n`` limit orders as (kind, id, side, price, qty), ids from 1."""
    r = random.Random(seed)
    rnd, rint = r.random, r.randint
    out = []
    for oid in range(1, n + 1):
        side = BUY if rnd() < 0.5 else SELL
        px = 1000 + rint(-10, 10)
        out.append((LIMIT_CMD, oid, side, px, rint(1, 10)))
    return out


def gen_mixed(n: int, seed: int = 42) -> list[tuple]:
    """``n`` commands: 10% cancels, 2.5% MARKET, 2.5% IOC, the rest limit GTC."""
    r = random.Random(seed)
    rnd, rint = r.random, r.randint
    out = []
    placed: list[int] = []
    oid = 0
    for _ in range(n):
        u = rnd()
        if u < 0.10 and placed:
            target = placed[-1 - r.randrange(min(100, len(placed)))]
            out.append((CANCEL_CMD, target, 0, 0, 0))
            continue
        kind = MARKET_CMD if u < 0.125 else IOC_CMD if u < 0.15 else LIMIT_CMD
        side = BUY if rnd() < 0.5 else SELL
        px = 1000 + rint(-10, 10)
        q = rint(1, 10)
        oid += 1
        placed.append(oid)
        out.append((kind, oid, side, px, q))
    return out


# --- engines ---------------------------------------------------------------------------------
# Each runner takes the commands and ``keep``: when False (timed runs) the returned events /
# trades are dropped as a consumer that has published them would; when True (one untimed
# verification run per engine) they are kept to count the traded quantity.
# Each returns (seconds, traded quantity or None).

def run_ours(cmds: list[tuple], keep: bool = False) -> tuple[float, int | None]:
    book = OrderBook("X")
    place, cancel, drain = book.place, book.cancel, book.drain_depth
    kept: list = []
    push = kept.append if keep else _drop
    t0 = time.perf_counter()
    for kind, oid, side, px, q in cmds:
        if kind == 0:
            push(place(oid, oid & 63, side, q, px))
        elif kind == 1:
            if oid in book:         # the clearing core knows which of its orders are open
                push(cancel(oid))
        elif kind == 2:
            push(place(oid, oid & 63, side, q))
        else:
            push(place(oid, oid & 63, side, q, px, IOC))
        push(drain())               # one depthUpdate (U, u, pu, levels) per command
    dt = time.perf_counter() - t0
    if not keep:
        return dt, None
    book.check()
    return dt, sum(e.qty for evs in kept if evs.__class__ is list for e in evs
                   if e.__class__ is Fill)


def run_ours_depth_batched(cmds: list[tuple], keep: bool = False) -> tuple[float, int | None]:
    """Ours again, with the depth drained every 100 commands (as a @depth@100ms publisher)."""
    book = OrderBook("X")
    place, cancel, drain = book.place, book.cancel, book.drain_depth
    kept: list = []
    push = kept.append if keep else _drop
    t0 = time.perf_counter()
    for i, (kind, oid, side, px, q) in enumerate(cmds):
        if kind == 0:
            push(place(oid, oid & 63, side, q, px))
        elif kind == 1:
            if oid in book:
                push(cancel(oid))
        elif kind == 2:
            push(place(oid, oid & 63, side, q))
        else:
            push(place(oid, oid & 63, side, q, px, IOC))
        if i % 100 == 99:
            push(drain())
    push(drain())
    dt = time.perf_counter() - t0
    if not keep:
        return dt, None
    book.check()
    return dt, sum(e.qty for evs in kept if evs.__class__ is list for e in evs
                   if e.__class__ is Fill)


def run_bare_reference(cmds: list[tuple], keep: bool = False) -> tuple[float, int | None]:
    """The doc's "bare reference": SortedDict of price -> deque, no events, no depth ids.

    Not a peer; it shows how much of the time any pure-Python book spends on the ladder.
    Cancels are lazy (quantity zeroed, skipped when reached).
    """
    from collections import deque

    from sortedcontainers import SortedDict

    bids, asks = SortedDict(), SortedDict()
    live: dict[int, list] = {}
    traded = 0
    t0 = time.perf_counter()
    for kind, oid, side, px, q in cmds:
        if kind == 1:
            e = live.pop(oid, None)
            if e is not None:
                e[0] = 0
            continue
        if side == BUY:
            book, own, best = asks, bids, 0
            limit = px if kind != 2 else 1 << 60
            while q and book:
                p, dq = book.peekitem(best)
                if p > limit:
                    break
                while q and dq:
                    e = dq[0]
                    t = e[0] if e[0] < q else q
                    e[0] -= t
                    q -= t
                    traded += t
                    if not e[0]:
                        dq.popleft()
                        live.pop(e[1], None)
                if not dq:
                    del book[p]
        else:
            book, own, best = bids, asks, -1
            limit = px if kind != 2 else 0
            while q and book:
                p, dq = book.peekitem(best)
                if p < limit:
                    break
                while q and dq:
                    e = dq[0]
                    t = e[0] if e[0] < q else q
                    e[0] -= t
                    q -= t
                    traded += t
                    if not e[0]:
                        dq.popleft()
                        live.pop(e[1], None)
                if not dq:
                    del book[p]
        if q and kind == 0:
            e = [q, oid]
            dq = own.get(px)
            if dq is None:
                own[px] = deque((e,))
            else:
                dq.append(e)
            live[oid] = e
    dt = time.perf_counter() - t0
    return dt, traded


def run_lightmatchingengine(cmds: list[tuple], keep: bool = False) -> tuple[float, int | None]:
    from lightmatchingengine.lightmatchingengine import LightMatchingEngine, Side

    lme = LightMatchingEngine()
    add, cancel = lme.add_order, lme.cancel_order
    sides = {BUY: Side.BUY, SELL: Side.SELL}
    live: dict[int, object] = {}
    kept: list = []
    push = kept.append if keep else _drop
    t0 = time.perf_counter()
    for kind, oid, side, px, q in cmds:
        if kind == 0:
            order, trades = add("X", float(px), q, sides[side])
            live[oid] = order
            push((order.order_id, trades))
        elif kind == 1:
            # lightmatchingengine never forgets filled orders and asserts on cancelling one,
            # so only open orders are sent (as for our engine).
            order = live.pop(oid, None)
            if order is not None and order.leaves_qty > 0:
                cancel(order.order_id, "X")
        else:
            order, trades = add("X", 0.0 if kind == 2 else float(px), q, sides[side])
            if order.leaves_qty > 0:
                cancel(order.order_id, "X")
            push((order.order_id, trades))
    dt = time.perf_counter() - t0
    if not keep:
        return dt, None
    # a match is reported once for the aggressor and once per maker hit: count the first.
    return dt, int(sum(t.trade_qty for own, trades in kept for t in trades if t.order_id == own))


def run_cython_orderbook(cmds: list[tuple], keep: bool = False) -> tuple[float, int | None]:
    from cython_orderbook import Order, OrderBook as CBook, OrderSide

    book = CBook()
    add_limit, add_market, cancel = book.add_limit_order, book.add_market_order, book.cancel_order
    sides = {BUY: OrderSide.BID, SELL: OrderSide.ASK}
    ids: dict[int, str] = {}
    t0 = time.perf_counter()
    for kind, oid, side, px, q in cmds:
        if kind == 0:
            o = Order(side=sides[side], price=Decimal(px), original_quantity=q)
            add_limit(o)
            ids[oid] = o.order_id
        elif kind == 1:
            cancel(ids.pop(oid, ""))
        elif kind == 2:
            add_market(Order(side=sides[side], price=None, original_quantity=q))
        else:
            o = Order(side=sides[side], price=Decimal(px), original_quantity=q)
            add_limit(o)
            if o.remaining_quantity > 0:
                cancel(o.order_id)
    dt = time.perf_counter() - t0
    # the engine keeps its own trade log in every run
    return dt, int(sum(t.quantity_filled for t in book.trade_log))


def _drop(_):
    pass


ENGINES = {
    "ours": run_ours,
    "ours_depth_batched": run_ours_depth_batched,
    "bare_reference": run_bare_reference,
    "lightmatchingengine": run_lightmatchingengine,
    "cython_orderbook": run_cython_orderbook,
}


PEERS = ("lightmatchingengine", "cython_orderbook")
BOOK_IMPLEMENTATION = "compiled" if COMPILED else "python"


def _timed(fn, cmds, gc_on: bool) -> float:
    if not gc_on:
        gc.disable()
    try:
        return fn(cmds)[0]
    finally:
        gc.enable()


def measure(name: str, cmds: list[tuple], repeat: int = 3, gc_on: bool = False) -> dict:
    """Time every engine ``repeat`` times on ``cmds`` (interleaved), then check traded qty."""
    gc.collect()
    times: dict[str, list[float]] = {k: [] for k in ENGINES}
    for _ in range(repeat):
        for eng, fn in ENGINES.items():
            times[eng].append(_timed(fn, cmds, gc_on))
            gc.collect()
    traded = {eng: fn(cmds, True)[1] for eng, fn in ENGINES.items()}
    if len(set(traded.values())) != 1:
        raise AssertionError(f"{name}: traded quantities differ: {traded}")
    n = len(cmds)
    label = f"{name}{'' if not gc_on else ', gc on'}"
    res = {"workload": name, "gc": "on" if gc_on else "off", "commands": n,
           "traded_qty": traded["ours"]}
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    for eng in ENGINES:
        res[f"{eng}_best_s"] = round(best[eng], 4)
        res[f"{eng}_median_s"] = round(med[eng], 4)
        res[f"{eng}_per_s"] = round(n / best[eng])
    for eng in PEERS:
        res[f"ratio_vs_{eng}"] = round(best[eng] / best["ours"], 2)
        res[f"median_ratio_vs_{eng}"] = round(med[eng] / med["ours"], 2)
        res[f"batched_ratio_vs_{eng}"] = round(best[eng] / best["ours_depth_batched"], 2)
        res[f"bare_reference_ratio_vs_{eng}"] = round(best[eng] / best["bare_reference"], 2)
    print(f"[{label}] {n:,} commands, traded {res['traded_qty']:,} (all engines agree)",
          flush=True)
    for eng in ENGINES:
        print(f"  {eng:<20} best {best[eng]*1e3:8.1f} ms  median {med[eng]*1e3:8.1f} ms  "
              f"{n / best[eng] / 1e3:8.1f} k/s  {best[eng] / n * 1e6:5.2f} us/cmd", flush=True)
    for eng in PEERS:
        print(f"  ours vs {eng}: {res['ratio_vs_' + eng]:.2f}x (best), "
              f"{res['median_ratio_vs_' + eng]:.2f}x (median); with depth batched: "
              f"{res['batched_ratio_vs_' + eng]:.2f}x; bare reference: "
              f"{res['bare_reference_ratio_vs_' + eng]:.2f}x", flush=True)
    return res


def run(quick: bool = False) -> dict:
    """B2: ours vs lightmatchingengine and cython-orderbook; ``quick`` = 20k commands.

    Headline figures: the base workload with GC disabled during the timed loop (timeit's
    convention). The same runs with the collector on, and the mixed workload, are reported too.
    """
    n = 20_000 if quick else 100_000
    print(f"[book] {BOOK_IMPLEMENTATION} ({book_module.__file__})", flush=True)
    base_cmds = gen_base(n)
    mixed_cmds = gen_mixed(n)
    base = measure("base", base_cmds)
    if n == 100_000 and base["traded_qty"] != BASE_TRADED_100K:
        raise AssertionError(f"base workload traded {base['traded_qty']}, "
                             f"performance.md says {BASE_TRADED_100K}")
    mixed = measure("mixed", mixed_cmds)
    base_gc = measure("base", base_cmds, gc_on=True)
    mixed_gc = measure("mixed", mixed_cmds, gc_on=True)
    from benchmarks.matching_checked import run_full_check  # the same workload through Exchange.apply

    checked = run_full_check(quick)
    print(f"  with the full pre-trade margin check: {checked['ours_checked_orders_per_s']:,.0f} orders/s, "
          f"{checked['ratio_vs_lightmatchingengine_checked']:.2f}x lightmatchingengine, "
          f"{checked['ratio_vs_cython_orderbook_checked']:.2f}x cython-orderbook", flush=True)
    return {
        "benchmark": "matching",
        "quick": quick,
        "orders": n,
        "book_implementation": BOOK_IMPLEMENTATION,
        "ours_orders_per_s": base["ours_per_s"],
        "ratio_vs_lightmatchingengine": base["ratio_vs_lightmatchingengine"],
        "ratio_vs_cython_orderbook": base["ratio_vs_cython_orderbook"],
        "traded_qty": base["traded_qty"],
        "mixed_ours_orders_per_s": mixed["ours_per_s"],
        "mixed_ratio_vs_lightmatchingengine": mixed["ratio_vs_lightmatchingengine"],
        "mixed_ratio_vs_cython_orderbook": mixed["ratio_vs_cython_orderbook"],
        "mixed_traded_qty": mixed["traded_qty"],
        "gc_on_ratio_vs_lightmatchingengine": base_gc["ratio_vs_lightmatchingengine"],
        "gc_on_ratio_vs_cython_orderbook": base_gc["ratio_vs_cython_orderbook"],
        "batched_depth_ratio_vs_lightmatchingengine": base["batched_ratio_vs_lightmatchingengine"],
        "batched_depth_ratio_vs_cython_orderbook": base["batched_ratio_vs_cython_orderbook"],
        "checked_orders_per_s": checked["ours_checked_orders_per_s"],
        "ratio_vs_lightmatchingengine_checked": checked["ratio_vs_lightmatchingengine_checked"],
        "ratio_vs_cython_orderbook_checked": checked["ratio_vs_cython_orderbook_checked"],
        "runs": [base, mixed, base_gc, mixed_gc] + checked["runs"],
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run("--quick" in sys.argv)))
