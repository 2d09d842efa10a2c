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
BENCHMARKS = ("core", "matching", "liquidation", "venue", "serve", "risk", "cascade")


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

journal_app = typer.Typer(no_args_is_help=True, help="Check, rebuild, hash and repair a venue's journal.")
app.add_typer(journal_app, name="journal")


@journal_app.command("verify")
def journal_verify(data_dir: Path = typer.Argument(..., help="The venue's data directory.")):
    """Check SQLite's integrity, every row and batch, the commit mark, snapshots, the ledger; name bad rows."""
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


@journal_app.command("repair")
def journal_repair(data_dir: Path = typer.Argument(..., help="The venue's data directory (no venue may run on it)."),
                   truncate_from: int = typer.Option(None, "--truncate-from", metavar="SEQ",
                                                     help="Drop command SEQ and every command after it."),
                   reindex: bool = typer.Option(False, "--reindex", help="Rebuild every SQLite index."),
                   yes: bool = typer.Option(False, "--yes", help="Do not ask; the operator has decided.")):
    """Repair a damaged journal on the operator's word: copies the files aside first, logs to repair.log."""
    from perpsim.venue.admin import repair_journal, repair_plan

    if truncate_from is not None:
        for line in _journal_call(repair_plan, data_dir, truncate_from):
            typer.echo(line)
    if not yes:
        if not sys.stdin.isatty():
            typer.echo("error: a repair drops data; confirm with --yes (no terminal to ask on)", err=True)
            raise typer.Exit(2)
        typer.confirm("Proceed? A copy of the original files is kept", abort=True)
    for line in _journal_call(repair_journal, data_dir, truncate_from, reindex):
        typer.echo(line)


def _journal_call(fn, data_dir: Path, *args):
    from perpsim.venue.journal import JournalError

    try:
        return fn(data_dir, *args)
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
          rate_limits: str = typer.Option(None, "--rate-limits",
                                          help="binance (default: Binance's request-weight and order limits), off, "
                                               "or xN (Binance's times N, for a load test)."),
          forwarded_allow_ips: str = typer.Option(None, "--forwarded-allow-ips",
                                                  help="Comma-separated addresses of your reverse proxies whose "
                                                       "X-Forwarded-For is trusted (default: none; limits key on "
                                                       "the TCP peer)."),
          webhook_allow: str = typer.Option(None, "--webhook-allow",
                                            help="Where traders' webhooks may point: comma-separated networks "
                                                 "(10.0.0.0/8) or host names, and 'loopback' (default: loopback "
                                                 "only)."),
          header_timeout: float = typer.Option(None, "--header-timeout",
                                               help="Seconds a connection has to send its request headers (10)."),
          max_connections: int = typer.Option(None, "--max-connections",
                                              help="Concurrent connections and requests before 503 (2048)."),
          history_days: float = typer.Option(None, "--history-days",
                                             help="Days of market history before the venue's first start "
                                                  "(klines, mark/index klines, funding; default 3, 0 for none)."),
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
    from perpsim.binance.ratelimit import RateLimiter
    from perpsim.binance.transport import ConnectionLimits
    from perpsim.venue.webhooks import WebhookPolicy

    try:
        limiter = RateLimiter.from_setting(pick(rate_limits, "rate_limits", "binance"))
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    defaults = ConnectionLimits()
    limits = ConnectionLimits(header_timeout=float(pick(header_timeout, "header_timeout", defaults.header_timeout)),
                              max_concurrency=int(pick(max_connections, "max_connections", defaults.max_concurrency)),
                              forwarded_allow_ips=pick(forwarded_allow_ips, "forwarded_allow_ips", None) or None)
    policy = WebhookPolicy.parse(pick(webhook_allow, "webhook_allow", None))
    run_serve(pick(host, "host", "127.0.0.1"), int(pick(port, "port", 8080)), Path(dd) if dd else None,
              pick(admin_token, "admin_token", None), clock_kind, int(pick(seed, "seed", 42)),
              Path(rp) if rp else None, syms, not pick(no_time_check, "no_time_check", False),
              limiter=limiter, limits=limits, webhook_policy=policy,
              history_days=float(pick(history_days, "history_days", 3)))


@app.command()
def review(file: Path = typer.Argument(None, help="A JSON file of Binance-shaped data (userTrades, income, "
                                                 "forceOrders, klines, allOrders, algoOrders, configUpdates)."),
           data_dir: Path = typer.Option(None, "--data-dir", help="Review an account of this venue instead."),
           account: int = typer.Option(None, "--account", help="The account to review (with --data-dir)."),
           as_json: bool = typer.Option(False, "--json", help="Print the review as JSON, not tables."),
           api_url: str = typer.Option(None, "--api-url", help="Review a Binance-compatible account read-only "
                                                              "over its REST API (e.g. https://fapi.binance.com)."),
           api_key: str = typer.Option(None, "--api-key", help="Its API key (read permission is enough)."),
           api_secret: str = typer.Option(None, "--api-secret", help="Its API secret (signs in this process)."),
           symbol: str = typer.Option(None, "--symbol", help="With --api-url: only this symbol.")):
    """Post-liquidation review: the questions to answer after a liquidation, from Binance-API-shaped data."""
    from perpsim.review import from_data_dir
    from perpsim.review import review as run_review
    from perpsim.review.render import render

    sources = (file is not None) + (data_dir is not None) + (api_url is not None)
    if sources != 1 or (data_dir is not None and account is None) or (api_url and not (api_key and api_secret)):
        typer.echo("error: give a JSON file, --data-dir with --account, or --api-url with --api-key and "
                   "--api-secret", err=True)
        raise typer.Exit(2)
    try:
        if api_url is not None:
            from perpsim.review.remote import Remote, RemoteError, fetch_data
            try:
                data = fetch_data(Remote(api_url, api_key, api_secret), symbol)
            except (RemoteError, httpx_errors()) as e:
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(2)
        else:
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


def httpx_errors():
    import httpx
    return httpx.HTTPError


def main() -> None:  # pragma: no cover
    app()
