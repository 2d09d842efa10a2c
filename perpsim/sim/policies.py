"""Behaviour after a loss: the death spirals as named policies on the strategy interface.

After a liquidation closes a position in full, a trader following

* ``reenter_double`` deposits twice the margin the position had and re-enters the same direction
  at the same leverage ("win it back at once");
* ``raise_leverage`` deposits the same margin again and re-enters the same direction at double
  the leverage (capped by the bracket table);
* ``flip`` deposits the same margin and enters the opposite direction at the same leverage;
* ``walk_away`` stops.

Each waits ``behaviour.delay_ticks`` (drawn per loss) and spirals at most ``behaviour.max_rounds``
times. A re-entry is a MARKET order through the book, so it moves the last price like any order.
The margin of the lost position is its entry notional / leverage (the review's "margin"; its
"actual loss rate" is the loss over it).
"""
from __future__ import annotations

from ..core.fixed import SCALE
from .population import draw
from .strategy import Context, Strategy


class AfterLoss(Strategy):
    name = "after_loss"
    margin_factor = 1
    leverage_factor = 1
    flip = False

    def __init__(self, behaviour):
        self.delay = behaviour.delay_ticks
        self.max_rounds = behaviour.max_rounds

    def on_event(self, ctx: Context) -> None:
        for rec in ctx.liquidations:
            if rec.partial or ctx.position(rec.symbol, rec.position_side) is not None:
                continue
            rounds = ctx.state.get("rounds", 0)
            if rounds >= self.max_rounds:
                ctx.state["done"] = True
                continue
            margin = rec.qty * rec.entry_price // SCALE // max(1, rec.leverage)
            long = rec.side == "SELL"
            ctx.state["plan"] = (rec.symbol, rec.position_side, long != self.flip, rec.leverage, margin)
            ctx.wake(int(draw(self.delay, ctx.rng, 1)[0]))

    def on_wake(self, ctx: Context) -> None:
        plan = ctx.state.pop("plan", None)
        if plan is None:
            return
        symbol, ps, long, leverage, margin = plan
        leverage = max(1, min(leverage * self.leverage_factor, ctx.max_leverage(symbol)))
        margin = margin * self.margin_factor
        if margin <= 0:
            return
        ctx.state["rounds"] = ctx.state.get("rounds", 0) + 1
        ctx.deposit(margin)
        ctx.set_leverage(symbol, leverage)
        step = ctx.step_size(symbol)
        qty = margin * leverage * 98 // 100 * SCALE // ctx.mark(symbol) // step * step   # room for the fee
        if qty <= 0:
            return
        position_side = None if ps == "BOTH" else ("LONG" if long else "SHORT")
        ctx.order(symbol, "BUY" if long else "SELL", qty, position_side=position_side)


class ReenterDouble(AfterLoss):
    name = "reenter_double"
    margin_factor = 2


class RaiseLeverage(AfterLoss):
    name = "raise_leverage"
    leverage_factor = 2


class Flip(AfterLoss):
    name = "flip"
    flip = True


POLICY_CLASSES = {"reenter_double": ReenterDouble, "raise_leverage": RaiseLeverage, "flip": Flip}
