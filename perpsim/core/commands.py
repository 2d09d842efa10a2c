"""What goes into the venue and what comes out: ``Command``, ``Result``, and the handler tables.

A ``Command`` is a kind, JSON-safe arguments (ints for amounts, in 1e-8 units) and the time it was
sequenced at. Each module that defines commands keeps its handlers in one ``Handlers`` table;
``exchange.py`` joins them into the venue's single table.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

from .errors import VenueError


class Command(NamedTuple):
    """One sequenced command. ``args`` hold only JSON-safe values (str, int, bool, None, lists, dicts)."""

    kind: str
    args: dict
    ts: int = 0


class Result(NamedTuple):
    """What a command did: its events and reply, or the Binance error that refused it."""

    events: list
    reply: Any = None
    error: VenueError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


#: a handler: ``(exchange, **args) -> (reply, events)``; it raises ``VenueError`` before it changes anything
Handler = Callable[..., tuple[Any, list]]


class Handlers(dict):
    """One module's command handlers, kind -> function, filled by ``@HANDLERS("kind")``."""

    def __call__(self, kind: str):
        def register(fn: Handler) -> Handler:
            if kind in self:
                raise ValueError(f"command {kind!r} is defined twice")
            self[kind] = fn
            return fn
        return register


def join(*tables: Handlers) -> dict[str, Handler]:
    """The union of handler tables; a kind defined by two of them is a programming error."""
    joined: dict[str, Handler] = {}
    for table in tables:
        twice = joined.keys() & table.keys()
        if twice:
            raise ValueError(f"commands defined twice: {sorted(twice)}")
        joined.update(table)
    return joined


def int_arg(value: object, name: str, positive: bool = False) -> int:
    """An int argument (not a bool), positive if asked; else Binance's -1130 naming it."""
    from . import errors as E
    if not isinstance(value, int) or isinstance(value, bool) or (positive and value <= 0):
        raise E.illegal_param(name)
    return value
