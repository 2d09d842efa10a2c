"""Benchmark B1 (performance.md section 5): liquidation detection per mark tick.

Population (seeded, ``numpy.random.default_rng(1)``), built straight into a ``ClearingHouse``
(accounts, ``Position`` objects with exact ``cost``, ledger wallets; no trades):

* isolated: 1M open positions (quick: 100k) in hedge accounts of 16 (8 symbols x LONG/SHORT);
  notional lognormal around 2,000 USDT, entry within ~1% of the mark, leverage implied by the
  isolated wallet, which is solved so that the liquidation price sits at a distance ``d`` from
  the initial mark, ``d`` lognormal with median 8% (sigma 0.5, clipped to [0.5%, 60%]);
* cross: 100k one-way accounts (quick: 10k) with 1-5 symbols each, random sides; the wallet
  gives a surplus ``g = MB - MM = d x gross notional`` at the initial marks, ``d`` as above.
  One-symbol accounts go to the T1 index, the others to T2 bands;
* 8 symbols: BTCUSDT, ETHUSDT, XRPUSDT and 5 clones of their bracket tables;
* a mark path of 1,000 ticks (quick: 200): every tick moves all 8 marks (common factor sd
  0.05%, own sd 0.03%: 1-3 s mark updates of a volatile market), with a crash segment over
  ticks [40%, 50%) of the path taking the common factor down 15%, then a 5% rebound over the
  next 20%. Variant ``crash="one"`` (``--crash-one``): only BTCUSDT takes the crash and the
  rebound, about an eighth of the liquidations.

Engines, same population, same ticks, same process:

* ours: ``IndexedDetector.on_marks`` (sorted-index queries, exact re-check of every hit), then
  ``discard_many`` of the reported scopes (the waterfall would close them);
* naive: ``full_scan`` (pure Python over the position objects, margin.py's formulas) on a
  subset of ticks only (it takes seconds per tick): the first, three in the crash, the last;
* numpy: ``NumpyScan.mask`` (exact int64 full recompute of every scope), every tick.

Phase A builds the population and our index and runs ours (and the naive scan on its ticks),
closing every reported scope in the clearing house after the tick. Phase B rebuilds the same
population from the seed, snapshots it for numpy, frees it, and runs numpy, dropping the scopes
phase A reported at each tick. Check: identical liquidation sets (scope codes, kept as int64 arrays
so that the harness's own record does not weigh on the peak RSS) at every tick for
ours vs numpy, and at the sampled ticks for ours vs the naive scan. Timing: ``perf_counter``
around each engine's call, GC off. Memory: peak RSS (``ru_maxrss``) at the end of phase A
(population + index + our run), then with the numpy peer; RSS deltas of the builds.
"""
from __future__ import annotations

import dataclasses
import gc
import math
import resource
import sys
import time

import numpy as np

from perpsim.core.accounts import Account, SymbolConfig
from perpsim.core.clearing import ClearingHouse
from perpsim.core.fixed import SCALE, mul, parse
from perpsim.core.instruments import default_instruments
from perpsim.core.ledger import FUTURES, ISOLATED
from perpsim.core.liquidation import CROSS, IndexedDetector, NumpyScan, full_scan
from perpsim.core.positions import BOTH, LONG, SHORT, Position

MARKS0 = {"BTCUSDT": "60000", "ETHUSDT": "3000", "XRPUSDT": "0.6", "SOLUSDT": "150", "BNBUSDT": "600",
          "DOGEUSDT": "0.15", "ADAUSDT": "0.5", "LINKUSDT": "15"}
CLONE_OF = {"SOLUSDT": "ETHUSDT", "BNBUSDT": "ETHUSDT", "DOGEUSDT": "XRPUSDT", "ADAUSDT": "XRPUSDT",
            "LINKUSDT": "ETHUSDT"}


def _rss() -> int:
    """Current RSS in bytes (Linux /proc)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return 0


def _peak_rss() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def instruments() -> dict:
    ins = default_instruments()
    for sym, src in CLONE_OF.items():
        ins[sym] = dataclasses.replace(ins[src], symbol=sym, base_asset=sym[:-4])
    return ins


def _maint(table, n: int) -> int:
    return table.maint_margin(n)


def build_population(n_iso: int, n_cross: int, seed: int = 1) -> tuple[ClearingHouse, dict[str, int]]:
    """The clearing house and the initial marks (see the module docstring)."""
    rng = np.random.default_rng(seed)
    ch = ClearingHouse(instruments())
    syms = list(MARKS0)
    m0 = {s: parse(v) for s, v in MARKS0.items()}
    for s, m in m0.items():
        ch.set_mark(s, m)
    ins = ch.instruments
    tables = {s: ins[s].brackets for s in syms}
    steps = {s: ins[s].step_size for s in syms}
    ticks = {s: ins[s].tick_size for s in syms}
    ledger = ch.ledger
    accounts = ch.accounts

    def draws(k):
        notl = np.minimum(np.exp(rng.normal(math.log(2000.0), 1.0, k)), 2e6)
        d = np.clip(np.exp(rng.normal(math.log(0.08), 0.5, k)), 0.005, 0.6)
        ep = np.exp(rng.normal(0.0, 0.01, k))
        return notl.tolist(), d.tolist(), ep.tolist()

    # ---- isolated: hedge accounts holding every symbol x LONG/SHORT (16 positions)
    per_acct = 2 * len(syms)
    n_acc = (n_iso + per_acct - 1) // per_acct
    keys = {(s, side): (s, side) for s in syms for side in (LONG, SHORT)}     # shared dict keys
    aid = 0
    made = 0
    chunk = 4096
    for c0 in range(0, n_acc, chunk):
        c1 = min(n_acc, c0 + chunk)
        notl, dist, epf = draws((c1 - c0) * per_acct)
        levs = rng.integers(5, 51, c1 - c0).tolist()
        k = 0
        for a in range(c1 - c0):
            aid += 1
            acct = Account(aid, ch.maker_rate, ch.taker_rate)
            acct.hedge_mode = True
            accounts[aid] = acct
            for s in syms:
                acct.configs[s] = SymbolConfig(levs[a], True)
                m = m0[s]
                step, tick, table = steps[s], ticks[s], tables[s]
                for side in (LONG, SHORT):
                    if made >= n_iso:
                        break
                    made += 1
                    q = max(step, parse(str(round(notl[k] / (m / SCALE), 8))) // step * step)
                    ep = max(tick, int(m * epf[k]) // tick * tick)
                    d = dist[k]
                    k += 1
                    if side == SHORT:
                        q = -q
                    cost = mul(q, ep)
                    lp = int(m * (1 - d)) if q > 0 else int(m * (1 + d))
                    iw = _maint(table, mul(abs(q), lp)) - (mul(q, lp) - cost)
                    iw = max(iw, 1)
                    n0 = mul(abs(q), m)
                    while iw + mul(q, m) - cost <= _maint(table, n0):   # healthy at the initial mark
                        iw += max(1, n0 // 1000)
                    w = ledger.wallet((ISOLATED, aid, s, side), "USDT")
                    w.balance = iw
                    ledger.net_in["USDT"] += iw
                    p = Position(aid, s, side, w)
                    p.qty, p.cost = q, cost
                    acct.positions[keys[(s, side)]] = p
    # ---- cross: one-way accounts with 1-5 symbols
    one_way = {s: (s, BOTH) for s in syms}
    notl, dist, epf = draws(n_cross * 5)
    nsym = rng.integers(1, 6, n_cross).tolist()
    sides = (rng.random(n_cross * 5) < 0.5).tolist()
    sym_pick = rng.random((n_cross, len(syms))).argsort(axis=1)[:, :5].tolist()
    k = 0
    for a in range(n_cross):
        aid += 1
        acct = Account(aid, ch.maker_rate, ch.taker_rate)
        accounts[aid] = acct
        upnl = mm = gross = 0
        d = dist[k]
        for si in sym_pick[a][: nsym[a]]:
            s = syms[si]
            m = m0[s]
            acct.configs[s] = SymbolConfig(20, False)
            q = max(steps[s], parse(str(round(notl[k] / (m / SCALE), 8))) // steps[s] * steps[s])
            if sides[k]:
                q = -q
            ep = max(ticks[s], int(m * epf[k]) // ticks[s] * ticks[s])
            k += 1
            p = Position(aid, s, BOTH, None)
            p.qty, p.cost = q, mul(q, ep)
            acct.positions[one_way[s]] = p
            n0 = mul(abs(q), m)
            gross += n0
            upnl += mul(q, m) - p.cost
            mm += _maint(tables[s], n0)
        k += 5 - nsym[a]
        w = ledger.wallet((FUTURES, aid), "USDT")
        w.balance = mm - upnl + max(1, int(d * gross))
        ledger.net_in["USDT"] += w.balance
    ch._next_account = aid + 1
    return ch, m0


def mark_path(m0: dict[str, int], n_ticks: int, tick_sizes: dict[str, int], seed: int = 2,
              crash: str = "all") -> list[dict[str, int]]:
    """Every symbol's mark per tick. ``crash="all"``: the -15% segment is market-wide (every
    symbol); ``crash="one"``: BTCUSDT alone crashes, the others only walk."""
    rng = np.random.default_rng(seed)
    syms = list(m0)
    common = rng.normal(0.0, 0.0005, n_ticks)
    c0, c1, c2 = int(0.4 * n_ticks), int(0.5 * n_ticks), int(0.7 * n_ticks)
    drift = np.zeros(n_ticks)
    drift[c0:c1] = math.log(0.85) / (c1 - c0)
    drift[c1:c2] = math.log(1.05) / (c2 - c1)
    own = rng.normal(0.0, 0.0003, (n_ticks, len(syms)))
    steps = common[:, None] + own
    if crash == "all":
        steps += drift[:, None]
    elif crash == "one":
        steps[:, 0] += drift
    else:
        raise ValueError("crash: 'all' or 'one'")
    logp = np.cumsum(steps, axis=0)
    path = []
    for t in range(n_ticks):
        row = {}
        for j, s in enumerate(syms):
            ts = tick_sizes[s]
            row[s] = max(ts, int(m0[s] * math.exp(logp[t, j])) // ts * ts)
        path.append(row)
    return path


def _close(ch: ClearingHouse, scope: tuple) -> None:
    """Close a reported scope in the clearing state (stands in for the waterfall)."""
    aid, kind, name, side = scope
    acct = ch.accounts[aid]
    if kind == CROSS:
        for p in acct.positions.values():
            if p.wallet is None and p.qty:
                p.qty = p.cost = 0
    else:
        p = acct.positions[(name, side)]
        p.qty = p.cost = 0


def _codes(det: IndexedDetector, sids: np.ndarray) -> np.ndarray:
    """``NumpyScan`` scope codes of the detector's scope numbers (same symbol, asset, side order)."""
    return NumpyScan._codes(det._account[sids], det._kind[sids], det._symbol_ix[sids], det._pos_side[sids])


def run(quick: bool = False, naive_ticks: int | None = None, crash: str = "all") -> dict:
    """B1; see the module docstring. ``naive_ticks`` caps how many sampled ticks the naive scan times;
    ``crash="one"`` runs the variant where only BTCUSDT crashes."""
    n_iso, n_cross, n_ticks = (100_000, 10_000, 200) if quick else (1_000_000, 100_000, 1_000)
    c0, c1, c2 = int(0.4 * n_ticks), int(0.5 * n_ticks), int(0.7 * n_ticks)
    sample = sorted({0, c0 + (c1 - c0) // 4, c0 + (c1 - c0) // 2, c1 - 1, n_ticks - 1})
    if naive_ticks is not None:
        sample = sample[:naive_ticks]
    gc.collect()
    gc.disable()
    pc = time.perf_counter
    # ---- phase A: population, our index, our run; the naive scan on the sampled ticks
    rss0 = _rss()
    t0 = pc()
    ch, m0 = build_population(n_iso, n_cross)
    t_pop = pc() - t0
    rss_pop = _rss()
    n_open = sum(1 for a in ch.accounts.values() for p in a.positions.values() if p.qty)
    path = mark_path(m0, n_ticks, {s: ch.instruments[s].tick_size for s in m0}, crash=crash)
    t0 = pc()
    det = IndexedDetector(ch)
    t_index = pc() - t0
    rss_index = _rss()
    assert not det.liquidatable(), "population must be healthy at the initial marks"
    print(f"[liquidation] {n_open:,} open positions ({n_iso:,} isolated, {n_cross:,} cross accounts): "
          f"population {t_pop:.1f} s, index {t_index:.1f} s", flush=True)
    ours_t, naive_t, naive_ours, sets = [], [], [], []
    per_kind = {"ISOLATED": 0, "CROSS": 0}
    for t, marks in enumerate(path):
        ch.marks.update(marks)
        a = pc()
        cands = det.on_marks(marks)
        det.discard_many(cands)
        b = pc()
        ours_t.append(b - a)
        codes = np.sort(_codes(det, cands.sids))      # the set, kept compactly for phase B
        if len(codes) and (codes[1:] == codes[:-1]).any():
            raise AssertionError(f"tick {t}: a scope reported twice")
        if t in sample:
            a = pc()
            naive = full_scan(ch, marks)
            b = pc()
            naive_t.append(b - a)
            naive_ours.append(ours_t[-1])
            got = {c.scope for c in cands}
            if naive != got:
                raise AssertionError(f"tick {t}: ours and the naive scan differ on {sorted(naive ^ got)[:5]}")
        for c in cands:
            _close(ch, c.scope)
            per_kind[c.kind] += 1
        sets.append(codes)
        del cands
    stats = det.stats()
    peak_ours = _peak_rss()
    print(f"  ours: {1e6 * sum(ours_t) / n_ticks:,.1f} us/tick over {n_ticks} ticks, "
          f"{sum(len(x) for x in sets):,} liquidations; naive scan {1e6 * sum(naive_t) / len(naive_t):,.0f} us/tick "
          f"on ticks {sample}; peak RSS {peak_ours / 2**20:,.0f} MiB", flush=True)
    del det, ch
    gc.collect()
    # ---- phase B: the numpy full recompute over the same population (rebuilt from the seed)
    ch, _ = build_population(n_iso, n_cross)
    t0 = pc()
    npscan = NumpyScan(ch)
    t_np_build = pc() - t0
    del ch
    gc.collect()
    np_t = []
    for t, marks in enumerate(path):
        a = pc()
        idx = np.flatnonzero(npscan.mask(marks))
        b = pc()
        np_t.append(b - a)
        expect = np.sort(npscan.codes(idx))
        if not np.array_equal(expect, sets[t]):
            diff = np.setxor1d(expect, sets[t])[:5]
            raise AssertionError(f"tick {t}: ours and numpy differ on scope codes {diff.tolist()}")
        npscan.drop_codes(sets[t])
    peak_all = _peak_rss()
    gc.enable()
    print(f"  numpy full recompute: {1e6 * sum(np_t) / n_ticks:,.1f} us/tick; the same sets at every tick",
          flush=True)

    def mean_us(xs):
        return 1e6 * sum(xs) / max(1, len(xs))

    total_liq = sum(len(x) for x in sets)
    ours_us, np_us, naive_us = mean_us(ours_t), mean_us(np_t), mean_us(naive_t)
    quiet = [x for x, got in zip(ours_t, sets) if not len(got)]
    phases = {"before_crash": (0, c0), "crash": (c0, c1), "rebound": (c1, c2), "after": (c2, n_ticks)}
    return {
        "benchmark": "liquidation",
        "quick": quick,
        "crash": "market-wide, every symbol -15%" if crash == "all" else "BTCUSDT alone -15%",
        "isolated_positions": n_iso,
        "cross_accounts": n_cross,
        "open_positions": n_open,
        "symbols": len(m0),
        "ticks": n_ticks,
        "liquidations": total_liq,
        "liquidations_by_kind": per_kind,
        "max_liquidations_in_a_tick": max(len(x) for x in sets),
        "us_per_tick": round(ours_us, 2),
        "us_per_tick_by_phase": {k: round(mean_us(ours_t[a:b]), 1) for k, (a, b) in phases.items()},
        "liquidations_by_phase": {k: sum(len(x) for x in sets[a:b]) for k, (a, b) in phases.items()},
        "us_per_tick_without_liquidations": round(mean_us(quiet), 2),
        "us_per_liquidation_all_in": round(1e6 * sum(ours_t) / max(1, total_liq), 2),
        "us_per_tick_numpy_full_recompute": round(np_us, 1),
        "us_per_tick_naive_scan": round(naive_us, 1),
        "naive_scan_ticks_timed": sample,
        "ratio_vs_naive_scan": round(naive_us / ours_us, 1),
        "ratio_vs_naive_scan_same_ticks": round(sum(naive_t) / sum(naive_ours), 1),
        "ratio_vs_naive_scan_ticks_without_liquidations": round(naive_us / mean_us(quiet), 1) if quiet else None,
        "ratio_vs_full_recompute": round(np_us / ours_us, 1),
        "sets_checked": "ours == numpy full recompute at every tick; ours == naive scan at the timed ticks",
        "build_s": {"population": round(t_pop, 2), "index": round(t_index, 2), "numpy_snapshot": round(t_np_build, 2)},
        "peak_bytes": peak_ours,
        "bytes_per_position": round(peak_ours / n_open),
        "peak_bytes_including_numpy_peer": peak_all,
        "index_bytes_per_position": round(max(0, rss_index - rss_pop) / n_open),
        "population_bytes_per_position": round(max(0, rss_pop - rss0) / n_open),
        "index_stats": stats,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv, crash="one" if "--crash-one" in sys.argv else "all"), indent=2))
