"""A position: signed quantity and exact entry value, changed by fills.

Binance publishes that realized PnL uses fill prices and that adding averages the entry
price (FAQ 360033525271: unrealized PnL at the mark, realized at fills). The position keeps ``cost`` = the sum of qty x price of the quantity
still open, so the entry price (``cost / qty``) and UPNL (``qty x mark - cost``) are exact.
Closing ``c`` of ``Q`` releases ``cost x c / Q`` (rounded half away from zero to 1e-8; the
last close releases exactly what remains), so the PnL realized over a position's life is
exactly its fills' cash flows. A one-way fill larger than the position flips it: the old side
closes, the rest opens at the fill price [I: standard practice].
"""
from __future__ import annotations

from .fixed import mul, round_div
from .ledger import Wallet
from .margin import entry_price

BOTH, LONG, SHORT = "BOTH", "LONG", "SHORT"
POSITION_SIDES = (BOTH, LONG, SHORT)


class Position:
    """One position of one account in one symbol and position side."""

    __slots__ = ("account_id", "symbol", "side", "qty", "cost", "wallet", "updated")

    def __init__(self, account_id: int, symbol: str, side: str, wallet: Wallet | None = None):
        self.account_id = account_id
        self.symbol = symbol
        self.side = side            # BOTH (one-way), LONG or SHORT (hedge)
        self.qty = 0                # signed, 1e-8 units; long > 0
        self.cost = 0               # signed entry value of the open quantity
        self.wallet = wallet        # the isolated wallet, or None for cross
        self.updated = 0            # ms of the last change

    @property
    def isolated(self) -> bool:
        return self.wallet is not None

    @property
    def entry_price(self) -> int:
        return entry_price(self.qty, self.cost)

    def fill(self, dq: int, price: int) -> tuple[int, int, int]:
        """Apply a fill of signed quantity ``dq`` at ``price``.

        Returns ``(realized_pnl, closed_qty, opened_qty)`` (quantities unsigned).
        """
        q = self.qty
        if q == 0 or (q > 0) == (dq > 0):
            self.qty = q + dq
            self.cost += mul(dq, price)
            return 0, 0, abs(dq)
        closing = min(abs(dq), abs(q))
        released = self.cost if closing == abs(q) else round_div(self.cost * closing, abs(q))
        closing_signed = closing if dq > 0 else -closing
        realized = -mul(closing_signed, price) - released
        self.qty = q + closing_signed
        self.cost -= released
        rest = dq - closing_signed
        if rest:
            self.qty += rest
            self.cost += mul(rest, price)
        return realized, closing, abs(rest)

    def __repr__(self) -> str:
        return f"Position({self.account_id}, {self.symbol}, {self.side}, qty={self.qty}, cost={self.cost})"
