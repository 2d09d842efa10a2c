"""``perpsim sim``: write an example scenario, run one, or sweep a grid of them."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import typer

sim_app = typer.Typer(no_args_is_help=True, help="The cascade simulator: populations of accounts through a crash.")


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


@sim_app.command("example")
def example():
    """Print a commented example scenario (perpsim sim example > crash.toml)."""
    typer.echo(resources.files("perpsim.sim").joinpath("example.toml").read_text(), nl=False)


@sim_app.command("run")
def run(scenario: Path = typer.Argument(..., help="The scenario file (TOML)."),
        out: Path = typer.Option(None, "--out", help="The results folder (default: results-<name>-<seed>)."),
        seed: int = typer.Option(None, "--seed", help="Override the scenario's seed."),
        no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML report.")):
    """Run a scenario; write summary.json, Parquet tables and report.html; print the summary last."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..sim import results
    from ..sim.engine import Engine
    from ..sim.scenario import ScenarioError, load
    try:
        sc = load(scenario)
    except ScenarioError as e:
        _fail(str(e))
    seed = sc.seed if seed is None else seed
    out = out or Path(f"results-{sc.name}-{seed}")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} ticks"),
                  TextColumn("{task.fields[liqs]} liquidations"), TimeElapsedColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task(sc.name, total=None, liqs=0)
        engine = Engine(sc, seed)

        def progress(i, n):
            if i % 10 == 0 or i == n:
                bar.update(task, completed=i, total=n, liqs=len(engine.liq_rows))

        engine.progress = progress
        try:
            r = engine.run()
        except ScenarioError as e:
            _fail(str(e))
    summary = results.write(r, out, report=not no_report)
    typer.echo(f"results: {out}/ (summary.json, timeseries/liquidations/accounts.parquet"
               f"{', report.html' if not no_report else ''})")
    typer.echo(json.dumps(summary))


@sim_app.command("sweep")
def sweep(file: Path = typer.Argument(..., help="The sweep file (TOML): a base scenario, seeds and a grid."),
          executor: str = typer.Option("local", "--executor", help="local, process or ray."),
          address: str = typer.Option(None, "--address", help="Ray: the head's address (HOST:PORT)."),
          workers: int = typer.Option(None, "--workers", help="process: pool size (default 2); ray: CPUs of a "
                                                              "cluster started here."),
          batch: int = typer.Option(None, "--batch", help="Tasks per batch (default: batches of >= batch_seconds)."),
          out: Path = typer.Option(Path("sweep-results"), "--out", help="The results folder.")):
    """Run every scenario variant x seed; one Parquet dataset; the per-task state hashes printed last."""
    from rich.progress import Progress

    from ..sim.scenario import ScenarioError
    from ..sim.sweep import EXECUTORS, load, run_sweep
    if executor not in EXECUTORS:
        _fail(f"--executor must be one of {', '.join(EXECUTORS)}")
    try:
        n = len(load(file).tasks)
    except ScenarioError as e:
        _fail(str(e))
    with Progress(transient=True) as bar:
        task = bar.add_task(f"sweep ({executor})", total=n)
        summary = run_sweep(file, executor, workers, address, out, on_done=lambda k: bar.advance(task, k),
                            batch=batch)
    typer.echo(f"results: {out}/ (summary.parquet, dataset/, report.html)")
    typer.echo(json.dumps(summary))
