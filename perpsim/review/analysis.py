"""The post-liquidation review: Binance-API-shaped data in, a dict out (pure; no venue state).

It answers the post-liquidation review questions (what happened, why, what to change) for every liquidation in
the data, from nothing but what Binance's API returns, so it reviews an account on any venue that
speaks this API:

========================  ===============================================================
input key                 shape
========================  ===============================================================
userTrades                GET /fapi/v1/userTrades rows
income                    GET /fapi/v1/income rows (from the account's first transfer)
forceOrders               GET /fapi/v1/forceOrders rows (liquidations; ``adl_autoclose`` = ADL)
klines                    {symbol: GET /fapi/v1/klines rows} (or markPriceKlines)
allOrders                 GET /fapi/v1/allOrders rows (optional: stop-losses)
algoOrders                GET /fapi/v1/allAlgoOrders rows (optional: stop-losses)
configUpdates             [{"symbol", "time", "leverage"?, "marginType"?}] (optional; ACCOUNT_CONFIG_UPDATE
                          and POST /fapi/v1/leverage|marginType answers); without it the leverage is
                          estimated from the move to the liquidation
incidents                 [{"id", "kind", "start", "end", "symbol"}] (optional: the venue's incident log)
========================  ===============================================================

Numbers are read exactly (Decimal from Binance's strings) and written as decimal strings.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

HOUR = 3_600_000
DAY = 24 * HOUR
TRADING_INCOME = ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE", "INSURANCE_CLEAR")
STOP_TYPES = ("STOP", "STOP_MARKET", "TRAILING_STOP_MARKET")
CLOSED_EARLY = ("CANCELED", "EXPIRED", "REJECTED")
ALTERNATIVES = ["Spot DCA: buy BTC/ETH on a fixed schedule, no leverage",
                "Flexible Simple Earn: low risk, collect interest",
                "Launchpool staking: earn airdrops"]

#: Thresholds (docs/choices.md "Trader protection").
DEFAULTS = {
    "ma_period": 20,                 # klines in the moving average at entry
    "impulse_window_ms": 2 * HOUR,   # [I] walk away for 1-2 hours after a liquidation (docs/choices.md)
    "flip_window_ms": DAY,           # a reversal within a day of a loss counts as "in anger"
    "high_leverage": 10,
    "max_share": Decimal("0.20"),    # at most 20% of the account per position
    "quit_liquidations": 3,          # [I] quit signal: liquidated more than three times (docs/choices.md)
}

ZERO = Decimal(0)


def D(v) -> Decimal:
    """A Binance number (string or int) as an exact Decimal; floats are refused."""
    if isinstance(v, bool) or isinstance(v, float):
        raise ValueError(f"not an exact number: {v!r}")
    if v is None or v == "":
        return ZERO
    try:
        return Decimal(str(v) if isinstance(v, int) else v)
    except InvalidOperation:
        raise ValueError(f"not a number: {v!r}") from None


def S(d: Decimal | None, places: int = 8) -> str | None:
    """A Decimal as a plain decimal string (trailing zeros dropped)."""
    if d is None:
        return None
    q = d.quantize(Decimal(1).scaleb(-places))
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _pct(d: Decimal | None) -> str | None:
    return None if d is None else format((d * 100).quantize(Decimal("0.01")), "f") + "%"


def _t(row: dict, *keys) -> int:
    for k in keys:
        v = row.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v:
            return v
    return 0


# ---------------------------------------------------------------------- reconstruction
class Episode:
    """One position from flat to flat (or to the end of the data)."""

    def __init__(self, symbol: str, ps: str, direction: int, t: int):
        self.symbol, self.ps, self.direction, self.open_time = symbol, ps, direction, t
        self.qty = ZERO            # signed
        self.cost = ZERO           # signed entry value of the open quantity
        self.entry_notional = ZERO   # the largest entry value held
        self.realized = ZERO
        self.close_time = 0
        self.liquidations: list[dict] = []
        self.leverage: int | None = None
        self.margin = ZERO
        self.entry_price = ZERO    # the average entry price while open (kept after the close)


def _fills(data: dict) -> list[tuple]:
    """(time, order, symbol, positionSide, signed qty, price, realizedPnl, forceOrder | None) in time order;
    liquidation and ADL closes come from forceOrders, their userTrades rows are skipped."""
    force = data.get("forceOrders") or []
    force_ids = {f.get("orderId") for f in force}
    out = []
    for tr in data.get("userTrades") or []:
        if tr.get("orderId") in force_ids:
            continue
        q = D(tr["qty"])
        out.append((_t(tr, "time"), 0, tr["symbol"], tr.get("positionSide") or "BOTH",
                    q if tr["side"] == "BUY" else -q, D(tr["price"]), D(tr.get("realizedPnl")), None))
    for f in force:
        q = D(f.get("executedQty") or f.get("origQty"))
        out.append((_t(f, "updateTime", "time"), 1, f["symbol"], f.get("positionSide") or "BOTH",
                    q if f["side"] == "BUY" else -q, D(f.get("avgPrice") or f.get("price")), None, f))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


def episodes(data: dict) -> tuple[list[Episode], list[tuple[Episode, dict, Decimal]]]:
    """Positions rebuilt from fills; and each liquidation as (episode, forceOrder, qty before)."""
    open_: dict[tuple, Episode] = {}
    done: list[Episode] = []
    liqs: list[tuple[Episode, dict, Decimal]] = []
    for t, _k, symbol, ps, dq, price, realized, force in _fills(data):
        key = (symbol, ps)
        ep = open_.get(key)
        while dq:
            if ep is None:
                ep = open_[key] = Episode(symbol, ps, 1 if dq > 0 else -1, t)
            if (ep.qty >= 0) == (dq > 0) or not ep.qty:
                ep.qty += dq
                ep.cost += dq * price
                ep.entry_notional = max(ep.entry_notional, abs(ep.cost))
                ep.entry_price = abs(ep.cost / ep.qty)
                if realized:
                    ep.realized += realized
                dq = ZERO
                break
            closing = min(abs(dq), abs(ep.qty))
            signed = closing if dq > 0 else -closing
            released = ep.cost * closing / abs(ep.qty)
            pnl = -(signed * price) - released if realized is None else realized
            if force is not None:
                is_adl = str(force.get("clientOrderId", "")).startswith("adl")
                if not is_adl:
                    liqs.append((ep, force, abs(ep.qty)))
                    ep.liquidations.append(force)
            ep.realized += pnl
            realized = ZERO if realized is not None else None
            ep.qty += signed
            ep.cost -= released
            dq -= signed
            if not ep.qty:
                ep.cost = ZERO
                ep.close_time = t
                done.append(ep)
                del open_[key]
                ep = None
    done += sorted(open_.values(), key=lambda e: e.open_time)
    done.sort(key=lambda e: (e.open_time, e.symbol, e.ps))
    return done, liqs


# ---------------------------------------------------------------------- the review
def _config_at(data: dict, symbol: str, t: int, field: str):
    best = None
    for row in sorted(data.get("configUpdates") or [], key=lambda r: _t(r, "time")):
        if row.get("symbol") == symbol and field in row and _t(row, "time") <= t:
            best = row[field]
    return best


def _wallet(income: list[dict], t: int, inclusive: bool = True) -> Decimal:
    """The futures wallet from the income history: up to ``t``, or (not inclusive) before a position
    opened at ``t`` (transfers in the same millisecond count as before it)."""
    return sum((D(r["income"]) for r in income
                if _t(r, "time") < t or _t(r, "time") == t and (inclusive or r.get("incomeType") == "TRANSFER")), ZERO)


def _invested(income: list[dict], t: int) -> Decimal:
    return sum((D(r["income"]) for r in income if r.get("incomeType") == "TRANSFER" and _t(r, "time") <= t), ZERO)


def _stop_orders(data: dict) -> list[dict]:
    out = []
    for o in list(data.get("allOrders") or []) + list(data.get("algoOrders") or []):
        typ = o.get("orderType") or o.get("origType") or o.get("type")
        if typ not in STOP_TYPES:
            continue
        out.append({"symbol": o.get("symbol"), "side": o.get("side"), "positionSide": o.get("positionSide") or "BOTH",
                    "created": _t(o, "createTime", "time"), "updated": _t(o, "updateTime"),
                    "status": o.get("algoStatus") or o.get("status") or "",
                    "trigger": D(o.get("triggerPrice") or o.get("stopPrice") or 0), "type": typ})
    return out


def _trend(data: dict, symbol: str, t: int, direction: int, entry: Decimal, period: int) -> dict:
    rows = (data.get("klines") or {}).get(symbol) or []
    closes = [D(r[4]) for r in sorted(rows, key=lambda r: r[0]) if r[6] < t]
    if len(closes) < period:
        return {"verdict": "unknown", "movingAverage": None, "period": period,
                "why": f"{len(closes)} klines before entry; {period} needed"}
    ma = sum(closes[-period:], ZERO) / period
    above = entry > ma
    verdict = "with" if (above and direction > 0) or (not above and direction < 0) else "against"
    return {"verdict": verdict, "movingAverage": S(ma, 8), "period": period, "entry": S(entry),
            "why": f"entry {S(entry, 2)} {'above' if above else 'below'} the {period}-kline average {S(ma, 2)} "
                   f"for a {'long' if direction > 0 else 'short'}"}


def review(data: dict, **options) -> dict:
    """Review every liquidation in ``data`` (see the module docstring); pure."""
    o = dict(DEFAULTS, **options)
    income = sorted(data.get("income") or [], key=lambda r: (_t(r, "time"), r.get("tranId") or 0))
    eps, liqs = episodes(data)
    stops = _stop_orders(data)
    incidents = data.get("incidents") or []
    force_times = sorted(_t(f, "updateTime", "time") for _e, f, _q in liqs)

    # leverage and margin of every episode (needed to compare each one with the one before)
    for ep in eps:
        lev = _config_at(data, ep.symbol, ep.open_time, "leverage")
        ep.leverage = int(lev) if lev else None
        if ep.leverage is None and ep.liquidations:
            f = ep.liquidations[0]
            avg = D(f.get("avgPrice") or f.get("price"))
            move = abs(ep.entry_price - avg) if ep.entry_price else ZERO
            if move:
                ep.leverage = max(1, int((ep.entry_price / move).to_integral_value()))
                ep.leverage_estimated = True
        ep.margin = ep.entry_notional / ep.leverage if ep.leverage else ep.entry_notional

    reviews = []
    for n, (ep, f, qty_before) in enumerate(liqs, 1):
        t = _t(f, "updateTime", "time")
        margin_type = _config_at(data, ep.symbol, t, "marginType") or "unknown"
        wallet_before = _wallet(income, ep.open_time, inclusive=False)
        share = ep.margin / wallet_before if wallet_before > 0 else None
        # stop-loss alive while the position was open
        closing = "SELL" if ep.direction > 0 else "BUY"
        mine = [s for s in stops if s["symbol"] == ep.symbol and s["side"] == closing
                and s["positionSide"] in (ep.ps, "BOTH") and s["created"] <= t
                and not (s["status"] in CLOSED_EARLY and s["updated"] and s["updated"] < ep.open_time)]
        avg = D(f.get("avgPrice") or f.get("price"))
        useless = [s for s in mine if s["trigger"] and ((ep.direction > 0 and s["trigger"] <= avg)
                                                        or (ep.direction < 0 and s["trigger"] >= avg))]
        # money: the position's income while it was held
        held = [r for r in income if r.get("symbol") == ep.symbol and ep.open_time <= _t(r, "time") <= t]
        funding = sum((D(r["income"]) for r in held if r.get("incomeType") == "FUNDING_FEE"), ZERO)
        fees = sum((D(r["income"]) for r in held if r.get("incomeType") == "COMMISSION"), ZERO)
        net = sum((D(r["income"]) for r in held if r.get("incomeType") in TRADING_INCOME), ZERO)
        loss = -net
        equity_at_liq = ep.margin - loss
        loss_rate = loss / ep.margin if ep.margin else None
        # planned or impulse: compare with the position closed before this one opened
        prev = [e for e in eps if e is not ep and e.close_time and e.close_time <= ep.open_time]
        before = max(prev, key=lambda e: (e.close_time, e.open_time)) if prev else None
        signals = []
        window = o["impulse_window_ms"]
        recent_liq = [x for x in force_times if ep.open_time - window <= x <= ep.open_time and x < t]
        if recent_liq:
            signals.append({"code": "AFTER_LIQUIDATION", "msg": f"opened {(ep.open_time - recent_liq[-1]) // 60000} "
                            f"min after a liquidation"})
        lost_before = before is not None and (before.realized < 0 or before.liquidations)
        if lost_before and ep.open_time - before.close_time <= window and not recent_liq:
            signals.append({"code": "AFTER_LOSS", "msg": f"opened {(ep.open_time - before.close_time) // 60000} min "
                            f"after a losing close"})
        if lost_before and ep.open_time - before.close_time <= o["flip_window_ms"]:
            if before.direction != ep.direction:
                signals.append({"code": "DIRECTION_FLIPPED", "msg": "opened the opposite direction after a loss "
                                "(\"angrily trade the opposite direction\")"})
            if ep.leverage and before.leverage and ep.leverage > before.leverage:
                signals.append({"code": "LEVERAGE_RAISED", "msg": f"leverage raised {before.leverage}x -> "
                                f"{ep.leverage}x to win it back"})
            if before.margin and ep.margin >= 2 * before.margin:
                signals.append({"code": "SIZE_DOUBLED", "msg": f"margin {S(before.margin, 2)} -> {S(ep.margin, 2)}: "
                                f"doubling after a loss (martingale)"})
            added = sum((D(r["income"]) for r in income if r.get("incomeType") == "TRANSFER"
                         and before.close_time <= _t(r, "time") <= ep.open_time), ZERO)
            if added > 0:
                signals.append({"code": "MARGIN_ADDED", "msg": f"{S(added, 2)} transferred in after the loss to "
                                f"\"win it back\""})
        codes = {s["code"] for s in signals}
        patterns = []
        if codes & {"AFTER_LIQUIDATION", "AFTER_LOSS", "DIRECTION_FLIPPED", "LEVERAGE_RAISED"}:
            patterns.append("revenge")
        if "SIZE_DOUBLED" in codes:
            patterns.append("martingale")
        spiral = [c for c in ("MARGIN_ADDED", "LEVERAGE_RAISED", "DIRECTION_FLIPPED") if c in codes]
        # the appeal question
        inc = next((i for i in incidents if _t(i, "start") <= t <= _t(i, "end")
                    and i.get("symbol", "") in ("", ep.symbol)), None)
        appeal = ({"eligible": True, "incident": inc,
                   "why": f"inside incident {inc.get('id')} ({inc.get('kind')}): an abnormal liquidation may be "
                          f"compensated; file an appeal"} if inc else
                  {"eligible": False, "incident": None,
                   "why": "a normal liquidation: losses from it cannot be appealed or compensated"})
        lev = ep.leverage
        recs = []
        if lev and lev > 1:
            recs.append(f"Halve the leverage: {lev}x -> {max(1, lev // 2)}x or lower.")
        if share is None or share > o["max_share"]:
            recs.append("Put at most 20% of the account into one position.")
        if not mine:
            recs.append("Always set a stop-loss, above the liquidation price for a long (below for a short).")
        elif useless:
            recs.append("The stop-loss was beyond the liquidation price: it could never fire first.")
        if margin_type != "ISOLATED":
            recs.append("Use isolated margin so one position cannot take the whole wallet.")
        if funding < 0 and loss and -funding > loss / 10:
            recs.append("Funding ate a real part of the loss: do not hold leveraged positions long against funding.")
        if signals:
            recs.append("Emotion-driven entry: close the app, walk away 1-2 hours, stop futures for at least a week.")
        triad = [x for x, on in (("leverage too high", bool(lev and lev > o["high_leverage"])),
                                 ("no stop-loss", not mine), ("cross (full) margin", margin_type == "CROSSED")) if on]
        reviews.append({
            "n": n, "time": t, "symbol": ep.symbol, "positionSide": ep.ps,
            "direction": "LONG" if ep.direction > 0 else "SHORT", "openTime": ep.open_time,
            "heldMs": t - ep.open_time, "entryPrice": S(ep.entry_price), "liquidationPrice": S(avg),
            "qty": S(qty_before), "leverage": lev, "leverageEstimated": getattr(ep, "leverage_estimated", False),
            "highLeverage": bool(lev and lev > o["high_leverage"]),
            "marginType": margin_type, "initialMargin": S(ep.margin, 8), "walletBeforeEntry": S(wallet_before),
            "shareOfMargin": _pct(share), "overloaded": share is None or share > o["max_share"],
            "stopLoss": {"set": bool(mine), "beyondLiquidation": bool(useless),
                         "orders": [{"type": s["type"], "trigger": S(s["trigger"]), "status": s["status"]}
                                    for s in mine]},
            "trend": _trend(data, ep.symbol, ep.open_time, ep.direction, ep.entry_price, o["ma_period"]),
            "entry": {"verdict": "impulse" if signals else "planned", "signals": signals, "patterns": patterns,
                      "deathSpiral": spiral},
            "funding": {"paid": S(-funding) if funding < 0 else "0", "received": S(funding) if funding > 0 else "0",
                        "net": S(funding)},
            "fees": S(-fees),
            "loss": S(loss), "equityAtLiquidation": S(equity_at_liq), "lossRate": _pct(loss_rate),
            "typicalFailure": triad,
            "recommendations": recs,
            "appeal": appeal,
        })

    # the cumulative table: position size (margin), total invested, remaining
    table = []
    if reviews:
        first = next(e for e, _f, _q in liqs)
        table.append({"liquidations": 0, "positionMargin": S(first.margin, 2),
                      "totalInvested": S(_invested(income, first.open_time), 2),
                      "remaining": S(_wallet(income, first.open_time, inclusive=False), 2)})
    for r, (ep, f, _q) in zip(reviews, liqs):
        t = r["time"]
        table.append({"liquidations": r["n"], "positionMargin": S(ep.margin, 2),
                      "totalInvested": S(_invested(income, t), 2), "remaining": S(_wallet(income, t), 2)})

    # the quit signals
    quit = []
    if len(reviews) > o["quit_liquidations"]:
        quit.append({"code": "MORE_THAN_THREE_LIQUIDATIONS", "msg": f"liquidated {len(reviews)} times"})
    impulsive = [r for r in reviews if r["entry"]["verdict"] == "impulse"]
    if len(impulsive) >= 2:
        quit.append({"code": "REPEATED_IMPULSE", "msg": f"{len(impulsive)} liquidated positions were opened on "
                     f"impulse right after a loss: a sign of emotions swinging after each liquidation"})
    added = [r for r in reviews if "MARGIN_ADDED" in r["entry"]["deathSpiral"]]
    invested = _invested(income, 10**18)
    wallet_now = _wallet(income, 10**18)
    if added and invested > 0 and wallet_now < invested / 2:
        quit.append({"code": "INVESTED_MORE_AFTER_LOSSES", "msg": f"money added {len(added)} time(s) after "
                     f"liquidations; {S(invested - wallet_now, 2)} of {S(invested, 2)} invested is gone"})
    stop = bool(quit)
    return {
        "liquidations": reviews,
        "cumulative": table,
        "quitSignals": quit,
        "stopTradingFutures": stop,
        "alternatives": ALTERNATIVES if stop else [],
        "summary": {
            "count": len(reviews),
            "totalLoss": S(sum((D(r["loss"]) for r in reviews), ZERO), 2),
            "impulse": len(impulsive),
            "withoutStopLoss": sum(1 for r in reviews if not r["stopLoss"]["set"]),
            "highLeverage": sum(1 for r in reviews if r["highLeverage"]),
            "advice": ("Stop trading futures: the quit signals above are present." if stop else
                       "Review each trade, lower the leverage, always set a stop-loss, and take a week off "
                       "before trading again." if reviews else "No liquidation in the data."),
        },
    }
