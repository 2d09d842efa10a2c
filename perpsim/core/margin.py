"""Binance's margin formulas, as pure functions over fixed-point ints (1e-8 units).

Sources are Binance's FAQ pages (binance.com/en/support/faq/<id>): 360033525271 "Liquidation
Protocols", 360033162192 "Leverage and Margin of USDⓈ-M Futures", b3c689c1f50a44cabb3a84e663b81d93
"How to Calculate Liquidation Price of USDⓈ-M Futures Contracts", 87fa7ee33b574f7084d42bd2ce2e463b
"Cost Required to Open a Position in Perpetual Futures Contracts". A position is described
by its signed quantity ``qty`` (long > 0) and its signed entry value ``cost`` = sum of
qty x fill price over its opening fills, so that ``entry price = cost / qty`` and
``UPNL = qty x mark - cost`` are exact.
"""
from __future__ import annotations

from dataclasses import dataclass

from .fixed import SCALE, div, mul, round_div
from .instruments import Bracket, BracketTable

UNBOUNDED = 10**30  # a notional cap that no position reaches


def notional(qty: int, price: int) -> int:
    """|q| x price (Position-Information-V3 API doc: notional at the given price)."""
    return mul(abs(qty), price)


def entry_price(qty: int, cost: int) -> int:
    """cost / qty, rounded half away from zero to 1e-8; 0 for a flat position."""
    return round_div(cost * SCALE, qty) if qty else 0


def unrealized_pnl(qty: int, cost: int, mark: int) -> int:
    """UPNL = q x (MP - EP) = q x MP - cost (Binance FAQ 360033525271: UPNL at the mark)."""
    return mul(qty, mark) - cost


def initial_margin(notional_value: int, leverage: int) -> int:
    """IM = notional / leverage (Binance FAQ 360033162192)."""
    return round_div(notional_value, leverage)


def margin_ratio(maint: int, margin_balance: int) -> int | None:
    """MR = MM / margin balance (Binance FAQ 360033525271); ``None`` stands for +infinity (balance <= 0)."""
    if margin_balance <= 0:
        return None if maint > 0 or margin_balance < 0 else 0
    return div(maint, margin_balance)


def is_liquidatable(maint: int, margin_balance: int) -> bool:
    """Liquidation when MR >= 100%, i.e. margin balance <= MM, with MM > 0 (Binance FAQ 360033525271; the boundary is our reading)."""
    return maint > 0 and margin_balance <= maint


def pinned_table(mmr: int, cum: int, max_leverage: int = 125) -> BracketTable:
    """A one-tier table for a pinned (MMR, cum), as Binance's worked examples use."""
    return BracketTable((Bracket(1, 0, UNBOUNDED, mmr, cum, max_leverage),), source="pinned")


@dataclass(frozen=True, slots=True)
class Leg:
    """One position leg in a liquidation-price solve."""

    qty: int
    cost: int
    table: BracketTable


def _solve(wallet: int, others_mm: int, others_upnl: int, legs: list[Leg], brackets: list[Bracket]) -> int | None:
    """P from WB + UPNL1 - TMM1 + sum(cum) - sum(cost) = P x (sum(Q x MMR) - sum(q)) (derived from FAQ b3c689c1...'s formula)."""
    num = (wallet - others_mm + others_upnl + sum(b.cum for b in brackets) - sum(l.cost for l in legs)) * SCALE
    den = sum(abs(l.qty) * b.mmr for l, b in zip(legs, brackets)) - sum(l.qty for l in legs) * SCALE
    if den == 0:
        return None
    return round_div(num * SCALE, den)


def liquidation_price(wallet: int, legs: list[Leg], others_mm: int = 0, others_upnl: int = 0) -> int | None:
    """Binance's liquidation price (FAQ b3c689c1f50a44cabb3a84e663b81d93).

    ``wallet`` is the cross wallet balance (cross) or the isolated wallet (isolated);
    ``others_mm``/``others_upnl`` are TMM1/UPNL1 of the account's other cross symbols (0 for
    isolated). The bracket is the one the notional at the liquidation price falls in: every
    tier is tried for a single leg (as that FAQ's bracket rule); two hedge legs are iterated to a fixed point
    from their brackets at entry [D]. ``None`` where there is none ("--" in Binance's UI).
    """
    legs = [l for l in legs if l.qty]
    if not legs:
        return None
    if len(legs) == 1:
        leg = legs[0]
        for b in leg.table.brackets:
            lp = _solve(wallet, others_mm, others_upnl, legs, [b])
            if lp is not None and lp > 0 and leg.table.for_notional(notional(leg.qty, lp)) is b:
                return lp
        return None
    brackets = [l.table.for_notional(abs(l.cost)) for l in legs]
    lp = None
    for _ in range(len(legs) * 16):
        lp = _solve(wallet, others_mm, others_upnl, legs, brackets)
        if lp is None or lp <= 0:
            return None
        chosen = [l.table.for_notional(notional(l.qty, lp)) for l in legs]
        if chosen == brackets:
            break
        brackets = chosen
    return lp


def bankruptcy_price(wallet: int, legs: list[Leg], others_upnl: int = 0) -> int | None:
    """The price at which equity is zero (Binance blog "How a Liquidation Order Is Executed"): the liquidation solve, no MM."""
    legs = [l for l in legs if l.qty]
    if not legs:
        return None
    zero = Bracket(1, 0, UNBOUNDED, 0, 0, 1)
    lp = _solve(wallet, 0, others_upnl, legs, [zero] * len(legs))
    return lp if lp is not None and lp > 0 else None


def price_move_to_liquidation(qty: int, mark: int, liq_price: int | None) -> int | None:
    """How far the mark may move against the position before liquidation, in percent (1e-8 units).

    Long: (MP - LP) / MP x 100; short: (LP - MP) / MP x 100. Negative once past it.
    """
    if liq_price is None or not qty or mark <= 0:
        return None
    move = mark - liq_price if qty > 0 else liq_price - mark
    return round_div(move * 100 * SCALE, mark)


def open_loss(qty: int, side: int, mark: int, order_price: int) -> int:
    """OpenLoss = Qty x |min(0, dir x (MP - OrderPrice))| (FAQ 87fa7ee33b574f7084d42bd2ce2e463b)."""
    return mul(abs(qty), -min(0, side * (mark - order_price)))


def cost_to_open(qty: int, side: int, order_price: int, mark: int, leverage: int) -> tuple[int, int, int]:
    """(initial margin, open loss, cost) of an order (Binance FAQ 87fa7ee33b574f7084d42bd2ce2e463b)."""
    im = initial_margin(notional(qty, order_price), leverage)
    loss = open_loss(qty, side, mark, order_price)
    return im, loss, im + loss


def break_even_price(qty: int, cost: int, fee_rate: int) -> int:
    """Entry price moved by an open and a close commission: EP x (1 +/- 2 x fee rate).

    Binance publishes no formula [X]; this reproduces its API example (entry 60,000,
    breakEvenPrice 60,024 at 0.02%) [I]. See docs/choices.md.
    """
    if not qty:
        return 0
    ep = entry_price(qty, cost)
    sign = 1 if qty > 0 else -1
    return ep + sign * mul(ep, 2 * fee_rate)


def max_notional_ok(table: BracketTable, leverage: int, notional_value: int) -> bool:
    """Position notional within the cap allowed at this leverage (FAQ 360033162192, brackets API doc)."""
    return notional_value <= table.max_notional(leverage)
