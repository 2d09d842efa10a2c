"""The liquidation waterfall end to end through Exchange.apply (binance-mechanics.md sections 6-10)."""
import pytest

from perpsim.core.events import AdlRecord, BalanceChanged, InsuranceFundChanged, LiquidationRecord, MarginCall, TradeSettled
from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import fmt, parse
from perpsim.core.ledger import EARN, FUNDING, FUTURES, SPOT

P = parse


def run(ex, kind, **args):
    r = ex.apply(Command(kind, args, ex.now))
    assert r.ok, (kind, r.error)
    return r


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


@pytest.fixture
def ex():
    ex = Exchange()
    for _ in range(4):
        run(ex, "create_account", deposit={"USDT": P("100000")})
    run(ex, "set_index", symbol="BTCUSDT", price=P("60000"))
    run(ex, "set_index", symbol="ETHUSDT", price=P("3000"))
    return ex


def isolated_long(ex, acct, qty="1", lev=10, counterparty=2):
    run(ex, "set_margin_type", account_id=acct, symbol="BTCUSDT", margin_type="ISOLATED")
    run(ex, "set_leverage", account_id=acct, symbol="BTCUSDT", leverage=lev)
    run(ex, "trade", buyer=acct, seller=counterparty, symbol="BTCUSDT", qty=P(qty), price=P("60000"))


def pos(ex, acct, symbol="BTCUSDT", side="BOTH"):
    return ex.clearing.accounts[acct].positions.get((symbol, side))


def test_gap_through_bankruptcy_is_paid_by_the_insurance_fund(ex):
    run(ex, "fund_insurance", asset="USDT", amount=P("1000000"))
    isolated_long(ex, 1)
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("50000"))   # gaps far below LP 54,216.87 and BP 54,000
    rec, = of(r.events, LiquidationRecord)
    assert (rec.account_id, rec.side, rec.margin_type, rec.partial) == (1, "SELL", "ISOLATED", False)
    assert fmt(rec.liquidation_price, 2) == "54216.87" and rec.bankruptcy_price == P("54000")
    assert (rec.insurance_qty, rec.execution_price, rec.mark_price) == (P("1"), P("54000"), P("50000"))
    assert rec.loss == P("6000") and rec.clearance_fee == 0
    fund = ex.insurance_funds["USDT"]
    held = pos(ex, fund)
    assert (held.qty, held.entry_price) == (P("1"), P("54000"))       # the fund holds it, 4,000 under water
    assert ex.clearing.position_figures(held).unrealized_pnl == -P("4000")
    assert pos(ex, 1).qty == 0 and pos(ex, 1).wallet.balance == 0
    assert ex.clearing.balance(1, FUTURES, "USDT") == P("100000") - P("6000") - P("30")  # margin and taker fee gone
    assert ex.clearing.is_balanced()


def test_empty_fund_leads_to_adl_of_the_most_profitable_most_leveraged_short(ex):
    isolated_long(ex, 1, counterparty=2)                               # account 2 short 1 at 20x cross
    run(ex, "set_leverage", account_id=3, symbol="BTCUSDT", leverage=5)
    run(ex, "trade", buyer=4, seller=3, symbol="BTCUSDT", qty=P("1"), price=P("60000"))  # account 3 short 1 at 5x
    run(ex, "set_leverage", account_id=4, symbol="BTCUSDT", leverage=2)                  # 4 long, safe
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("54100"))
    rec, = of(r.events, LiquidationRecord)
    adl = of(r.events, AdlRecord)
    assert rec.adl_qty == P("1") and rec.insurance_qty == 0
    # both shorts gained 5,900 on 1 BTC; account 2's scope has the smaller margin balance (higher
    # effective leverage): 100,000 - 12 fee + 5,900 vs account 3 the same wallet... ranked by UPNL / MB
    assert [a.account_id for a in adl] == [rec.adl_counterparties[0][0]]
    ranked_first = adl[0].account_id
    assert adl[0].price == P("54000") and adl[0].qty == P("1")
    assert adl[0].realized_pnl == P("6000")                             # closed at the bankruptcy price
    assert pos(ex, ranked_first).qty == 0
    adl_fills = [e for e in of(r.events, TradeSettled) if e.execution == "ADL"]
    assert adl_fills and all(e.commission == 0 for e in adl_fills)      # ADL closes carry no fee
    assert ex.clearing.is_balanced()


def test_adl_ranking_prefers_higher_effective_leverage(ex):
    # two shorts of the same size and entry; account 3 moved most of its futures wallet out: higher leverage
    isolated_long(ex, 1, counterparty=2)
    run(ex, "trade", buyer=4, seller=3, symbol="BTCUSDT", qty=P("1"), price=P("60000"))
    run(ex, "transfer", account_id=3, type="UMFUTURE_MAIN", asset="USDT", amount=P("90000"))
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("54100"))
    assert [a.account_id for a in of(r.events, AdlRecord)] == [3]


def test_cross_account_with_several_positions(ex):
    run(ex, "fund_insurance", asset="USDT", amount=P("10000000"))
    run(ex, "transfer", account_id=1, type="UMFUTURE_MAIN", asset="USDT", amount=P("90000"))  # 10,000 left
    run(ex, "trade", buyer=1, seller=2, symbol="BTCUSDT", qty=P("1"), price=P("60000"))
    run(ex, "trade", buyer=1, seller=2, symbol="ETHUSDT", qty=P("10"), price=P("3000"))
    run(ex, "set_index", symbol="ETHUSDT", price=P("2800"))
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("52000"))
    recs = of(r.events, LiquidationRecord)
    assert [x.symbol for x in recs] == ["BTCUSDT", "ETHUSDT"]           # largest maintenance margin first
    assert all(x.margin_type == "CROSSED" for x in recs)
    assert not ex.clearing.accounts[1].has_position()
    assert ex.clearing.balance(1, FUTURES, "USDT") == 0                  # at most the account's balance is lost
    assert ex.clearing.balance(1, SPOT, "USDT") == P("90000")
    assert ex.clearing.is_balanced()


def test_hedge_mode_cross_legs_share_the_trigger(ex):
    run(ex, "fund_insurance", asset="USDT", amount=P("10000000"))
    run(ex, "set_position_mode", account_id=1, dual_side=True)
    run(ex, "transfer", account_id=1, type="UMFUTURE_MAIN", asset="USDT", amount=P("95000"))
    run(ex, "trade", buyer=1, seller=2, symbol="BTCUSDT", qty=P("1"), price=P("60000"), buyer_position_side="LONG")
    run(ex, "trade", buyer=2, seller=1, symbol="BTCUSDT", qty=P("0.5"), price=P("60000"),
        seller_position_side="SHORT")
    f_long = ex.clearing.position_figures(pos(ex, 1, side="LONG"))
    assert f_long.liquidation_price == ex.clearing.position_figures(pos(ex, 1, side="SHORT")).liquidation_price
    r = run(ex, "set_index", symbol="BTCUSDT", price=f_long.liquidation_price - P("100"))
    recs = of(r.events, LiquidationRecord)
    assert {x.position_side for x in recs} >= {"LONG"}
    assert ex.clearing.is_balanced()


def test_isolated_hedge_legs_are_liquidated_separately(ex):
    run(ex, "fund_insurance", asset="USDT", amount=P("10000000"))
    run(ex, "set_position_mode", account_id=1, dual_side=True)
    run(ex, "set_margin_type", account_id=1, symbol="BTCUSDT", margin_type="ISOLATED")
    run(ex, "set_leverage", account_id=1, symbol="BTCUSDT", leverage=10)
    run(ex, "trade", buyer=1, seller=2, symbol="BTCUSDT", qty=P("1"), price=P("60000"), buyer_position_side="LONG")
    run(ex, "trade", buyer=2, seller=1, symbol="BTCUSDT", qty=P("1"), price=P("60000"), seller_position_side="SHORT")
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("54000"))
    assert [(x.position_side, x.side) for x in of(r.events, LiquidationRecord)] == [("LONG", "SELL")]
    assert pos(ex, 1, side="SHORT").qty == -P("1")                     # the other leg untouched


def test_liquidation_leaves_everything_else_untouched_and_trading_open(ex):
    run(ex, "fund_insurance", asset="USDT", amount=P("1000000"))
    run(ex, "deposit", account_id=1, asset="USDT", amount=P("500"), wallet="SPOT")
    run(ex, "transfer", account_id=1, type="MAIN_FUNDING", asset="USDT", amount=P("200"))
    run(ex, "transfer", account_id=1, type="MAIN_EARN", asset="USDT", amount=P("100"))
    run(ex, "create_api_key", account_id=1, api_key="K" * 32, secret="s" * 32)
    run(ex, "set_margin_type", account_id=1, symbol="ETHUSDT", margin_type="ISOLATED")
    run(ex, "trade", buyer=2, seller=1, symbol="ETHUSDT", qty=P("1"), price=P("3000"))   # another isolated position
    isolated_long(ex, 1)
    before = {k: ex.clearing.balance(1, k, "USDT") for k in (SPOT, FUNDING, EARN)}
    eth = pos(ex, 1, "ETHUSDT")
    eth_state = (eth.qty, eth.cost, eth.wallet.balance)
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("53000"))
    assert of(r.events, LiquidationRecord)
    assert {k: ex.clearing.balance(1, k, "USDT") for k in (SPOT, FUNDING, EARN)} == before
    assert (eth.qty, eth.cost, eth.wallet.balance) == eth_state
    assert ex.api_keys["K" * 32].account_id == 1
    run(ex, "trade", buyer=1, seller=2, symbol="BTCUSDT", qty=P("0.1"), price=P("53000"))  # opens again at once
    assert pos(ex, 1).qty == P("0.1")


def test_margin_call_once_then_rearmed(ex):
    isolated_long(ex, 1)
    # isolated iw 6,000; MM 0.4% of P: MR = 0.004 P / (P - 54,000) reaches 80% at 54,271.36, LP 54,216.87
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("54250"))
    calls = [c for c in of(r.events, MarginCall) if c.account_id == 1]
    assert len(calls) == 1 and calls[0].margin_type == "ISOLATED" and calls[0].margin_ratio >= P("0.8")
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("54240"))
    assert not [c for c in of(r.events, MarginCall) if c.account_id == 1]   # once
    run(ex, "set_index", symbol="BTCUSDT", price=P("58000"))                 # falls back: re-armed
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("54250"))
    assert len([c for c in of(r.events, MarginCall) if c.account_id == 1]) == 1


def test_negative_balance_is_brought_back_to_zero_by_the_fund(ex):
    """An isolated long sold far below its bankruptcy price (a thin book): the deficit stays out of the
    cross wallet and the insurance fund brings the isolated wallet back to zero."""
    run(ex, "fund_insurance", asset="USDT", amount=P("1000000"))
    isolated_long(ex, 1)
    cross_before = ex.clearing.balance(1, FUTURES, "USDT")
    r = run(ex, "trade", buyer=3, seller=1, symbol="BTCUSDT", qty=P("1"), price=P("50000"))  # loses 10,000 on 6,000
    nbp = [e for e in of(r.events, InsuranceFundChanged) if e.reason == "NEGATIVE_BALANCE"]
    assert [(e.account_id, e.delta) for e in nbp] == [(1, -P("4000"))]
    assert pos(ex, 1).wallet.balance == 0
    assert ex.clearing.balance(1, FUTURES, "USDT") == cross_before - P("10")   # only its maker fee, 0.02%
    assert ex.clearing.is_balanced()


def _cross_long_with_stop(ex, mode, stop: bool) -> int:
    """A 20x cross long of 1 BTC at 60,000 on 4,000 USDT (liquidation price about 56,231), its own bid at
    50,000, a reduce-only stop on the mark at 56,500 if ``stop``, and a bid of another account at 56,400."""
    run(ex, "set_setting", name="risk_scan", value=mode)
    if mode == "indexed":
        ex.risk.detector.VECTOR_MIN = 1      # the numpy check a crash's batches take, at this size
    acct = run(ex, "create_account", deposit={"USDT": P("4000")}).reply
    run(ex, "set_leverage", account_id=acct, symbol="BTCUSDT", leverage=20)
    run(ex, "trade", buyer=acct, seller=2, symbol="BTCUSDT", qty=P("1"), price=P("60000"))
    if stop:
        run(ex, "place_algo_order", account_id=acct, symbol="BTCUSDT", side="SELL", type="STOP_MARKET",
            trigger_price=P("56500"), quantity=P("1"), reduce_only=True, working_type="MARK_PRICE")
    run(ex, "place_order", account_id=acct, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=P("0.002"),
        price=P("50000"), time_in_force="GTC")
    run(ex, "place_order", account_id=3, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=P("1"),
        price=P("56400"), time_in_force="GTC")
    return acct


@pytest.mark.parametrize("mode", ["indexed", "full"])
def test_a_scope_its_stop_closed_on_the_same_mark_keeps_its_margin_and_orders(ex, mode):
    """A mark that puts a cross account past its liquidation price also fires its stop-loss; the stop
    closes the position first, so the account is not liquidated and what is left stays its own
    (seen at 100,000 accounts: the indexed scan's candidate lost its margin to the fund)."""
    acct = _cross_long_with_stop(ex, mode, stop=True)
    before = ex.clearing.balance(acct, FUTURES, "USDT")
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("56100"))
    trade, = [e for e in of(r.events, TradeSettled) if e.account_id == acct]
    assert (trade.side, trade.qty, trade.price) == ("SELL", P("1"), P("56400"))
    assert not of(r.events, LiquidationRecord)
    assert not [e for e in of(r.events, InsuranceFundChanged) if e.account_id == acct]
    assert ex.clearing.balance(acct, FUTURES, "USDT") == before - P("3600") - trade.commission
    assert len(ex.orders.open_orders(acct, "BTCUSDT")) == 1
    assert ex.clearing.is_balanced()


@pytest.mark.parametrize("mode", ["indexed", "full"])
def test_the_same_mark_without_the_stop_liquidates_the_scope(ex, mode):
    acct = _cross_long_with_stop(ex, mode, stop=False)
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("56100"))
    rec, = [e for e in of(r.events, LiquidationRecord) if e.account_id == acct]
    assert rec.margin_type == "CROSSED" and not ex.orders.open_orders(acct, "BTCUSDT")


@pytest.mark.parametrize("mode", ["indexed", "full"])
def test_funding_that_takes_a_position_past_its_liquidation_price_liquidates_it_at_once(ex, mode):
    """Funding is paid from the isolated wallet; when it leaves less than the maintenance margin, the
    position is liquidated at the funding time, not at some later mark (the indexed scan once missed
    it: its key still had the wallet before funding)."""
    run(ex, "set_setting", name="risk_scan", value=mode)
    isolated_long(ex, 1)                                           # 1 BTC at 60,000, 10x isolated
    lp = ex.clearing.position_figures(pos(ex, 1)).liquidation_price      # 54,216.87
    mark = (lp // P("1") + 3) * P("1")                                     # 3 USDT above the line
    assert not of(run(ex, "set_index", symbol="BTCUSDT", price=mark).events, LiquidationRecord)
    f = ex.clearing.position_figures(pos(ex, 1))
    room = f.isolated_wallet + f.unrealized_pnl - f.maint_margin
    assert P("1") <= room <= P("5")                                        # less than the 0.01% funding fee
    funding_at = ex.markets["BTCUSDT"].next_funding
    r = ex.apply(Command("deposit", {"account_id": 4, "asset": "USDT", "amount": P("1")}, funding_at + 1))
    fee = [e for e in of(r.events, BalanceChanged) if e.reason == "FUNDING_FEE" and e.account_id == 1]
    rec, = of(r.events, LiquidationRecord)
    assert fee and fee[0].delta < -room and (rec.account_id, rec.time) == (1, funding_at)
    assert pos(ex, 1).qty == 0 and ex.clearing.is_balanced()
