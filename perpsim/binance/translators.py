"""A table of stream translators: venue event type -> function yielding stream messages.

Each translate module keeps its own tables (``MARKET``: ``(stream name, payload)`` pairs; ``USER``:
``(account id, payload)`` pairs); translate.py joins them into the ones the streams read.
"""
from __future__ import annotations

from typing import Callable


class Translators(dict):
    """Event type -> translator, filled by ``@TABLE(EventType)``."""

    def __call__(self, etype: type):
        def register(fn: Callable) -> Callable:
            if etype in self:
                raise ValueError(f"{etype.__name__} is translated twice")
            self[etype] = fn
            return fn
        return register


def join(*tables: Translators) -> dict[type, Callable]:
    joined: dict[type, Callable] = {}
    for table in tables:
        twice = joined.keys() & table.keys()
        if twice:
            raise ValueError(f"translated twice: {sorted(t.__name__ for t in twice)}")
        joined.update(table)
    return joined
