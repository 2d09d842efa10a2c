"""The risk calculator behind ``perpsim calc``: one JSON document in, one out.

It answers what a trader asks before opening: liquidation and bankruptcy price, margin
figures, price move to liquidation, break-even price, and the cost to open an order, with
the formulas of ``margin.py``. Input numbers may be JSON numbers or decimal strings.
Every bad field raises ``CalcError`` naming the field.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .fixed import fmt, mul, parse
from .instruments import DEFAULT_LEVERAGE, Bracket, BracketTable, Instrument, default_instruments
from .margin import (UNBOUNDED, Leg, bankruptcy_price, break_even_price, cost_to_open, initial_margin,
                     liquidation_price, margin_ratio, notional, pinned_table, price_move_to_liquidation, unrealized_pnl)

DEFAULT_FEE_RATE = "0.0005"  # VIP 0 taker rate, for the break-even price


class CalcError(ValueError):
    """A bad input field: ``field`` names it, the message says what is wrong."""

    def __init__(self, field: str, msg: str):
        super().__init__(f"{field}: {msg}")
        self.field = field


@dataclass(slots=True)
class _Pos:
    symbol: str
    side: str
    qty: int          # signed
    cost: int
    mark: int
    leverage: int | None
    table: BracketTable
    isolated_wallet: int | None


def _num(doc: dict, key: str, where: str, required: bool = True, positive: bool = False, default=None) -> int | None:
    if key not in doc or doc[key] is None:
        if required:
            raise CalcError(f"{where}{key}", "is required")
        return default
    try:
        value = parse(doc[key], f"{where}{key}")
    except ValueError as e:
        raise CalcError(f"{where}{key}", str(e).split(": ", 1)[-1]) from None
    if positive and value <= 0:
        raise CalcError(f"{where}{key}", "must be positive")
    return value


def _int(doc: dict, key: str, where: str, lo: int, hi: int) -> int | None:
    if key not in doc or doc[key] is None:
        return None
    v = doc[key]
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v.strip())
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise CalcError(f"{where}{key}", f"must be a whole number from {lo} to {hi}")
    return v


def _choice(doc: dict, key: str, where: str, choices: tuple[str, ...], default: str | None = None) -> str:
    v = doc.get(key, default)
    if v not in choices:
        raise CalcError(f"{where}{key}", f"must be one of {', '.join(choices)}")
    return v


def _table(p: dict, where: str, instruments: dict[str, Instrument], as_of: dt.date | None) -> BracketTable:
    if p.get("mmr") is not None:
        mmr = _num(p, "mmr", where)
        if not 0 <= mmr < parse(1):
            raise CalcError(f"{where}mmr", "must be in [0, 1)")
        return pinned_table(mmr, _num(p, "maintenance_amount", where, required=False, default=0))
    if p.get("brackets") is not None:
        rows = p["brackets"]
        if not isinstance(rows, list) or not rows:
            raise CalcError(f"{where}brackets", "must be a non-empty list")
        brackets, prev = [], None
        for i, r in enumerate(rows):
            w = f"{where}brackets[{i}]."
            if not isinstance(r, dict):
                raise CalcError(w[:-1], "must be an object")
            floor, cap, mmr = _num(r, "floor", w), _num(r, "cap", w, required=False, default=UNBOUNDED), _num(r, "mmr", w)
            derived = 0 if prev is None else prev.cum + mul(floor, mmr - prev.mmr)
            cum = _num(r, "maintenance_amount", w, required=False, default=derived)
            lev = _int(r, "max_leverage", w, 1, 1000) or 125
            prev = Bracket(i + 1, floor, cap, mmr, cum, lev)
            brackets.append(prev)
        try:
            return BracketTable(tuple(brackets), source="input")
        except ValueError as e:
            raise CalcError(f"{where}brackets", str(e)) from None
    symbol = p.get("symbol")
    if symbol is None:
        raise CalcError(f"{where}symbol", "is required unless mmr and maintenance_amount or brackets are given")
    if symbol not in instruments:
        raise CalcError(f"{where}symbol", f"unknown symbol {symbol!r}; give mmr and maintenance_amount or brackets")
    return instruments[symbol].brackets_at(as_of)


def calculate(doc: object, instruments: dict[str, Instrument] | None = None) -> dict:
    """Evaluate one calculator document (see the README's ``perpsim calc`` section)."""
    if not isinstance(doc, dict):
        raise CalcError("document", "must be a JSON object")
    instruments = instruments if instruments is not None else default_instruments()
    margin_type = _choice(doc, "margin_type", "", ("cross", "isolated"))
    mode = _choice(doc, "position_mode", "", ("one-way", "hedge"), "one-way")
    wallet = _num(doc, "wallet_balance", "")
    fee_rate = _num(doc, "fee_rate", "", required=False, default=parse(DEFAULT_FEE_RATE))
    as_of = None
    if doc.get("as_of") is not None:
        try:
            as_of = dt.date.fromisoformat(str(doc["as_of"]))
        except ValueError:
            raise CalcError("as_of", "must be a date YYYY-MM-DD") from None
    raw_positions = doc.get("positions", [])
    raw_orders = doc.get("orders", [])
    if not isinstance(raw_positions, list):
        raise CalcError("positions", "must be a list")
    if not isinstance(raw_orders, list):
        raise CalcError("orders", "must be a list")
    positions = [_position(p, i, instruments, as_of) for i, p in enumerate(raw_positions)]
    seen = set()
    for i, p in enumerate(positions):
        key = (p.symbol, p.side) if mode == "hedge" else p.symbol
        if key in seen:
            raise CalcError(f"positions[{i}]", "duplicates another position of the same symbol and side")
        seen.add(key)
    if margin_type == "isolated" and len(positions) > 1 and any(p.isolated_wallet is None for p in positions):
        raise CalcError("positions", "each isolated position needs its own isolated_wallet when there are several")

    out_positions, total_mm, total_upnl, total_mb, total_im = [], 0, 0, 0, 0
    im_known = True
    for i, p in enumerate(positions):
        n = notional(p.qty, p.mark)
        b = p.table.for_notional(n)
        mm = mul(n, b.mmr) - b.cum
        upnl = unrealized_pnl(p.qty, p.cost, p.mark)
        im = initial_margin(n, p.leverage) if p.leverage else None
        if margin_type == "isolated":
            iw = p.isolated_wallet if p.isolated_wallet is not None else wallet
            legs = [Leg(p.qty, p.cost, p.table)]
            lp, bp = liquidation_price(iw, legs), bankruptcy_price(iw, legs)
            total_mb += iw + upnl
        else:
            same = [q for q in positions if q.symbol == p.symbol]
            others = [q for q in positions if q.symbol != p.symbol]
            legs = [Leg(q.qty, q.cost, q.table) for q in same]
            o_mm = sum(q.table.maint_margin(notional(q.qty, q.mark)) for q in others)
            o_upnl = sum(unrealized_pnl(q.qty, q.cost, q.mark) for q in others)
            lp, bp = liquidation_price(wallet, legs, o_mm, o_upnl), bankruptcy_price(wallet, legs, o_upnl)
        total_mm += mm
        total_upnl += upnl
        if im is None:
            im_known = False
        else:
            total_im += im
        move = price_move_to_liquidation(p.qty, p.mark, lp)
        out_positions.append({
            "symbol": p.symbol, "side": p.side, "notional": fmt(n), "unrealized_pnl": fmt(upnl),
            "initial_margin": None if im is None else fmt(im), "maintenance_margin": fmt(mm),
            "mmr": fmt(b.mmr), "maintenance_amount": fmt(b.cum),
            "liquidation_price": None if lp is None else fmt(lp),
            "bankruptcy_price": None if bp is None else fmt(bp),
            "price_move_to_liquidation_pct": None if move is None else fmt(move),
            "break_even_price": fmt(break_even_price(p.qty, p.cost, fee_rate)),
        })
    if margin_type == "cross":
        total_mb = wallet + total_upnl
        available = max(0, total_mb - total_im) if im_known else None
    else:
        if not positions:
            total_mb = wallet
        available = None
    mr = margin_ratio(total_mm, total_mb)
    account = {"margin_balance": fmt(total_mb), "maintenance_margin": fmt(total_mm),
               "margin_ratio": None if mr is None else fmt(mr),
               "available_balance": None if available is None else fmt(available)}
    return {"positions": out_positions, "account": account,
            "orders": [_order(o, i, instruments) for i, o in enumerate(raw_orders)]}


def _position(p: object, i: int, instruments: dict[str, Instrument], as_of: dt.date | None) -> _Pos:
    where = f"positions[{i}]."
    if not isinstance(p, dict):
        raise CalcError(where[:-1], "must be an object")
    side = _choice(p, "side", where, ("LONG", "SHORT"))
    qty = _num(p, "quantity", where, positive=True)
    ep = _num(p, "entry_price", where, positive=True)
    mark = _num(p, "mark_price", where, required=False, positive=True, default=ep)
    leverage = _int(p, "leverage", where, 1, 1000)
    table = _table(p, where, instruments, as_of)
    iw = _num(p, "isolated_wallet", where, required=False)
    signed = qty if side == "LONG" else -qty
    symbol = p.get("symbol") or f"#{i}"
    return _Pos(str(symbol), side, signed, mul(signed, ep), mark, leverage, table, iw)


def _order(o: object, i: int, instruments: dict[str, Instrument]) -> dict:
    where = f"orders[{i}]."
    if not isinstance(o, dict):
        raise CalcError(where[:-1], "must be an object")
    side = _choice(o, "side", where, ("BUY", "SELL"))
    kind = _choice(o, "type", where, ("LIMIT", "MARKET"), "LIMIT")
    qty = _num(o, "quantity", where, positive=True)
    mark = _num(o, "mark_price", where, required=kind == "MARKET" and "price" not in o, positive=True)
    price = _num(o, "price", where, required=kind == "LIMIT", positive=True, default=mark)
    mark = mark if mark is not None else price
    leverage = _int(o, "leverage", where, 1, 1000) or DEFAULT_LEVERAGE
    im, loss, cost = cost_to_open(qty, 1 if side == "BUY" else -1, price, mark, leverage)
    return {"symbol": o.get("symbol"), "initial_margin": fmt(im), "open_loss": fmt(loss), "cost": fmt(cost)}

