"""The risk pass's two scan modes: ``risk_scan`` "indexed" (margin calls and alerts re-evaluated only
for the accounts a mark may concern) and "full" (every holder re-checked on every mark) give the same
events and state on random crash streams; a quiet mark re-evaluates nobody, and a crash only the
accounts whose margin-call line it crossed."""
import pytest

from perpsim.core.events import MarginCall
from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import SCALE
from perpsim.core.events import Notification

from risk_stream import make_stream


def replay(rows, mode):
    ex = Exchange()
    assert ex.apply(Command("set_setting", {"name": "risk_scan", "value": mode}, 0)).ok
    out = []
    for kind, args, ts in rows:
        r = ex.apply(Command(kind, args, ts))
        out.append((repr(r.events), repr(r.reply), r.error.code if r.error else None))
    return ex, out


@pytest.mark.parametrize("seed", [11, 12, 100])
def test_indexed_and_full_scans_give_the_same_events_and_state(seed):
    rows = make_stream(seed, traders=64, steps=500)
    a, ea = replay(rows, "indexed")
    b, eb = replay(rows, "full")
    assert ea == eb
    assert a.state_hash() == b.state_hash()
    assert "MarginCall(" in "".join(e for e, _, _ in ea) and "MARGIN_ALERT" in "".join(e for e, _, _ in ea)


def _quiet_venue(n=40):
    ex = Exchange()
    run = lambda kind, **a: ex.apply(Command(kind, a, ex.now))   # noqa: E731
    assert run("set_index", symbol="BTCUSDT", price=60_000 * SCALE).ok
    for i in range(n // 2):
        ids = [run("create_account", deposit={"USDT": 30_000 * SCALE}).reply for _ in range(2)]
        if i % 2:
            for a in ids:
                run("set_margin_type", account_id=a, symbol="BTCUSDT", margin_type="ISOLATED")
                run("set_leverage", account_id=a, symbol="BTCUSDT", leverage=3)
        assert run("trade", buyer=ids[0], seller=ids[1], symbol="BTCUSDT", qty=SCALE // 2, price=60_000 * SCALE).ok
    return ex, run


def test_a_quiet_mark_reevaluates_nobody_and_a_crash_the_accounts_past_their_line(monkeypatch):
    ex, run = _quiet_venue()
    run("set_mark", symbol="BTCUSDT", price=60_100 * SCALE)          # evaluates all once, sets their bands
    seen = []
    real = ex.risk.margin_calls
    monkeypatch.setattr(ex.risk, "margin_calls", lambda ids: seen.append(set(ids)) or real(ids))
    r = run("set_mark", symbol="BTCUSDT", price=60_200 * SCALE)
    assert r.ok and seen == [set()]
    assert ex.risk.mark_accounts("alerts_index", "BTCUSDT") == set()
    r = run("set_mark", symbol="BTCUSDT", price=40_200 * SCALE)       # -33%
    longs = {a: acct for a, acct in ex.clearing.accounts.items() if any(p.qty > 0 for p in acct.positions.values())}
    isolated = {a for a, acct in longs.items() if any(p.wallet is not None for p in acct.positions.values())}
    called = {e.account_id for e in r.events if isinstance(e, MarginCall)}
    assert called == isolated and called <= seen[-1]        # the 3x isolated longs crossed their margin-call line
    # the 1x cross longs are still far from theirs: a single-leg scope is evaluated when a mark crosses its line
    assert not (set(longs) - isolated) & seen[-1]
    assert any(isinstance(e, Notification) and e.kind == "MARGIN_ALERT" for e in r.events)


def test_risk_scan_is_a_checked_setting_outside_the_state_hash():
    ex, run = _quiet_venue(4)
    h = ex.state_hash()
    assert run("set_setting", name="risk_scan", value="sometimes").error.code == -1130
    assert run("set_setting", name="risk_scan", value="full").ok
    assert ex.state_hash() != h                                        # the command count moved ...
    ex2, run2 = _quiet_venue(4)
    assert not run2("set_setting", name="risk_scan", value=None).ok
    assert run2("set_setting", name="risk_scan", value="indexed").ok
    assert ex.state_hash() == ex2.state_hash()                         # ... the mode is not state
