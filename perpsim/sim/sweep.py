"""Sweeps: a grid of scenario variants x seeds, each a pure function (scenario, seed) -> results.

A sweep file (TOML)::

    scenario = "crash.toml"            # the base scenario, relative to this file
    seeds = [1, 2, 3, 4]               # or { from = 1, count = 8 }
    batch_seconds = 1.0                # group tasks so that each batch runs at least this long
    [grid]                             # dotted scenario keys -> values; every combination runs
    "liquidity.notional" = ["20000", "5000"]
    "venue.clearance_fee" = ["0.005", "0.0125"]

Every variant is validated before anything runs. Executors: ``local`` (one loop), ``process``
(``concurrent.futures.ProcessPoolExecutor``), ``ray`` (tasks on a Ray cluster: ``ray start --head``
then workers with ``ray start --address=HEAD:PORT``; ``--address`` names the head, otherwise
``ray.init()`` joins the cluster Ray finds, or starts one on this machine). The same task gives the
same ``state_hash`` on any of them. Results: ``summary.parquet`` (one row per task, the grid's
values as columns) and one Parquet dataset ``dataset/<table>/task=<n>/`` for the timeseries,
liquidations and accounts of every task, plus ``report.html``.
"""
from __future__ import annotations

import itertools
import json
import math
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import scenario as scn
from .scenario import ScenarioError

EXECUTORS = ("local", "process", "ray")
SECONDS_PER_ACCOUNT_TICK = 2.5e-5   # a first estimate for batching (measured on the current engine)


@dataclass(frozen=True)
class Task:
    task: int
    overrides: tuple      # ((dotted key, value), ...)
    seed: int


@dataclass
class Sweep:
    doc: dict             # the base scenario document
    base_dir: str
    grid: dict
    tasks: list
    batch_seconds: float


def load(path: str | Path) -> Sweep:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise ScenarioError(str(path), e.strerror or str(e)) from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(str(path), f"not valid TOML ({e})") from None
    r = scn._R(doc, "")
    base = r.get("scenario")
    if not isinstance(base, str):
        raise ScenarioError("scenario", "must be the path of a scenario file")
    base_path = Path(base) if Path(base).is_absolute() else path.parent / base
    try:
        base_doc = tomllib.loads(base_path.read_text())
    except OSError as e:
        raise ScenarioError("scenario", f"{base_path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError("scenario", f"{base_path}: not valid TOML ({e})") from None
    seeds = r.get("seeds", [1])
    if isinstance(seeds, dict):
        sr = scn._R(seeds, "seeds")
        first, count = sr.number("from", 1, ge=0, integer=True), sr.number("count", gt=0, le=100_000, integer=True)
        sr.done()
        seeds = list(range(first, first + count))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ScenarioError("seeds", "must be a list of whole numbers >= 0, or { from, count }")
    grid = r.get("grid", {})
    if not isinstance(grid, dict):
        raise ScenarioError("grid", "must be a table of dotted keys -> lists of values")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ScenarioError(f"grid.{k}", "must be a non-empty list of values")
    batch_seconds = r.number("batch_seconds", 1.0, gt=0)
    r.done()
    keys = sorted(grid)
    tasks = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        overrides = tuple(zip(keys, combo))
        try:
            scn.from_dict(base_doc, dict(overrides), str(base_path.parent))   # validate every variant first
        except ScenarioError as e:
            where = ", ".join(f"{k}={v!r}" for k, v in overrides)
            raise ScenarioError(e.key, f"{str(e).split(': ', 1)[1]} (in the variant {where})") from None
        for seed in seeds:
            tasks.append(Task(len(tasks), overrides, seed))
    return Sweep(base_doc, str(base_path.parent), grid, tasks, batch_seconds)


def run_task(doc: dict, base_dir: str, task: Task) -> dict:
    """(scenario, seed) -> results: the summary and the tables (pyarrow), nothing else."""
    from .engine import run
    from .results import account_rows, summarize, tables
    sc = scn.from_dict(doc, dict(task.overrides), base_dir)
    r = run(sc, task.seed)
    accounts = account_rows(r)
    summary = summarize(r, accounts)
    return {"task": task.task, "overrides": dict(task.overrides), "summary": summary, "tables": tables(r, accounts)}


def run_batch(doc: dict, base_dir: str, tasks: list) -> list:
    return [run_task(doc, base_dir, t) for t in tasks]


def warm(hold_seconds: float = 0.0) -> bool:
    """Import what a task needs (the engine, the venue's core, pyarrow): a fresh worker process (a
    Ray worker) otherwise pays it in its first task; a forked process-pool worker has it already.
    ``hold_seconds``: stay busy that long, so that warm-ups sent together reach different workers."""
    from . import engine, results  # noqa: F401
    import pyarrow  # noqa: F401
    time.sleep(hold_seconds)
    return True


def estimate_seconds(doc: dict, base_dir: str, task: Task) -> float:
    sc = scn.from_dict(doc, dict(task.overrides), base_dir)
    ticks = sc.ticks or 1000
    return 0.05 + SECONDS_PER_ACCOUNT_TICK * sc.population.accounts * ticks * len(sc.market)


def batches(sw: Sweep, batch: int | None = None) -> list[list]:
    """Consecutive tasks grouped so that each batch is estimated to run >= ``batch_seconds``."""
    if batch is None:
        est = estimate_seconds(sw.doc, sw.base_dir, sw.tasks[0])
        batch = max(1, math.ceil(sw.batch_seconds / est))
    return [sw.tasks[i:i + batch] for i in range(0, len(sw.tasks), batch)]


def execute(sw: Sweep, executor: str = "local", workers: int | None = None, address: str | None = None,
            batch: int | None = None, on_done=None) -> list:
    """Run every task; returns the task results in task order."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}")
    groups = batches(sw, batch)
    out: list = []
    if executor == "local":
        for g in groups:
            res = run_batch(sw.doc, sw.base_dir, g)
            out += res
            if on_done:
                on_done(len(res))
    elif executor == "process":
        with ProcessPoolExecutor(max_workers=workers or 2) as pool:
            futures = [pool.submit(run_batch, sw.doc, sw.base_dir, g) for g in groups]
            for f in futures:
                res = f.result()
                out += res
                if on_done:
                    on_done(len(res))
    else:
        import ray
        started = not ray.is_initialized()      # a caller's own cluster connection is left open
        if started:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     **({} if address else {"num_cpus": workers} if workers else {}))
        try:
            remote = ray.remote(num_cpus=1)(run_batch)
            doc_ref = ray.put(sw.doc)
            futures = [remote.remote(doc_ref, sw.base_dir, g) for g in groups]
            for f in futures:
                res = ray.get(f)
                out += res
                if on_done:
                    on_done(len(res))
        finally:
            if started:
                ray.shutdown()
    return sorted(out, key=lambda r: r["task"])


def write(sw: Sweep, results: list, out: Path, executor: str, seconds: float) -> dict:
    """summary.parquet, the dataset of every task's tables, summary.json and report.html."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    out.mkdir(parents=True, exist_ok=True)
    params = sorted(sw.grid)
    rows = []
    for r in results:
        s = {k: v for k, v in r["summary"].items() if k != "spirals"}
        rows.append({"task": r["task"], **{p: str(r["overrides"].get(p)) for p in params}, **s,
                     "spirals": json.dumps(r["summary"]["spirals"], sort_keys=True)})
        for name, t in r["tables"].items():
            d = out / "dataset" / name / f"task={r['task']}"
            d.mkdir(parents=True, exist_ok=True)
            pq.write_table(t, d / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(rows), out / "summary.parquet")
    from .report import sweep_report
    (out / "report.html").write_text(sweep_report(rows, params))
    summary = {"tasks": len(results), "executor": executor, "seconds": round(seconds, 3),
               "params": params, "state_hashes": {str(r["task"]): r["summary"]["state_hash"] for r in results}}
    (out / "summary.json").write_text(json.dumps({"sweep": summary, "tasks": rows}, indent=2) + "\n")
    return summary


def run_sweep(path, executor="local", workers=None, address=None, out: Path | None = None, on_done=None,
              batch: int | None = None) -> dict:
    sw = load(path)
    t0 = time.perf_counter()
    res = execute(sw, executor, workers, address, batch, on_done)
    seconds = time.perf_counter() - t0
    if out is None:
        return {"tasks": len(res), "executor": executor, "seconds": round(seconds, 3),
                "state_hashes": {str(r["task"]): r["summary"]["state_hash"] for r in res}}
    return write(sw, res, out, executor, seconds)
