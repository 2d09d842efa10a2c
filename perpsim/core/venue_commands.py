"""The venue's own commands: accounts and keys, wallets, leverage and margin settings, prices and
the clock, funding, brackets, the insurance fund and settings. Orders are in order_commands.py,
trader protection in guard_commands.py, the liquidity agent in liquidity.py.

Each handler takes the exchange and the command's arguments, returns ``(reply, events)``, and raises
``VenueError`` (Binance's code and message) before it changes anything.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from . import config
from . import errors as E
from .commands import Handlers, int_arg
from .errors import VenueError
from .events import IndexOutliers, InsuranceFundChanged
from .instruments import get_instrument

if TYPE_CHECKING:
    from .exchange import Exchange

PERMISSIONS = ("READ", "TRADE", "TRANSFER")

#: One clock advance runs every funding time it passes: a year (1,098 settlements) bounds one command's work.
MAX_ADVANCE_MS = 366 * 24 * 3600 * 1000


class ApiKey(NamedTuple):
    account_id: int
    secret: str                  # HMAC: the secret; RSA / ED25519: the public key (PEM)
    permissions: tuple[str, ...]
    key_type: str = "HMAC"       # HMAC, RSA or ED25519 (Binance's API key types)


HANDLERS = Handlers()


@HANDLERS("create_account")
def _create_account(ex: Exchange, account_id: int | None = None, deposit: dict | None = None):
    if account_id is not None:
        int_arg(account_id, "accountId", positive=True)
    deposits = []
    for asset, amount in (deposit or {}).items():
        ex.clearing._check_asset(asset)
        deposits.append((asset, ex.clearing._check_amount(amount, "deposit")))
    acct = ex.clearing.create_account(ex.now, account_id)
    events = []
    for asset, amount in deposits:
        events += ex.clearing.deposit(acct.id, "FUTURES", asset, amount, ex.now)
    return acct.id, events


@HANDLERS("create_api_key")
def _create_api_key(ex: Exchange, account_id: int, api_key: str, secret: str, permissions: list | None = None,
                    key_type: str = "HMAC"):
    ex.clearing.account(account_id)
    perms = tuple(permissions or PERMISSIONS)
    if not isinstance(api_key, str) or not 16 <= len(api_key) <= 128 or not api_key.isalnum():
        raise E.illegal_param("apiKey")
    if key_type not in ("HMAC", "RSA", "ED25519"):
        raise E.illegal_param("keyType", "HMAC, RSA or ED25519.")
    longest = 128 if key_type == "HMAC" else 4096      # an RSA or Ed25519 key keeps its public key (PEM)
    if not isinstance(secret, str) or not 16 <= len(secret) <= longest:
        raise E.illegal_param("secret")
    if api_key in ex.api_keys:
        raise E.illegal_param("apiKey", "It is already in use.")
    if any(p not in PERMISSIONS for p in perms):
        raise E.illegal_param("permissions", f"Each one of {', '.join(PERMISSIONS)}.")
    ex.api_keys[api_key] = ApiKey(account_id, secret, perms, key_type)
    return api_key, []


@HANDLERS("deposit")
def _deposit(ex: Exchange, account_id: int, asset: str, amount: int, wallet: str = "FUTURES"):
    return None, ex.clearing.deposit(account_id, wallet, asset, amount, ex.now)


@HANDLERS("withdraw")
def _withdraw(ex: Exchange, account_id: int, asset: str, amount: int, wallet: str = "FUTURES"):
    return None, ex.clearing.withdraw(account_id, wallet, asset, amount, ex.now)


@HANDLERS("transfer")
def _transfer(ex: Exchange, account_id: int, type: str, asset: str, amount: int):
    return None, ex.clearing.transfer(account_id, type, asset, amount, ex.now)


@HANDLERS("set_leverage")
def _set_leverage(ex: Exchange, account_id: int, symbol: str, leverage: int):
    ex.clearing.account(account_id)
    table = ex.clearing.table(get_instrument(ex.clearing.instruments, symbol).symbol)
    if not isinstance(leverage, int) or isinstance(leverage, bool) or not 1 <= leverage <= table.max_leverage:
        raise VenueError(E.INVALID_LEVERAGE, f"Leverage {leverage} is not valid")   # before any cap
    ex.guard.check_leverage(account_id, symbol, leverage, ex.now)   # caps: new account, personal, compliance
    max_notional, events = ex.clearing.set_leverage(account_id, symbol, leverage, ex.now)
    return {"leverage": leverage, "maxNotionalValue": max_notional, "symbol": symbol}, events


@HANDLERS("set_margin_type")
def _set_margin_type(ex: Exchange, account_id: int, symbol: str, margin_type: str):
    if margin_type not in ("ISOLATED", "CROSSED"):
        raise E.illegal_param("marginType")
    return None, ex.clearing.set_margin_type(account_id, symbol, margin_type == "ISOLATED", ex.now)


@HANDLERS("set_position_mode")
def _set_position_mode(ex: Exchange, account_id: int, dual_side: bool):
    return None, ex.clearing.set_position_mode(account_id, dual_side, ex.now)


@HANDLERS("adjust_isolated_margin")
def _adjust_isolated_margin(ex: Exchange, account_id: int, symbol: str, amount: int, add: bool,
                            position_side: str | None = None):
    if not isinstance(add, bool):
        raise E.illegal_param("type")
    return None, ex.clearing.adjust_isolated_margin(account_id, symbol, amount, add, position_side, ex.now)


@HANDLERS("set_mark")
def _set_mark(ex: Exchange, symbol: str, price: int):
    """Set a mark directly (tests and scenarios); it sets off what any new mark does."""
    events = ex.clearing.set_mark(symbol, price, ex.now)
    return None, events + ex.after_mark(symbol)


@HANDLERS("trade")
def _trade(ex: Exchange, buyer: int, seller: int, symbol: str, qty: int, price: int, taker: str = "BUY",
           buyer_position_side: str | None = None, seller_position_side: str | None = None):
    """A matched trade settled directly (used by scenario tools and tests; orders go through the book)."""
    return None, ex.clearing.trade(buyer, seller, symbol, qty, price, taker, buyer_position_side,
                                   seller_position_side, ex.now)


@HANDLERS("advance_clock")
def _advance_clock(ex: Exchange, ms: int):
    """Move the simulated clock forward by ``ms``, running what that time brings (marks, funding)."""
    if int_arg(ms, "advanceMs", positive=True) > MAX_ADVANCE_MS:
        raise E.illegal_param("advanceMs", "It must be at most one year (31622400000 ms) per call.")
    events = ex.advance_to(ex.now + ms)
    return ex.now, events


@HANDLERS("set_index")
def _set_index(ex: Exchange, symbol: str, price: int):
    """Set every index constituent of ``symbol`` to ``price``; the mark follows by Binance's formula."""
    m = ex.market(symbol)
    m.set_price(ex.now, _index_price(ex, symbol, price))
    return None, ex._remark(symbol)


def _index_price(ex: Exchange, symbol: str, price: object) -> int:
    """An operator's index price: positive and at most the symbol's PRICE_FILTER maxPrice (Binance's
    exchangeInfo), so no figure derived from it can leave the integer range of the risk indexes."""
    price = int_arg(price, "price", positive=True)
    if price > get_instrument(ex.clearing.instruments, symbol).max_price:
        raise E.illegal_param("price", "It must be at most the symbol's maxPrice (PRICE_FILTER).")
    return price


@HANDLERS("set_index_constituents")
def _set_index_constituents(ex: Exchange, symbol: str, constituents: list):
    """Spot-venue prices ``[[source, price, weight], ...]``; the index follows Binance's weighted rule
    with outliers capped and stale sources dropped (FAQ 360033525071, "Mark Price and Price Index")."""
    if not isinstance(constituents, list) or not 1 <= len(constituents) <= 32:
        raise E.illegal_param("constituents", "A list of 1 to 32 [source, price, weight] items.")
    items = []
    for c in constituents:
        if not (isinstance(c, list) and len(c) == 3 and isinstance(c[0], str) and 0 < len(c[0]) <= 32):
            raise E.illegal_param("constituents", "Each item is [source, price, weight].")
        items.append((c[0], _index_price(ex, symbol, c[1]), int_arg(c[2], "weight")))
    if any(w < 0 for _, _, w in items):
        raise E.illegal_param("constituents", "Weights are not negative.")
    result = ex.market(symbol).set_constituents(ex.now, items)
    events = []
    if result.outliers or result.stale:
        events.append(IndexOutliers(symbol, result.price, result.method, result.outliers, result.stale, ex.now))
    return None, events + ex._remark(symbol)


@HANDLERS("wick")
def _wick(ex: Exchange, symbol: str, pct: int, down_ms: int, up_ms: int):
    """Move the index by ``pct`` (1e-8 units of percent: -15% is -15 * 10**8) over ``down_ms``, then back over ``up_ms``."""
    m = ex.market(symbol)
    if not m.has_price:
        raise VenueError(-1130, "Data sent for parameter 'symbol' is not valid. Set its price first.")
    pct = int_arg(pct, "pct")
    if not -100 * 10**8 < pct <= 1000 * 10**8 or pct == 0:
        raise E.illegal_param("pct", "It must be in (-100, 1000] and not 0.")
    m.path.wick(ex.now, -pct // 100, int_arg(down_ms, "downMs", positive=True), int_arg(up_ms, "upMs", positive=True))
    return None, ex._remark(symbol)


@HANDLERS("settle_funding")
def _settle_funding(ex: Exchange, symbol: str):
    """Settle funding now at the current estimated rate (the admin's "settle funding now")."""
    m = ex.market(symbol)
    if not m.has_price:
        raise VenueError(-1130, "Data sent for parameter 'symbol' is not valid. Set its price first.")
    events = ex._remark(symbol)
    return None, events + ex._settle_funding(symbol)


@HANDLERS("set_bracket_date")
def _set_bracket_date(ex: Exchange, date: str | None = None):
    """Use the bracket tables in force on ``date`` (YYYY-MM-DD; None: the newest), e.g. for a replay of
    2021 data (Binance's leverage bracket history, GET /fapi/v1/leverageBracket). Margin figures and detection follow at once."""
    import datetime as dt
    try:
        day = None if date is None else dt.date.fromisoformat(date)
    except (TypeError, ValueError):
        raise E.illegal_param("date", "YYYY-MM-DD.") from None
    ex.clearing.set_bracket_date(day)   # the risk pass's indexes are rebuilt on the new tables (_CONFIGURES_RISK)
    return None, []


@HANDLERS("fund_insurance")
def _fund_insurance(ex: Exchange, asset: str, amount: int):
    """Seed an insurance fund with test money (an admin deposit)."""
    ex.clearing._check_asset(asset)
    amount = ex.clearing._check_amount(amount)
    fund = ex.insurance_account(asset)
    w = ex.clearing.user_wallet(fund, "FUTURES", asset)
    ex.clearing.ledger.deposit(w, amount)
    return None, [InsuranceFundChanged(asset, amount, w.balance, "DEPOSIT", fund, "", ex.now)]


@HANDLERS("check_ledger")
def _check_ledger(ex: Exchange):
    """The ledger invariant, as a journaled admin command."""
    return {"ledgerBalanced": ex.clearing.is_balanced(), "stateHash": ex.state_hash()}, []


@HANDLERS("set_setting")
def _set_setting(ex: Exchange, name: str, value: Any):
    """Change one venue setting (config.py lists them, with their kinds and evidence)."""
    config.check(name, value)
    ex.settings[name] = value
    ex.config = config.Configs(ex.settings)
    return None, []
