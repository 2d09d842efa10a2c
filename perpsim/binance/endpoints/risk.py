"""GET /perpsim/v1/marginRatio: the margin ratio of each position and of the cross account, which
Binance's app shows but its API leaves to the client (margin ratio = maintenance margin / margin balance;
liquidation at 100%, "How to Check Futures Wallet Balance" and "Liquidation Protocols" on Binance's FAQ).
Read-only; the clearing house computes, this module translates."""
from __future__ import annotations

from perpsim.core.fixed import fmt_plain

from .. import shapes
from ..routes import SIGNED, endpoint


def _dec(units) -> str | None:
    return None if units is None else fmt_plain(units)


@endpoint("GET", "/perpsim/v1/marginRatio", SIGNED, weight=5)
async def margin_ratio(ctx):
    """Per open position (isolated: its own margin; cross: the account's cross margin) and per margin asset
    of the cross account: margin balance, maintenance margin, margin ratio (a fraction of 1), and the
    position's liquidation and mark prices at the symbol's price precision, as positionRisk gives them."""
    def read(ex):
        ch = ex.clearing
        acct = ch.account(ctx.account_id)
        cross, positions = {}, []
        for p in sorted(acct.open_positions(), key=lambda p: (p.symbol, p.side)):
            asset = ch.instruments[p.symbol].margin_asset
            if asset not in cross:
                cf = ch.cross_figures(ctx.account_id, asset)
                cross[asset] = {"asset": asset, "marginBalance": _dec(cf.margin_balance),
                                "maintMargin": _dec(cf.maint_margin), "marginRatio": _dec(cf.margin_ratio)}
            f = ch.position_figures(p)
            if f.isolated:
                mb, mr = f.isolated_wallet + f.unrealized_pnl, f.margin_ratio
            else:
                mb, mr = cross[asset]["marginBalance"], cross[asset]["marginRatio"]
            positions.append({"symbol": p.symbol, "positionSide": p.side,
                              "marginType": "ISOLATED" if f.isolated else "CROSSED",
                              "marginBalance": _dec(mb) if isinstance(mb, int) else mb,
                              "maintMargin": _dec(f.maint_margin),
                              "marginRatio": _dec(mr) if isinstance(mr, int) or mr is None else mr,
                              "liquidationPrice": (None if f.liquidation_price is None
                                                   else shapes.price(ch.instruments[p.symbol], f.liquidation_price)),
                              "markPrice": shapes.price(ch.instruments[p.symbol], f.mark_price)})
        return {"positions": positions, "cross": list(cross.values())}
    return ctx.service.read(read)
