"""The orders of a liquidation, as Binance shows them: the waterfall's one liquidation order (an IOC at
the bankruptcy price through the book, client id ``autoclose-<ms>``), the fills the insurance fund's
takeover and ADL add to it, and each ADL counterparty's own close order (FAQ 360033525271,
"Liquidation Protocols"; the forceOrders example of Binance's API documentation).
"""
from __future__ import annotations


from . import book as B
from .fixed import mul
from .order_records import (EXPIRED, FILLED, LIMIT, LIQUIDATION, Order, PARTIALLY_FILLED, X_CALCULATED, X_EXPIRED,
                            X_NEW, _SIDE_INT)
from .events import OrderUpdate


class LiquidationOrders:
    """The order layer's side of a liquidation (a mixin of ``OrderManager``)."""

    # ------------------------------------------------------------------ liquidation hooks
    def cancel_for_liquidation(self, account_id: int, symbol: str | None, now: int = 0) -> list:
        """The waterfall's first step: cancel the account's open orders and algo orders (of
        ``symbol``, or of every symbol for a cross scope), so nothing of it trades meanwhile."""
        events: list = []
        symbols = sorted(set(self.resting) | set(self.open_algos)) if symbol is None else [symbol]
        for sym in symbols:
            if self.resting.get(sym, {}).get(account_id):
                events += self.cancel_all(account_id, sym, now)[1]
            if self.open_algos.get(sym, {}).get(account_id):
                events += self.cancel_all_algo(account_id, sym, now)[1]
        return events

    def liquidation_order(self, account_id: int, symbol: str, side: str, position_side: str, qty: int,
                          limit: int, now: int = 0) -> list:
        """The waterfall's IOC order limited at the bankruptcy price (type LIQUIDATION, client id
        ``autoclose-<ms>``, fills reported with execution type CALCULATED, no commission for the
        liquidated side). No filters and no margin check; it only closes."""
        book = self.book(symbol)
        self.next_order_id += 1
        oid = self.next_order_id
        o = Order(oid, symbol, account_id, f"autoclose-{now}", side, LIQUIDATION, "IOC", qty, limit, True, True,
                  position_side, "NONE", now)
        self.orders[oid] = o
        events: list = [self._update(o, X_NEW, now)]

        def place(touched: set) -> None:
            bev = book.place(oid, account_id, _SIDE_INT[side], qty, limit, B.IOC, B.STP_NONE, True, None)
            self._process(symbol, bev, o, now, events, touched)
        self._match(symbol, account_id, now, events, place)
        return events

    def next_trade_id(self, symbol: str) -> int:
        """A trade id for a fill outside the book (insurance takeover, ADL), from the symbol's counter."""
        bk = self.book(symbol)
        bk.trade_id += 1
        return bk.trade_id

    def liquidation_fill(self, order_id: int, qty: int, price: int, settled, trade_id: int, now: int) -> OrderUpdate:
        """A fill of a liquidation order outside the book: the insurance fund takes the rest over, or
        an ADL counterparty closes it. The order is the one story of the liquidation (Binance shows
        one liquidation order, ``autoclose-<ms>``, filled by whatever closed the position)."""
        o = self.orders[order_id]
        o.executed += qty
        o.cum_quote += mul(qty, price)
        o.qty = max(o.qty, o.executed)
        o.update_time = now
        o.status = FILLED if o.executed == o.qty else PARTIALLY_FILLED
        return self._update(o, X_CALCULATED, now, qty, price, 0, trade_id, False, settled.realized_pnl,
                            settled.commission_asset)

    def finish_liquidation(self, order_id: int, events: list, now: int) -> None:
        """Close a liquidation order once the waterfall is done with it: its quantity is what it closed
        (FILLED), or it EXPIRED having closed nothing. Its updates in ``events`` are rewritten to tell
        that one story: the final quantity everywhere, every fill PARTIALLY_FILLED but the last."""
        o = self.orders[order_id]
        if o.executed and o.executed != o.qty:
            o.qty = o.executed
        if o.status != FILLED:
            o.status = FILLED if o.executed else EXPIRED
            o.update_time = now
            self._close(o, events, now)
        idx = [i for i, e in enumerate(events) if e.__class__ is OrderUpdate and e.order_id == order_id]
        fills = [i for i in idx if events[i].execution_type == X_CALCULATED]
        for i in idx:
            status = events[i].order_status
            if i in fills:
                status = o.status if i == fills[-1] else PARTIALLY_FILLED
            events[i] = events[i]._replace(orig_qty=o.qty, order_status=status)
        if not o.executed:
            events.append(self._update(o, X_EXPIRED, now))

    def adl_order(self, order_id: int, account_id: int, symbol: str, side: str, position_side: str, qty: int,
                  price: int, settled, trade_id: int, now: int) -> list:
        """The order of an ADL close (client id ``adl_autoclose``, as Binance names it): a LIMIT IOC at the
        bankruptcy price, FILLED by the close; its updates are NEW and one CALCULATED fill."""
        o = Order(order_id, symbol, account_id, "adl_autoclose", side, LIMIT, "IOC", qty, price, False, True,
                  position_side, "NONE", now)
        self.orders[order_id] = o
        events = [self._update(o, X_NEW, now)]
        o.executed, o.cum_quote, o.status, o.update_time = qty, mul(qty, price), FILLED, now
        events.append(self._update(o, X_CALCULATED, now, qty, price, 0, trade_id, False, settled.realized_pnl,
                                   settled.commission_asset))
        return events
