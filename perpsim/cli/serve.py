"""``perpsim serve``: a venue on embedded defaults behind Binance's USD-M API."""
from __future__ import annotations

import secrets
import sys
import time
import tomllib
from pathlib import Path

from rich.console import Console

DEMO_DEPOSIT = "100000"
SWITCH_INTERVAL_S = 0.001


def load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    return doc.get("serve", doc)


def build(data_dir: Path | None, clock: str, seed: int, replay: Path | None, symbols: tuple[str, ...],
          check_time: bool = True, sync: str = "FULL", history_days: float = 3.0):
    """The service and its venue, recovered from ``data_dir``; a demo account on a new venue.

    The market's past (``history_days`` before the venue's first start, venue/past.py) is built
    here: seeded synthetic bars, or the replayed data's first days."""
    from perpsim.core.fixed import parse
    from perpsim.venue.index_feed import START_PRICES, ReplayIndex, SyntheticIndex
    from perpsim.venue.past import Past
    from perpsim.venue.service import ServiceSettings, VenueService
    from perpsim.venue.venue import Venue, default_data_dir

    data_dir = data_dir or default_data_dir()
    venue = Venue(data_dir, sync=sync, clock=clock)
    instruments = venue.exchange.clearing.instruments
    unknown = [s for s in symbols if s not in instruments]
    if unknown:
        raise SystemExit(f"error: unknown symbols {', '.join(unknown)}; known: {', '.join(sorted(instruments))}")
    if history_days < 0:
        raise SystemExit("error: --history-days must be >= 0")
    # the anchor: where the past ends and the live market starts (the venue's first start, kept)
    now = int(time.time() * 1000) if clock == "wall" else venue.exchange.now
    anchor = venue.exchange.settings.get("history_anchor") or now
    days = venue.exchange.settings.get("history_days", history_days) if venue.exchange.settings.get(
        "history_anchor") else history_days
    span = int(float(days) * 86_400_000)
    if replay:
        feed = ReplayIndex(replay, anchor - span if span else anchor, symbols)
        past = Past.from_samples({s: (list(t + feed.offset for t in ts), ps) for s, (ts, ps) in feed.series.items()},
                                 anchor - span, anchor) if span else None
    else:
        feed = SyntheticIndex(instruments, symbols, seed, anchor)
        past = Past.synthetic(instruments, symbols, seed, anchor, float(days),
                              {s: parse(START_PRICES.get(s, "100")) for s in symbols}) if span else None
    service = VenueService(venue, feed, ServiceSettings(symbols=tuple(symbols), check_time=check_time))
    service.past = past
    service.history_setting = (anchor, days)
    return service, data_dir


async def prepare(service) -> tuple[int, str, str]:
    """Prices at the start, and the demo account (created once, then reused)."""
    await service.start()
    anchor, days = getattr(service, "history_setting", (None, None))
    if anchor is not None and service.read(lambda ex: ex.settings.get("history_anchor")) is None:
        await service.submit("set_setting", name="history_anchor", value=anchor)
        await service.submit("set_setting", name="history_days", value=str(days))
    data_date = getattr(service.feed, "data_date", None)
    if data_date is not None and service.read(lambda ex: ex.clearing.bracket_date) is None:
        await service.submit("set_bracket_date", date=data_date)   # a replay of 2021 uses 2021's tables
    if service.settings.liquidity:
        await service.ensure_liquidity_account()
    await service.tick_prices(service.now())
    demo = service.read(lambda ex: ex.settings.get("demo_account"))
    if demo is not None:
        existing = service.read(lambda ex: sorted((k, v) for k, v in ex.api_keys.items() if v.account_id == demo))
        if existing:
            key, record = existing[0]
            return demo, key, record.secret
    r = await service.submit("create_account", deposit={"USDT": int(DEMO_DEPOSIT) * 10**8})
    key, secret = secrets.token_hex(32), secrets.token_hex(32)
    await service.submit("create_api_key", account_id=r.reply, api_key=key, secret=secret)
    await service.submit("deposit", account_id=r.reply, asset="USDT", amount=10_000 * 10**8, wallet="SPOT")
    await service.submit("set_setting", name="demo_account", value=r.reply)
    return r.reply, key, secret


def run_serve(host: str, port: int, data_dir: Path | None, admin_token: str | None, clock: str, seed: int,
              replay: Path | None, symbols: tuple[str, ...], check_time: bool, limiter=None, limits=None,
              webhook_policy=None, history_days: float = 3.0) -> None:
    import uvicorn

    from perpsim.binance.app import Server
    from perpsim.binance.transport import run, uvicorn_config

    from perpsim.venue.journal import JournalError

    # the event loop shares the interpreter lock with the sequencer and reader threads: hand it over every
    # 1 ms rather than Python's default 5 ms, so a ping waits at most a few ms behind a heavy read
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    console = Console(soft_wrap=True)
    try:
        service, data_dir = build(data_dir, clock, seed, replay, symbols, check_time, history_days=history_days)
    except JournalError as e:   # damage, a locked directory, another format: said plainly, nothing changed
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/bold red] {e}", markup=True, highlight=False)
        raise SystemExit(2)
    token = admin_token or secrets.token_hex(16)
    server = Server(service, token, limiter, webhook_policy=webhook_policy)

    async def main():
        account_id, key, secret = await prepare(service)
        recovery = service.venue.recovery
        if recovery.torn:
            console.print(f"[bold yellow]WARNING: {recovery.torn}[/bold yellow]", highlight=False)
        if recovery.replayed or recovery.snapshot_seq:
            console.print(f"[dim]{recovery}[/dim]")
        console.print(f"[bold]perpsim[/bold] serving Binance USD-M on {', '.join(symbols)} ({clock} clock)")
        console.print(f"  REST       http://{host}:{port}")
        console.print(f"  WebSocket  ws://{host}:{port}/ws  (also /stream, /public/*, /market/*, /private/*)")
        console.print(f"  data dir   {data_dir}")
        if service.past is not None:
            console.print(f"  history    {service.history_setting[1]} days before the venue's first start")
        console.print(f"  demo account {account_id}: API key {key}")
        console.print(f"                  secret  {secret}")
        console.print(f"  admin token  {token}  (header X-PERPSIM-ADMIN)")
        console.print(f"  OpenAPI    http://{host}:{port}/openapi.json")
        console.print(f"  dashboard  http://{host}:{port}/#key={key}&secret={secret}")
        lim = server.limiter
        console.print(f"  limits     {lim.weight_per_minute} weight/min, {lim.orders_per_10s} orders/10s"
                      f"{'' if lim.enforce else ' (counted, not enforced)'}; webhooks to "
                      f"{server.webhook_policy.describe()}")
        config = uvicorn_config(server.app, host, port, limits)
        try:
            await uvicorn.Server(config).serve()
        finally:
            await service.stop()

    run(main())
