"""The liquidity agent's quotes, and liquidation orders meeting a real book."""
from perpsim.core.events import LiquidationRecord
from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import fmt, parse

P = parse


def run(ex, kind, **args):
    r = ex.apply(Command(kind, args, ex.now))
    assert r.ok, (kind, r.error)
    return r


def make():
    ex = Exchange()
    run(ex, "create_account", deposit={"USDT": P("1000000000")})   # 1: the market maker
    run(ex, "create_account", deposit={"USDT": P("100000")})       # 2: a trader
    run(ex, "set_index", symbol="BTCUSDT", price=P("60000"))
    return ex


def test_quote_ladder_around_the_index_and_refill():
    ex = make()
    r = run(ex, "quote", account_id=1, symbol="BTCUSDT", levels=5, spread_bps=4, step_bps=2, notional=P("60000"))
    assert r.reply == {"placed": 10}
    book = ex.orders.book("BTCUSDT")
    assert (book.best_bid(), book.best_ask()) == (P("59988"), P("60012"))   # 2 bp each side
    snap = book.snapshot(10)
    assert [lvl[1] for lvl in snap.bids][:2] == [P("1"), P("1.5")]          # growing by 50% per level
    run(ex, "place_order", account_id=2, symbol="BTCUSDT", side="BUY", type="MARKET", quantity=P("1"))
    assert book.best_ask() == P("60024")                                   # the first ask was taken
    run(ex, "quote", account_id=1, symbol="BTCUSDT", levels=5, spread_bps=4, step_bps=2, notional=P("60000"))
    assert book.best_ask() == P("60012")                                   # refilled
    assert len(ex.orders.resting["BTCUSDT"][1]) == 10                      # the old quotes were replaced
    assert ex.clearing.is_balanced()


def test_liquidation_order_slips_through_the_book_and_pays_the_clearance_fee():
    """TV-FEE-LIQ in spirit: a small isolated long whose IOC at the bankruptcy price fills near the
    mark leaves a surplus; the clearance fee takes it, capped at the remaining equity."""
    ex = make()
    run(ex, "set_margin_type", account_id=2, symbol="BTCUSDT", margin_type="ISOLATED")
    run(ex, "set_leverage", account_id=2, symbol="BTCUSDT", leverage=10)
    run(ex, "quote", account_id=1, symbol="BTCUSDT", levels=10, spread_bps=4, step_bps=2, notional=P("600000"))
    run(ex, "place_order", account_id=2, symbol="BTCUSDT", side="BUY", type="MARKET", quantity=P("1"))
    run(ex, "set_index", symbol="BTCUSDT", price=P("54300"))  # above LP (~54,228 with the entry at 60,012)
    run(ex, "quote", account_id=1, symbol="BTCUSDT", levels=10, spread_bps=4, step_bps=2, notional=P("600000"))
    r = run(ex, "set_index", symbol="BTCUSDT", price=P("54190"))  # below it: the IOC meets bids near 54,289
    recs = [e for e in r.events if isinstance(e, LiquidationRecord)]
    assert len(recs) == 1
    rec = recs[0]
    assert rec.book_qty == P("1") and rec.insurance_qty == 0 and not rec.partial
    assert rec.execution_price > rec.bankruptcy_price                 # filled better than bankruptcy
    pos = ex.clearing.accounts[2].positions[("BTCUSDT", "BOTH")]
    assert pos.qty == 0 and pos.wallet.balance == 0                    # the fee and the fund took the rest
    assert rec.clearance_fee > 0 and rec.insurance_delta >= rec.clearance_fee
    assert ex.clearing.is_balanced()
    print(fmt(rec.execution_price), fmt(rec.clearance_fee))


def test_a_large_position_is_partially_liquidated():
    """One IOC for the quantity that restores the margin at the mark; the rest stays open
    (binance-mechanics.md 6.2, option (b), a venue setting). It can only work where the marginal MMR
    exceeds the 1.25% clearance fee: BTCUSDT from tier 5 (2%, 12M notional) up. Below it the fee costs
    more margin than the close frees, Binance's "already bankrupt when first entering liquidation"."""
    ex = make()
    run(ex, "deposit", account_id=2, asset="USDT", amount=P("2000000"))
    run(ex, "set_margin_type", account_id=2, symbol="BTCUSDT", margin_type="ISOLATED")
    run(ex, "set_leverage", account_id=2, symbol="BTCUSDT", leverage=20)
    book = dict(levels=30, spread_bps=2, step_bps=1, notional=P("20000000"))
    run(ex, "quote", account_id=1, symbol="BTCUSDT", **book)
    run(ex, "place_order", account_id=2, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=P("250"),
        price=P("61500"), time_in_force="IOC")   # above MARKET_LOT_SIZE's 120: a marketable limit
    pos = ex.clearing.accounts[2].positions[("BTCUSDT", "BOTH")]
    assert pos.qty == P("250")
    lp = ex.clearing.position_figures(pos).liquidation_price
    assert ex.clearing.table("BTCUSDT").for_notional(250 * lp).mmr == P("0.02")   # tier 5 at the LP
    run(ex, "set_index", symbol="BTCUSDT", price=lp + P("200"))
    run(ex, "quote", account_id=1, symbol="BTCUSDT", **book)
    r = run(ex, "set_index", symbol="BTCUSDT", price=lp - P("5"))
    rec, = [e for e in r.events if isinstance(e, LiquidationRecord)]
    assert rec.partial and 0 < rec.book_qty < P("250") and rec.insurance_qty == rec.adl_qty == 0
    assert 0 < pos.qty < P("250")
    assert ex.clearing.position_figures(pos).margin_ratio < P("1")          # compliant again
    assert ex.clearing.is_balanced()


def test_partial_liquidation_can_be_switched_off():
    ex = make()
    run(ex, "set_setting", name="partial_liquidation", value=False)
    run(ex, "deposit", account_id=2, asset="USDT", amount=P("2000000"))
    run(ex, "set_margin_type", account_id=2, symbol="BTCUSDT", margin_type="ISOLATED")
    book = dict(levels=30, spread_bps=2, step_bps=1, notional=P("20000000"))
    run(ex, "quote", account_id=1, symbol="BTCUSDT", **book)
    run(ex, "place_order", account_id=2, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=P("250"),
        price=P("61500"), time_in_force="IOC")   # above MARKET_LOT_SIZE's 120: a marketable limit
    pos = ex.clearing.accounts[2].positions[("BTCUSDT", "BOTH")]
    lp = ex.clearing.position_figures(pos).liquidation_price
    run(ex, "set_index", symbol="BTCUSDT", price=lp + P("200"))
    run(ex, "quote", account_id=1, symbol="BTCUSDT", **book)
    r = run(ex, "set_index", symbol="BTCUSDT", price=lp - P("5"))
    rec, = [e for e in r.events if isinstance(e, LiquidationRecord)]
    assert not rec.partial and pos.qty == 0
