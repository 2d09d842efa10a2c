"""Venue events -> Binance stream payloads (Binance USDⓈ-M Futures API, "Websocket Market Streams" and "User Data Streams"). Translation only.

``MARKET[event type](service, event)`` yields ``(stream name, payload)`` pairs;
``USER[event type](service, event)`` yields ``(account id, payload)`` pairs. ACCOUNT_UPDATE is
built per command and account from its balance and position changes.
"""
from __future__ import annotations

from typing import Iterable

from perpsim.core.events import (BalanceChanged, ConfigChanged, LiquidationRecord, MarginCall, MarkPriceUpdate,
                                 PositionChanged, TradeSettled)
from perpsim.core.exchange import Command, Result
from perpsim.core.guard import Notification
from perpsim.core.ledger import FUTURES
from perpsim.core.margin import break_even_price

from . import shapes, translate_market, translate_orders
from .translators import Translators, join

market = Translators()      # this module's own translators; joined with the others' below
user = Translators()

#: ACCOUNT_UPDATE reason ("m") by balance-change reason; commands that trade say ORDER.
_REASONS = {"DEPOSIT": "ADMIN_DEPOSIT", "WITHDRAW": "ADMIN_WITHDRAW", "FUNDING_FEE": "FUNDING_FEE",
            "INSURANCE_CLEAR": "INSURANCE_CLEAR", "ISOLATED_MARGIN": "MARGIN_TRANSFER", "COMMISSION": "ORDER",
            "REALIZED_PNL": "ORDER"}


def market_messages(service, cmd: Command, result: Result) -> list[tuple[str, object]]:
    out = []
    for e in result.events:
        fn = MARKET.get(type(e))
        if fn is not None:
            out += fn(service, e)
    return out


def user_messages(service, cmd: Command, result: Result, accounts=None) -> list[tuple[int, object]]:
    """The user-data messages of a command's events, as ``(account id, payload)``; only those of
    ``accounts`` (the accounts someone listens to) when given."""
    out = []
    for e in result.events:
        fn = USER.get(type(e))
        if fn is not None and (accounts is None or getattr(e, "account_id", None) in accounts):
            out += fn(service, e)
    out += account_updates(service, cmd, result, accounts)
    return out


def _ins(service, symbol: str):
    return service.read(lambda ex: ex.clearing.instruments[symbol])


@market(MarkPriceUpdate)
def _mark(service, e: MarkPriceUpdate) -> Iterable:
    ins = _ins(service, e.symbol)
    s = e.symbol.lower()
    payload = {"e": "markPriceUpdate", "E": e.time, "s": e.symbol, "p": shapes.money(e.mark_price),
               "ap": shapes.price(ins, e.mark_price), "i": shapes.money(e.index_price),
               "P": shapes.money(e.index_price), "r": shapes.rate(e.funding_rate), "T": e.next_funding_time}
    return [(f"{s}@markPrice", payload), (f"{s}@markPrice@1s", payload),
            ("!markPrice@arr", [payload]), ("!markPrice@arr@1s", [payload])]


@market(LiquidationRecord)
def _force_order(service, e: LiquidationRecord) -> Iterable:
    ins = _ins(service, e.symbol)
    order = service.read(lambda ex: ex.orders.orders.get(e.order_id)) if e.order_id else None
    limit = order.price if order is not None else e.bankruptcy_price or e.execution_price
    payload = {"e": "forceOrder", "E": e.time, "o": {
        "s": e.symbol, "S": e.side, "o": "LIMIT", "f": "IOC", "q": shapes.qty(ins, e.qty),
        "p": shapes.price(ins, limit), "ap": shapes.price(ins, e.execution_price),
        "X": "FILLED", "l": shapes.qty(ins, e.qty), "z": shapes.qty(ins, e.qty), "T": e.time}}
    return [(f"{e.symbol.lower()}@forceOrder", payload), ("!forceOrder@arr", payload)]


@user(MarginCall)
def _margin_call(service, e: MarginCall) -> Iterable:
    def build(ex):
        ch = ex.clearing
        acct = ch.accounts[e.account_id]
        rows = []
        for p in acct.open_positions():
            if (e.margin_type == "ISOLATED") != p.isolated or (e.symbol and p.symbol != e.symbol):
                continue
            f = ch.position_figures(p)
            ins = ch.instruments[p.symbol]
            rows.append({"s": p.symbol, "ps": p.side, "pa": shapes.qty(ins, p.qty), "mt": e.margin_type,
                         "iw": shapes.money(f.isolated_wallet), "mp": shapes.money(f.mark_price),
                         "up": shapes.money(f.unrealized_pnl), "mm": shapes.money(f.maint_margin)})
        return rows
    payload = {"e": "MARGIN_CALL", "E": e.time, "cw": shapes.money(e.cross_wallet), "p": service.read(build)}
    return [(e.account_id, payload)]


@user(Notification)
def _notification(service, e: Notification) -> Iterable:
    """Trader-protection alerts reach the user stream as MARGIN_CALL (the event clients know)."""
    if e.kind not in ("MARGIN_ALERT", "LIQUIDATION_PRICE_ALERT"):
        return []
    call = MarginCall(e.time, e.account_id, "CROSSED", "", "", 0, 0, 0, 0)
    return _margin_call(service, call._replace(cross_wallet=service.read(
        lambda ex: ex.clearing.balance(e.account_id, FUTURES, "USDT"))))


@user(ConfigChanged)
def _config(service, e: ConfigChanged) -> Iterable:
    if e.setting == "leverage":
        return [(e.account_id, {"e": "ACCOUNT_CONFIG_UPDATE", "E": e.time, "T": e.time,
                                "ac": {"s": e.symbol, "l": e.value}})]
    return []


def account_updates(service, cmd: Command, result: Result, accounts=None) -> list[tuple[int, object]]:
    """One ACCOUNT_UPDATE per account whose futures balances or positions the command changed
    (of ``accounts`` only, when given)."""
    changes: dict[int, dict] = {}
    traded = set()
    for e in result.events:
        if accounts is not None and getattr(e, "account_id", None) not in accounts:
            continue
        if isinstance(e, BalanceChanged) and e.wallet in (FUTURES, "ISOLATED") and e.account_id > 0:
            c = changes.setdefault(e.account_id, {"assets": {}, "positions": {}, "reason": None, "time": e.time})
            c["assets"].setdefault(e.asset, 0)
            if e.reason in ("DEPOSIT", "WITHDRAW", "TRANSFER", "ISOLATED_MARGIN"):
                c["assets"][e.asset] += e.delta if e.wallet == FUTURES else 0
            c["reason"] = c["reason"] or _REASONS.get(e.reason, "DEPOSIT" if e.delta > 0 else "WITHDRAW")
        elif isinstance(e, PositionChanged) and e.account_id > 0:
            c = changes.setdefault(e.account_id, {"assets": {}, "positions": {}, "reason": None, "time": e.time})
            c["positions"][(e.symbol, e.position_side)] = e
        elif isinstance(e, TradeSettled):
            traded.add(e.account_id)
    if cmd.kind == "transfer":
        for c in changes.values():
            c["reason"] = "DEPOSIT" if any(v > 0 for v in c["assets"].values()) else "WITHDRAW"
    if cmd.kind == "set_margin_type":
        for c in changes.values():
            c["reason"] = "MARGIN_TYPE_CHANGE"
    if not changes:
        return []

    def build(ex):
        ch = ex.clearing
        out = []
        for account_id in sorted(changes):
            c = changes[account_id]
            reason = "ORDER" if account_id in traded else (c["reason"] or "ORDER")
            balances = []
            assets = set(c["assets"]) | {ch.instruments[s].margin_asset for s, _ in c["positions"]}
            for asset in sorted(assets):
                f = ch.cross_figures(account_id, asset)
                balances.append({"a": asset, "wb": shapes.money(f.wallet_balance + f.isolated_wallets),
                                 "cw": shapes.money(f.wallet_balance), "bc": shapes.money(c["assets"].get(asset, 0))})
            positions = []
            acct = ch.accounts[account_id]
            for (symbol, side) in sorted(c["positions"]):
                pos = acct.positions.get((symbol, side))
                if pos is None:
                    continue
                ins = ch.instruments[symbol]
                f = ch.position_figures(pos)
                positions.append({"s": symbol, "pa": shapes.qty(ins, pos.qty),
                                  "ep": shapes.price(ins, f.entry_price) if pos.qty else "0",
                                  "bep": shapes.price(ins, break_even_price(pos.qty, pos.cost, acct.taker_rate))
                                  if pos.qty else "0", "cr": "0",
                                  "up": shapes.money(f.unrealized_pnl), "mt": "isolated" if pos.isolated else "cross",
                                  "iw": shapes.money(f.isolated_wallet), "ps": side})
            out.append((account_id, {"e": "ACCOUNT_UPDATE", "E": c["time"] or ex.now, "T": c["time"] or ex.now,
                                     "a": {"m": reason, "B": balances, "P": positions}}))
        return out
    return service.read(build)


#: what the streams read: every translator, from this module, translate_market.py (trades, depth,
#: klines, tickers) and translate_orders.py (orders, algo orders, liquidations on the user stream)
MARKET = join(market, translate_market.MARKET)
USER = join(user, translate_orders.USER)
