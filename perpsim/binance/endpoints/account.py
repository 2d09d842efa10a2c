"""Account endpoints: account, balance, positionRisk, settings, listenKey, wallets (Binance USDⓈ-M Futures API,
"Account Endpoints" and "User Data Streams")."""
from __future__ import annotations

from perpsim.core.errors import VenueError
from perpsim.core.ledger import EARN, FUNDING, FUTURES, SPOT

from .. import shapes
from ..routes import SIGNED, SYMBOL, SYMBOL_OPT, USER_STREAM, Param, endpoint
from .common import instrument, run
from .trade_history import adl_of


def _assets(ex, account_id: int) -> list[str]:
    ch = ex.clearing
    held = {w.asset for key, w in ch.ledger.wallets.items() if key[:2] == (FUTURES, account_id)}
    return sorted(held | {ins.margin_asset for ins in ch.instruments.values()})


def _position_row(ex, pos, v3: bool) -> dict:
    ch = ex.clearing
    ins = ch.instruments[pos.symbol]
    f = ch.position_figures(pos)
    acct = ch.accounts[pos.account_id]
    row = {
        "symbol": pos.symbol, "positionSide": pos.side, "positionAmt": shapes.qty(ins, pos.qty),
        "entryPrice": shapes.price(ins, f.entry_price) if pos.qty else "0.0",
        "breakEvenPrice": shapes.price(ins, _break_even(ch, acct, pos)) if pos.qty else "0.0",
        "markPrice": shapes.price(ins, f.mark_price), "unRealizedProfit": shapes.money(f.unrealized_pnl),
        "liquidationPrice": shapes.price(ins, f.liquidation_price or 0),
        "isolatedMargin": shapes.money(f.isolated_wallet + f.unrealized_pnl if pos.isolated else 0),
        "notional": shapes.money(f.notional if pos.qty >= 0 else -f.notional),
        "marginAsset": ins.margin_asset, "isolatedWallet": shapes.money(f.isolated_wallet),
        "updateTime": pos.updated,
    }
    order_im = acct.order_margin.get(pos.symbol, 0)
    if v3:
        row.update({"initialMargin": shapes.money(f.initial_margin + order_im), "maintMargin": shapes.money(f.maint_margin),
                    "positionInitialMargin": shapes.money(f.initial_margin),
                    "openOrderInitialMargin": shapes.money(order_im), "adl": adl_of(ex, pos),
                    "bidNotional": "0", "askNotional": "0"})
    else:
        row.update({"leverage": str(f.leverage), "marginType": "isolated" if pos.isolated else "cross",
                    "isAutoAddMargin": "false", "maxNotionalValue": shapes.plain(
                        ch.table(pos.symbol).max_notional(f.leverage))})
    return row


def _break_even(ch, acct, pos) -> int:
    from perpsim.core.margin import break_even_price
    return break_even_price(pos.qty, pos.cost, acct.taker_rate)


def _positions(ex, account_id: int, symbol: str | None, v3: bool) -> list[dict]:
    ch = ex.clearing
    acct = ch.accounts[account_id]
    rows = []
    for (sym, side), pos in sorted(acct.positions.items()):
        if symbol is not None and sym != symbol:
            continue
        if v3 and not pos.qty and not acct.has_orders(sym):
            continue
        rows.append(_position_row(ex, pos, v3))
    if not v3:  # v2 lists every symbol, flat ones too
        have = {(r["symbol"], r["positionSide"]) for r in rows}
        sides = ("LONG", "SHORT") if acct.hedge_mode else ("BOTH",)
        for sym in sorted(ch.instruments):
            if symbol is not None and sym != symbol:
                continue
            for side in sides:
                if (sym, side) not in have:
                    from perpsim.core.positions import Position
                    rows.append(_position_row(ex, Position(account_id, sym, side), False))
    return rows


def _account(ex, account_id: int, v3: bool) -> dict:
    ch = ex.clearing
    assets, totals = [], {}
    for asset in _assets(ex, account_id):
        f = ch.cross_figures(account_id, asset)
        wallet = f.wallet_balance + f.isolated_wallets
        iso = [ch.position_figures(p) for p in ch.accounts[account_id].open_positions()
               if p.isolated and ch.instruments[p.symbol].margin_asset == asset]
        iso_upnl = sum(f.unrealized_pnl for f in iso)
        iso_mm = sum(f.maint_margin for f in iso)
        iso_im = sum(f.initial_margin for f in iso)
        upnl = f.unrealized_pnl + iso_upnl
        row = {"asset": asset, "walletBalance": shapes.money(wallet), "unrealizedProfit": shapes.money(upnl),
               "marginBalance": shapes.money(wallet + upnl), "maintMargin": shapes.money(f.maint_margin + iso_mm),
               "initialMargin": shapes.money(f.position_initial_margin + iso_im + f.open_order_initial_margin),
               "positionInitialMargin": shapes.money(f.position_initial_margin + iso_im),
               "openOrderInitialMargin": shapes.money(f.open_order_initial_margin),
               "crossWalletBalance": shapes.money(f.wallet_balance), "crossUnPnl": shapes.money(f.unrealized_pnl),
               "availableBalance": shapes.money(f.available_balance), "maxWithdrawAmount": shapes.money(f.max_withdraw),
               "marginAvailable": True, "updateTime": max(1, ex.now)}
        assets.append(row)
        if asset == "USDT":
            totals = row
    t = totals or (assets[0] if assets else {})
    out = {
        "totalInitialMargin": t.get("initialMargin", "0"), "totalMaintMargin": t.get("maintMargin", "0"),
        "totalWalletBalance": t.get("walletBalance", "0"), "totalUnrealizedProfit": t.get("unrealizedProfit", "0"),
        "totalMarginBalance": t.get("marginBalance", "0"),
        "totalPositionInitialMargin": t.get("positionInitialMargin", "0"),
        "totalOpenOrderInitialMargin": t.get("openOrderInitialMargin", "0"),
        "totalCrossWalletBalance": t.get("crossWalletBalance", "0"), "totalCrossUnPnl": t.get("crossUnPnl", "0"),
        "availableBalance": t.get("availableBalance", "0"), "maxWithdrawAmount": t.get("maxWithdrawAmount", "0"),
        "assets": assets,
        "positions": [_account_position(r, v3) for r in _positions(ex, account_id, None, True)],
    }
    if not v3:
        acct = ch.accounts[account_id]
        out.update({"feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                    "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1})
        out["positions"] = [dict(_account_position(r, False), leverage=str(ch.config(acct, r["symbol"]).leverage),
                                 isolated=ch.config(acct, r["symbol"]).isolated)
                            for r in _positions(ex, account_id, None, True)]
    return out


def _account_position(row: dict, v3: bool) -> dict:
    keys = ("symbol", "positionSide", "positionAmt", "unrealizedProfit", "isolatedMargin", "notional",
            "isolatedWallet", "initialMargin", "maintMargin", "updateTime")
    out = {k: row.get("unRealizedProfit" if k == "unrealizedProfit" else k, "0") for k in keys}
    if not v3:
        out.update({"entryPrice": row["entryPrice"], "breakEvenPrice": row["breakEvenPrice"],
                    "positionInitialMargin": row["positionInitialMargin"],
                    "openOrderInitialMargin": row["openOrderInitialMargin"], "maxNotional": "0",
                    "bidNotional": "0", "askNotional": "0"})
    return out


@endpoint("GET", "/fapi/v3/account", SIGNED, weight=5)
async def account(ctx):
    """Account information: assets, totals and positions."""
    return ctx.service.read(lambda ex: _account(ex, ctx.account_id, True))


@endpoint("GET", "/fapi/v2/account", SIGNED, weight=5)
async def account_v2(ctx):
    """Account information (v2 fields)."""
    return ctx.service.read(lambda ex: _account(ex, ctx.account_id, False))


@endpoint("GET", ("/fapi/v3/balance", "/fapi/v2/balance"), SIGNED, weight=5)
async def balance(ctx):
    """Futures balances per asset."""
    acc = ctx.service.read(lambda ex: _account(ex, ctx.account_id, True))
    alias = account_alias(ctx.account_id)
    return [{"accountAlias": alias, "asset": a["asset"], "balance": a["walletBalance"],
             "crossWalletBalance": a["crossWalletBalance"], "crossUnPnl": a["crossUnPnl"],
             "availableBalance": a["availableBalance"], "maxWithdrawAmount": a["maxWithdrawAmount"],
             "marginAvailable": True, "updateTime": a["updateTime"]} for a in acc["assets"]]


@endpoint("GET", "/fapi/v3/positionRisk", SIGNED, weight=5, params=(SYMBOL_OPT,))
async def position_risk_v3(ctx):
    """Positions with a size or open orders."""
    symbol = ctx.params.symbol(required=False)
    if symbol is not None:
        instrument(ctx, symbol)
    return ctx.service.read(lambda ex: _positions(ex, ctx.account_id, symbol, True))


@endpoint("GET", "/fapi/v2/positionRisk", SIGNED, weight=5, params=(SYMBOL_OPT,))
async def position_risk_v2(ctx):
    """Positions of every symbol (v2 fields)."""
    symbol = ctx.params.symbol(required=False)
    if symbol is not None:
        instrument(ctx, symbol)
    return ctx.service.read(lambda ex: _positions(ex, ctx.account_id, symbol, False))


@endpoint("GET", "/fapi/v1/leverageBracket", SIGNED, params=(SYMBOL_OPT,))
async def leverage_bracket(ctx):
    """Notional and leverage brackets: always an array ("Notional and Leverage Brackets")."""
    symbol = ctx.params.symbol(required=False)

    def build(ex):
        syms = [symbol] if symbol else sorted(ex.clearing.instruments)
        if symbol and symbol not in ex.clearing.instruments:
            raise VenueError(-1121, "Invalid symbol.")
        return [shapes.brackets(s, ex.clearing.table(s)) for s in syms]
    return ctx.service.read(build)


@endpoint("POST", "/fapi/v1/leverage", SIGNED, permission="TRADE",
          params=(SYMBOL, Param("leverage", "integer", True)))
async def change_leverage(ctx):
    """Change a symbol's initial leverage."""
    symbol = ctx.params.symbol()
    leverage = ctx.params.int("leverage", required=True)
    r = await run(ctx, "set_leverage", account_id=ctx.account_id, symbol=symbol, leverage=leverage)
    return {"leverage": leverage, "maxNotionalValue": shapes.plain(r.reply["maxNotionalValue"]), "symbol": symbol}


@endpoint("POST", "/fapi/v1/marginType", SIGNED, permission="TRADE",
          params=(SYMBOL, Param("marginType", required=True, enum=("ISOLATED", "CROSSED"))))
async def change_margin_type(ctx):
    """Change a symbol's margin type."""
    symbol = ctx.params.symbol()
    mt = ctx.params.str("marginType", required=True).upper()
    if mt not in ("ISOLATED", "CROSSED", "CROSS"):
        raise VenueError(-1130, "Data sent for parameter 'marginType' is not valid.")
    await run(ctx, "set_margin_type", account_id=ctx.account_id, symbol=symbol,
              margin_type="CROSSED" if mt == "CROSS" else mt)
    return {"code": 200, "msg": "success"}


@endpoint("GET", "/fapi/v1/positionSide/dual", SIGNED, weight=30)
async def get_position_mode(ctx):
    """The position mode: dualSidePosition true is hedge mode."""
    return {"dualSidePosition": ctx.service.read(lambda ex: ex.clearing.account(ctx.account_id).hedge_mode)}


@endpoint("POST", "/fapi/v1/positionSide/dual", SIGNED, permission="TRADE",
          params=(Param("dualSidePosition", required=True, enum=("true", "false")),))
async def change_position_mode(ctx):
    """Change the position mode."""
    dual = ctx.params.bool("dualSidePosition")
    if dual is None:
        raise VenueError(-1102, "Mandatory parameter 'dualSidePosition' was not sent, was empty/null, or malformed.")
    await run(ctx, "set_position_mode", account_id=ctx.account_id, dual_side=dual)
    return {"code": 200, "msg": "success"}


@endpoint("POST", "/fapi/v1/positionMargin", SIGNED, permission="TRADE",
          params=(SYMBOL, Param("amount", "number", True), Param("type", "integer", True, enum=("1", "2")),
                  Param("positionSide", enum=("BOTH", "LONG", "SHORT"))))
async def position_margin(ctx):
    """Add (type 1) or remove (type 2) isolated margin."""
    symbol = ctx.params.symbol()
    amount = ctx.params.decimal("amount", required=True, positive=True)
    kind = ctx.params.int("type", required=True)
    if kind not in (1, 2):
        raise VenueError(-1130, "Data sent for parameter 'type' is not valid.")
    ps = ctx.params.enum("positionSide", ("BOTH", "LONG", "SHORT"))
    await run(ctx, "adjust_isolated_margin", account_id=ctx.account_id, symbol=symbol, amount=amount,
              add=kind == 1, position_side=ps)
    return {"amount": float(shapes.plain(amount)), "code": 200, "msg": "Successfully modify position margin.",
            "type": kind}


@endpoint("GET", "/fapi/v1/commissionRate", SIGNED, weight=20, params=(SYMBOL,))
async def commission_rate(ctx):
    """The account's maker and taker rates."""
    symbol = ctx.params.symbol()
    instrument(ctx, symbol)
    acct = ctx.service.read(lambda ex: ex.clearing.account(ctx.account_id))
    return {"symbol": symbol, "makerCommissionRate": shapes.plain(acct.maker_rate),
            "takerCommissionRate": shapes.plain(acct.taker_rate), "rpiCommissionRate": "0"}


@endpoint("GET", "/fapi/v1/symbolConfig", SIGNED, weight=5, params=(SYMBOL_OPT,))
async def symbol_config(ctx):
    """Margin type and leverage per symbol."""
    symbol = ctx.params.symbol(required=False)

    def build(ex):
        ch = ex.clearing
        acct = ch.account(ctx.account_id)
        syms = [symbol] if symbol else sorted(ch.instruments)
        out = []
        for s in syms:
            if s not in ch.instruments:
                raise VenueError(-1121, "Invalid symbol.")
            cfg = ch.config(acct, s)
            out.append({"symbol": s, "marginType": "ISOLATED" if cfg.isolated else "CROSSED", "isAutoAddMargin": False,
                        "leverage": cfg.leverage, "maxNotionalValue": shapes.plain(ch.table(s).max_notional(cfg.leverage))})
        return out
    return ctx.service.read(build)


@endpoint("GET", "/fapi/v1/accountConfig", SIGNED, weight=5)
async def account_config(ctx):
    """Account settings."""
    hedge = ctx.service.read(lambda ex: ex.clearing.account(ctx.account_id).hedge_mode)
    return {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True, "dualSidePosition": hedge,
            "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1}


@endpoint("GET", "/fapi/v1/multiAssetsMargin", SIGNED, weight=30)
async def get_multi_assets_margin(ctx):
    """The asset mode: always single-asset here (every contract is margined in its own asset)."""
    ctx.service.read(lambda ex: ex.clearing.account(ctx.account_id))
    return {"multiAssetsMargin": False}


@endpoint("POST", "/fapi/v1/multiAssetsMargin", SIGNED, permission="TRADE",
          params=(Param("multiAssetsMargin", required=True, enum=("true", "false")),))
async def change_multi_assets_margin(ctx):
    """Switch the asset mode. Single-asset mode is the only one: asking for it again gets Binance's
    -4171; asking for Multi-Assets mode is refused (-1130: the venue has no mode to switch to)."""
    multi = ctx.params.bool("multiAssetsMargin")
    if multi is None:
        raise VenueError(-1102, "Mandatory parameter 'multiAssetsMargin' was not sent, was empty/null, or malformed.")
    ctx.service.read(lambda ex: ex.clearing.account(ctx.account_id))
    if not multi:
        raise VenueError(-4171, "Adjusted asset mode is currently set and does not need to be adjusted repeatedly.")
    raise VenueError(-1130, "Data sent for parameter 'multiAssetsMargin' is not valid: "
                            "this venue offers the single-asset mode only.")


def account_alias(account_id: int) -> str:
    """A per-account alias in Binance's shape (four letters and digits, like "SgsR"), derived from the id
    so that it is stable across restarts and distinct between accounts."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    n = (account_id * 2654435761 + 97) % (62 ** 4)     # a bijection on [0, 62^4): distinct ids, distinct aliases
    out = ""
    for _ in range(4):
        n, r = divmod(n, 62)
        out += alphabet[r]
    return out


# ---------------------------------------------------------------------- user data stream keys
@endpoint("POST", "/fapi/v1/listenKey", USER_STREAM)
async def new_listen_key(ctx):
    """Start (or extend) the user data stream: the same active key is returned [P]."""
    return {"listenKey": ctx.service.listen_key(ctx.account_id)}


@endpoint("PUT", "/fapi/v1/listenKey", USER_STREAM)
async def keep_alive_listen_key(ctx):
    """Keep the user data stream alive for 60 minutes."""
    key = ctx.service.keep_alive(ctx.account_id, ctx.params.str("listenKey", max_len=128))
    if key is None:
        raise VenueError(-1125, "This listenKey does not exist.")
    return {"listenKey": key}


@endpoint("DELETE", "/fapi/v1/listenKey", USER_STREAM)
async def close_listen_key(ctx):
    """Close the user data stream."""
    ctx.service.close_listen_key(ctx.account_id, ctx.params.str("listenKey", max_len=128))
    return {}


# ---------------------------------------------------------------------- wallets outside futures
_TRANSFER_TYPES = ("MAIN_UMFUTURE", "UMFUTURE_MAIN", "MAIN_FUNDING", "FUNDING_MAIN", "FUNDING_UMFUTURE",
                   "UMFUTURE_FUNDING")


@endpoint("POST", "/sapi/v1/asset/transfer", SIGNED, permission="TRANSFER", weight=900,
          params=(Param("type", required=True, enum=_TRANSFER_TYPES), Param("asset", required=True),
                  Param("amount", "number", True)))
async def universal_transfer(ctx):
    """Universal transfer between the account's own wallets."""
    kind = ctx.params.str("type", required=True)
    asset = ctx.params.str("asset", required=True, max_len=20)
    amount = ctx.params.decimal("amount", required=True, positive=True)
    if kind not in _TRANSFER_TYPES:
        raise VenueError(-5001, f"Invalid transfer type: {kind!r}")
    r = await run(ctx, "transfer", account_id=ctx.account_id, type=kind, asset=asset, amount=amount)
    return {"tranId": ctx.service.venue.last_seq if r else 0}


def _wallet_rows(ex, account_id: int, kind: str) -> list[dict]:
    ch = ex.clearing
    ch.account(account_id)
    return [{"asset": w.asset, "free": shapes.money(w.balance), "locked": shapes.money(0)}
            for key, w in sorted(ch.ledger.wallets.items(), key=lambda kv: repr(kv[0]))
            if key[:2] == (kind, account_id) and w.balance]


@endpoint("GET", "/api/v3/account", SIGNED, weight=20)
async def spot_account(ctx):
    """The Spot wallet's balances."""
    rows = ctx.service.read(lambda ex: _wallet_rows(ex, ctx.account_id, SPOT))
    return {"makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": True, "canDeposit": True,
            "accountType": "SPOT", "balances": rows, "permissions": ["SPOT"], "updateTime": ctx.service.now()}


@endpoint("POST", "/sapi/v1/asset/get-funding-asset", SIGNED, weight=1)
async def funding_wallet(ctx):
    """The Funding wallet's balances."""
    rows = ctx.service.read(lambda ex: _wallet_rows(ex, ctx.account_id, FUNDING))
    return [{"asset": r["asset"], "free": r["free"], "locked": "0", "freeze": "0", "withdrawing": "0",
             "btcValuation": "0"} for r in rows]


@endpoint("GET", "/sapi/v1/simple-earn/flexible/position", SIGNED, weight=150)
async def earn_positions(ctx):
    """Simple Earn flexible holdings."""
    rows = ctx.service.read(lambda ex: _wallet_rows(ex, ctx.account_id, EARN))
    return {"rows": [{"asset": r["asset"], "totalAmount": r["free"], "canRedeem": True} for r in rows],
            "total": len(rows)}
