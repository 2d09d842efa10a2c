"""The liquidation waterfall: an ordered list of named, parameterised steps.

Binance's sequence (FAQ 360033525271, "Liquidation Protocols"), per margin scope (an
isolated position, or a cross account's positions of one margin asset):

1. ``cancel_orders``: cancel the scope's open orders [P] (the symbol's for isolated, all for cross [I]).
2. ``liquidation_order``: one IOC order limited at the bankruptcy price [P]; for a position above
   the first tier and ``partial_liquidation`` on, only the quantity that brings the margin ratio
   to ``partial_target_ratio`` at the mark [I]. If the scope is margin compliant afterwards
   (after the clearance fee), the liquidation is over [P].
3. ``clearance_fee``: ``liquidationFee`` x the liquidated notional, capped at the scope's
   remaining equity [P rate, I cap], to the insurance fund (INSURANCE_CLEAR).
4. ``insurance_takeover``: the rest is closed at the bankruptcy price and the insurance fund takes
   the position [P], if its net notional stays within ``insurance_capacity_ratio`` x the fund [P 2019-2023
   default 100%] ...
5. ``auto_deleverage``: ... otherwise opposite positions are closed at the bankruptcy price in
   ADL order (adl.py), without fee [P]; if the queue runs dry the fund takes the rest [I].
6. ``insurance_share``: ``leftover_to_insurance`` of the equity left after a full liquidation goes to
   the fund [P "a portion", I share].
7. ``negative_balance_protection``: a wallet below zero is brought back to zero by the fund [P].

Cross accounts with several positions are liquidated position by position, largest maintenance
margin first, re-checking the account after each [I]. Every choice [I] is a venue setting
(``WaterfallConfig`` in config.py, with its default); docs/choices.md gives the evidence.
"""
from __future__ import annotations

from ..config import WaterfallConfig, defaults
from ..events import AdlRecord, InsuranceFundChanged, LiquidationRecord, TradeSettled
from ..fixed import SCALE, ceil_div, mul
from ..ledger import FUTURES
from ..margin import Leg, bankruptcy_price, is_liquidatable, notional, unrealized_pnl
from ..positions import LONG, SHORT, Position
from .adl_walk import adl_walk

STEPS = ("cancel_orders", "liquidation_order", "clearance_fee", "insurance_takeover", "auto_deleverage",
         "insurance_share", "negative_balance_protection")

#: the waterfall's settings and defaults (config.py: WaterfallConfig, with their evidence)
DEFAULTS = defaults(WaterfallConfig)


def _to_tick(price: int, tick: int, up: bool) -> int:
    """A price on the tick, rounded in the liquidated trader's favour (never worse than bankruptcy)."""
    return max(tick, ceil_div(price, tick) * tick if up else price // tick * tick)


class Liquidator:
    """Runs the waterfall on one exchange's state."""

    def __init__(self, ex):
        self.ex = ex
        self.ch = ex.clearing

    # ------------------------------------------------------------------ scopes
    def scope_positions(self, acct, kind: str, key: str, position_side: str) -> list[Position]:
        if kind == "ISOLATED":
            pos = acct.positions.get((key, position_side))
            return [pos] if pos is not None and pos.qty else []
        ch = self.ch
        legs = [p for p in acct.open_positions() if p.wallet is None and ch.instruments[p.symbol].margin_asset == key]
        figs = {id(p): ch.position_figures(p).maint_margin for p in legs}
        return sorted(legs, key=lambda p: (-figs[id(p)], p.symbol, p.side))

    def scope_figures(self, acct, pos: Position) -> tuple[int, int]:
        """(margin balance, maintenance margin) of the scope the position belongs to."""
        if pos.wallet is not None:
            f = self.ch.position_figures(pos)
            return pos.wallet.balance + f.unrealized_pnl, f.maint_margin
        f = self.ch.cross_figures(acct.id, self.ch.instruments[pos.symbol].margin_asset)
        return f.margin_balance, f.maint_margin

    def _bankruptcy(self, acct, pos: Position) -> int | None:
        ch = self.ch
        legs = [Leg(pos.qty, pos.cost, ch.table(pos.symbol))]
        if pos.wallet is not None:
            return bankruptcy_price(pos.wallet.balance, legs)
        asset = ch.instruments[pos.symbol].margin_asset
        others = sum(unrealized_pnl(p.qty, p.cost, ch.mark(p.symbol) or p.entry_price)
                     for p in acct.open_positions()
                     if p is not pos and p.wallet is None and ch.instruments[p.symbol].margin_asset == asset)
        return bankruptcy_price(ch.balance(acct.id, FUTURES, asset), legs, others)

    # ------------------------------------------------------------------ the procedure
    def liquidate(self, account_id: int, kind: str, key: str, position_side: str) -> list:
        """Liquidate one scope (as the detector reports it) until it is compliant or flat."""
        ch, ex = self.ch, self.ex
        acct = ch.accounts[account_id]
        events = self.cancel_orders(account_id, key if kind == "ISOLATED" else None)
        full = True
        for pos in self.scope_positions(acct, kind, key, position_side):
            mb, mm = self.scope_figures(acct, pos)
            if not is_liquidatable(mm, mb):
                full = False
                break
            evs, partial = self._liquidate_position(acct, pos)
            events += evs
            if partial:
                full = False
                break
        if kind == "ISOLATED":
            pos = acct.positions.get((key, position_side))
            if pos is not None and not pos.qty:
                events += self.insurance_share(acct, pos.wallet, key, release_to=ch.user_wallet(
                    account_id, FUTURES, pos.wallet.asset))
        elif full and not any(p.wallet is None and ch.instruments[p.symbol].margin_asset == key
                              for p in acct.open_positions()):
            events += self.insurance_share(acct, ch.user_wallet(account_id, FUTURES, key), "")
        return events

    def _liquidate_position(self, acct, pos: Position) -> tuple[list, bool]:
        ch, ex = self.ch, self.ex
        now = ex.now
        symbol, ps = pos.symbol, pos.side
        ins = ch.instruments[symbol]
        asset = ins.margin_asset
        fund = ex.insurance_account(asset)
        fund_wallet = ch.user_wallet(fund, FUTURES, asset)
        fund_before = fund_wallet.balance
        fig = ch.position_figures(pos)
        long = pos.qty > 0
        close_side = "SELL" if long else "BUY"
        total = abs(pos.qty)
        limit = _to_tick(self._bankruptcy(acct, pos) or fig.mark_price, ins.tick_size, up=long)
        events: list = []

        # liquidation_order: one IOC at the bankruptcy price, partial or full
        qty = self.partial_qty(acct, pos) if self._partial_allowed(pos) else total
        book_evs = ex.liquidation_order(acct.id, symbol, close_side, ps, qty, limit)
        oid = book_evs[0].order_id          # its NEW update comes first
        events += book_evs
        fills = [e for e in book_evs if isinstance(e, TradeSettled) and e.account_id == acct.id]
        book_qty = sum(e.qty for e in fills)
        book_value = sum(mul(e.qty, e.price) for e in fills)
        realized = sum(e.realized_pnl for e in fills)

        # clearance_fee on the liquidated amount, capped at the equity the scope keeps once the
        # rest is closed at the bankruptcy price: the surplus the book fills earned over it (FAQ 6.4)
        wallet = pos.wallet if pos.wallet is not None else ch.user_wallet(acct.id, FUTURES, asset)
        rest = abs(pos.qty)
        mb, mm = self.scope_figures(acct, pos)
        mark = ch.mark(symbol)
        attempt_partial = qty < total
        if attempt_partial:
            cap, value = mb, book_value
        else:
            cap, value = mb - mul(rest, (mark - limit) if long else (limit - mark)), book_value + mul(rest, limit)
        fee = max(0, min(mul(value, ins.liquidation_fee), cap))
        if fee:
            events += self._to_fund(wallet, fund_wallet, fee, acct.id, symbol, "CLEARANCE_FEE", "INSURANCE_CLEAR")
        mb, mm = self.scope_figures(acct, pos)
        partial = attempt_partial and bool(book_qty) and not is_liquidatable(mm, mb)

        insurance_qty = adl_qty = 0
        counterparties: list = []
        exec_price = limit
        if not partial and pos.qty:
            if attempt_partial:  # the partial order did not restore the margin: close the rest in full
                exec_price = _to_tick(self._bankruptcy(acct, pos) or limit, ins.tick_size, up=long)
            rest = abs(pos.qty)
            if self.fund_can_take(fund, symbol, pos.qty, exec_price):
                evs, _ = self.insurance_takeover(acct, pos, fund, rest, exec_price, oid)
                insurance_qty = rest
            else:
                evs, r, counterparties = self.auto_deleverage(acct, pos, rest, exec_price, oid)
                adl_qty = rest - r
                if r:  # the queue ran dry: the fund takes what is left [I]
                    more, _ = self.insurance_takeover(acct, pos, fund, r, exec_price, oid)
                    evs += more
                    insurance_qty = r
            events += evs
            realized += sum(e.realized_pnl for e in evs if isinstance(e, TradeSettled) and e.account_id == acct.id)
        events += self.negative_balance_protection(acct.id, wallet, symbol)
        if insurance_qty or adl_qty:  # positions moved outside the book: the order layer follows
            for other in sorted({acct.id, ex.insurance_account(asset)} | {c[0] for c in counterparties}):
                events += ex.orders.on_position_change(other, symbol, now)
        ex.orders.finish_liquidation(oid, events, now)
        closed = book_qty + insurance_qty + adl_qty
        avg = (book_value + mul(insurance_qty + adl_qty, exec_price)) * SCALE // closed if closed else limit
        record = LiquidationRecord(
            now, acct.id, symbol, close_side, ps, "ISOLATED" if pos.wallet is not None else "CROSSED",
            fig.leverage, fig.entry_price, fig.mark_price, fig.liquidation_price, fig.bankruptcy_price, avg,
            closed, book_qty, insurance_qty, adl_qty, fee - realized, fee, fund_wallet.balance - fund_before,
            ch.balance(acct.id, FUTURES, asset), partial, tuple(counterparties), oid)
        events.append(record)
        return events, partial

    # ------------------------------------------------------------------ steps
    def cancel_orders(self, account_id: int, symbol: str | None) -> list:
        return self.ex.orders.cancel_for_liquidation(account_id, symbol, self.ex.now)

    def _partial_allowed(self, pos: Position) -> bool:
        if not self.ex.config.waterfall.partial_liquidation:
            return False
        n = notional(pos.qty, self.ch.mark(pos.symbol))
        return self.ch.table(pos.symbol).for_notional(n).number > 1

    def partial_qty(self, acct, pos: Position) -> int:
        """The fewest steps whose close at the mark, after the clearance fee, brings the scope's MR to
        the target [I]. The surplus ``g(q) = target x (equity - fee(q)) - MM_after(q)`` is concave in q
        (MM is convex in the notional, the fee linear), so its compliant set is an interval: find its
        peak, then the smallest compliant q below it. None compliant (the fee eats more margin than
        the close frees, Binance's "already bankrupt") -> the whole position."""
        ch = self.ch
        ins = ch.instruments[pos.symbol]
        table = ch.table(pos.symbol)
        mark = ch.mark(pos.symbol)
        target = self.ex.config.waterfall.partial_target_ratio
        mb, mm = self.scope_figures(acct, pos)
        total = abs(pos.qty)
        step = ins.step_size
        mm_pos = table.maint_margin(notional(total, mark))

        def g(steps: int) -> int:
            q = steps * step
            fee = mul(notional(q, mark), ins.liquidation_fee)
            mm_after = mm - mm_pos + table.maint_margin(notional(total - q, mark))
            return target * (mb - fee) - mm_after * SCALE

        lo, hi = 1, total // step
        while hi - lo > 2:                       # ternary search for the peak of a concave g
            m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
            if g(m1) < g(m2):
                lo = m1 + 1
            else:
                hi = m2 - 1
        peak = max(range(lo, hi + 1), key=g)
        if g(peak) < 0:
            return total
        lo, hi = 1, peak                          # g increases up to the peak: the first compliant q
        while lo < hi:
            mid = (lo + hi) // 2
            if g(mid) >= 0:
                hi = mid
            else:
                lo = mid + 1
        return lo * step

    def fund_can_take(self, fund: int, symbol: str, qty: int, price: int) -> bool:
        """The fund's net notional after taking ``qty`` stays within capacity x its margin balance."""
        ch = self.ch
        asset = ch.instruments[symbol].margin_asset
        f = ch.cross_figures(fund, asset)
        held = ch.accounts[fund].positions.get((symbol, "BOTH"))
        after = (held.qty if held is not None else 0) + qty
        cap = mul(max(0, f.margin_balance), self.ex.config.waterfall.insurance_capacity_ratio)
        return notional(after, ch.mark(symbol) or price) <= cap

    def insurance_takeover(self, acct, pos: Position, fund: int, qty: int, price: int,
                           order_id: int) -> tuple[list, int]:
        """The fund takes ``qty`` over at ``price``: a fill of the liquidation order ``order_id``."""
        ch, now, orders = self.ch, self.ex.now, self.ex.orders
        side = "SELL" if pos.qty > 0 else "BUY"
        tid = orders.next_trade_id(pos.symbol)
        events = ch.apply_fill(acct.id, pos.symbol, side, qty, price, False, pos.side, now, fee=False,
                               execution="LIQUIDATION", release_isolated=False, trade_id=tid, order_id=order_id)
        settled = events[-2]
        events += ch.apply_fill(fund, pos.symbol, "BUY" if side == "SELL" else "SELL", qty, price, True, None, now,
                                fee=False, execution="INSURANCE", trade_id=tid)
        events.append(orders.liquidation_fill(order_id, qty, price, settled, tid, now))
        return events, 0

    def auto_deleverage(self, acct, pos: Position, qty: int, price: int,
                        order_id: int) -> tuple[list, int, list]:
        """Close ``qty`` against the opposite side's ADL queue at ``price`` (no fee): each close is a
        fill of the liquidation order ``order_id`` and of the counterparty's own ADL order."""
        ch, now, orders = self.ch, self.ex.now, self.ex.orders
        side = "SELL" if pos.qty > 0 else "BUY"
        other_side = "BUY" if side == "SELL" else "SELL"
        events, counterparties = [], []
        for e in adl_walk(ch, pos.symbol, SHORT if pos.qty > 0 else LONG, exclude={acct.id}, users_only=True):
            if not qty:
                break
            take = min(qty, abs(e.qty))
            tid = orders.next_trade_id(pos.symbol)
            mine = ch.apply_fill(acct.id, pos.symbol, side, take, price, False, pos.side, now, fee=False,
                                 execution="LIQUIDATION", release_isolated=False, trade_id=tid, order_id=order_id)
            events += mine
            events.append(orders.liquidation_fill(order_id, take, price, mine[-2], tid, now))
            adl_oid = self._order_id()
            ps = e.position_side
            adl = ch.apply_fill(e.account_id, pos.symbol, other_side, take, price, True, ps, now,
                                fee=False, execution="ADL", trade_id=tid, order_id=adl_oid)
            realized = sum(x.realized_pnl for x in adl if isinstance(x, TradeSettled))
            events += adl
            events += orders.adl_order(adl_oid, e.account_id, pos.symbol, other_side, adl[-2].position_side, take,
                                       price, adl[-2], tid, now)
            events.append(AdlRecord(now, e.account_id, pos.symbol, ps, other_side, take, price, realized,
                                    acct.id, adl_oid))
            counterparties.append((e.account_id, e.position_side, take))
            qty -= take
        return events, qty, counterparties

    def _order_id(self) -> int:
        """An order id for a close that has no order of its own (ADL), from the order layer's counter."""
        orders = self.ex.orders
        orders.next_order_id += 1
        return orders.next_order_id

    def insurance_share(self, acct, wallet, symbol: str, release_to=None) -> list:
        """After a full liquidation: the configured share of what is left goes to the fund, the rest
        (isolated) back to the cross wallet; a deficit is covered by the fund."""
        ch = self.ch
        fund_wallet = ch.user_wallet(self.ex.insurance_account(wallet.asset), FUTURES, wallet.asset)
        events = self.negative_balance_protection(acct.id, wallet, symbol)
        left = wallet.balance
        if left > 0:
            share = mul(left, self.ex.config.waterfall.leftover_to_insurance)
            if share:
                events += self._to_fund(wallet, fund_wallet, share, acct.id, symbol, "LEFTOVER", "INSURANCE_CLEAR")
        if release_to is not None and wallet.balance:
            amount = wallet.balance
            ch.ledger.move(wallet, release_to, amount)
            events.append(ch._changed(acct.id, wallet, -amount, "ISOLATED_MARGIN", symbol, self.ex.now))
        return events

    def protect_negative_balances(self, account_id: int) -> list:
        """After a command: wallets below zero with nothing left to liquidate are brought to zero."""
        ch = self.ch
        acct = ch.accounts.get(account_id)
        if acct is None or account_id < 0:
            return []
        events = []
        cross_assets = {ch.instruments[p.symbol].margin_asset for p in acct.open_positions() if p.wallet is None}
        for (symbol, _side), pos in sorted(acct.positions.items()):
            if pos.wallet is not None and not pos.qty and pos.wallet.balance < 0:
                events += self.negative_balance_protection(account_id, pos.wallet, symbol)
        for asset in sorted({ins.margin_asset for ins in ch.instruments.values()} - cross_assets):
            w = ch.ledger.wallets.get((FUTURES, account_id, asset))
            if w is not None and w.balance < 0:
                events += self.negative_balance_protection(account_id, w, "")
        return events

    def negative_balance_protection(self, account_id: int, wallet, symbol: str) -> list:
        """No account ends below zero: the insurance fund brings the wallet back to zero [P]."""
        if wallet.balance >= 0:
            return []
        ch = self.ch
        fund_wallet = ch.user_wallet(self.ex.insurance_account(wallet.asset), FUTURES, wallet.asset)
        amount = -wallet.balance
        ch.ledger.move(fund_wallet, wallet, amount)
        return [ch._changed(account_id, wallet, amount, "INSURANCE_CLEAR", symbol, self.ex.now),
                InsuranceFundChanged(wallet.asset, -amount, fund_wallet.balance, "NEGATIVE_BALANCE", account_id,
                                     symbol, self.ex.now)]

    def _to_fund(self, wallet, fund_wallet, amount: int, account_id: int, symbol: str, why: str, income: str) -> list:
        ch = self.ch
        ch.ledger.move(wallet, fund_wallet, amount)
        return [ch._changed(account_id, wallet, -amount, income, symbol, self.ex.now),
                InsuranceFundChanged(wallet.asset, amount, fund_wallet.balance, why, account_id, symbol, self.ex.now)]
