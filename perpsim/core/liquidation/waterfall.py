"""The liquidation waterfall: an ordered list of named, parameterised steps (``STEPS``).

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

Steps 1 and 6 act on the scope; steps 2-5 and 7 on each of its positions in turn, each a small
function of a ``PositionLiquidation`` (what the earlier steps found and did), then ``record``
writes the LiquidationRecord. Cross accounts with several positions are liquidated position by
position, largest maintenance margin first, re-checking the account after each [I]. The waterfall
works on a narrow ``WaterfallVenue``: the clearing house, the order layer, the insurance funds,
the time and its configuration; never on the whole exchange. Every choice [I] is a venue setting
(``WaterfallConfig`` in config.py, with its default); docs/choices.md gives the evidence.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

from ..clearing import ClearingHouse
from ..config import WaterfallConfig, defaults
from ..events import AdlRecord, InsuranceFundChanged, LiquidationRecord, TradeSettled
from ..fixed import SCALE, ceil_div, mul
from ..ledger import FUTURES
from ..margin import Leg, bankruptcy_price, is_liquidatable, notional, unrealized_pnl
from ..positions import LONG, SHORT, Position
from .adl_walk import adl_walk

#: the waterfall's settings and defaults (config.py: WaterfallConfig, with their evidence)
DEFAULTS = defaults(WaterfallConfig)


class WaterfallVenue(NamedTuple):
    """What the waterfall works on."""

    clearing: ClearingHouse
    orders: object                             # the order layer (orders.OrderManager)
    insurance_account: Callable[[str], int]    # margin asset -> the fund's account id (created if need be)
    now: int
    config: WaterfallConfig


@dataclasses.dataclass
class PositionLiquidation:
    """One position on its way through the waterfall: what each step found and did."""

    acct: object
    pos: Position
    fund: int                  # the insurance fund's account
    fund_wallet: object
    fund_before: int
    figures: object            # the position's figures before the liquidation (PositionFigures)
    long: bool
    total: int                 # the position's size when the liquidation started
    limit: int                 # the liquidation order's limit: the bankruptcy price on the tick
    wallet: object             # what pays: the isolated margin or the cross wallet
    qty: int = 0               # what the liquidation order asks for (partial or all)
    order_id: int = 0
    book_qty: int = 0
    book_value: int = 0
    realized: int = 0
    fee: int = 0
    partial: bool = False      # a partial liquidation restored the margin: the rest stays open
    exec_price: int = 0        # where the rest is closed outside the book
    insurance_qty: int = 0
    adl_qty: int = 0
    counterparties: list = dataclasses.field(default_factory=list)
    events: list = dataclasses.field(default_factory=list)

    @property
    def close_side(self) -> str:
        return "SELL" if self.long else "BUY"


def _to_tick(price: int, tick: int, up: bool) -> int:
    """A price on the tick, rounded in the liquidated trader's favour (never worse than bankruptcy)."""
    return max(tick, ceil_div(price, tick) * tick if up else price // tick * tick)


# ---------------------------------------------------------------------- the steps of one position
def liquidation_order(w: Liquidator, p: PositionLiquidation) -> None:
    """One IOC order limited at the bankruptcy price through the book: for a position above the first
    tier (``partial_liquidation``), only what brings the margin ratio to ``partial_target_ratio``."""
    pos = p.pos
    p.qty = w.partial_qty(p.acct, pos) if w.partial_allowed(pos) else p.total
    book = w.orders.liquidation_order(p.acct.id, pos.symbol, p.close_side, pos.side, p.qty, p.limit, w.now)
    p.order_id = book[0].order_id          # its NEW update comes first
    p.events += book
    fills = [e for e in book if isinstance(e, TradeSettled) and e.account_id == p.acct.id]
    p.book_qty = sum(e.qty for e in fills)
    p.book_value = sum(mul(e.qty, e.price) for e in fills)
    p.realized = sum(e.realized_pnl for e in fills)


def clearance_fee(w: Liquidator, p: PositionLiquidation) -> None:
    """``liquidationFee`` x the liquidated notional, to the insurance fund, capped at the equity the scope
    keeps once the rest is closed at the bankruptcy price: the surplus the book fills earned over it.
    A partial liquidation that leaves the scope compliant ends the waterfall for this position."""
    ch, pos = w.ch, p.pos
    ins = ch.instruments[pos.symbol]
    rest = abs(pos.qty)
    mb, mm = w.scope_figures(p.acct, pos)
    mark = ch.mark(pos.symbol)
    attempt_partial = p.qty < p.total
    if attempt_partial:
        cap, value = mb, p.book_value
    else:
        cap = mb - mul(rest, (mark - p.limit) if p.long else (p.limit - mark))
        value = p.book_value + mul(rest, p.limit)
    p.fee = max(0, min(mul(value, ins.liquidation_fee), cap))
    if p.fee:
        p.events += w.to_fund(p.wallet, p.fund_wallet, p.fee, p.acct.id, pos.symbol, "CLEARANCE_FEE",
                              "INSURANCE_CLEAR")
    mb, mm = w.scope_figures(p.acct, pos)
    p.partial = attempt_partial and bool(p.book_qty) and not is_liquidatable(mm, mb)
    p.exec_price = p.limit
    if not p.partial and pos.qty and attempt_partial:
        # the partial order did not restore the margin: the rest closes in full, at its own bankruptcy price
        p.exec_price = _to_tick(w.bankruptcy(p.acct, pos) or p.limit, ins.tick_size, up=p.long)


def insurance_takeover(w: Liquidator, p: PositionLiquidation) -> None:
    """The fund takes the rest over at the bankruptcy price if its net notional stays within
    ``insurance_capacity_ratio`` x the fund."""
    pos = p.pos
    if p.partial or not pos.qty or not w.fund_can_take(p.fund, pos.symbol, pos.qty, p.exec_price):
        return
    rest = abs(pos.qty)
    evs = w.take_over(p.acct, pos, p.fund, rest, p.exec_price, p.order_id)
    p.insurance_qty = rest
    _closed_outside_the_book(p, evs)


def auto_deleverage(w: Liquidator, p: PositionLiquidation) -> None:
    """Otherwise the opposite side's ADL queue takes the rest at the bankruptcy price, without fee; if
    the queue runs dry the fund takes what is left [I]."""
    pos = p.pos
    if p.partial or not pos.qty:
        return
    rest = abs(pos.qty)
    evs, left, p.counterparties = w.deleverage(p.acct, pos, rest, p.exec_price, p.order_id)
    p.adl_qty = rest - left
    if left:
        evs += w.take_over(p.acct, pos, p.fund, left, p.exec_price, p.order_id)
        p.insurance_qty = left
    _closed_outside_the_book(p, evs)


def _closed_outside_the_book(p: PositionLiquidation, evs: list) -> None:
    p.events += evs
    p.realized += sum(e.realized_pnl for e in evs if isinstance(e, TradeSettled) and e.account_id == p.acct.id)


def negative_balance_protection(w: Liquidator, p: PositionLiquidation) -> None:
    """No account ends below zero: the insurance fund brings the wallet back to zero [P]."""
    p.events += w.cover_negative(p.acct.id, p.wallet, p.pos.symbol)


def record(w: Liquidator, p: PositionLiquidation) -> None:
    """The order layer follows the positions that moved outside the book; the liquidation order is
    finished; the LiquidationRecord tells what happened."""
    pos, ch = p.pos, w.ch
    asset = ch.instruments[pos.symbol].margin_asset
    if p.insurance_qty or p.adl_qty:
        for other in sorted({p.acct.id, p.fund} | {c[0] for c in p.counterparties}):
            p.events += w.orders.on_position_change(other, pos.symbol, w.now)
    w.orders.finish_liquidation(p.order_id, p.events, w.now)
    closed = p.book_qty + p.insurance_qty + p.adl_qty
    avg = (p.book_value + mul(p.insurance_qty + p.adl_qty, p.exec_price)) * SCALE // closed if closed else p.limit
    fig = p.figures
    p.events.append(LiquidationRecord(
        w.now, p.acct.id, pos.symbol, p.close_side, pos.side, "ISOLATED" if pos.wallet is not None else "CROSSED",
        fig.leverage, fig.entry_price, fig.mark_price, fig.liquidation_price, fig.bankruptcy_price, avg,
        closed, p.book_qty, p.insurance_qty, p.adl_qty, p.fee - p.realized, p.fee, p.fund_wallet.balance - p.fund_before,
        ch.balance(p.acct.id, FUTURES, asset), p.partial, tuple(p.counterparties), p.order_id))


#: the steps of one position, in order (1 ``cancel_orders`` and 6 ``insurance_share`` act on the scope)
POSITION_STEPS = (liquidation_order, clearance_fee, insurance_takeover, auto_deleverage,
                  negative_balance_protection, record)
STEPS = ("cancel_orders", *(f.__name__ for f in POSITION_STEPS[:-1]), "insurance_share")


class Liquidator:
    """Runs the waterfall on a ``WaterfallVenue``."""

    def __init__(self, venue: WaterfallVenue):
        self.ch = venue.clearing
        self.orders = venue.orders
        self.insurance_account = venue.insurance_account
        self.now = venue.now
        self.config = venue.config

    # ------------------------------------------------------------------ the procedure
    def liquidate(self, account_id: int, kind: str, key: str, position_side: str) -> list:
        """Liquidate one scope (as the detector reports it) until it is compliant or flat."""
        ch = self.ch
        acct = ch.accounts[account_id]
        positions = self.scope_positions(acct, kind, key, position_side)
        # a scope the detector reported may be compliant or flat by now (a stop that fired on the same
        # mark, an earlier liquidation's ADL): it keeps its orders and its margin
        mb, mm = self.scope_figures(acct, positions[0]) if positions else (0, 0)
        if not is_liquidatable(mm, mb):
            return []
        events = self.cancel_orders(account_id, key if kind == "ISOLATED" else None)
        full = True
        for pos in positions:
            mb, mm = self.scope_figures(acct, pos)
            if not is_liquidatable(mm, mb):
                full = False
                break
            p = self.start(acct, pos)
            for step in POSITION_STEPS:
                step(self, p)
            events += p.events
            if p.partial:
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

    def start(self, acct, pos: Position) -> PositionLiquidation:
        ch = self.ch
        ins = ch.instruments[pos.symbol]
        asset = ins.margin_asset
        fund = self.insurance_account(asset)
        fund_wallet = ch.user_wallet(fund, FUTURES, asset)
        fig = ch.position_figures(pos)
        long = pos.qty > 0
        return PositionLiquidation(
            acct, pos, fund, fund_wallet, fund_wallet.balance, fig, long, abs(pos.qty),
            _to_tick(self.bankruptcy(acct, pos) or fig.mark_price, ins.tick_size, up=long),
            pos.wallet if pos.wallet is not None else ch.user_wallet(acct.id, FUTURES, asset))

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

    def bankruptcy(self, acct, pos: Position) -> int | None:
        ch = self.ch
        legs = [Leg(pos.qty, pos.cost, ch.table(pos.symbol))]
        if pos.wallet is not None:
            return bankruptcy_price(pos.wallet.balance, legs)
        asset = ch.instruments[pos.symbol].margin_asset
        others = sum(unrealized_pnl(p.qty, p.cost, ch.mark(p.symbol) or p.entry_price)
                     for p in acct.open_positions()
                     if p is not pos and p.wallet is None and ch.instruments[p.symbol].margin_asset == asset)
        return bankruptcy_price(ch.balance(acct.id, FUTURES, asset), legs, others)

    # ------------------------------------------------------------------ the scope's steps
    def cancel_orders(self, account_id: int, symbol: str | None) -> list:
        """Cancel the scope's open orders [P] (the symbol's for isolated, all for cross [I])."""
        return self.orders.cancel_for_liquidation(account_id, symbol, self.now)

    def insurance_share(self, acct, wallet, symbol: str, release_to=None) -> list:
        """After a full liquidation: the configured share of what is left goes to the fund, the rest
        (isolated) back to the cross wallet; a deficit is covered by the fund."""
        ch = self.ch
        fund_wallet = ch.user_wallet(self.insurance_account(wallet.asset), FUTURES, wallet.asset)
        events = self.cover_negative(acct.id, wallet, symbol)
        left = wallet.balance
        if left > 0:
            share = mul(left, self.config.leftover_to_insurance)
            if share:
                events += self.to_fund(wallet, fund_wallet, share, acct.id, symbol, "LEFTOVER", "INSURANCE_CLEAR")
        if release_to is not None and wallet.balance:
            amount = wallet.balance
            ch.ledger.move(wallet, release_to, amount)
            events.append(ch._changed(acct.id, wallet, -amount, "ISOLATED_MARGIN", symbol, self.now))
        return events

    # ------------------------------------------------------------------ what the steps use
    def partial_allowed(self, pos: Position) -> bool:
        if not self.config.partial_liquidation:
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
        target = self.config.partial_target_ratio
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
        cap = mul(max(0, f.margin_balance), self.config.insurance_capacity_ratio)
        return notional(after, ch.mark(symbol) or price) <= cap

    def take_over(self, acct, pos: Position, fund: int, qty: int, price: int, order_id: int) -> list:
        """The fund takes ``qty`` over at ``price``: a fill of the liquidation order ``order_id``."""
        ch, now, orders = self.ch, self.now, self.orders
        side = "SELL" if pos.qty > 0 else "BUY"
        tid = orders.next_trade_id(pos.symbol)
        events = ch.apply_fill(acct.id, pos.symbol, side, qty, price, False, pos.side, now, fee=False,
                               execution="LIQUIDATION", release_isolated=False, trade_id=tid, order_id=order_id)
        settled = events[-2]
        events += ch.apply_fill(fund, pos.symbol, "BUY" if side == "SELL" else "SELL", qty, price, True, None, now,
                                fee=False, execution="INSURANCE", trade_id=tid)
        events.append(orders.liquidation_fill(order_id, qty, price, settled, tid, now))
        return events

    def deleverage(self, acct, pos: Position, qty: int, price: int, order_id: int) -> tuple[list, int, list]:
        """Close ``qty`` against the opposite side's ADL queue at ``price`` (no fee): each close is a
        fill of the liquidation order ``order_id`` and of the counterparty's own ADL order.
        Returns (events, what the queue could not take, [(account, position side, qty)])."""
        ch, now, orders = self.ch, self.now, self.orders
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
        self.orders.next_order_id += 1
        return self.orders.next_order_id

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
                events += self.cover_negative(account_id, pos.wallet, symbol)
        for asset in sorted({ins.margin_asset for ins in ch.instruments.values()} - cross_assets):
            w = ch.ledger.wallets.get((FUTURES, account_id, asset))
            if w is not None and w.balance < 0:
                events += self.cover_negative(account_id, w, "")
        return events

    def cover_negative(self, account_id: int, wallet, symbol: str) -> list:
        """Negative-balance protection: a wallet below zero is brought back to zero by the fund [P]."""
        if wallet.balance >= 0:
            return []
        ch = self.ch
        fund_wallet = ch.user_wallet(self.insurance_account(wallet.asset), FUTURES, wallet.asset)
        amount = -wallet.balance
        ch.ledger.move(fund_wallet, wallet, amount)
        return [ch._changed(account_id, wallet, amount, "INSURANCE_CLEAR", symbol, self.now),
                InsuranceFundChanged(wallet.asset, -amount, fund_wallet.balance, "NEGATIVE_BALANCE", account_id,
                                     symbol, self.now)]

    def to_fund(self, wallet, fund_wallet, amount: int, account_id: int, symbol: str, why: str, income: str) -> list:
        ch = self.ch
        ch.ledger.move(wallet, fund_wallet, amount)
        return [ch._changed(account_id, wallet, -amount, income, symbol, self.now),
                InsuranceFundChanged(wallet.asset, amount, fund_wallet.balance, why, account_id, symbol, self.now)]
