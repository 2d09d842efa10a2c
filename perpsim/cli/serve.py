"""``perpsim serve``: a venue on embedded defaults behind Binance's USD-M API."""
from __future__ import annotations

import asyncio
import secrets
import time
import tomllib
from pathlib import Path

from rich.console import Console

DEMO_DEPOSIT = "100000"


def load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    return doc.get("serve", doc)


def build(data_dir: Path | None, clock: str, seed: int, replay: Path | None, symbols: tuple[str, ...],
          check_time: bool = True, sync: str = "FULL"):
    """The service and its venue, recovered from ``data_dir``; a demo account on a new venue."""
    from perpsim.venue.index_feed import ReplayIndex, SyntheticIndex
    from perpsim.venue.service import ServiceSettings, VenueService
    from perpsim.venue.venue import Venue, default_data_dir

    data_dir = data_dir or default_data_dir()
    venue = Venue(data_dir, sync=sync, clock=clock)
    instruments = venue.exchange.clearing.instruments
    unknown = [s for s in symbols if s not in instruments]
    if unknown:
        raise SystemExit(f"error: unknown symbols {', '.join(unknown)}; known: {', '.join(sorted(instruments))}")
    start = int(time.time() * 1000) if clock == "wall" else venue.exchange.now
    feed = ReplayIndex(replay, start, symbols) if replay else SyntheticIndex(instruments, symbols, seed, start)
    service = VenueService(venue, feed, ServiceSettings(symbols=tuple(symbols), check_time=check_time))
    return service, data_dir


async def prepare(service) -> tuple[int, str, str]:
    """Prices at the start, and the demo account (created once, then reused)."""
    await service.start()
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
              replay: Path | None, symbols: tuple[str, ...], check_time: bool) -> None:
    import uvicorn

    from perpsim.binance.app import Server

    from perpsim.venue.journal import JournalError

    console = Console(soft_wrap=True)
    try:
        service, data_dir = build(data_dir, clock, seed, replay, symbols, check_time)
    except JournalError as e:   # damage, a locked directory, another format: said plainly, nothing changed
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/bold red] {e}", markup=True, highlight=False)
        raise SystemExit(2)
    token = admin_token or secrets.token_hex(16)
    server = Server(service, token)

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
        console.print(f"  demo account {account_id}: API key {key}")
        console.print(f"                  secret  {secret}")
        console.print(f"  admin token  {token}  (header X-PERPSIM-ADMIN)")
        console.print(f"  OpenAPI    http://{host}:{port}/openapi.json")
        config = uvicorn.Config(server.app, host=host, port=port, log_level="warning", ws="websockets-sansio",
                                lifespan="on")
        try:
            await uvicorn.Server(config).serve()
        finally:
            await service.stop()

    asyncio.run(main())
