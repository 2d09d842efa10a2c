"""The margin resting orders reserve, per account, symbol and position side: Binance's netting rule
``max(|P + B|, |P - A|) / L - |P| / L``, with P the position notional at the mark and B, A the resting
BUY and SELL orders' open notional at their prices (docs/choices.md, "Orders"); kept in
``Account.order_margin`` and refreshed when orders rest, fill or leave, or the leverage or a
position changes.
"""
from __future__ import annotations


from .clearing import BUY
from .fixed import SCALE, round_div
from .order_records import Order
from .events import DepthUpdate


class ReservedMargin:
    """The reserved margin of resting orders (a mixin of ``OrderManager``)."""

    # ------------------------------------------------------------------ reserved margin
    def required_margin(self, account_id: int, symbol: str, fresh: bool = False) -> int:
        """The initial margin this account's resting orders in ``symbol`` reserve.

        Per position side, Binance's netting rule (dev.binance.vision thread "Margin Requirements", /t/margin-requirements/17078):
        ``max(|P + B|, |P - A|) / L - |P| / L`` (at least 0), where P is the signed position
        notional at the mark, B and A the notional of the resting BUY and SELL orders at their
        prices (open quantity x price) and L the leverage. ``B`` and ``A`` are kept as running
        sums; ``fresh`` recomputes them from the orders (``check`` compares both)."""
        if fresh:
            sums: dict = {}
            for o in self.resting.get(symbol, {}).get(account_id, {}).values():
                pair = sums.setdefault(o.position_side, [0, 0])
                pair[0 if o.side == BUY else 1] += (o.qty - o.executed) * o.price
        else:
            sums = self._sums.get((symbol, account_id))
            if not sums:
                return 0
        ch = self.clearing
        acct = ch.accounts[account_id]
        lev = ch.config(acct, symbol).leverage
        mark = ch.mark(symbol)
        total = 0
        for ps, (bids, asks) in sums.items():
            if not bids and not asks:
                continue
            pos = acct.positions.get((symbol, ps))
            p = pos.qty * (mark or pos.entry_price) if pos is not None and pos.qty else 0
            worst = max(abs(p + bids), abs(p - asks)) - abs(p)     # unscaled: 1e-16 units
            if worst > 0:
                total += round_div(worst, SCALE * lev)
        return total

    def _reserve(self, o: Order) -> None:
        """Count a resting order's open notional in its account's sums."""
        if o._ck:
            self._unreserve(o)
        v = (o.qty - o.executed) * o.price
        key = (o.symbol, o.account_id)
        sums = self._sums.get(key)
        if sums is None:
            sums = self._sums[key] = {}
        pair = sums.get(o.position_side)
        if pair is None:
            pair = sums[o.position_side] = [0, 0]
        pair[0 if o.side == BUY else 1] += v
        o._ck = True
        o._cv = v
        if o.closing:
            self._n_closing[key] = self._n_closing.get(key, 0) + 1

    def _unreserve(self, o: Order) -> None:
        if not o._ck:
            return
        key = (o.symbol, o.account_id)
        sums = self._sums[key]
        pair = sums[o.position_side]
        pair[0 if o.side == BUY else 1] -= o._cv
        if not pair[0] and not pair[1]:
            del sums[o.position_side]
            if not sums:
                del self._sums[key]
        o._ck = False
        o._cv = 0
        if o.closing:
            n = self._n_closing[key] - 1
            if n:
                self._n_closing[key] = n
            else:
                del self._n_closing[key]

    def refresh(self, account_id: int, symbol: str) -> None:
        """Recompute ``Account.order_margin[symbol]`` and ``Account.open_orders[symbol]``."""
        acct = self.clearing.accounts[account_id]
        need = self.required_margin(account_id, symbol)
        if need:
            acct.order_margin[symbol] = need
        else:
            acct.order_margin.pop(symbol, None)
        n = self._count_open(account_id, symbol) + self._count_algo(account_id, symbol)
        if n:
            acct.open_orders[symbol] = n
        else:
            acct.open_orders.pop(symbol, None)

    def refresh_symbol(self, symbol: str) -> None:
        """Recompute every account with resting orders in ``symbol`` (the mark moved)."""
        for acct_id in sorted(self.resting.get(symbol, {})):
            self.refresh(acct_id, symbol)

    def on_position_change(self, account_id: int, symbol: str, now: int = 0) -> list:
        """A position changed outside the book (liquidation, ADL, a direct trade): shrink
        reduce-only orders and refresh the reserved margin."""
        events = self._enforce_reduce_only(account_id, symbol, now)
        self.refresh(account_id, symbol)
        diff = self.book(symbol).drain_depth() if symbol in self.books else None
        if diff is not None:
            events.append(DepthUpdate(symbol, diff.U, diff.u, diff.pu, diff.bids, diff.asks, now))
        return events
