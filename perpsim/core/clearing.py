"""The clearing house: accounts, wallets, positions and marks, changed only by commands.

Every public method validates its input first and raises ``VenueError`` (Binance's code and
message) before it changes anything; on success it returns the events it caused. No I/O, no
clock (time comes in as ``now`` ms), no randomness: the same commands give the same state
hash on any machine. Sources are Binance's FAQ pages (binance.com/en/support/faq/<id>) and API docs:
5d62f8be18d24544b5b6156094c16bf7 "How to Check Futures Wallet Balance", 360038447311 "How to Adjust
Margin Balance in Cross/Isolated Margin Mode", 87fa7ee33b574f7084d42bd2ce2e463b "Cost Required to Open a
Position in Perpetual Futures Contracts", 360033162192 "Leverage and Margin of USDⓈ-M Futures",
360033544231 (fee schedule).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from bisect import bisect_right
from typing import NamedTuple

from . import errors as E
from .accounts import Account, SymbolConfig
from .errors import VenueError
from .events import BalanceChanged, ConfigChanged, MarkPriceSet, PositionChanged, TradeSettled
from .fixed import SCALE, mul, parse, round_div
from .instruments import DEFAULT_LEVERAGE, BracketTable, Instrument, default_instruments, get_instrument
from .ledger import (EARN, FEES, FUNDING, FUTURES, ISOLATED, POSITION_KEY, SETTLEMENT, SPOT, USER_WALLETS, Ledger,
                     Wallet)
from .margin import (Leg, bankruptcy_price, initial_margin, is_liquidatable, liquidation_price, margin_ratio,
                     notional, open_loss, unrealized_pnl)
from .positions import BOTH, LONG, SHORT, Position

BUY, SELL = "BUY", "SELL"
_HALF = SCALE // 2

#: Binance's universal-transfer types between the wallets perpsim models (/sapi/v1/asset/transfer).
TRANSFER_TYPES: dict[str, tuple[str, str]] = {
    "MAIN_UMFUTURE": (SPOT, FUTURES),
    "UMFUTURE_MAIN": (FUTURES, SPOT),
    "MAIN_FUNDING": (SPOT, FUNDING),
    "FUNDING_MAIN": (FUNDING, SPOT),
    "FUNDING_UMFUTURE": (FUNDING, FUTURES),
    "UMFUTURE_FUNDING": (FUTURES, FUNDING),
    # Simple Earn subscribe / redeem (Binance: /sapi/v1/simple-earn/flexible/subscribe|redeem).
    "MAIN_EARN": (SPOT, EARN),
    "EARN_MAIN": (EARN, SPOT),
}

DEFAULT_MAKER_RATE = parse("0.0002")  # VIP 0 USD-M maker 0.0200% (Binance FAQ 360033544231) [S]
DEFAULT_TAKER_RATE = parse("0.0005")  # VIP 0 USD-M taker 0.0500% (Binance FAQ 360033544231) [S]


class PositionFigures(NamedTuple):
    """What Binance shows for one position (positionRisk)."""

    symbol: str
    position_side: str
    qty: int
    entry_price: int
    mark_price: int
    notional: int
    unrealized_pnl: int
    leverage: int
    isolated: bool
    isolated_wallet: int
    initial_margin: int
    maint_margin: int
    mmr: int
    maintenance_amount: int
    liquidation_price: int | None
    bankruptcy_price: int | None
    margin_ratio: int | None        # isolated positions only


class CrossFigures(NamedTuple):
    """An account's cross-margin figures for one margin asset (Binance FAQ 5d62f8be18d24544b5b6156094c16bf7)."""

    asset: str
    wallet_balance: int             # crossWalletBalance
    isolated_wallets: int           # sum of the isolated wallets (walletBalance = both)
    unrealized_pnl: int             # cross positions only
    maint_margin: int
    position_initial_margin: int
    open_order_initial_margin: int
    margin_balance: int
    margin_ratio: int | None
    available_balance: int
    max_withdraw: int


#: The largest single deposit, withdrawal or transfer (1e9 of an asset, in 1e-8 units): a bound on
#: operator input so every balance and history row stays far inside SQLite's 64-bit integers.
MAX_AMOUNT = 10**9 * 10**8


class ClearingHouse:
    """The futures clearing state of one venue."""

    def __init__(self, instruments: dict[str, Instrument] | None = None,
                 maker_rate: int = DEFAULT_MAKER_RATE, taker_rate: int = DEFAULT_TAKER_RATE):
        self.instruments = dict(instruments if instruments is not None else default_instruments())
        self.marks: dict[str, int] = {}
        self.accounts: dict[int, Account] = {}
        self.ledger = Ledger()
        self.maker_rate = maker_rate
        self.taker_rate = taker_rate
        self.bracket_date: dt.date | None = None   # None: the newest tables
        self._risk: dict[str, tuple] = {}
        self._next_account = 1

    def table(self, symbol: str) -> BracketTable:
        """The bracket table in force on the venue's date (a replay uses its era's capture)."""
        return self.instruments[symbol].brackets_at(self.bracket_date)

    def set_bracket_date(self, day: dt.date | None) -> None:
        """Use the bracket tables in force on ``day`` (the venue calls this as its clock moves)."""
        if day != self.bracket_date:
            self.bracket_date = day
            self._risk.clear()

    # ------------------------------------------------------------------ accounts and wallets
    def system_account(self, account_id: int, now: int = 0) -> Account:
        """A venue-owned account (negative id), e.g. the insurance fund's, created on first use."""
        if account_id >= 0:
            raise ValueError("system accounts have negative ids")
        acct = self.accounts.get(account_id)
        if acct is None:
            acct = self.accounts[account_id] = Account(account_id, 0, 0, created=now)
        return acct

    def create_account(self, now: int = 0, account_id: int | None = None) -> Account:
        if account_id is None:
            account_id = self._next_account
        if not isinstance(account_id, int) or account_id <= 0 or account_id in self.accounts:
            raise E.illegal_param("accountId", "It must be a new positive integer.")
        self._next_account = max(self._next_account, account_id + 1)
        acct = Account(account_id, self.maker_rate, self.taker_rate, created=now)
        self.accounts[account_id] = acct
        return acct

    def account(self, account_id: int) -> Account:
        acct = self.accounts.get(account_id) if isinstance(account_id, int) else None
        if acct is None:
            raise VenueError(E.ACCOUNT_NOT_FOUND, "Invalid API-key, IP, or permissions for action.")
        return acct

    def user_wallet(self, account_id: int, kind: str, asset: str) -> Wallet:
        return self.ledger.wallet((kind, account_id), asset)

    def balance(self, account_id: int, kind: str, asset: str) -> int:
        return self.ledger.peek((kind, account_id), asset)

    def venue_wallet(self, kind: str, asset: str) -> Wallet:
        return self.ledger.wallet((kind,), asset)

    @staticmethod
    def _check_amount(amount: object, field: str = "amount") -> int:
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
            raise E.illegal_param(field, "It must be a positive amount of at most 1,000,000,000.")
        return amount

    @staticmethod
    def _check_asset(asset: object) -> str:
        if not isinstance(asset, str) or not asset.isalnum() or not asset.isupper() or len(asset) > 20:
            raise E.illegal_param("asset")
        return asset

    @staticmethod
    def _check_kind(kind: object) -> str:
        if kind not in USER_WALLETS:
            raise E.illegal_param("wallet", f"One of {', '.join(USER_WALLETS)}.")
        return kind  # type: ignore[return-value]

    def _changed(self, account_id: int, w: Wallet, delta: int, reason: str, symbol: str = "", now: int = 0,
                 trade_id: int = 0):
        return BalanceChanged(account_id, w.key[0], w.asset, delta, w.balance, reason, symbol, now, trade_id)

    def deposit(self, account_id: int, kind: str, asset: str, amount: int, now: int = 0) -> list:
        """Test funds into any user wallet (the admin API's deposit)."""
        self.account(account_id)
        kind, asset, amount = self._check_kind(kind), self._check_asset(asset), self._check_amount(amount)
        w = self.user_wallet(account_id, kind, asset)
        self.ledger.deposit(w, amount)
        return [self._changed(account_id, w, amount, "DEPOSIT", now=now)]

    def withdraw(self, account_id: int, kind: str, asset: str, amount: int, now: int = 0) -> list:
        self.account(account_id)
        kind, asset, amount = self._check_kind(kind), self._check_asset(asset), self._check_amount(amount)
        if amount > self.transferable(account_id, kind, asset):
            raise VenueError(E.BALANCE_INSUFFICIENT, "Asset transfer failed: insufficient balance")
        w = self.user_wallet(account_id, kind, asset)
        self.ledger.withdraw(w, amount)
        return [self._changed(account_id, w, -amount, "WITHDRAW", now=now)]

    def transferable(self, account_id: int, kind: str, asset: str) -> int:
        """What may leave a wallet: its balance, or max withdrawable for futures (Binance FAQ 360038447311)."""
        if kind == FUTURES:
            return self.cross_figures(account_id, asset).max_withdraw
        return max(0, self.balance(account_id, kind, asset))

    def transfer(self, account_id: int, transfer_type: str, asset: str, amount: int, now: int = 0) -> list:
        """Binance's universal transfer between an account's own wallets."""
        self.account(account_id)
        if transfer_type not in TRANSFER_TYPES:
            raise VenueError(E.TRANSFER_TYPE_INVALID, f"Invalid transfer type: {transfer_type!r}")
        asset, amount = self._check_asset(asset), self._check_amount(amount)
        src_kind, dst_kind = TRANSFER_TYPES[transfer_type]
        if amount > self.transferable(account_id, src_kind, asset):
            raise VenueError(E.BALANCE_INSUFFICIENT, "Asset transfer failed: insufficient balance")
        src, dst = self.user_wallet(account_id, src_kind, asset), self.user_wallet(account_id, dst_kind, asset)
        self.ledger.move(src, dst, amount)
        return [self._changed(account_id, src, -amount, "TRANSFER", now=now),
                self._changed(account_id, dst, amount, "TRANSFER", now=now)]

    # ------------------------------------------------------------------ futures settings
    def config(self, acct: Account, symbol: str) -> SymbolConfig:
        """A symbol's settings; the default (20x, cross) until the account changes them. Reads only."""
        cfg = acct.configs.get(symbol)
        if cfg is None:
            ins = get_instrument(self.instruments, symbol)
            cfg = SymbolConfig(min(DEFAULT_LEVERAGE, self.table(ins.symbol).max_leverage))
        return cfg

    def _stored_config(self, acct: Account, symbol: str) -> SymbolConfig:
        """The settings object kept on the account (stored on first write)."""
        cfg = acct.configs.get(symbol)
        if cfg is None:
            cfg = acct.configs[symbol] = self.config(acct, symbol)
        return cfg

    def set_leverage(self, account_id: int, symbol: str, leverage: int, now: int = 0) -> tuple[int, list]:
        """Change a symbol's leverage; returns the max notional allowed at it (POST /fapi/v1/leverage)."""
        acct = self.account(account_id)
        ins = get_instrument(self.instruments, symbol)
        table = self.table(symbol)
        if not isinstance(leverage, int) or isinstance(leverage, bool) or not 1 <= leverage <= table.max_leverage:
            raise VenueError(E.INVALID_LEVERAGE, f"Leverage {leverage} is not valid")
        cfg = self.config(acct, symbol)
        max_notional = table.max_notional(leverage)
        positions = [p for p in acct.open_positions() if p.symbol == symbol]
        mark = self.mark(symbol)
        if any(notional(p.qty, mark or p.entry_price) > max_notional for p in positions):
            raise VenueError(E.MAX_POSITION, "Exceeded the maximum allowable position at current leverage.")
        if leverage < cfg.leverage and any(p.isolated for p in positions):
            raise VenueError(-4161, "Leverage reduction is not supported in Isolated Margin Mode with open positions")
        old = cfg.leverage
        cfg = self._stored_config(acct, symbol)
        cfg.leverage = leverage
        if leverage < old and positions and self._cross_shortfall(acct, ins.margin_asset):
            cfg.leverage = old
            raise VenueError(E.MARGIN_INSUFFICIENT, "Margin is insufficient.")
        return max_notional, [ConfigChanged(account_id, symbol, "leverage", leverage, now)]

    def _cross_shortfall(self, acct: Account, asset: str) -> bool:
        f = self.cross_figures(acct.id, asset)
        return f.margin_balance < f.position_initial_margin + f.open_order_initial_margin

    def set_margin_type(self, account_id: int, symbol: str, isolated: bool, now: int = 0) -> list:
        """CROSSED <-> ISOLATED; refused with open orders or a position (codes -4046/-4047/-4048)."""
        acct = self.account(account_id)
        get_instrument(self.instruments, symbol)
        if not isinstance(isolated, bool):
            raise E.illegal_param("marginType")
        cfg = self.config(acct, symbol)
        if cfg.isolated == isolated:
            raise VenueError(E.NO_NEED_MARGIN_TYPE, "No need to change margin type.")
        if acct.has_orders(symbol):
            raise VenueError(E.MARGIN_TYPE_OPEN_ORDERS, "Margin type cannot be changed if there exists open orders.")
        if acct.has_position(symbol):
            raise VenueError(E.MARGIN_TYPE_POSITION, "Margin type cannot be changed if there exists position.")
        self._stored_config(acct, symbol).isolated = isolated
        for side in (BOTH, LONG, SHORT):
            acct.positions.pop((symbol, side), None)  # flat: the next fill opens it in the new mode
        return [ConfigChanged(account_id, symbol, "marginType", "ISOLATED" if isolated else "CROSSED", now)]

    def set_position_mode(self, account_id: int, hedge: bool, now: int = 0) -> list:
        """One-way <-> hedge; refused with open orders or any position (codes -4059/-4067/-4068)."""
        acct = self.account(account_id)
        if not isinstance(hedge, bool):
            raise E.illegal_param("dualSidePosition")
        if acct.hedge_mode == hedge:
            raise VenueError(E.NO_NEED_POSITION_SIDE, "No need to change position side.")
        if acct.has_orders():
            raise VenueError(E.POSITION_SIDE_OPEN_ORDERS, "Position side cannot be changed if there exists open orders.")
        if acct.has_position():
            raise VenueError(E.POSITION_SIDE_POSITION, "Position side cannot be changed if there exists position.")
        acct.hedge_mode = hedge
        acct.positions.clear()
        return [ConfigChanged(account_id, "", "dualSidePosition", hedge, now)]

    # ------------------------------------------------------------------ marks
    def set_mark(self, symbol: str, price: int, now: int = 0) -> list:
        ins = get_instrument(self.instruments, symbol)
        if not isinstance(price, int) or isinstance(price, bool) or not 0 < price <= ins.max_price:
            raise E.illegal_param("markPrice", "It must be positive and at most the symbol's maxPrice (PRICE_FILTER).")
        self.marks[symbol] = price
        return [MarkPriceSet(symbol, price, now)]

    def mark(self, symbol: str) -> int:
        """The symbol's mark price (0 until one is set)."""
        return self.marks.get(symbol, 0)

    # ------------------------------------------------------------------ positions and fills
    def resolve_position_side(self, acct: Account, side: str, position_side: str | None) -> str:
        """One-way accounts use BOTH; hedge accounts must name LONG or SHORT (-4061)."""
        if side not in (BUY, SELL):
            raise E.illegal_param("side")
        if position_side in (None, ""):
            position_side = BOTH
        if position_side not in (BOTH, LONG, SHORT):
            raise E.illegal_param("positionSide")
        if (position_side == BOTH) == acct.hedge_mode:
            raise VenueError(E.POSITION_SIDE_MISMATCH, "Order's position side does not match user's setting.")
        return position_side

    def position(self, acct: Account, symbol: str, position_side: str) -> Position:
        pos = acct.positions.get((symbol, position_side))
        if pos is None:
            cfg = self._stored_config(acct, symbol)
            wallet = None
            if cfg.isolated:
                asset = self.instruments[symbol].margin_asset
                wallet = self.ledger.wallet((ISOLATED, acct.id, symbol, position_side), asset)
            pos = acct.positions[(symbol, position_side)] = Position(acct.id, symbol, position_side, wallet)
        return pos

    def _check_fill(self, acct: Account, ins: Instrument, side: str, qty: int, price: int,
                    position_side: str) -> int:
        """Validate a fill; returns its signed quantity."""
        if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0 or qty % ins.step_size:
            raise VenueError(-4023, "Qty not increased by step size.") if isinstance(qty, int) and qty > 0 \
                else VenueError(-4003, "Quantity less than or equal to zero.")
        if not isinstance(price, int) or isinstance(price, bool) or price <= 0 or price % ins.tick_size:
            raise VenueError(-4014, "Price not increased by tick size.") if isinstance(price, int) and price > 0 \
                else VenueError(-4001, "Price less than 0.")
        dq = qty if side == BUY else -qty
        if position_side == LONG and dq < 0 or position_side == SHORT and dq > 0:
            pos = acct.positions.get((ins.symbol, position_side))
            if pos is None or abs(pos.qty) < qty:
                raise VenueError(-2022, "ReduceOnly Order is rejected.")
        return dq

    def opening_qty(self, acct: Account, symbol: str, position_side: str, dq: int) -> int:
        """The part of a fill that opens or increases a position (the part a margin check covers)."""
        pos = acct.positions.get((symbol, position_side))
        q = pos.qty if pos is not None else 0
        if q == 0 or (q > 0) == (dq > 0):
            return abs(dq)
        return max(0, abs(dq) - abs(q))

    def check_order_cost(self, account_id: int, symbol: str, side: str, qty: int, price: int,
                         position_side: str | None = None) -> int:
        """Binance's pre-trade check for the opening part of an order; returns its cost (Binance FAQ 87fa7ee33b574f7084d42bd2ce2e463b).

        Cost = initial margin + open loss must fit the available balance (-2019), and the
        position notional must stay within the cap at the chosen leverage (-2027; Binance FAQ 360033162192).
        """
        acct = self.account(account_id)
        ins = get_instrument(self.instruments, symbol)
        ps = self.resolve_position_side(acct, side, position_side)
        dq = self._check_fill(acct, ins, side, qty, price, ps)
        opening = self.opening_qty(acct, symbol, ps, dq)
        if not opening:
            return 0
        cfg = self.config(acct, symbol)
        mark = self.mark(symbol) or price
        pos = acct.positions.get((symbol, ps))
        new_qty = (pos.qty if pos else 0) + dq
        if notional(new_qty, max(mark, price)) > self.table(symbol).max_notional(cfg.leverage):
            raise VenueError(E.MAX_POSITION, "Exceeded the maximum allowable position at current leverage.")
        direction = 1 if side == BUY else -1
        cost = initial_margin(notional(opening, price), cfg.leverage) + open_loss(opening, direction, mark, price)
        if cost > self.cross_figures(account_id, ins.margin_asset).available_balance:
            raise VenueError(E.MARGIN_INSUFFICIENT, "Margin is insufficient.")
        return cost

    def apply_fill(self, account_id: int, symbol: str, side: str, qty: int, price: int, maker: bool,
                   position_side: str | None = None, now: int = 0, fee: bool = True,
                   execution: str = "", release_isolated: bool = True, trade_id: int = 0,
                   order_id: int = 0) -> list:
        """Settle one side of a fill: position, commission, realized PnL, isolated margin.

        Commission = notional x the account's maker/taker rate (FAQ 98488a51...), paid from
        the futures (cross) wallet to the venue's fee wallet [I: Binance does not publish where it goes]. Realized PnL is
        paid between the settlement wallet and the cross wallet, or the isolated wallet for an
        isolated position. Opening an isolated position moves notional / leverage from the
        cross wallet into its isolated wallet; reducing one returns the closed share of the
        isolated wallet plus its realized PnL, never a deficit [I]. The liquidation waterfall settles with
        ``fee=False`` (no commission on liquidation or ADL closes), an ``execution`` tag
        (LIQUIDATION, ADL, INSURANCE) and ``release_isolated=False`` (it distributes the
        isolated wallet itself: clearance fee, insurance share, deficit). ``trade_id`` and
        ``order_id`` name the fill in its events (income's tradeId, userTrades).
        """
        acct = self.account(account_id)
        ins = get_instrument(self.instruments, symbol)
        ps = self.resolve_position_side(acct, side, position_side)
        dq = self._check_fill(acct, ins, side, qty, price, ps)
        if not isinstance(maker, bool):
            raise E.illegal_param("maker")
        cfg = self.config(acct, symbol)
        asset = ins.margin_asset
        pos = self.position(acct, symbol, ps)
        cross = self.user_wallet(account_id, FUTURES, asset)
        settlement = self.venue_wallet(SETTLEMENT, asset)
        events: list = []

        q_before = abs(pos.qty)
        iw_before = pos.wallet.balance if pos.wallet is not None else 0
        realized, closed, opened = pos.fill(dq, price)
        pos.updated = now
        if self.ledger.touched is not None:
            self.ledger.touched.add((POSITION_KEY, account_id))

        commission = mul(mul(qty, price), acct.maker_rate if maker else acct.taker_rate) if fee else 0
        if commission:
            self.ledger.move(cross, self.venue_wallet(FEES, asset), commission)
            events.append(self._changed(account_id, cross, -commission, "COMMISSION", symbol, now, trade_id))
        if pos.wallet is None:
            if realized:
                self.ledger.move(settlement, cross, realized)
                events.append(self._changed(account_id, cross, realized, "REALIZED_PNL", symbol, now, trade_id))
        else:
            iw = pos.wallet
            if realized:
                self.ledger.move(settlement, iw, realized)
                events.append(self._changed(account_id, iw, realized, "REALIZED_PNL", symbol, now, trade_id))
            if closed and release_isolated:
                if closed == q_before:
                    # closed in full: all of it returns to cross; a deficit stays for the insurance
                    # fund to cover (negative-balance protection), never the cross wallet
                    release = max(0, iw.balance)
                else:
                    release = max(0, min(iw.balance, round_div(iw_before * closed, q_before) + realized))
                if release:
                    self.ledger.move(iw, cross, release)
                    events.append(self._changed(account_id, iw, -release, "ISOLATED_MARGIN", symbol, now))
            if opened:
                im = initial_margin(notional(opened, price), cfg.leverage)
                self.ledger.move(cross, iw, im)
                events.append(self._changed(account_id, iw, im, "ISOLATED_MARGIN", symbol, now))
        events.append(TradeSettled(account_id, symbol, side, ps, qty, price, commission, asset, realized, maker, now,
                                   execution, trade_id, order_id))
        events.append(PositionChanged(account_id, symbol, ps, pos.qty, pos.entry_price,
                                      pos.wallet.balance if pos.wallet else 0, pos.isolated, now))
        return events

    def trade(self, buyer: int, seller: int, symbol: str, qty: int, price: int, taker: str = BUY,
              buyer_position_side: str | None = None, seller_position_side: str | None = None,
              now: int = 0, check_margin: bool = True) -> list:
        """A matched trade between two accounts, settled on both sides (used without a book).

        Both sides pass the pre-trade check first, so nothing changes if either is refused.
        """
        if taker not in (BUY, SELL):
            raise E.illegal_param("taker")
        if check_margin:
            self.check_order_cost(buyer, symbol, BUY, qty, price, buyer_position_side)
            self.check_order_cost(seller, symbol, SELL, qty, price, seller_position_side)
        else:
            for acct_id, side, ps in ((buyer, BUY, buyer_position_side), (seller, SELL, seller_position_side)):
                acct = self.account(acct_id)
                ins = get_instrument(self.instruments, symbol)
                self._check_fill(acct, ins, side, qty, price, self.resolve_position_side(acct, side, ps))
        events = self.apply_fill(buyer, symbol, BUY, qty, price, taker != BUY, buyer_position_side, now)
        events += self.apply_fill(seller, symbol, SELL, qty, price, taker != SELL, seller_position_side, now)
        return events

    # ------------------------------------------------------------------ isolated margin
    def adjust_isolated_margin(self, account_id: int, symbol: str, amount: int, add: bool,
                               position_side: str | None = None, now: int = 0) -> list:
        """Add to or remove from an isolated position's wallet within Binance's limits (Binance FAQ 360038447311)."""
        acct = self.account(account_id)
        ins = get_instrument(self.instruments, symbol)
        amount = self._check_amount(amount)
        ps = position_side or BOTH
        if (ps == BOTH) == acct.hedge_mode or ps not in (BOTH, LONG, SHORT):
            raise VenueError(E.POSITION_SIDE_MISMATCH, "Order's position side does not match user's setting.")
        pos = acct.positions.get((symbol, ps))
        if pos is not None and pos.qty and not pos.isolated:
            raise VenueError(-4049, "Add margin only support for isolated position.")
        if pos is None or not pos.qty:
            raise VenueError(-4054, "Cannot add position margin: position is 0.")
        cross = self.user_wallet(account_id, FUTURES, ins.margin_asset)
        if add:
            f = self.cross_figures(account_id, ins.margin_asset)
            limit = max(0, min(cross.balance - f.open_order_initial_margin - f.maint_margin, f.available_balance))
            if amount > limit:
                raise VenueError(-4050, "Cross balance insufficient.")
            self.ledger.move(cross, pos.wallet, amount)
        else:
            if amount > self.max_removable(pos):
                raise VenueError(-4051, "Isolated balance insufficient.")
            self.ledger.move(pos.wallet, cross, amount)
        delta = amount if add else -amount
        return [self._changed(account_id, pos.wallet, delta, "ISOLATED_MARGIN", symbol, now),
                PositionChanged(account_id, symbol, ps, pos.qty, pos.entry_price, pos.wallet.balance, True, now)]

    def max_removable(self, pos: Position) -> int:
        """max(0, min(iw - MM, iw + UPNL - IM at mark)) (FAQ 360038447311)."""
        if pos.wallet is None or not pos.qty:
            return 0
        f = self.position_figures(pos)
        iw = pos.wallet.balance
        return max(0, min(iw - f.maint_margin, iw + f.unrealized_pnl - f.initial_margin))

    # ------------------------------------------------------------------ figures
    def position_figures(self, pos: Position, mark: int | None = None) -> PositionFigures:
        """Every figure Binance shows for a position, at the symbol's mark (or ``mark``)."""
        acct = self.accounts[pos.account_id]
        ins = self.instruments[pos.symbol]
        cfg = self.config(acct, pos.symbol)
        mp = mark if mark is not None else (self.marks.get(pos.symbol) or pos.entry_price)
        n = notional(pos.qty, mp)
        table = self.table(pos.symbol)
        b = table.for_notional(n)
        mm = mul(n, b.mmr) - b.cum if pos.qty else 0
        upnl = unrealized_pnl(pos.qty, pos.cost, mp)
        iw = pos.wallet.balance if pos.wallet is not None else 0
        if pos.isolated:
            legs = [Leg(pos.qty, pos.cost, table)]
            lp = liquidation_price(iw, legs)
            bp = bankruptcy_price(iw, legs)
            mr = margin_ratio(mm, iw + upnl)
        else:
            lp, bp = self._cross_prices(acct, pos.symbol)
            mr = None
        return PositionFigures(pos.symbol, pos.side, pos.qty, pos.entry_price, mp, n, upnl, cfg.leverage,
                               pos.isolated, iw, initial_margin(n, cfg.leverage), mm, b.mmr, b.cum, lp, bp, mr)

    def _cross_prices(self, acct: Account, symbol: str) -> tuple[int | None, int | None]:
        """Cross liquidation and bankruptcy price of a symbol: other cross symbols held at mark."""
        asset = self.instruments[symbol].margin_asset
        legs, others_mm, others_upnl = [], 0, 0
        for p in acct.open_positions():
            if p.isolated or self.instruments[p.symbol].margin_asset != asset:
                continue
            if p.symbol == symbol:
                legs.append(Leg(p.qty, p.cost, self.table(symbol)))
            else:
                mp = self.marks.get(p.symbol) or p.entry_price
                n = notional(p.qty, mp)
                others_mm += self.table(p.symbol).maint_margin(n)
                others_upnl += unrealized_pnl(p.qty, p.cost, mp)
        wb = self.balance(acct.id, FUTURES, asset)
        return (liquidation_price(wb, legs, others_mm, others_upnl), bankruptcy_price(wb, legs, others_upnl))

    def cross_figures(self, account_id: int, asset: str = "USDT") -> CrossFigures:
        """crossWalletBalance, margin balance, margin ratio, available and max withdrawable (FAQ 5d62f8be..., 360038447311).

        The hot path of every margin check: the formulas of margin.py inlined, each
        per-position figure rounded half away from zero as there.
        """
        acct = self.account(account_id)
        wb = self.balance(account_id, FUTURES, asset)
        upnl = mm = im = iso_wallets = 0
        marks, risk, configs = self.marks, self._risk, acct.configs
        for pos in acct.positions.values():
            params = risk.get(pos.symbol) or self._risk_params(pos.symbol)
            if params[0] != asset:
                continue
            if pos.wallet is not None:
                iso_wallets += pos.wallet.balance
                continue
            q = pos.qty
            if not q:
                continue
            mp = marks.get(pos.symbol) or pos.entry_price
            n = ((q if q > 0 else -q) * mp + _HALF) // SCALE
            caps, mmrs, cums = params[1], params[2], params[3]
            i = bisect_right(caps, n)
            if i == len(caps):
                i -= 1
            mm += (n * mmrs[i] + _HALF) // SCALE - cums[i]
            v = q * mp
            upnl += ((v + _HALF) // SCALE if v >= 0 else -((_HALF - v) // SCALE)) - pos.cost
            lev = configs[pos.symbol].leverage
            im += (2 * n + lev) // (2 * lev)
        cross_order_im = iso_order_im = 0
        for symbol, reserved in acct.order_margin.items():
            if reserved and self.instruments[symbol].margin_asset == asset:
                if configs[symbol].isolated:
                    iso_order_im += reserved
                else:
                    cross_order_im += reserved
        mb = wb + upnl
        order_im = cross_order_im + iso_order_im
        available = max(0, mb - im - order_im)
        max_withdraw = max(0, min(wb - iso_order_im - mm, mb - im - order_im))
        return CrossFigures(asset, wb, iso_wallets, upnl, mm, im, order_im, mb, margin_ratio(mm, mb),
                            available, max_withdraw)

    def _risk_params(self, symbol: str) -> tuple:
        """(margin asset, caps, MMRs, cums) of the table in force, cached for the hot path."""
        ins = self.instruments[symbol]
        t = self.table(symbol)
        params = (ins.margin_asset, tuple(b.cap for b in t.brackets), tuple(b.mmr for b in t.brackets),
                  tuple(b.cum for b in t.brackets))
        self._risk[symbol] = params
        return params

    def is_liquidatable(self, account_id: int, asset: str = "USDT") -> bool:
        f = self.cross_figures(account_id, asset)
        return is_liquidatable(f.maint_margin, f.margin_balance)

    # ------------------------------------------------------------------ invariants
    def is_balanced(self) -> bool:
        """Deposits - withdrawals == every wallet + insurance + fees + settlement, exactly."""
        return self.ledger.is_balanced()

    def open_interest_value(self, asset: str, prices: dict[str, int] | None = None) -> int:
        """Sum of open positions' unrealized PnL at ``prices`` (default: marks)."""
        prices = prices or self.marks
        total = 0
        for acct in self.accounts.values():
            for p in acct.open_positions():
                if self.instruments[p.symbol].margin_asset == asset:
                    total += unrealized_pnl(p.qty, p.cost, prices.get(p.symbol) or p.entry_price)
        return total

    def state_hash(self) -> str:
        """SHA-256 of a canonical dump of the state: the same on every machine for the same commands."""
        h = hashlib.sha256()
        h.update(f"D|{self.bracket_date}\n".encode())
        for symbol in sorted(self.marks):
            h.update(f"M|{symbol}|{self.marks[symbol]}\n".encode())
        for acct_id in sorted(self.accounts):
            a = self.accounts[acct_id]
            h.update(f"A|{a.id}|{int(a.hedge_mode)}|{a.maker_rate}|{a.taker_rate}|{a.created}\n".encode())
            for symbol in sorted(a.configs):
                c = a.configs[symbol]
                h.update(f"C|{symbol}|{c.leverage}|{int(c.isolated)}|{a.order_margin.get(symbol, 0)}\n".encode())
            for key in sorted(a.positions):
                p = a.positions[key]
                h.update(f"P|{p.symbol}|{p.side}|{p.qty}|{p.cost}|{int(p.isolated)}\n".encode())
        for key in sorted(self.ledger.wallets, key=repr):
            h.update(f"W|{key!r}|{self.ledger.wallets[key].balance}\n".encode())
        for asset in sorted(self.ledger.net_in):
            h.update(f"N|{asset}|{self.ledger.net_in[asset]}\n".encode())
        return h.hexdigest()
