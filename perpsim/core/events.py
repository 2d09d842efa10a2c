"""Every event the venue publishes, in one home: immutable typed NamedTuples (cheap to build on the hot
path) saying what a command changed. The adapter translates them to Binance's streams and replies;
the read models store them. Sections: money and positions, prices and funding, liquidation and the
insurance fund, the order layer, trader protection, public market data. (The book's own results,
book.py, are internal to the order layer.)

Amounts are ints of 1e-8 units. ``reason`` on a balance change is Binance's income type
or ACCOUNT_UPDATE reason where one exists (REALIZED_PNL, COMMISSION, FUNDING_FEE,
INSURANCE_CLEAR, TRANSFER, DEPOSIT, WITHDRAW, MARGIN_TRANSFER, ISOLATED_MARGIN ...).
"""
from __future__ import annotations

from typing import Any, NamedTuple


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


# ---------------------------------------------------------------------- the order layer
class OrderUpdate(NamedTuple):
    """One ORDER_TRADE_UPDATE (user stream ``o`` object; amounts in 1e-8 units, times in ms).

    Field -> Binance key: symbol s, client_order_id c, side S, order_type o, time_in_force f,
    orig_qty q, price p, avg_price ap, stop_price sp, execution_type x, order_status X,
    order_id i, last_filled_qty l, filled_qty z, last_filled_price L, commission_asset N,
    commission n, trade_time T, trade_id t, maker m, reduce_only R, working_type wt,
    orig_type ot, position_side ps, close_position cp, activate_price AP, callback_rate cr
    (percent), price_protect pP, realized_profit rp, stp_mode V, expire_reason er, and
    cum_quote (Binance's cumQuote, for REST replies). ``time`` is the event time E.
    """
    account_id: int
    symbol: str
    client_order_id: str
    side: str
    order_type: str
    time_in_force: str
    orig_qty: int
    price: int
    avg_price: int
    stop_price: int
    execution_type: str
    order_status: str
    order_id: int
    last_filled_qty: int
    filled_qty: int
    last_filled_price: int
    commission_asset: str
    commission: int
    trade_time: int
    trade_id: int
    maker: bool
    reduce_only: bool
    working_type: str
    orig_type: str
    position_side: str
    close_position: bool
    activate_price: int
    callback_rate: int
    price_protect: bool
    realized_profit: int
    stp_mode: str
    expire_reason: str
    cum_quote: int
    time: int


class AlgoUpdate(NamedTuple):
    """One ALGO_UPDATE (user stream ``o`` object of a conditional order).

    Field -> Binance key: client_algo_id caid, algo_id aid, order_type o, symbol s, side S,
    position_side ps, time_in_force f, quantity q, status X (algoStatus), actual_order_id ai,
    actual_avg_price ap, actual_qty aq, actual_type act, trigger_price tp, price p, stp_mode V,
    working_type wt, close_position cp, price_protect pP, reduce_only R, trigger_time tt,
    reject_reason rm; activate_price / callback_rate (percent) for trailing orders.
    """
    account_id: int
    symbol: str
    algo_id: int
    client_algo_id: str
    order_type: str
    side: str
    position_side: str
    time_in_force: str
    quantity: int
    status: str
    actual_order_id: int
    actual_avg_price: int
    actual_qty: int
    actual_type: str
    trigger_price: int
    price: int
    stp_mode: str
    working_type: str
    close_position: bool
    price_protect: bool
    reduce_only: bool
    activate_price: int
    callback_rate: int
    trigger_time: int
    reject_reason: str
    time: int


class DepthUpdate(NamedTuple):
    """A ``depthUpdate``: Binance's U / u / pu and changed levels ``{price: total}`` (0 = removed)."""
    symbol: str
    first_update_id: int
    final_update_id: int
    prev_final_update_id: int
    bids: dict
    asks: dict
    time: int


class BookTicker(NamedTuple):
    """``/fapi/v1/ticker/bookTicker`` and ``@bookTicker``: best levels and the book update id."""
    symbol: str
    bid_price: int
    bid_qty: int
    ask_price: int
    ask_qty: int
    update_id: int
    time: int


# ---------------------------------------------------------------------- trader protection
class Notification(NamedTuple):
    """One message to a trader: pushed on the user stream, kept, POSTed to ``webhook`` when set.

    ``kind``: MARGIN_CALL (the venue's margin call), MARGIN_ALERT (a configured margin-ratio level),
    LIQUIDATION_PRICE_ALERT (within a configured distance of the liquidation price), LIQUIDATION
    (``record`` is the LiquidationRecord), RESTRICTION (a restriction started or ended), APPEAL.
    """

    time: int
    account_id: int
    kind: str
    payload: dict
    webhook: str = ""
    record: Any = None


class RestrictionChanged(NamedTuple):
    """A restriction of an account started (``active``) or ended. ``until`` 0: until lifted."""

    time: int
    account_id: int
    restriction: str   # RISK_TEST, PAUSE, TEMP_BAN, BAN, FREEZE, FEATURES, COOLING_OFF, IDENTITY_FLAG
    active: bool
    until: int
    reason: str


class AppealDecided(NamedTuple):
    """The answer to an appeal on one liquidation; ``amount`` is the compensation booked."""

    time: int
    account_id: int
    symbol: str
    liquidation_time: int
    granted: bool
    amount: int
    incident_id: int
    reason: str


# ---------------------------------------------------------------------- public market data
class Trade(NamedTuple):
    """One public trade (``@trade`` stream / ``/fapi/v1/trades``). ``buyer_maker`` is Binance's ``m``."""
    symbol: str
    trade_id: int
    price: int
    qty: int
    quote_qty: int
    time: int
    buyer_maker: bool
    taker_order_id: int
    maker_order_id: int


class AggTrade(NamedTuple):
    """Fills of one taker order at one price (``@aggTrade`` / ``/fapi/v1/aggTrades``)."""
    symbol: str
    agg_id: int
    price: int
    qty: int
    first_trade_id: int
    last_trade_id: int
    time: int
    buyer_maker: bool
