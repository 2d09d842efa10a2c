"""Helpers the endpoint modules share: running commands, reading state, ids and time windows."""
from __future__ import annotations

from perpsim.core.errors import VenueError

from ..routes import Param

MAX_ID = 2**63 - 1          # ids and times: SQLite integers
WEEK_MS = 7 * 24 * 3600 * 1000
SIDES = ("BUY", "SELL")
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
RESP_TYPES = ("ACK", "RESULT")
TIME_RANGE = (Param("startTime", "integer"), Param("endTime", "integer"), Param("limit", "integer"))


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


def window(p, default_limit: int, max_limit: int) -> tuple[int | None, int | None, int]:
    """``startTime``, ``endTime`` (not before the start) and ``limit`` (capped at ``max_limit``)."""
    start = p.int("startTime", lo=0, hi=MAX_ID)
    end = p.int("endTime", lo=0, hi=MAX_ID)
    limit = p.int("limit", default=default_limit, lo=1, hi=MAX_ID)
    if start is not None and end is not None and end < start:
        raise VenueError(-1130, "Data sent for parameter 'endTime' is not valid. It must not be before startTime.")
    return start, end, min(limit, max_limit)
