"""Behaviour pinned: a recorded command stream (tests/fixtures/risk_stream.json.gz, made by
tests/risk_stream.py) replays to the event stream and state hash recorded before the risk pass
was restructured, in both risk-scan modes."""
import gzip
import hashlib
import json
from pathlib import Path

import pytest

from perpsim.core.exchange import Command, Exchange

FIXTURE = Path(__file__).parent / "fixtures" / "risk_stream.json.gz"

# Recorded by replay() below from the code before the risk pass (first at 151c367; again on the merge
# before the risk pass came in, after liquidation orders became one filled autoclose- order with
# trade ids, which changed OrderUpdate events: 1483 -> 1541).
EXPECTED_EVENTS = "0b0b148ba494b970067a6c60c2d15603bdf53b1db9a6ff1554e9b83d96006e6b"
EXPECTED_STATE = "8336aeb45f16ec8218160581686a93bd009cf5c4117f2b19406711e0a5c66258"
EXPECTED_COUNTS = {
    "BalanceChanged": 1694, "InsuranceFundChanged": 71, "MarkPriceUpdate": 1463, "ConfigChanged": 125,
    "OrderUpdate": 1541, "DepthUpdate": 587, "TradeSettled": 722, "PositionChanged": 724, "Trade": 257,
    "AggTrade": 256, "Notification": 271, "FundingSettled": 16, "AlgoUpdate": 59, "LiquidationRecord": 48,
    "MarginCall": 12, "AdlRecord": 24, "RestrictionChanged": 5}


def replay(settings: dict | None = None):
    rows = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    ex = Exchange()
    for name, value in (settings or {}).items():
        ex.settings[name] = value
    h = hashlib.sha256()
    counts: dict[str, int] = {}
    for kind, args, ts in rows:
        r = ex.apply(Command(kind, args, ts))
        for e in r.events:
            counts[type(e).__name__] = counts.get(type(e).__name__, 0) + 1
            h.update(repr(e).encode())
        h.update(repr((r.reply, r.error.code if r.error else None)).encode())
        assert ex.clearing.is_balanced()
    return ex, h.hexdigest(), counts


def test_the_stream_exercises_every_risk_stage():
    _, _, counts = replay()
    for kind in ("MarginCall", "LiquidationRecord", "Notification", "FundingSettled", "InsuranceFundChanged"):
        assert counts.get(kind, 0) > 0, kind


@pytest.mark.parametrize("mode", ["indexed", "full"])
def test_replay_gives_the_recorded_events_and_state(mode):
    ex, events, counts = replay({"risk_scan": mode})
    assert counts == EXPECTED_COUNTS
    assert events == EXPECTED_EVENTS
    assert ex.state_hash() == EXPECTED_STATE
