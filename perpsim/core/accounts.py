"""An account: its futures settings and positions. Balances live in the ledger.

Binance keeps leverage and margin type per symbol and the position mode per account
(one-way ``BOTH`` or hedge ``LONG``/``SHORT``); the default leverage is 20x, capped by the
symbol's highest tier (FAQ 360033162192).
"""
from __future__ import annotations

from dataclasses import dataclass

from .positions import Position


@dataclass(slots=True)
class SymbolConfig:
    leverage: int
    isolated: bool = False


class Account:
    """Settings and positions of one user. ``order_margin`` is kept by the order layer:
    the initial margin its resting orders reserve, per symbol (FAQ 360033162192, "Leverage and Margin of USDⓈ-M Futures")."""

    __slots__ = ("id", "hedge_mode", "configs", "positions", "maker_rate", "taker_rate", "created", "order_margin",
                 "open_orders")

    def __init__(self, account_id: int, maker_rate: int, taker_rate: int, created: int = 0):
        self.id = account_id
        self.hedge_mode = False
        self.configs: dict[str, SymbolConfig] = {}
        self.positions: dict[tuple[str, str], Position] = {}
        self.maker_rate = maker_rate
        self.taker_rate = taker_rate
        self.created = created
        self.order_margin: dict[str, int] = {}
        self.open_orders: dict[str, int] = {}   # symbol -> number of resting orders (kept by the order layer)

    def open_positions(self):
        return (p for p in self.positions.values() if p.qty)

    def has_position(self, symbol: str | None = None) -> bool:
        return any(p.qty and (symbol is None or p.symbol == symbol) for p in self.positions.values())

    def has_orders(self, symbol: str | None = None) -> bool:
        if symbol is None:
            return any(self.open_orders.values())
        return bool(self.open_orders.get(symbol))
