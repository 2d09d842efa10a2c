"""Helpers the endpoint modules share: running commands and reading state."""
from __future__ import annotations

from perpsim.core.errors import VenueError


async def run(ctx, kind: str, **args):
    """Submit a command; raise its Binance error, return its reply and events."""
    result = await ctx.service.submit(kind, **args)
    if result.error is not None:
        raise result.error
    return result


def instrument(ctx, symbol: str):
    ins = ctx.service.read(lambda ex: ex.clearing.instruments.get(symbol))
    if ins is None:
        raise VenueError(-1121, "Invalid symbol.")
    return ins


def time_bounds(where: list, args: list, start, end, col: str = "time") -> None:
    """Add ``col >= start`` and ``col <= end`` to a SQL WHERE list, for the bounds given."""
    if start is not None:
        where.append(f"{col} >= ?")
        args.append(start)
    if end is not None:
        where.append(f"{col} <= ?")
        args.append(end)
