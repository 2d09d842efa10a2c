"""The ``perpsim`` command line. It translates arguments and prints; the core decides."""
from __future__ import annotations

import importlib
import json
import sys
from decimal import Decimal
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="perpsim: an offline Binance USD-M perpetual-futures venue.")

#: Benchmarks by name: each is a module ``benchmarks.<name>`` with ``run(quick: bool) -> dict``.
BENCHMARKS = ("core", "matching", "liquidation", "venue", "serve", "cascade")


@app.command()
def calc(file: Path = typer.Option(None, "--file", "-f", help="Read the JSON document from this file, not stdin.")):
    """Risk calculator: liquidation price, margin figures and cost to open, JSON in and out."""
    from perpsim.core.calculator import CalcError, calculate

    try:
        text = file.read_text() if file else sys.stdin.read()
    except OSError as e:
        typer.echo(f"error: file: {e.strerror}", err=True)
        raise typer.Exit(2)
    try:
        doc = json.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, RecursionError) as e:
        typer.echo(f"error: document: not valid JSON ({e})", err=True)
        raise typer.Exit(2)
    try:
        result = calculate(doc)
    except CalcError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps(result, indent=2))


@app.command()
def bench(name: str = typer.Argument(..., help=f"One of {', '.join(BENCHMARKS)}, or 'all'."),
          quick: bool = typer.Option(False, "--quick", help="A smaller workload, for CI and a first look.")):
    """Run a benchmark; its figures print as it goes, the last line is one JSON object."""
    names = BENCHMARKS if name == "all" else (name,)
    if name != "all" and name not in BENCHMARKS:
        typer.echo(f"error: unknown benchmark {name!r}; one of {', '.join(BENCHMARKS)}, or 'all'", err=True)
        raise typer.Exit(2)
    results = []
    for n in names:
        try:
            module = importlib.import_module(f"benchmarks.{n}")
        except ModuleNotFoundError as e:
            if name != "all" or e.name != f"benchmarks.{n}":
                raise
            typer.echo(f"[{n}] not built yet, skipped")
            continue
        typer.echo(f"[{n}] running{' (quick)' if quick else ''}...")
        result = module.run(quick=quick)
        typer.echo(json.dumps(result))
        results.append(result)
    if name == "all":
        typer.echo(json.dumps({"benchmark": "all", "results": results}))


from .sim import sim_app  # noqa: E402
app.add_typer(sim_app, name="sim")

journal_app = typer.Typer(no_args_is_help=True, help="Check, rebuild and hash a venue's journal.")
app.add_typer(journal_app, name="journal")


@journal_app.command("verify")
def journal_verify(data_dir: Path = typer.Argument(..., help="The venue's data directory.")):
    """Check every row's checksum, the sequence, each snapshot against a replay, and the ledger."""
    from perpsim.venue.admin import verify_journal

    ok, lines = _journal_call(verify_journal, data_dir)
    for line in lines:
        typer.echo(line)
    raise typer.Exit(0 if ok else 1)


@journal_app.command("replay")
def journal_replay(data_dir: Path = typer.Argument(..., help="The venue's data directory.")):
    """Rebuild the state and the history tables from the journal alone; print the state hash."""
    from perpsim.venue.admin import replay_journal

    n, state_hash, balanced = _journal_call(replay_journal, data_dir)
    typer.echo(json.dumps({"commands": n, "stateHash": state_hash, "ledgerBalanced": balanced}))


@journal_app.command("hash")
def journal_hash(data_dir: Path = typer.Argument(..., help="The venue's data directory.")):
    """Recover the venue (snapshot + journal tail) and print its state hash."""
    from perpsim.venue.admin import hash_journal

    typer.echo(_journal_call(hash_journal, data_dir))


def _journal_call(fn, data_dir: Path):
    from perpsim.venue.journal import JournalError

    try:
        return fn(data_dir)
    except JournalError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)


@app.command()
def serve(host: str = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
          port: int = typer.Option(None, help="Port (default 8080)."),
          data_dir: Path = typer.Option(None, "--data-dir", help="The venue's data directory."),
          admin_token: str = typer.Option(None, "--admin-token", help="Admin token; generated when absent."),
          clock: str = typer.Option(None, "--clock", help="wall (live) or sim (moved by the admin API)."),
          seed: int = typer.Option(None, "--seed", help="Seed of the synthetic index feed (default 42)."),
          replay: Path = typer.Option(None, "--replay", help="Replay Binance kline CSV files instead."),
          symbols: str = typer.Option(None, "--symbols", help="Comma-separated symbols."),
          no_time_check: bool = typer.Option(None, "--no-time-check", help="Do not check timestamp/recvWindow."),
          config: Path = typer.Option(None, "--config", help="A TOML file with any of these settings.")):
    """Serve Binance's USD-M REST and WebSocket API on a local venue."""
    from perpsim.cli.serve import load_config, run_serve

    cfg = load_config(config)

    def pick(value, key, default):
        return value if value is not None else cfg.get(key, default)
    clock_kind = pick(clock, "clock", "wall")
    if clock_kind not in ("wall", "sim"):
        typer.echo("error: --clock must be wall or sim", err=True)
        raise typer.Exit(2)
    syms = pick(symbols, "symbols", "BTCUSDT,ETHUSDT,XRPUSDT")
    syms = tuple(s.strip().upper() for s in (syms.split(",") if isinstance(syms, str) else syms) if s.strip())
    dd = pick(data_dir, "data_dir", None)
    rp = pick(replay, "replay", None)
    run_serve(pick(host, "host", "127.0.0.1"), int(pick(port, "port", 8080)), Path(dd) if dd else None,
              pick(admin_token, "admin_token", None), clock_kind, int(pick(seed, "seed", 42)),
              Path(rp) if rp else None, syms, not pick(no_time_check, "no_time_check", False))


@app.command()
def review(file: Path = typer.Argument(None, help="A JSON file of Binance-shaped data (userTrades, income, "
                                                 "forceOrders, klines, allOrders, algoOrders, configUpdates)."),
           data_dir: Path = typer.Option(None, "--data-dir", help="Review an account of this venue instead."),
           account: int = typer.Option(None, "--account", help="The account to review (with --data-dir)."),
           as_json: bool = typer.Option(False, "--json", help="Print the review as JSON, not tables.")):
    """Post-liquidation review (seed 000's questions) from Binance-API-shaped data."""
    from perpsim.review import from_data_dir
    from perpsim.review import review as run_review
    from perpsim.review.render import render

    if (file is None) == (data_dir is None) or (data_dir is not None and account is None):
        typer.echo("error: give a JSON file, or --data-dir with --account", err=True)
        raise typer.Exit(2)
    try:
        data = (json.loads(file.read_text(), parse_float=Decimal) if file is not None
                else from_data_dir(data_dir, account))
    except OSError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    except json.JSONDecodeError as e:
        typer.echo(f"error: document: not valid JSON ({e})", err=True)
        raise typer.Exit(2)
    try:
        result = run_review(data)
    except (KeyError, ValueError, TypeError) as e:
        typer.echo(f"error: data: {e!r}", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        render(result)


@app.command()
def demo():
    """A short session on the clearing core: two traders, a trade, a price move, the figures."""
    from perpsim.cli.demo import run_demo

    run_demo()


def main() -> None:  # pragma: no cover
    app()
