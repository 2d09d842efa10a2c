"""The /perpsim/v1 replies in Binance's style: amounts, prices and fractions as decimal strings, keys in
camelCase (translation only; the guard decides). A fraction of 1 is a plain decimal ("0.05" is 5%)."""
from __future__ import annotations

from perpsim.core.fixed import fmt_plain

PREVIEW_AMOUNTS = ("quantity", "price", "markPrice", "positionAfter", "entryPriceAfter", "notional",
                   "orderInitialMargin", "positionInitialMargin", "fee", "liquidationPrice",
                   "priceMoveToLiquidation", "accountMargin", "shareOfAccountMargin")

RECORD_AMOUNTS = ("entry_price", "mark_price", "liquidation_price", "bankruptcy_price", "execution_price", "qty",
                  "book_qty", "insurance_qty", "adl_qty", "loss", "clearance_fee", "insurance_delta",
                  "wallet_after")


def _dec(units) -> str | None:
    return None if units is None else fmt_plain(units)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def preview(d: dict) -> dict:
    """The risk preview with its amounts as decimal strings (``priceMoveToLiquidation`` is in percent,
    ``shareOfAccountMargin`` a fraction of 1)."""
    return {k: (_dec(v) if k in PREVIEW_AMOUNTS else v) for k, v in d.items()}


def liquidation(d: dict) -> dict:
    """One liquidation record: direction (LONG/SHORT), trigger (mark) and execution prices, loss, fee,
    the wallet after, partial or full, and the ADL part."""
    out = {}
    for k, v in d.items():
        if k == "adl_counterparties":
            out["adlCounterparties"] = [{"accountId": a, "positionSide": ps, "qty": _dec(q)} for a, ps, q in v]
        else:
            out[_camel(k)] = _dec(v) if k in RECORD_AMOUNTS else v
    out["direction"] = "LONG" if d["side"] == "SELL" else "SHORT"
    out["triggerPrice"] = out["markPrice"]
    out["adl"] = bool(d["adl_qty"])
    return out


def status(d: dict) -> dict:
    """The account's protection status with its money as decimal strings."""
    out = dict(d)
    sp = dict(out.get("selfProtection") or {})
    for k in ("dailyLossLimit", "lossToday"):
        if isinstance(sp.get(k), int):
            sp[k] = _dec(sp[k])
    out["selfProtection"] = sp
    out["notifications"] = [notification(n) for n in out.get("notifications") or []]
    if isinstance(out.get("lossRate"), int):
        out["lossRate"] = _dec(out["lossRate"])
    return out


NOTIFICATION_AMOUNTS = ("qty", "price", "loss", "walletAfter", "marginRatio", "marginBalance", "maintMargin",
                        "level", "distance", "markPrice", "liquidationPrice", "amount", "compensation")


def notification(d: dict) -> dict:
    """A kept notification (LIQUIDATION, MARGIN_CALL, MARGIN_ALERT, LIQUIDATION_PRICE_ALERT, RESTRICTION,
    APPEAL) with its amounts as decimal strings (``marginRatio`` a fraction of 1; ``level`` and ``distance``
    of a liquidation-price alert in percent)."""
    return {k: (_dec(v) if k in NOTIFICATION_AMOUNTS and isinstance(v, int) and not isinstance(v, bool) else v)
            for k, v in d.items()}
