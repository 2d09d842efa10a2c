"""Benchmark B4: a liquidation cascade through the whole waterfall, and sweeps of it.

Scenario (``perpsim.sim``, the venue's own ``Exchange`` driven in process): XRPUSDT, 100k accounts
(quick: 2,000), leverage lognormal (median 10x, capped by the bracket table), 40% isolated / 60%
cross, 10% hedge mode, a 60/40 long skew; a -20% shock over 600 ticks after 30 quiet ones; a thin
book (10 levels of 2,000 USDT from 4 bp, thinned 5% per 1% move) refilled every tick by the market
maker; an insurance fund of 5,000 USDT, so that the fund runs short and ADL follows.

Peer: the same engine with ``risk_scan = "full"`` (every holder re-checked on every mark), same
seed, same process; check: identical final ledgers (clearing state hash) and liquidation records.

Sweeps (best of two rounds, the executors taking turns): 8 seeds of a smaller variant (quick: 300
accounts, 300 ticks) run serially (``local``), on
a process pool of 2 (``sweep_speedup_process`` = serial / process time), and on a Ray cluster started
on this machine with 2 CPUs, its start excluded (``ray_vs_process`` = process time / Ray time: the
Ray sweep's speed as a fraction of the process sweep's; 1.0 is equal). Every executor must give the
same state hashes.

Memory: ``bytes_per_account`` = RSS growth while the population is built / accounts;
``peak_bytes`` = the process's peak RSS.
"""
from __future__ import annotations

import gc
import os
import resource
import time

from perpsim.sim import engine, results, scenario, sweep


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _doc(accounts: int, ticks: int, shock_ticks: int, risk_scan: str = "indexed") -> dict:
    return {
        "name": "b4", "seed": 1, "start": "2021-12-04T00:00:00Z",
        "market": {"XRPUSDT": {"source": "synthetic", "price": "0.92", "ticks": ticks, "vol_bps": 3,
                               "shock_pct": -20, "shock_start": 30, "shock_ticks": shock_ticks}},
        "population": {"accounts": accounts,
                       "wallet": {"dist": "lognormal", "median": 1000, "sigma": 1.0, "min": 20, "max": 200000},
                       "leverage": {"dist": "lognormal", "median": 10, "sigma": 0.7, "min": 1, "max": 125},
                       "size_share": {"dist": "uniform", "low": 0.1, "high": 0.6}, "long_share": 0.6,
                       "isolated_share": 0.4, "hedge_share": 0.1, "stop_loss_share": 0.1},
        "behaviour": {"policies": {"reenter_double": 0.1, "raise_leverage": 0.05, "flip": 0.05, "walk_away": 0.8}},
        "liquidity": {"levels": 10, "spread_bps": 4, "step_bps": 3, "notional": "2000", "growth_pct": 50,
                      "refill_ticks": 1, "thin_per_pct": 0.05, "thin_floor": 0.2},
        "venue": {"insurance_fund": "5000", "risk_scan": risk_scan},
    }


def _run(doc: dict):
    """(run, seconds of the whole run, RSS growth while the population was built)."""
    gc.collect()
    eng = engine.Engine(scenario.from_dict(doc))
    r0 = _rss()
    t0 = time.perf_counter()
    eng.setup()
    built = _rss() - r0
    r = eng.run()
    return r, time.perf_counter() - t0, built


def _sweep_file(tmp, accounts: int, ticks: int) -> str:
    import json
    base = os.path.join(tmp, "b4.toml")
    doc = _doc(accounts, ticks, max(1, ticks - 40))
    lines = []

    def val(v):
        return json.dumps(v) if isinstance(v, str) else ("{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items())
                                                          + " }" if isinstance(v, dict) else repr(v))
    for k in ("name", "seed", "start"):
        lines.append(f"{k} = {val(doc[k])}")
    lines.append("[market.XRPUSDT]")
    lines += [f"{k} = {val(v)}" for k, v in doc["market"]["XRPUSDT"].items()]
    for table in ("population", "behaviour", "liquidity", "venue"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {val(v)}" for k, v in doc[table].items()]
    with open(base, "w") as f:
        f.write("\n".join(lines) + "\n")
    path = os.path.join(tmp, "sweep.toml")
    with open(path, "w") as f:
        f.write('scenario = "b4.toml"\nseeds = { from = 1, count = 8 }\nbatch_seconds = 1.0\n')
    return path


def _ray_sweep(path: str):
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # a one-machine cluster on loopback
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")   # a throwaway loopback cluster: no token file written
    # Ray runs its workers at nice 15 by default: on a machine shared with other work that alone
    # starves them; the process pool's workers run at 0, so the peer runs at 0 too
    os.environ.setdefault("RAY_worker_niceness", "0")
    try:
        import ray
    except ImportError:
        return None, None
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        sw = sweep.load(path)
        # part of starting the cluster, untimed: each of the two workers imports the engine (a forked
        # process-pool worker inherits it)
        warm = ray.remote(num_cpus=1)(sweep.warm)
        ray.get([warm.remote(1.0) for _ in range(2)])
        t0 = time.perf_counter()
        res = sweep.execute(sw, "ray")
        return time.perf_counter() - t0, res
    finally:
        if ray.is_initialized():
            ray.shutdown()


def run(quick: bool = False) -> dict:
    import tempfile
    accounts, ticks = (2_000, 630) if quick else (100_000, 630)
    out: dict = {"benchmark": "cascade", "quick": quick, "accounts": accounts, "ticks": ticks - 1}
    print(f"B4: {accounts:,} accounts, -20% over 600 ticks, thin refilled book, fund 5,000 USDT then ADL")
    r, seconds, built = _run(_doc(accounts, ticks, 600))
    s = results.summarize(r)
    out.update(liquidations=s["liquidations"], adl_events=s["adl_events"], accounts_liquidated=s["accounts_liquidated"],
               insurance_fund_end=s["insurance_fund_end"], insurance_fund_min=s["insurance_fund_min"],
               ledger_balanced=s["ledger_balanced"], negative_balances=s["negative_balances"],
               seconds_per_scenario=round(seconds, 3), setup_seconds=round(r.setup_seconds, 3),
               liquidations_per_second=round(s["liquidations"] / seconds, 1),
               bytes_per_account=built // accounts, state_hash=s["state_hash"])
    print(f"  indexed: {seconds:.2f} s ({r.setup_seconds:.2f} s building), {s['liquidations']:,} liquidations, "
          f"{s['adl_events']:,} ADL, {out['liquidations_per_second']:,} liquidations/s, "
          f"{out['bytes_per_account']:,} bytes/account")
    rf, sf, _ = _run(_doc(accounts, ticks, 600, "full"))
    same = rf.ex.clearing.state_hash() == r.ex.clearing.state_hash() and rf.liquidations == r.liquidations
    out.update(full_scan_seconds=round(sf, 3), ratio_vs_full_scan=round(sf / seconds, 2), ledgers_identical=same)
    print(f"  full scan: {sf:.2f} s; indexed is {sf / seconds:.1f}x; identical ledgers: {same}")
    del r
    gc.collect()
    # sweeps: 8 seeds
    sa, st = (300, 300) if quick else (1_000, 630)
    # best of two rounds, the executors taking turns in each, so that a burst of other work on a shared
    # machine does not fall on one executor only
    times = {"local": [], "process": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = _sweep_file(tmp, sa, st)
        for _ in range(2):
            t0 = time.perf_counter()
            serial = sweep.run_sweep(path, "local")
            times["local"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            proc = sweep.run_sweep(path, "process", workers=2)
            times["process"].append(time.perf_counter() - t0)
            t_ray, ray_res = _ray_sweep(path)
            if t_ray is not None:
                times["ray"].append(t_ray)
    t_serial, t_proc = min(times["local"]), min(times["process"])
    t_ray = min(times["ray"]) if times["ray"] else None
    same = serial["state_hashes"] == proc["state_hashes"] and (
        ray_res is None or {str(x["task"]): x["summary"]["state_hash"] for x in ray_res} == serial["state_hashes"])
    out.update(sweep_accounts=sa, sweep_ticks=st - 1, sweep_serial_seconds=round(t_serial, 2),
               sweep_process_seconds=round(t_proc, 2), sweep_ray_seconds=round(t_ray, 2) if t_ray else None,
               sweep_speedup_process=round(t_serial / t_proc, 2),
               ray_vs_process=round(t_proc / t_ray, 2) if t_ray else None, sweep_hashes_identical=same)
    print(f"  sweep of 8 seeds ({sa} accounts, {st - 1} ticks): serial {t_serial:.1f} s, process(2) {t_proc:.1f} s "
          f"({t_serial / t_proc:.2f}x), ray(2) {t_ray or float('nan'):.1f} s; same hashes: {same}")
    out["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out
