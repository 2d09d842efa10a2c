"""``perpsim bench core``: the clearing core's hot operations and its memory per position.

Measured in one run:
- apply a fill (one side, settled: position, commission, realized PnL), and a whole trade
  with both sides' pre-trade check;
- recompute an account's cross margin (MM with brackets, UPNL, IM, available, max
  withdrawable) with 1, 10 and 100 open positions;
- the memory one account with one open position costs, and (full run) a million open
  positions held at once.

Peer, in the same run: the same margin recompute and fill written the straightforward way
with ``decimal.Decimal`` and dicts (what a first implementation looks like). Ratios are
peer time / our time.
"""
from __future__ import annotations

import gc
import resource
import statistics
import time
import tracemalloc
from dataclasses import replace
from decimal import Decimal

from perpsim.core.clearing import ClearingHouse
from perpsim.core.fixed import parse
from perpsim.core.instruments import default_instruments

P = parse


def _best_and_median(fn, reps: int = 3) -> tuple[float, float]:
    times = []
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def _house(n_symbols: int) -> ClearingHouse:
    base = default_instruments()["BTCUSDT"]
    instruments = {f"S{i:03d}USDT": replace(base, symbol=f"S{i:03d}USDT") for i in range(n_symbols)}
    instruments["BTCUSDT"] = base
    ch = ClearingHouse(instruments)
    for s in instruments:
        ch.set_mark(s, P("60000"))
    return ch


# --------------------------------------------------------------------------- the Decimal peer
class _DecimalPeer:
    """The same figures with Decimal: brackets as (floor, cap, mmr, cum) tuples, positions as dicts."""

    def __init__(self, brackets, positions, marks, leverage, wallet):
        self.brackets = [(Decimal(b.floor) / 10**8, Decimal(b.cap) / 10**8, Decimal(b.mmr) / 10**8,
                          Decimal(b.cum) / 10**8) for b in brackets]
        self.positions = positions
        self.marks = marks
        self.leverage = Decimal(leverage)
        self.wallet = wallet

    def cross(self):
        upnl = mm = im = Decimal(0)
        for p in self.positions:
            mark = self.marks[p["symbol"]]
            n = abs(p["qty"]) * mark
            for floor, cap, mmr, cum in self.brackets:
                if n < cap:
                    break
            mm += n * mmr - cum
            upnl += p["qty"] * (mark - p["entry"])
            im += n / self.leverage
        mb = self.wallet + upnl
        return mb, mm, max(Decimal(0), mb - im), max(Decimal(0), min(self.wallet - mm, mb - im))

    def fill(self, p, dq, price, rate):
        fee = abs(dq) * price * rate
        q = p["qty"]
        if q == 0 or (q > 0) == (dq > 0):
            p["entry"] = (q * p["entry"] + dq * price) / (q + dq)
            p["qty"] = q + dq
            realized = Decimal(0)
        else:
            closing = min(abs(dq), abs(q)) * (1 if dq > 0 else -1)
            realized = -closing * (price - p["entry"])
            p["qty"] = q + closing
        self.wallet += realized - fee
        return realized


def _margin(n_positions: int, reps: int) -> dict:
    ch = _house(n_positions)
    a = ch.create_account().id
    b = ch.create_account().id
    ch.deposit(a, "FUTURES", "USDT", P("100000000"))
    ch.deposit(b, "FUTURES", "USDT", P("100000000"))
    symbols = [s for s in ch.instruments if s != "BTCUSDT"][:n_positions]
    for i, s in enumerate(symbols):
        ch.trade(a, b, s, P("0.5") + i * P("0.001"), P("60000"))
        ch.set_mark(s, P("59000") + i * P("10"))
    loops = max(1, 20000 // n_positions)

    def ours():
        for _ in range(loops):
            ch.cross_figures(a)

    table = ch.instruments[symbols[0]].brackets.brackets
    positions = [{"symbol": p.symbol, "qty": Decimal(p.qty) / 10**8, "entry": Decimal(p.entry_price) / 10**8}
                 for p in ch.accounts[a].open_positions()]
    peer = _DecimalPeer(table, positions, {s: Decimal(ch.marks[s]) / 10**8 for s in symbols}, 20,
                        Decimal(ch.balance(a, "FUTURES", "USDT")) / 10**8)
    ours_fig = ch.cross_figures(a)
    peer_fig = peer.cross()
    assert Decimal(ours_fig.maint_margin) / 10**8 == peer_fig[1], "peer and core disagree on MM"

    def decimal_peer():
        for _ in range(loops):
            peer.cross()

    best, med = _best_and_median(ours, reps)
    pbest, pmed = _best_and_median(decimal_peer, reps)
    return {"us": best / loops * 1e6, "us_median": med / loops * 1e6, "peer_us": pbest / loops * 1e6,
            "ratio": pbest / best}


def _fills(n: int, reps: int) -> dict:
    ch = _house(1)
    a, b = ch.create_account().id, ch.create_account().id
    ch.deposit(a, "FUTURES", "USDT", P("100000000"))
    ch.deposit(b, "FUTURES", "USDT", P("100000000"))
    qty, px = P("0.01"), P("60000")
    prices = [px + (i % 50) * P("0.1") for i in range(n)]

    def ours():
        for i, price in enumerate(prices):
            ch.apply_fill(a, "BTCUSDT", "BUY" if i & 1 else "SELL", qty, price, False)

    def trades():
        for i, price in enumerate(prices[: n // 4]):
            if i & 1:
                ch.trade(a, b, "BTCUSDT", qty, price)
            else:
                ch.trade(b, a, "BTCUSDT", qty, price)

    peer = _DecimalPeer([], [], {}, 20, Decimal(100000000))
    pos = {"symbol": "BTCUSDT", "qty": Decimal(0), "entry": Decimal(0)}
    dprices = [Decimal(p) / 10**8 for p in prices]
    dq, rate = Decimal("0.01"), Decimal("0.0005")

    def decimal_peer():
        for i, price in enumerate(dprices):
            peer.fill(pos, dq if i & 1 else -dq, price, rate)

    best, med = _best_and_median(ours, reps)
    pbest, _ = _best_and_median(decimal_peer, reps)
    tbest, _ = _best_and_median(trades, reps)
    assert ch.is_balanced()
    return {"fill_us": best / n * 1e6, "fill_us_median": med / n * 1e6, "peer_fill_us": pbest / n * 1e6,
            "ratio": pbest / best, "trade_us": tbest / (n // 4) * 1e6}


def _populate(ch: ClearingHouse, n: int) -> None:
    """n accounts, each with one open isolated BTCUSDT position against one market maker."""
    mm = ch.create_account().id
    ch.deposit(mm, "FUTURES", "USDT", P("100000000000"))
    qty, px = P("0.01"), P("60000")
    for _ in range(n):
        a = ch.create_account().id
        ch.deposit(a, "FUTURES", "USDT", P("1000"))
        ch.set_margin_type(a, "BTCUSDT", True)
        ch.apply_fill(a, "BTCUSDT", "BUY", qty, px, False)
        ch.apply_fill(mm, "BTCUSDT", "SELL", qty, px, True)


def _memory(n: int) -> dict:
    ch = _house(0)
    ch.set_mark("BTCUSDT", P("60000"))
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    _populate(ch, n)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert ch.is_balanced()
    return {"accounts": n, "bytes_per_account_with_position": used / n}


def _million(n: int) -> dict:
    ch = _house(0)
    ch.set_mark("BTCUSDT", P("60000"))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    _populate(ch, n)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t1 = time.perf_counter()
    balanced = ch.is_balanced()
    check_s = time.perf_counter() - t1
    open_positions = sum(1 for a in ch.accounts.values() for p in a.open_positions())
    return {"open_positions": open_positions, "build_s": seconds, "peak_rss_bytes": rss,
            "rss_growth_bytes": rss - rss0, "ledger_check_s": check_s, "balanced": balanced}


def run(quick: bool = False) -> dict:
    reps = 3
    out: dict = {"benchmark": "core", "quick": quick}
    fills = _fills(20000 if quick else 100000, reps)
    print(f"apply a fill: {fills['fill_us']:.2f} us (Decimal peer {fills['peer_fill_us']:.2f} us, "
          f"x{fills['ratio']:.2f}); a checked trade, both sides: {fills['trade_us']:.2f} us")
    out.update({"fill_us": round(fills["fill_us"], 3), "trade_us": round(fills["trade_us"], 3),
                "ratio_vs_decimal_fill": round(fills["ratio"], 3)})
    for n in (1, 10, 100):
        m = _margin(n, reps)
        print(f"cross margin recompute, {n:>3} positions: {m['us']:.1f} us "
              f"(Decimal peer {m['peer_us']:.1f} us, x{m['ratio']:.2f})")
        out[f"margin_{n}_us"] = round(m["us"], 3)
        out[f"ratio_vs_decimal_margin_{n}"] = round(m["ratio"], 3)
    mem = _memory(20000 if quick else 100000)
    print(f"memory: {mem['bytes_per_account_with_position']:.0f} bytes per account with one open position")
    out["bytes_per_account_with_position"] = round(mem["bytes_per_account_with_position"])
    if quick:
        out["million_positions_projected_bytes"] = round(mem["bytes_per_account_with_position"] * 1_000_000)
        print(f"a million open positions (projected): {out['million_positions_projected_bytes'] / 2**30:.2f} GiB")
    else:
        big = _million(1_000_000)
        print(f"a million open positions: built in {big['build_s']:.1f} s, peak RSS "
              f"{big['peak_rss_bytes'] / 2**30:.2f} GiB, ledger check {big['ledger_check_s']:.2f} s")
        out.update({"million_open_positions": big["open_positions"], "million_build_s": round(big["build_s"], 2),
                    "million_peak_rss_bytes": big["peak_rss_bytes"], "million_balanced": big["balanced"]})
    out["ratio_vs_decimal_reference"] = out["ratio_vs_decimal_margin_10"]
    return out
