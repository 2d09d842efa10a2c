"""Double-entry balances: every change of a balance moves an amount between two wallets.

Money only enters or leaves through ``deposit`` and ``withdraw``; everything else is a
``move``. So the sum over every wallet (users' spot, funding, futures, earn and isolated
wallets, the insurance funds, the fee wallet and the settlement wallet) equals deposits
minus withdrawals exactly, per asset, after every command.

The settlement wallet is the clearing counterparty of open positions: realized PnL and
funding are paid from it and into it. Since every trade has two sides, its balance equals
the sum of the open positions' unrealized PnL at any common price, up to the rounding of
partial closes; it is exactly zero once every position is flat, because positions keep
their exact entry value (see positions.py).
"""
from __future__ import annotations

from collections import defaultdict

# Wallet kinds. User wallets follow Binance's account: Spot ("MAIN"), Funding, USD-M Futures, Earn.
SPOT = "SPOT"
FUNDING = "FUNDING"
FUTURES = "FUTURES"
EARN = "EARN"
USER_WALLETS = (SPOT, FUNDING, FUTURES, EARN)
ISOLATED = "ISOLATED"
# Not a wallet: the key under which a changed position is recorded in ``Ledger.touched``.
POSITION_KEY = "POSITION"
# Venue wallets.
INSURANCE = "INSURANCE"
FEES = "FEES"
SETTLEMENT = "SETTLEMENT"


class Wallet:
    """One balance of one asset, owned by ``key`` (e.g. ``("FUTURES", 7)``)."""

    __slots__ = ("key", "asset", "balance")

    def __init__(self, key: tuple, asset: str):
        self.key = key
        self.asset = asset
        self.balance = 0

    def __repr__(self) -> str:
        return f"Wallet({self.key}, {self.asset}, {self.balance})"


class Ledger:
    """All wallets, and what came in and went out."""

    __slots__ = ("wallets", "net_in", "touched")

    def __init__(self) -> None:
        self.wallets: dict[tuple, Wallet] = {}
        self.net_in: dict[str, int] = defaultdict(int)
        # keys of the wallets changed since a derived index last looked (None: nobody looks); a
        # cache, never state: not hashed, not pickled
        self.touched: set[tuple] | None = None

    def __getstate__(self):
        return self.wallets, self.net_in

    def __setstate__(self, state) -> None:
        self.wallets, self.net_in = state
        self.touched = None

    def wallet(self, key: tuple, asset: str) -> Wallet:
        """The wallet at ``key`` for ``asset``, opened empty on first use."""
        full = key + (asset,)
        w = self.wallets.get(full)
        if w is None:
            w = self.wallets[full] = Wallet(key, asset)
        return w

    def peek(self, key: tuple, asset: str) -> int:
        """A balance without opening the wallet."""
        w = self.wallets.get(key + (asset,))
        return w.balance if w is not None else 0

    def move(self, src: Wallet, dst: Wallet, amount: int) -> None:
        """Move ``amount`` from ``src`` to ``dst`` (both sides of one entry)."""
        if src.asset != dst.asset:
            raise ValueError(f"cannot move {src.asset} into a {dst.asset} wallet")
        src.balance -= amount
        dst.balance += amount
        touched = self.touched
        if touched is not None:
            touched.add(src.key)
            touched.add(dst.key)

    def deposit(self, dst: Wallet, amount: int) -> None:
        dst.balance += amount
        self.net_in[dst.asset] += amount
        if self.touched is not None:
            self.touched.add(dst.key)

    def withdraw(self, src: Wallet, amount: int) -> None:
        src.balance -= amount
        self.net_in[src.asset] -= amount
        if self.touched is not None:
            self.touched.add(src.key)

    def totals(self) -> dict[str, int]:
        """Sum of every wallet, per asset, recomputed from the wallets."""
        out: dict[str, int] = defaultdict(int)
        for w in self.wallets.values():
            out[w.asset] += w.balance
        return dict(out)

    def is_balanced(self) -> bool:
        """Deposits minus withdrawals == sum of all wallets, exactly, for every asset."""
        totals = self.totals()
        assets = set(totals) | {a for a, v in self.net_in.items() if v}
        return all(totals.get(a, 0) == self.net_in.get(a, 0) for a in assets)
