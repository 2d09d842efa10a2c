"""Auto-deleveraging: ranking, queue and the 0-4 quantile (Binance FAQ 360033525471, "What is Auto-Deleveraging (ADL)?").

Binance's current rule (FAQ 360033525471, two agreeing transcriptions [S])::

    PnL%              = UnrealizedProfit / |PositionNotional|
    EffectiveLeverage = |PositionNotional| / (WalletBalance + UnrealizedProfit)
    Ranking           = PnL% x EffectiveLeverage   if PnL% >= 0
                      = PnL% / EffectiveLeverage   if PnL% <  0
    Quantile          = rank(Ranking) / TotalUserCount      per symbol and side

so ``Ranking = UPNL / MB`` for a profit and ``UPNL x MB / N^2`` for a loss (MB = wallet + UPNL).
Rankings are exact ``Fraction``s. Choices where Binance publishes nothing [I]:

* ``WalletBalance + UnrealizedProfit`` is the margin balance of the position's scope: an
  isolated position's ``isolatedWallet + UPNL``; for a cross position, the account's
  ``crossWalletBalance + sum of cross UPNL`` of that margin asset ("account level").
* MB <= 0 makes the effective leverage infinite: a profit ranks ``+inf`` (first), a loss ``0``.
* Queue: highest ranking first; ties by account id, then position side (deterministic).
* Quantile: ``q = rank / count`` with ``rank`` = how many positions of the same symbol and side
  rank <= this one (1-based, ties share the higher rank); the light is the quintile ``q`` falls in,
  ``ceil(5 q) - 1`` in 0-4: (0, 20%] -> 0 ... (80%, 100%] -> 4, so the head of the queue shows 4
  and a lone position too. The doc's ``min(4, floor(5 q))`` [I] differs only at bucket edges.
* Cross hedge mode with both LONG and SHORT open: Binance returns one shared value for both,
  "calculated on unrealized pnls on long and short sides' positions" [P, API doc] and the key
  ``HEDGE`` in place of ``BOTH``. Here both legs carry the ranking of the combined position
  (UPNL_L + UPNL_S over N_L + N_S), in their side's population and in the queue; the shared
  quantile is the larger of the two sides'.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction

from ..ledger import FUTURES
from ..margin import notional, unrealized_pnl
from ..positions import BOTH, LONG, SHORT

INF = float("inf")


def adl_ranking(notional_value: int, upnl: int, margin_balance: int) -> Fraction | float:
    """Binance's ranking from a position's notional, its UPNL and its scope's margin balance.

    ``margin_balance`` is WalletBalance + UnrealizedProfit (TV-ADL-1: N 100,000, UPNL +5,000,
    WB 10,000 -> 1/3; TV-ADL-2: UPNL -5,000 -> -1/400).
    """
    n = abs(notional_value)
    if n == 0:
        return Fraction(0)
    if margin_balance <= 0:
        return INF if upnl >= 0 else Fraction(0)
    if upnl >= 0:
        return Fraction(upnl, margin_balance)            # (U/N) x (N/MB)
    return Fraction(upnl * margin_balance, n * n)         # (U/N) / (N/MB)


@dataclass(frozen=True, slots=True)
class AdlEntry:
    """One open position in an ADL population."""

    account_id: int
    symbol: str
    position_side: str      # BOTH, LONG, SHORT
    side: str               # LONG or SHORT (the direction of the position)
    qty: int
    notional: int
    upnl: int
    margin_balance: int
    ranking: Fraction | float
    isolated: bool
    hedge_cross: bool       # cross hedge account holding both legs: shared ranking


def _mark(marks, p) -> int:
    return marks.get(p.symbol) or p.entry_price


def _cross_balance(clearing, acct, asset: str, marks) -> int:
    mb = clearing.ledger.peek((FUTURES, acct.id), asset)
    for p in acct.positions.values():
        if p.qty and p.wallet is None and clearing.instruments[p.symbol].margin_asset == asset:
            mb += unrealized_pnl(p.qty, p.cost, _mark(marks, p))
    return mb


def _entries(clearing, acct, marks, cross_mb: dict) -> list[AdlEntry]:
    out = []
    ins = clearing.instruments
    cross_hedge: dict[str, list] = {}
    for p in acct.positions.values():
        if p.qty and p.wallet is None and p.side in (LONG, SHORT):
            cross_hedge.setdefault(p.symbol, []).append(p)
    for p in acct.positions.values():
        if not p.qty:
            continue
        mp = _mark(marks, p)
        n = notional(p.qty, mp)
        u = unrealized_pnl(p.qty, p.cost, mp)
        if p.wallet is not None:
            mb = p.wallet.balance + u
        else:
            asset = ins[p.symbol].margin_asset
            if asset not in cross_mb:
                cross_mb[asset] = _cross_balance(clearing, acct, asset, marks)
            mb = cross_mb[asset]
        legs = cross_hedge.get(p.symbol, ()) if p.wallet is None else ()
        hedge = len(legs) == 2
        if hedge:
            rn = sum(notional(x.qty, _mark(marks, x)) for x in legs)
            ru = sum(unrealized_pnl(x.qty, x.cost, _mark(marks, x)) for x in legs)
            rank = adl_ranking(rn, ru, mb)
        else:
            rank = adl_ranking(n, u, mb)
        out.append(AdlEntry(acct.id, p.symbol, p.side, LONG if p.qty > 0 else SHORT, p.qty, n, u, mb, rank,
                            p.wallet is not None, hedge))
    return out


def position_ranking(clearing, account_id: int, symbol: str, position_side: str = BOTH,
                     marks: dict[str, int] | None = None) -> Fraction | float | None:
    """The ranking of one open position (``None`` if flat)."""
    marks = clearing.marks if marks is None else marks
    acct = clearing.accounts[account_id]
    for e in _entries(clearing, acct, marks, {}):
        if e.symbol == symbol and e.position_side == position_side:
            return e.ranking
    return None


def population(clearing, symbol: str | None = None, marks: dict[str, int] | None = None) -> list[AdlEntry]:
    """Every open position (of ``symbol``, if given) with its ranking."""
    marks = clearing.marks if marks is None else marks
    out = []
    for acct in clearing.accounts.values():
        if symbol is not None and not any(p.qty and p.symbol == symbol for p in acct.positions.values()):
            continue
        for e in _entries(clearing, acct, marks, {}):
            if symbol is None or e.symbol == symbol:
                out.append(e)
    return out


def _queue_key(e: AdlEntry):
    r = e.ranking
    return (0, 0) if r == INF else (1, -r), e.account_id, e.position_side


def adl_queue(clearing, symbol: str, side: str, marks: dict[str, int] | None = None,
              exclude: set[int] | None = None) -> list[AdlEntry]:
    """Positions of ``symbol`` on ``side`` (LONG or SHORT) in deleveraging order.

    The waterfall asks for the side opposite the bankrupt position (a bankrupt long is matched
    against the shorts' queue) and walks it until the quantity is filled. ``exclude``: account
    ids to skip (e.g. the liquidated account itself).
    """
    if side not in (LONG, SHORT):
        raise ValueError("side: LONG or SHORT")
    es = [e for e in population(clearing, symbol, marks)
          if e.side == side and (exclude is None or e.account_id not in exclude)]
    es.sort(key=_queue_key)
    return es


def _lights(entries: list[AdlEntry]) -> dict[tuple, int]:
    """Per entry (account, position side): ceil(5 x rank / count) - 1, rank = #(ranking <= own)."""
    if not entries:
        return {}
    keys = sorted(((0, 0) if e.ranking == INF else (-1, e.ranking)) for e in entries)
    # ascending: finite rankings first (tag -1), +inf last (tag 0)
    count = len(entries)
    out = {}
    for e in entries:
        k = (0, 0) if e.ranking == INF else (-1, e.ranking)
        rank = bisect_right(keys, k)
        out[(e.account_id, e.position_side)] = (5 * rank - 1) // count
    return out


def adl_quantiles(clearing, symbol: str | None = None,
                  marks: dict[str, int] | None = None) -> dict[int, dict[str, dict[str, int]]]:
    """``GET /fapi/v1/adlQuantile`` for every account.

    ``{account: {symbol: {"LONG": .., "SHORT": .., "BOTH" or "HEDGE": ..}}}``.

    One-way positions report under ``BOTH`` (LONG/SHORT 0); hedge positions under LONG/SHORT
    (BOTH 0); a cross hedge symbol reports ``HEDGE: 0`` as the sign and, when both legs are open,
    one shared value for LONG and SHORT.
    """
    pop = population(clearing, symbol, marks)
    groups: dict[tuple[str, str], list[AdlEntry]] = {}
    for e in pop:
        groups.setdefault((e.symbol, e.side), []).append(e)
    light: dict[tuple, int] = {}
    for (sym, _), es in groups.items():
        for (aid, ps), v in _lights(es).items():
            light[(aid, sym, ps)] = v
    out: dict[int, dict[str, dict[str, int]]] = {}
    for e in pop:
        acct = clearing.accounts[e.account_id]
        row = out.setdefault(e.account_id, {}).get(e.symbol)
        if row is None:
            cross_hedge = acct.hedge_mode and not clearing.config(acct, e.symbol).isolated
            row = {LONG: 0, SHORT: 0, ("HEDGE" if cross_hedge else BOTH): 0}
            out[e.account_id][e.symbol] = row
        v = light[(e.account_id, e.symbol, e.position_side)]
        if e.position_side == BOTH:
            row[BOTH] = v
        elif e.hedge_cross:
            shared = max(v, row[LONG], row[SHORT])
            row[LONG] = row[SHORT] = shared
        else:
            row[e.position_side] = v
    return out
