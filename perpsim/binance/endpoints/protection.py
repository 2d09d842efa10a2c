"""perpsim's own signed endpoints under /perpsim/v1/: trader protection and the liquidation review.

Translation only: each endpoint reads its parameters and runs one of the guard's commands
(perpsim/core/guard_commands.py); the review reads the account's Binance-shaped history
(perpsim/review). Errors are Binance-style like everywhere else.
"""
from __future__ import annotations

import json
import secrets

from perpsim.core.errors import VenueError

from .. import protection_shapes as shape
from ..routes import SIGNED, Param, endpoint
from .common import run


@endpoint("GET", "/perpsim/v1/status", SIGNED)
async def status(ctx):
    """What the account may do now: restrictions, their reasons and until when."""
    return shape.status((await run(ctx, "account_status", account_id=ctx.account_id)).reply)


@endpoint("POST", "/perpsim/v1/riskTest", SIGNED, permission="TRADE")
async def risk_test_start(ctx):
    """Start the risk test: shuffled questions (without their answers)."""
    return (await run(ctx, "risk_test_start", account_id=ctx.account_id, seed=secrets.randbits(32))).reply


@endpoint("POST", "/perpsim/v1/riskTest/answers", SIGNED, permission="TRADE",
          params=(Param("answers", required=True, description="JSON list of option indices, in question order"),))
async def risk_test_submit(ctx):
    """Submit the answers; passing lifts the risk-test restriction."""
    raw = ctx.params.str("answers", required=True, max_len=2048)
    try:
        answers = json.loads(raw)
    except ValueError:
        raise VenueError(-1130, "Data sent for parameter 'answers' is not valid. A JSON list.") from None
    if not isinstance(answers, (list, dict)):
        raise VenueError(-1130, "Data sent for parameter 'answers' is not valid. A JSON list.")
    return (await run(ctx, "risk_test_submit", account_id=ctx.account_id, answers=answers)).reply


@endpoint("POST", "/perpsim/v1/coolingOff", SIGNED, permission="TRADE",
          params=(Param("period", required=True, enum=("24H", "1W", "CUSTOM")), Param("durationMs", "integer")))
async def cooling_off(ctx):
    """A cooling-off period during which opening positions is refused (24 h, 1 week, or custom)."""
    period = ctx.params.enum("period", ("24H", "1W", "CUSTOM"), required=True)
    duration = ctx.params.int("durationMs", lo=1, hi=10 * 365 * 86_400_000)
    return (await run(ctx, "set_cooling_off", account_id=ctx.account_id, period=period, duration_ms=duration)).reply


@endpoint("POST", "/perpsim/v1/limits", SIGNED, permission="TRADE",
          params=(Param("maxLeverage", "integer"), Param("dailyLossLimit", "number")))
async def self_limits(ctx):
    """A personal max-leverage cap and a daily-loss limit."""
    return (await run(ctx, "set_self_limits", account_id=ctx.account_id,
                      max_leverage=ctx.params.int("maxLeverage", lo=1, hi=1000),
                      daily_loss_limit=ctx.params.decimal("dailyLossLimit", positive=True))).reply


@endpoint("POST", "/perpsim/v1/webhook", SIGNED, permission="TRADE",
          params=(Param("url", required=True, description="http(s) URL the operator allows; empty clears it"),))
async def webhook(ctx):
    """Where notifications are POSTed (an empty url clears it); only hosts the operator allows (loopback by default)."""
    from perpsim.venue.webhooks import WebhookPolicy, WebhookRefused

    if "url" not in ctx.params.values:
        raise VenueError(-1102, "Mandatory parameter 'url' was not sent, was empty/null, or malformed.")
    url = ctx.params.str("url", max_len=512) or ""
    if url:
        policy = ctx.service.settings.extra.get("webhook_policy") or WebhookPolicy()
        try:
            await policy.check(url)
        except WebhookRefused as e:
            raise VenueError(-1130, f"Data sent for parameter 'url' is not valid. {e}.") from None
    return (await run(ctx, "set_webhook", account_id=ctx.account_id, url=url)).reply


@endpoint("GET", "/perpsim/v1/preview", SIGNED,
          params=(Param("symbol", required=True), Param("side", required=True, enum=("BUY", "SELL")),
                  Param("quantity", "number", True), Param("price", "number"), Param("leverage", "integer"),
                  Param("marginType", enum=("ISOLATED", "CROSSED")), Param("positionSide"),
                  Param("stopPrice", "number")))
async def preview(ctx):
    """Pre-trade risk preview: liquidation price, move to it, share of margin, and warnings."""
    p = ctx.params
    return shape.preview((await run(ctx, "risk_preview", account_id=ctx.account_id, symbol=p.symbol(),
                      side=p.enum("side", ("BUY", "SELL"), required=True),
                      quantity=p.decimal("quantity", required=True, positive=True),
                      price=p.decimal("price", positive=True), leverage=p.int("leverage", lo=1, hi=1000),
                      margin_type=p.enum("marginType", ("ISOLATED", "CROSSED")),
                      position_side=p.enum("positionSide", ("BOTH", "LONG", "SHORT")),
                      stop_price=p.decimal("stopPrice", positive=True))).reply)


@endpoint("GET", "/perpsim/v1/liquidations", SIGNED,
          params=(Param("symbol"), Param("startTime", "integer"), Param("endTime", "integer")))
async def liquidations(ctx):
    """The account's liquidation history (the waterfall's records), filterable by time and symbol."""
    p = ctx.params
    records = (await run(ctx, "liquidation_history", account_id=ctx.account_id, symbol=p.symbol(required=False),
                         start_time=p.int("startTime", lo=0), end_time=p.int("endTime", lo=0))).reply
    return [shape.liquidation(r) for r in records]


@endpoint("GET", "/perpsim/v1/notifications", SIGNED, params=(Param("limit", "integer"),))
async def notifications(ctx):
    """The notifications kept for the account, newest last."""
    notes = (await run(ctx, "guard_notifications", account_id=ctx.account_id,
                       limit=ctx.params.int("limit", default=100, lo=1, hi=1000))).reply
    return [shape.notification(n) for n in notes]


@endpoint("GET", "/perpsim/v1/reviews", SIGNED, weight=50, params=(Param("symbol"),))
async def reviews(ctx):
    """An honest review of each liquidation, from the account's Binance-shaped history (its own rows only)."""
    from perpsim.review.export import review_ids, review_state
    from perpsim.review.worker import review_account

    symbol = ctx.params.symbol(required=False)
    service = ctx.service
    journal = service.venue.journal
    if journal is None:
        raise VenueError(-1020, "This operation is not supported: the venue keeps no journal.")
    # ids from the account's rows (a reader thread), the few state values it needs, then the review
    # itself in a worker process over the account's own rows
    ids = await service.run_read(review_ids, service.sql, ctx.account_id)
    state = service.read(lambda ex: review_state(ex, ids))
    result = await service.run_process(review_account, str(journal.path), ctx.account_id, state)
    if symbol is not None:
        result["liquidations"] = [r for r in result.get("liquidations", []) if r.get("symbol") == symbol]
    return result


@endpoint("POST", "/perpsim/v1/appeals", SIGNED, permission="TRADE",
          params=(Param("symbol", required=True), Param("liquidationTime", "integer", True)))
async def appeal(ctx):
    """Appeal a liquidation; granted inside a logged incident window, with compensation booked."""
    return shape.notification((await run(ctx, "appeal_liquidation", account_id=ctx.account_id,
                                         symbol=ctx.params.symbol(),
                                         liquidation_time=ctx.params.int("liquidationTime", required=True,
                                                                         lo=0))).reply)
