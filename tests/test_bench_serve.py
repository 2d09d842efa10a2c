"""``perpsim bench serve`` end to end, briefly: a server, a load process, figures that add up."""
from benchmarks.serve import run


def test_bench_serve_runs():
    out = run(quick=True, seconds=1.0)
    assert out["benchmark"] == "serve" and out["errors"] == 0 and out["orders"] > 20
    assert out["user_events"] == out["orders"]          # one ORDER_TRADE_UPDATE NEW per order, all seen
    assert 0 < out["roundtrip_p50_ms"] <= out["roundtrip_p99_ms"]
    assert 0 < out["user_event_p50_ms"] <= out["user_event_p99_ms"]
    assert out["orders_per_s"] > 0 and out["ledger_balanced"] is True
