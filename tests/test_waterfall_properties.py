"""Property tests of the whole risk pipeline on random populations and price paths (issue 4):
money conserved, no negative balance after the waterfall, and the waterfall reaches its fixpoint:
after every tick the exact full scan finds nothing liquidatable among traders."""
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from perpsim.core.events import LiquidationRecord
from perpsim.core.exchange import Command, Exchange
from perpsim.core.fixed import parse
from perpsim.core.liquidation.scans import full_scan

P = parse
SYMBOLS = {"BTCUSDT": (P("60000"), P("0.1"), P("0.001")), "ETHUSDT": (P("3000"), P("0.01"), P("0.001"))}

trader = st.tuples(st.sampled_from(sorted(SYMBOLS)), st.booleans(), st.booleans(), st.integers(1, 100),
                   st.integers(10, 90), st.integers(200, 5000))   # size: % of what the margin allows
path = st.lists(st.tuples(st.sampled_from(sorted(SYMBOLS)), st.integers(-600, 400)), min_size=1, max_size=25)


def apply(ex, kind, **args):
    return ex.apply(Command(kind, args, ex.now))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traders=st.lists(trader, min_size=1, max_size=8), ticks=path, fund=st.sampled_from(["0", "5000", "1000000"]),
       book=st.booleans())
def test_random_populations_and_paths(traders, ticks, fund, book):
    ex = Exchange()
    apply(ex, "set_setting", name="guard_new_account_days", value=0)
    mm = apply(ex, "create_account", deposit={"USDT": P("1000000000")}).reply
    if fund != "0":
        apply(ex, "fund_insurance", asset="USDT", amount=P(fund))
    for s, (price, _, _) in SYMBOLS.items():
        apply(ex, "set_index", symbol=s, price=price)
    for symbol, isolated, long, lev, pct, deposit in traders:
        acct = apply(ex, "create_account", deposit={"USDT": P(deposit)}).reply
        if isolated:
            apply(ex, "set_margin_type", account_id=acct, symbol=symbol, margin_type="ISOLATED")
        assert apply(ex, "set_leverage", account_id=acct, symbol=symbol, leverage=lev).ok
        price, _, step = SYMBOLS[symbol]
        qty = max(step, P(deposit) * lev * pct // 100 * P(1) // price // step * step * 9 // 10 // step * step)
        buyer, seller = (acct, mm) if long else (mm, acct)
        r = apply(ex, "trade", buyer=buyer, seller=seller, symbol=symbol, qty=qty, price=price)
        assert r.ok, r.error
    for symbol, move in ticks:
        m = ex.markets[symbol]
        tick = SYMBOLS[symbol][1]
        if book:
            apply(ex, "quote", account_id=mm, symbol=symbol, levels=5, notional=P("100000"))
        new = max(tick, (m.index + m.index * move // 10_000) // tick * tick)
        r = apply(ex, "set_index", symbol=symbol, price=new)
        assert r.ok, r.error
        for e in r.events:
            if isinstance(e, LiquidationRecord):
                event("liquidated: " + ("book" if e.book_qty else "") + ("insurance" if e.insurance_qty else "")
                      + ("adl" if e.adl_qty else "") + (" partial" if e.partial else ""))
        assert ex.clearing.is_balanced()
        for key, w in ex.clearing.ledger.wallets.items():
            if key[0] in ("FUTURES", "ISOLATED") and isinstance(key[1], int) and key[1] > 0:
                assert w.balance >= 0, (key, w.balance)
        left = {s for s in full_scan(ex.clearing) if s[0] > 0}
        assert not left, left
