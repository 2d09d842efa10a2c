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
