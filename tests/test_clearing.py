"""The clearing house: wallets, transfers, settings, fills, isolated margin, figures, errors."""
import pytest

from perpsim.core.clearing import ClearingHouse
from perpsim.core.errors import VenueError
from perpsim.core.fixed import fmt, parse
from perpsim.core.ledger import EARN, FUNDING, FUTURES, SPOT

P = parse


@pytest.fixture
def ch():
    ch = ClearingHouse()
    for _ in range(3):
        a = ch.create_account().id
        ch.deposit(a, SPOT, "USDT", P("100000"))
        ch.transfer(a, "MAIN_UMFUTURE", "USDT", P("50000"))
    ch.set_mark("BTCUSDT", P("60000"))
    ch.set_mark("ETHUSDT", P("3000"))
    return ch


def pos(ch, acct, symbol="BTCUSDT", side="BOTH"):
    return ch.accounts[acct].positions[(symbol, side)]


def refused(ch, code, fn, *args, **kw):
    """A refused command raises Binance's code and changes nothing."""
    before = ch.state_hash()
    with pytest.raises(VenueError) as e:
        fn(*args, **kw)
    assert e.value.code == code, e.value.msg
    assert ch.state_hash() == before
    assert ch.is_balanced()
    return e.value


def test_universal_transfers_move_between_own_wallets(ch):
    ch.transfer(1, "MAIN_FUNDING", "USDT", P("1000"))
    ch.transfer(1, "FUNDING_UMFUTURE", "USDT", P("400"))
    ch.transfer(1, "UMFUTURE_FUNDING", "USDT", P("100"))
    ch.transfer(1, "FUNDING_MAIN", "USDT", P("50"))
    ch.transfer(1, "MAIN_EARN", "USDT", P("5000"))
    assert [ch.balance(1, k, "USDT") for k in (SPOT, FUNDING, FUTURES, EARN)] == \
        [P("44050"), P("650"), P("50300"), P("5000")]
    assert ch.is_balanced()
    refused(ch, -5013, ch.transfer, 1, "FUNDING_MAIN", "USDT", P("651"))
    refused(ch, -5001, ch.transfer, 1, "MAIN_MARGIN", "USDT", P("1"))
    refused(ch, -1130, ch.transfer, 1, "MAIN_FUNDING", "USDT", 0)
    refused(ch, -1130, ch.transfer, 1, "MAIN_FUNDING", "usdt", P("1"))
    refused(ch, -2015, ch.transfer, 99, "MAIN_FUNDING", "USDT", P("1"))


def test_futures_transfer_out_is_capped_at_max_withdrawable(ch):
    ch.set_leverage(1, "BTCUSDT", 10)
    ch.trade(1, 2, "BTCUSDT", P("1"), P("60000"))
    ch.set_mark("BTCUSDT", P("58000"))
    f = ch.cross_figures(1)
    # cwb 49970 (after 30 taker fee); UPNL -2000; IM 5800; MM 232 -> min(49738, 42170)
    assert f.wallet_balance == P("49970")
    assert f.max_withdraw == P("42170")
    refused(ch, -5013, ch.transfer, 1, "UMFUTURE_MAIN", "USDT", P("42170.01"))
    ch.transfer(1, "UMFUTURE_MAIN", "USDT", P("42170"))
    assert ch.cross_figures(1).max_withdraw == 0


def test_fills_average_reduce_close_and_flip(ch):
    ch.trade(1, 2, "BTCUSDT", P("1"), P("60000"))
    ch.trade(1, 2, "BTCUSDT", P("1"), P("62000"))
    p = pos(ch, 1)
    assert (p.qty, p.entry_price) == (P("2"), P("61000"))
    ev = ch.trade(3, 1, "BTCUSDT", P("0.5"), P("63000"))
    realized = [e for e in ev if type(e).__name__ == "TradeSettled" and e.account_id == 1][0].realized_pnl
    assert realized == P("1000")
    assert (p.qty, p.entry_price) == (P("1.5"), P("61000"))
    ch.trade(3, 1, "BTCUSDT", P("2"), P("60000"))  # flips 1.5 long into 0.5 short
    assert (p.qty, p.entry_price) == (P("-0.5"), P("60000"))
    ch.trade(1, 3, "BTCUSDT", P("0.5"), P("59000"))
    assert p.qty == 0
    assert ch.is_balanced()


def test_commissions_at_maker_and_taker_rates(ch):
    fees_before = ch.ledger.peek(("FEES",), "USDT")
    ch.trade(1, 2, "BTCUSDT", P("1"), P("60000"), taker="BUY")
    assert ch.balance(1, FUTURES, "USDT") == P("50000") - P("30")   # taker 0.05%
    assert ch.balance(2, FUTURES, "USDT") == P("50000") - P("12")   # maker 0.02%
    assert ch.ledger.peek(("FEES",), "USDT") - fees_before == P("42")


def test_realized_pnl_is_exactly_the_cash_flow_when_all_are_flat(ch):
    prices = ["60000.1", "60123.7", "59999.9", "61000.3", "60500.5"]
    qtys = ["0.003", "0.007", "0.011", "0.002", "0.013"]
    for px, q in zip(prices, qtys):
        ch.trade(1, 2, "BTCUSDT", P(q), P(px))
    ch.trade(2, 1, "BTCUSDT", P("0.036"), P("60321.4"))
    assert pos(ch, 1).qty == pos(ch, 2).qty == 0
    assert ch.ledger.peek(("SETTLEMENT",), "USDT") == 0
    assert ch.is_balanced()


def test_margin_insufficient_and_max_position_are_refused(ch):
    refused(ch, -2019, ch.trade, 1, 2, "BTCUSDT", P("20"), P("60000"))
    ch.set_leverage(1, "BTCUSDT", 125)
    ch.deposit(1, FUTURES, "USDT", P("1000000"))
    ch.deposit(2, FUTURES, "USDT", P("1000000"))
    refused(ch, -2027, ch.trade, 1, 2, "BTCUSDT", P("6"), P("60000"))  # cap at 125x is 300,000 (2026 table)


def test_leverage_margin_type_and_mode_rules(ch):
    mx, _ = ch.set_leverage(1, "BTCUSDT", 20)
    assert mx == P("100000000")  # 2026 table: 20x allowed up to tier 6
    refused(ch, -4028, ch.set_leverage, 1, "BTCUSDT", 151)
    refused(ch, -4028, ch.set_leverage, 1, "BTCUSDT", 0)
    refused(ch, -4028, ch.set_leverage, 1, "BTCUSDT", "5")
    refused(ch, -1121, ch.set_leverage, 1, "NOPEUSDT", 5)
    refused(ch, -4046, ch.set_margin_type, 1, "BTCUSDT", False)
    ch.set_margin_type(1, "BTCUSDT", True)
    ch.trade(1, 2, "BTCUSDT", P("0.1"), P("60000"))
    refused(ch, -4048, ch.set_margin_type, 1, "BTCUSDT", False)
    refused(ch, -4161, ch.set_leverage, 1, "BTCUSDT", 10)
    refused(ch, -4068, ch.set_position_mode, 1, True)
    refused(ch, -4059, ch.set_position_mode, 3, False)
    ch.accounts[3].open_orders["ETHUSDT"] = 1
    refused(ch, -4067, ch.set_position_mode, 3, True)
    refused(ch, -4047, ch.set_margin_type, 3, "ETHUSDT", True)


def test_hedge_mode_legs_and_position_side_checks(ch):
    ch.set_position_mode(1, True)
    refused(ch, -4061, ch.trade, 1, 2, "BTCUSDT", P("1"), P("60000"))
    ch.trade(1, 2, "BTCUSDT", P("1"), P("60000"), buyer_position_side="LONG")
    ch.trade(2, 1, "BTCUSDT", P("0.5"), P("62000"), seller_position_side="SHORT")
    assert pos(ch, 1, side="LONG").qty == P("1") and pos(ch, 1, side="SHORT").qty == P("-0.5")
    # a SELL on LONG reduces; it may not exceed the long (-2022)
    refused(ch, -2022, ch.trade, 2, 1, "BTCUSDT", P("2"), P("60000"), seller_position_side="LONG")
    f = ch.position_figures(pos(ch, 1, side="LONG"))
    g = ch.position_figures(pos(ch, 1, side="SHORT"))
    assert f.liquidation_price == g.liquidation_price  # cross hedge legs share one LP (section 3.8)


def test_isolated_margin_wallet_open_reduce_close(ch):
    ch.set_margin_type(1, "BTCUSDT", True)
    ch.set_leverage(1, "BTCUSDT", 10)
    ch.trade(1, 2, "BTCUSDT", P("1"), P("60000"))
    p = pos(ch, 1)
    assert p.wallet.balance == P("6000")
    assert fmt(ch.position_figures(p).liquidation_price, 2) == "54216.87"
    ch.set_mark("BTCUSDT", P("61000"))
    assert ch.max_removable(p) == P("900")  # TV-ISO-RM
    refused(ch, -4051, ch.adjust_isolated_margin, 1, "BTCUSDT", P("900.01"), add=False)
    ch.adjust_isolated_margin(1, "BTCUSDT", P("900"), add=False)
    ch.adjust_isolated_margin(1, "BTCUSDT", P("2000"), add=True)
    assert p.wallet.balance == P("7100")
    refused(ch, -4050, ch.adjust_isolated_margin, 1, "BTCUSDT", P("10000000"), add=True)
    refused(ch, -4049, ch.adjust_isolated_margin, 2, "BTCUSDT", P("1"), add=True)  # cross position
    refused(ch, -4054, ch.adjust_isolated_margin, 3, "BTCUSDT", P("1"), add=True)  # no position
    ch.trade(3, 1, "BTCUSDT", P("0.5"), P("59000"))   # half closed at a 500 loss
    assert p.wallet.balance == P("7100") / 2
    cross_before = ch.balance(1, FUTURES, "USDT")
    ch.trade(3, 1, "BTCUSDT", P("0.5"), P("62000"))   # the rest at a 1000 profit
    assert p.qty == 0 and p.wallet.balance == 0
    assert ch.balance(1, FUTURES, "USDT") - cross_before == P("3550") + P("1000") - P("6.2")  # maker fee
    assert ch.is_balanced()


def test_cross_liquidation_price_matches_the_calculator(ch):
    from perpsim.core.calculator import calculate
    ch.set_leverage(1, "BTCUSDT", 20)
    ch.set_leverage(1, "ETHUSDT", 20)
    ch.trade(1, 2, "BTCUSDT", P("2"), P("60000"))
    ch.trade(2, 1, "ETHUSDT", P("10"), P("3000"))
    ch.set_mark("BTCUSDT", P("59000"))
    ch.set_mark("ETHUSDT", P("3100"))
    f = ch.position_figures(pos(ch, 1))
    doc = {"margin_type": "cross", "wallet_balance": fmt(ch.balance(1, FUTURES, "USDT")), "positions": [
        {"symbol": "BTCUSDT", "side": "LONG", "quantity": "2", "entry_price": "60000", "mark_price": "59000"},
        {"symbol": "ETHUSDT", "side": "SHORT", "quantity": "10", "entry_price": "3000", "mark_price": "3100"}]}
    out = calculate(doc)
    assert out["positions"][0]["liquidation_price"] == fmt(f.liquidation_price)
    cf = ch.cross_figures(1)
    assert out["account"]["margin_balance"] == fmt(cf.margin_balance)
    assert out["account"]["maintenance_margin"] == fmt(cf.maint_margin)


def test_futures_never_touches_other_wallets(ch):
    ch.transfer(1, "MAIN_FUNDING", "USDT", P("1000"))
    ch.transfer(1, "MAIN_EARN", "USDT", P("2000"))
    before = [ch.balance(1, k, "USDT") for k in (SPOT, FUNDING, EARN)]
    ch.set_margin_type(1, "BTCUSDT", True)
    ch.trade(1, 2, "BTCUSDT", P("1"), P("60000"))
    ch.set_mark("BTCUSDT", P("40000"))
    ch.trade(3, 1, "BTCUSDT", P("1"), P("40000"))
    assert [ch.balance(1, k, "USDT") for k in (SPOT, FUNDING, EARN)] == before


def test_bad_fills_are_refused_without_change(ch):
    refused(ch, -4023, ch.apply_fill, 1, "BTCUSDT", "BUY", P("0.0001"), P("60000"), False)
    refused(ch, -4003, ch.apply_fill, 1, "BTCUSDT", "BUY", -P("1"), P("60000"), False)
    refused(ch, -4014, ch.apply_fill, 1, "BTCUSDT", "BUY", P("1"), P("60000.05"), False)
    refused(ch, -4001, ch.apply_fill, 1, "BTCUSDT", "BUY", P("1"), 0, False)
    refused(ch, -1130, ch.apply_fill, 1, "BTCUSDT", "HOLD", P("1"), P("60000"), False)
    refused(ch, -1121, ch.apply_fill, 1, "BTC", "BUY", P("1"), P("60000"), False)
    refused(ch, -1130, ch.set_mark, "BTCUSDT", -1)
    refused(ch, -1130, ch.deposit, 1, "WALLET", "USDT", P("1"))
    refused(ch, -1130, ch.create_account, account_id=1)


def test_state_hash_is_deterministic():
    def run():
        ch = ClearingHouse()
        for _ in range(2):
            a = ch.create_account().id
            ch.deposit(a, FUTURES, "USDT", P("10000"))
        ch.set_mark("BTCUSDT", P("60000"))
        ch.trade(1, 2, "BTCUSDT", P("0.1"), P("60000"))
        return ch.state_hash()
    assert run() == run()
