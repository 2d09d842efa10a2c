"""The exchange pipeline: commands, time, index and mark, wicks, funding, admin commands."""
import pytest

from perpsim.core.events import BalanceChanged, FundingSettled, MarkPriceUpdate
from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import fmt, parse

P = parse
H = 3_600_000


def run(ex, kind, ts=None, **args):
    return ex.apply(Command(kind, args, ex.now if ts is None else ts))


@pytest.fixture
def ex():
    ex = Exchange()
    for _ in range(2):
        assert run(ex, "create_account", deposit={"USDT": P("10000")}).ok
    assert run(ex, "set_index", symbol="BTCUSDT", price=P("60000")).ok
    return ex


def test_index_sets_the_mark_by_binance_formula(ex):
    assert ex.clearing.mark("BTCUSDT") == P("60000")
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("61000"))
    upd = [e for e in r.events if isinstance(e, MarkPriceUpdate)][0]
    assert (upd.index_price, upd.mark_price) == (P("61000"), P("61000"))  # no trade yet: last = index
    assert upd.funding_rate == P("0.0001")                                 # premium 0 -> the 0.01% interest
    assert upd.next_funding_time == 8 * H


def test_funding_settles_at_its_time_and_moves_the_liquidation_price(ex):
    run(ex, "set_margin_type", account_id=1, symbol="BTCUSDT", margin_type="ISOLATED")
    run(ex, "set_leverage", account_id=1, symbol="BTCUSDT", leverage=10)
    assert run(ex, "trade", buyer=1, seller=2, symbol="BTCUSDT", qty=P("1"), price=P("60000")).ok
    pos = ex.clearing.accounts[1].positions[("BTCUSDT", "BOTH")]
    lp_before = ex.clearing.position_figures(pos).liquidation_price
    assert fmt(lp_before, 2) == "54216.87"
    r = run(ex, "advance_clock", ms=8 * H)
    settled = [e for e in r.events if isinstance(e, FundingSettled)]
    assert settled == [FundingSettled("BTCUSDT", P("0.0001"), P("60000"), 8 * H)]
    fees = {e.account_id: e.delta for e in r.events if isinstance(e, BalanceChanged)}
    assert fees == {1: -P("6"), 2: P("6")}                         # TV-FUND-PAY: long pays 6.00
    assert pos.wallet.balance == P("5994")                         # paid from the isolated wallet
    lp_after = ex.clearing.position_figures(pos).liquidation_price
    assert lp_after > lp_before                                    # funding paid moves it closer
    assert ex.clearing.is_balanced()
    assert ex.markets["BTCUSDT"].next_funding == 16 * H
    r = run(ex, "advance_clock", ms=16 * H)                        # two more settlements
    assert len([e for e in r.events if isinstance(e, FundingSettled)]) == 2


def test_wick_moves_the_index_down_and_back_every_second(ex):
    r = run(ex, "wick", symbol="BTCUSDT", pct=-15 * 10**8, down_ms=60_000, up_ms=60_000)
    assert r.ok
    r = run(ex, "advance_clock", ms=60_000)
    marks = [e.mark_price for e in r.events if isinstance(e, MarkPriceUpdate)]
    assert len(marks) == 60 and marks[-1] == P("51000") and marks == sorted(marks, reverse=True)
    r = run(ex, "advance_clock", ms=60_000)
    marks = [e.mark_price for e in r.events if isinstance(e, MarkPriceUpdate)]
    assert marks[-1] == P("60000")
    assert run(ex, "wick", symbol="BTCUSDT", pct=0, down_ms=1, up_ms=1).error.code == -1130
    assert run(ex, "wick", symbol="ETHUSDT", pct=-5 * 10**8, down_ms=1, up_ms=1).error.code == -1130
    assert run(ex, "wick", symbol="BTCUSDT", pct=20 * 10**8, down_ms=1000, up_ms=1000).ok  # a wick up


def test_settle_funding_now_and_ledger_check(ex):
    run(ex, "trade", buyer=1, seller=2, symbol="BTCUSDT", qty=P("0.5"), price=P("60000"))
    r = run(ex, "settle_funding", symbol="BTCUSDT")
    assert [e for e in r.events if isinstance(e, FundingSettled)][0].funding_rate == P("0.0001")
    r = run(ex, "check_ledger")
    assert r.reply["ledgerBalanced"] is True and r.reply["stateHash"] == ex.state_hash()


def test_time_never_goes_back_and_refusals_keep_state(ex):
    run(ex, "advance_clock", ms=5_000)
    now = ex.now
    before = ex.clearing.state_hash()
    r = run(ex, "deposit", ts=now - 1000, account_id=1, asset="USDT", amount=-5)
    assert r.error.code == -1130 and ex.now == now and ex.clearing.state_hash() == before
    assert run(ex, "advance_clock", ms=0).error.code == -1130
    assert run(ex, "no_such_command").error.code == -1020
    assert run(ex, "deposit", account_id=1, bogus=1).error.code == -1102


def test_same_commands_same_hash():
    def build():
        ex = Exchange()
        run(ex, "create_account", deposit={"USDT": P("10000")})
        run(ex, "create_account", deposit={"USDT": P("10000")})
        run(ex, "set_index", symbol="ETHUSDT", price=P("3000"))
        run(ex, "trade", buyer=1, seller=2, symbol="ETHUSDT", qty=P("1"), price=P("3000"))
        run(ex, "wick", symbol="ETHUSDT", pct=-10 * 10**8, down_ms=5000, up_ms=5000)
        run(ex, "advance_clock", ms=9 * H)
        return ex.state_hash()
    assert build() == build()


def test_index_from_weighted_constituents_with_outliers_capped(ex):
    """binance-mechanics.md 4.1: weighted mean of the venues; a source more than 1% (BTC) from the
    median is capped at the band; a stale one drops out."""
    from perpsim.core.events import IndexOutliers
    r = run(ex, "set_index_constituents", symbol="BTCUSDT",
            constituents=[["binance", P("60000"), P("0.4")], ["okx", P("60060"), P("0.3")],
                          ["coinbase", P("59940"), P("0.3")]])
    assert ex.markets["BTCUSDT"].index == P("60000")           # 0.4*60000 + 0.3*60060 + 0.3*59940
    assert not [e for e in r.events if isinstance(e, IndexOutliers)]
    r = run(ex, "set_index_constituents", symbol="BTCUSDT", constituents=[["okx", P("66000"), P("0.3")]])
    out, = [e for e in r.events if isinstance(e, IndexOutliers)]
    assert out.outliers == ("okx",)
    # okx capped at median 60000 x 1.01 = 60600: 0.4*60000 + 0.3*60600 + 0.3*59940 = 60162
    assert ex.markets["BTCUSDT"].index == P("60162")
    assert ex.clearing.mark("BTCUSDT") == P("60162")
    run(ex, "set_index", symbol="BTCUSDT", price=P("61000"))   # the operator sets every constituent
    assert ex.markets["BTCUSDT"].index == P("61000")
    assert ex.apply(Command("set_index_constituents", {"symbol": "BTCUSDT", "constituents": [["x", -1, 1]]},
                            ex.now)).error.code == -1130


def test_bracket_tables_follow_the_venue_date(ex):
    """A replay of 2021 uses 2021's tables (binance-mechanics.md 1.5): BTCUSDT's tier 1 was 50k/125x."""
    run(ex, "set_leverage", account_id=1, symbol="BTCUSDT", leverage=20)
    run(ex, "trade", buyer=1, seller=2, symbol="BTCUSDT", qty=P("1"), price=P("60000"))
    pos = ex.clearing.accounts[1].positions[("BTCUSDT", "BOTH")]
    assert ex.clearing.position_figures(pos).mmr == P("0.004")        # 2026: 60k is in tier 1 (to 300k)
    before = ex.state_hash()
    run(ex, "set_bracket_date", date="2021-06-01")
    assert ex.state_hash() != before
    f = ex.clearing.position_figures(pos)
    assert (f.mmr, f.maintenance_amount) == (P("0.005"), P("50"))       # 2021: 50k-250k, 0.5%, cum 50
    assert ex.clearing.table("BTCUSDT").max_leverage == 125
    assert ex.apply(Command("set_bracket_date", {"date": "June"}, ex.now)).error.code == -1130


@pytest.mark.parametrize("name, value, says", [
    ("partial_liquidaton", True, "Unknown setting 'partial_liquidaton'"),   # a typo
    ("partial_liquidation", 1, "partial_liquidation takes true or false"),
    ("margin_call_ratio", "0.8", "margin_call_ratio takes a non-negative integer"),
    ("margin_call_ratio", -1, "margin_call_ratio takes a non-negative integer"),
    ("guard_alert_margin_ratios", [P("0.5"), True], "takes a list"),
    ("risk_scan", "sometimes", "risk_scan takes one of the listed values: indexed, full"),
    ("guard_duplicate_device_policy", "shrug", "flag, ban"),
    ("operator_hold:BTCUSDT", False, "true, or null to clear"),
    ("", True, "'name'"),
])
def test_set_setting_refuses_unknown_names_and_wrong_types(ex, name, value, says):
    before = ex.content_hash()
    r = run(ex, "set_setting", name=name, value=value)
    assert r.error is not None and r.error.code == -1130 and says in r.error.msg, r.error
    assert ex.content_hash() == before


def test_settings_reach_the_typed_configs():
    from perpsim.core import config
    ex = Exchange()
    assert ex.config.waterfall.partial_target_ratio == P("0.9") and ex.config.guard.guard_liq_streak == 3
    assert run(ex, "set_setting", name="partial_target_ratio", value=P("0.75")).ok
    assert run(ex, "set_setting", name="guard_liq_streak", value=5).ok
    assert ex.config.waterfall.partial_target_ratio == P("0.75") and ex.config.guard.guard_liq_streak == 5
    rows = {r["name"]: r for r in config.listing(ex.settings)}
    assert rows["guard_liq_streak"]["value"] == 5 and rows["guard_liq_streak"]["default"] == 3
    assert rows["guard_new_account_max_leverage"]["evidence"] == "P"
    # every subsystem's field carries its kind and evidence, and its default is of that kind
    for name, knob in config.KNOBS.items():
        default = config.listing({})[list(config.KNOBS).index(name)]["default"]
        assert knob.evidence in ("P", "I") and knob.doc
        assert config.accepts(knob, default if not isinstance(default, list) else tuple(default)), name
