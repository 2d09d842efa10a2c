"""The admin API (token-protected): accounts, test funds, prices and wicks, clock, funding, state.

Every operation is a journaled command; the server only generates what must be random (API
keys and secrets) before it builds the command, so a replay reproduces it.
"""
from __future__ import annotations

import secrets

from perpsim.core.errors import VenueError
from perpsim.core.fixed import parse

from ..params import ascii_int
from ..routes import ADMIN, endpoint
from perpsim.venue.service import hold_setting

from .common import run


def _amount(doc: dict, key: str, positive: bool = True) -> int:
    try:
        v = parse(doc.get(key), key)
    except ValueError as e:
        raise VenueError(-1102, f"'{key}': {str(e).split(': ', 1)[-1]}") from None
    if positive and v <= 0:
        raise VenueError(-1130, f"Data sent for parameter '{key}' is not valid. It must be positive.")
    return v


def _int(doc: dict, key: str) -> int:
    v = doc.get(key)
    if isinstance(v, str) and ascii_int(v) is not None:
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool):
        raise VenueError(-1102, f"Mandatory parameter '{key}' was not sent, was empty/null, or malformed.")
    return v


def _account(ctx, doc: dict) -> int:
    """An existing account's id (the core's -2015 is for API keys; the admin names the account)."""
    account_id = _int(doc, "accountId")
    if not ctx.service.read(lambda ex: account_id in ex.clearing.accounts and account_id > 0):
        raise VenueError(-1130, f"Data sent for parameter 'accountId' is not valid. No account {account_id}.")
    return account_id


def _str(doc: dict, key: str) -> str:
    v = doc.get(key)
    if not isinstance(v, str) or not v:
        raise VenueError(-1102, f"Mandatory parameter '{key}' was not sent, was empty/null, or malformed.")
    return v


async def new_api_key(ctx, account_id: int, permissions=None, doc: dict | None = None) -> dict:
    """An API key of the kind asked ({"keyType": "HMAC" | "RSA" | "ED25519"}, default HMAC). An RSA or
    Ed25519 key takes the caller's {"publicKey": PEM}, or the venue generates a pair and returns the
    private key once (it keeps only the public key)."""
    from ..key_types import HMAC, KEY_TYPES, load_public_key, new_key_pair, public_pem
    doc = doc or {}
    key_type = doc.get("keyType", HMAC)
    if key_type not in KEY_TYPES:
        raise VenueError(-1130, "Data sent for parameter 'keyType' is not valid: HMAC, RSA or ED25519.")
    api_key = secrets.token_hex(32)
    out = {"apiKey": api_key, "keyType": key_type}
    if key_type == HMAC:
        secret = secrets.token_hex(32)
        out["secretKey"] = secret
    elif doc.get("publicKey") is not None:
        secret = public_pem(load_public_key(key_type, doc["publicKey"]))
        out["publicKey"] = secret
    else:
        private, secret = new_key_pair(key_type)
        out.update(publicKey=secret, privateKey=private)
    await run(ctx, "create_api_key", account_id=account_id, api_key=api_key, secret=secret,
              permissions=list(permissions) if permissions else None, key_type=key_type)
    return out


@endpoint("POST", "/admin/v1/accounts", ADMIN)
async def create_account(ctx):
    """Create an account with an API key; optional {"deposit": {"USDT": "10000"}} into its futures wallet,
    {"keyType": "RSA" | "ED25519", "publicKey": PEM} for an RSA or Ed25519 key (see /admin/v1/apiKeys)."""
    doc = ctx.body_json
    deposit = doc.get("deposit") or {}
    if not isinstance(deposit, dict):
        raise VenueError(-1130, "Data sent for parameter 'deposit' is not valid.")
    amounts = {asset: _amount(deposit, asset) for asset in deposit}
    permissions = doc.get("permissions")
    if permissions is not None and not (isinstance(permissions, list) and all(isinstance(p, str) for p in permissions)):
        raise VenueError(-1130, "Data sent for parameter 'permissions' is not valid.")
    _check_key_doc(doc)
    r = await run(ctx, "create_account", deposit=amounts)
    return {"accountId": r.reply, **await new_api_key(ctx, r.reply, permissions, doc)}


def _check_key_doc(doc: dict) -> None:
    """Refuse a bad keyType or publicKey before anything is created."""
    from ..key_types import HMAC, KEY_TYPES, load_public_key
    key_type = doc.get("keyType", HMAC)
    if key_type not in KEY_TYPES:
        raise VenueError(-1130, "Data sent for parameter 'keyType' is not valid: HMAC, RSA or ED25519.")
    if doc.get("publicKey") is not None:
        if key_type == HMAC:
            raise VenueError(-1130, "Data sent for parameter 'publicKey' is not valid: an HMAC key has none.")
        load_public_key(key_type, doc["publicKey"])


@endpoint("POST", "/admin/v1/apiKeys", ADMIN)
async def create_api_key(ctx):
    """Another API key for an account, with permissions (READ, TRADE, TRANSFER) and a kind:
    {"keyType": "HMAC"} (default: returns secretKey), {"keyType": "RSA" | "ED25519"} with the caller's
    "publicKey" (PEM), or without one: the venue generates the pair and returns "privateKey" (PEM) once."""
    doc = ctx.body_json
    account_id = _account(ctx, doc)
    _check_key_doc(doc)
    return await new_api_key(ctx, account_id, doc.get("permissions"), doc)


async def _test_funds(ctx, kind: str) -> dict:
    doc = ctx.body_json
    await run(ctx, kind, account_id=_account(ctx, doc), asset=_str(doc, "asset"),
              amount=_amount(doc, "amount"), wallet=doc.get("wallet", "FUTURES"))
    return {"ok": True}


@endpoint("POST", "/admin/v1/deposit", ADMIN)
async def deposit(ctx):
    """Test funds into any wallet: SPOT, FUNDING, FUTURES or EARN."""
    return await _test_funds(ctx, "deposit")


@endpoint("POST", "/admin/v1/withdraw", ADMIN)
async def withdraw(ctx):
    """Test funds out of a wallet (within what is transferable)."""
    return await _test_funds(ctx, "withdraw")


@endpoint("POST", "/admin/v1/insurance", ADMIN)
async def fund_insurance(ctx):
    """Seed the insurance fund of a margin asset."""
    doc = ctx.body_json
    await run(ctx, "fund_insurance", asset=_str(doc, "asset"), amount=_amount(doc, "amount"))
    return {"ok": True}


@endpoint("POST", "/admin/v1/price", ADMIN)
async def set_price(ctx):
    """{"symbol", "price"} sets every index constituent and holds the index there: the index feed
    no longer moves it until {"symbol", "release": true} (then the feed's own path resumes);
    "hold": false sets the price once and lets the feed go on. {"symbol", "wick": {"pct", "downMs",
    "upMs"}} runs a wick on whatever price is set (held or fed)."""
    doc = ctx.body_json
    symbol = _str(doc, "symbol")
    if doc.get("release") is True:
        if symbol not in ctx.service.read(lambda ex: ex.clearing.instruments):
            raise VenueError(-1121, "Invalid symbol.")
        await run(ctx, "set_setting", name=hold_setting(symbol), value=None)
        await ctx.service.tick_prices(ctx.service.now())
    elif "wick" in doc:
        w = doc["wick"]
        if not isinstance(w, dict):
            raise VenueError(-1130, "Data sent for parameter 'wick' is not valid.")
        await run(ctx, "wick", symbol=symbol, pct=_amount(w, "pct", positive=False), down_ms=_int(w, "downMs"),
                  up_ms=_int(w, "upMs"))
    else:
        hold = doc.get("hold", True)
        if not isinstance(hold, bool):
            raise VenueError(-1130, "Data sent for parameter 'hold' is not valid: true or false.")
        await run(ctx, "set_index", symbol=symbol, price=_amount(doc, "price"))
        await run(ctx, "set_setting", name=hold_setting(symbol), value=True if hold else None)
    mark = ctx.service.read(lambda ex: ex.clearing.mark(symbol))
    held = bool(ctx.service.read(lambda ex: ex.settings.get(hold_setting(symbol))))
    from perpsim.core.fixed import fmt_plain
    return {"symbol": symbol, "markPrice": fmt_plain(mark), "held": held}


@endpoint("POST", "/admin/v1/clock", ADMIN)
async def advance_clock(ctx):
    """Advance the simulated clock by advanceMs (simulated-clock mode only)."""
    if ctx.service.venue.clock.kind != "sim":
        raise VenueError(-1020, "This operation is not supported: the venue runs on wall time.")
    r = await run(ctx, "advance_clock", ms=_int(ctx.body_json, "advanceMs"))
    await ctx.service.tick_prices(r.reply)
    return {"time": r.reply}


@endpoint("POST", "/admin/v1/funding", ADMIN)
async def settle_funding(ctx):
    """Settle funding of a symbol now."""
    await run(ctx, "settle_funding", symbol=_str(ctx.body_json, "symbol"))
    return {"ok": True}


@endpoint("POST", "/admin/v1/settings", ADMIN)
async def set_setting(ctx):
    """Change a venue setting: {"name", "value"}. GET /admin/v1/settings lists the settings, what each
    takes, its default and the value in force; an unknown name or a wrong type is refused (-1130)."""
    doc = ctx.body_json
    name, value = _str(doc, "name"), doc.get("value")
    plain = (int, str, bool, type(None))
    if not (isinstance(value, plain) or isinstance(value, list) and all(isinstance(v, plain) for v in value)):
        from perpsim.core import config
        config.check(name, value)      # names what the setting takes (a decimal is never one of them)
        raise VenueError(-1130, "Data sent for parameter 'value' is not valid.")
    await run(ctx, "set_setting", name=name, value=value)
    return {"ok": True}


@endpoint("GET", "/admin/v1/settings", ADMIN)
async def settings(ctx):
    """Every venue setting: its subsystem, kind, default, value in force, evidence ([P] Binance publishes
    it, [I] our choice, explained in docs/choices.md) and what it does."""
    from perpsim.core.config import listing
    return ctx.service.read(lambda ex: listing(ex.settings))


@endpoint("GET", "/admin/v1/state", ADMIN)
async def state(ctx):
    """State hash, content hash (no command counter or clock), ledger invariant, insurance funds, command count.

    A read: nothing is journaled, so asking twice gives the same answer."""
    from perpsim.core.fixed import fmt_plain

    def build(ex):
        return {"stateHash": ex.state_hash(), "contentHash": ex.content_hash(),
                "ledgerBalanced": ex.clearing.is_balanced(),
                "insuranceFunds": {asset: fmt_plain(ex.clearing.balance(fid, "FUTURES", asset))
                                   for asset, fid in sorted(ex.insurance_funds.items())},
                "commands": ex.commands}
    service = ctx.service
    return await service.run_read(service.read, build)
