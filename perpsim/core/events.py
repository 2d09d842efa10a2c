"""Immutable events (typed NamedTuples: cheap to build on the hot path): what a command changed. The venue publishes them; read models store them.

Amounts are ints of 1e-8 units. ``reason`` on a balance change is Binance's income type
or ACCOUNT_UPDATE reason where one exists (REALIZED_PNL, COMMISSION, FUNDING_FEE,
INSURANCE_CLEAR, TRANSFER, DEPOSIT, WITHDRAW, MARGIN_TRANSFER, ISOLATED_MARGIN ...).
"""
from __future__ import annotations

from typing import NamedTuple


class BalanceChanged(NamedTuple):
    account_id: int
    wallet: str          # SPOT, FUNDING, FUTURES, EARN or ISOLATED
    asset: str
    delta: int
    balance: int         # the wallet's balance after the change
    reason: str
    symbol: str = ""
    time: int = 0
    trade_id: int = 0    # the fill a COMMISSION or REALIZED_PNL change belongs to (income's tradeId)


class PositionChanged(NamedTuple):
    account_id: int
    symbol: str
    position_side: str
    qty: int
    entry_price: int
    isolated_wallet: int
    isolated: bool
    time: int = 0


class TradeSettled(NamedTuple):
    """One side of a fill, settled: what Binance reports in ORDER_TRADE_UPDATE and userTrades."""

    account_id: int
    symbol: str
    side: str            # BUY or SELL
    position_side: str
    qty: int
    price: int
    commission: int
    commission_asset: str
    realized_pnl: int
    maker: bool
    time: int = 0
    execution: str = ""  # "", LIQUIDATION, ADL or INSURANCE (the insurance fund taking over)
    trade_id: int = 0    # the fill's trade id (book fills, insurance takeovers and ADL closes alike)
    order_id: int = 0    # the order it fills (0: the insurance fund's side of a takeover)


class ConfigChanged(NamedTuple):
    """Leverage, margin type or position mode (ACCOUNT_CONFIG_UPDATE)."""

    account_id: int
    symbol: str          # "" for account-wide settings
    setting: str         # leverage, marginType, dualSidePosition
    value: object
    time: int = 0


class MarkPriceSet(NamedTuple):
    symbol: str
    price: int
    time: int = 0


class MarkPriceUpdate(NamedTuple):
    """markPriceUpdate: the mark, the index and the funding rate estimate at ``time``."""

    symbol: str
    mark_price: int
    index_price: int
    funding_rate: int
    next_funding_time: int
    time: int


class FundingSettled(NamedTuple):
    """One funding settlement of a symbol (GET /fapi/v1/fundingRate)."""

    symbol: str
    funding_rate: int
    mark_price: int
    time: int


class LiquidationRecord(NamedTuple):
    """One liquidation of one position (forceOrders, the liquidation history, the review)."""

    time: int
    account_id: int
    symbol: str
    side: str                 # the liquidation order's side: SELL closes a long
    position_side: str
    margin_type: str          # ISOLATED or CROSSED
    leverage: int
    entry_price: int
    mark_price: int           # the trigger
    liquidation_price: int | None
    bankruptcy_price: int | None
    execution_price: int      # average over the book fills, the insurance takeover and ADL
    qty: int
    book_qty: int             # filled by the IOC order in the book
    insurance_qty: int        # taken over by the insurance fund at the bankruptcy price
    adl_qty: int              # closed against ADL counterparties
    loss: int                 # realized PnL of the closes (negative) plus the clearance fee
    clearance_fee: int
    insurance_delta: int      # what the insurance fund's wallet gained (+) or paid (-)
    wallet_after: int         # the futures (cross) wallet balance after
    partial: bool
    adl_counterparties: tuple  # ((account_id, position_side, qty), ...)
    order_id: int = 0          # the liquidation order (client id autoclose-<ms>) every close filled


class AdlRecord(NamedTuple):
    """One position reduced by auto-deleveraging, at the bankrupt position's bankruptcy price."""

    time: int
    account_id: int
    symbol: str
    position_side: str
    side: str                 # the ADL close's side
    qty: int
    price: int
    realized_pnl: int
    liquidated_account_id: int
    order_id: int = 0         # the ADL close's own order id (one counter with every order)


class InsuranceFundChanged(NamedTuple):
    """A movement of an insurance fund (its full history)."""

    asset: str
    delta: int
    balance: int
    reason: str               # CLEARANCE_FEE, LEFTOVER, TAKEOVER, NEGATIVE_BALANCE, DEPOSIT, ...
    account_id: int
    symbol: str
    time: int


class MarginCall(NamedTuple):
    """The margin ratio of a scope crossed the margin-call threshold (MARGIN_CALL)."""

    time: int
    account_id: int
    margin_type: str          # CROSSED or ISOLATED
    symbol: str               # the isolated position's symbol, "" for a cross account
    position_side: str
    margin_ratio: int
    margin_balance: int
    maint_margin: int
    cross_wallet: int


class IndexOutliers(NamedTuple):
    """An index update that capped or dropped constituents (outliers, stale sources): an incident trail."""

    symbol: str
    index_price: int
    method: str
    outliers: tuple
    stale: tuple
    time: int
