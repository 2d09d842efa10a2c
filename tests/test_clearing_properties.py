"""Property tests over random fills, transfers, leverage changes and marks (hypothesis)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpsim.core.clearing import ClearingHouse
from perpsim.core.errors import VenueError
from perpsim.core.fixed import SCALE, mul, parse
from perpsim.core.instruments import default_instruments
from perpsim.core.margin import Leg, bankruptcy_price, liquidation_price, notional, unrealized_pnl

P = parse
INSTR = default_instruments()
SYMBOLS = {"BTCUSDT": (P("60000"), P("0.1"), P("0.001")), "ETHUSDT": (P("3000"), P("0.01"), P("0.001")),
           "XRPUSDT": (P("0.5"), P("0.0001"), P("0.1"))}

accounts = st.integers(1, 4)
symbols = st.sampled_from(sorted(SYMBOLS))
op = st.one_of(
    st.tuples(st.just("trade"), accounts, accounts, symbols, st.integers(1, 400), st.integers(-300, 300),
              st.sampled_from(["BUY", "SELL"])),
    st.tuples(st.just("mark"), symbols, st.integers(-400, 400)),
    st.tuples(st.just("leverage"), accounts, symbols, st.integers(1, 160)),
    st.tuples(st.just("margin_type"), accounts, symbols, st.booleans()),
    st.tuples(st.just("transfer"), accounts, st.sampled_from(["MAIN_UMFUTURE", "UMFUTURE_MAIN", "MAIN_FUNDING",
                                                             "FUNDING_UMFUTURE", "UMFUTURE_FUNDING", "MAIN_EARN"]),
              st.integers(1, 30000)),
    st.tuples(st.just("iso_margin"), accounts, symbols, st.integers(1, 3000), st.booleans()),
)


def price_near(symbol, offset_per_mille):
    base, tick, _ = SYMBOLS[symbol]
    p = base + base * offset_per_mille // 1000
    return max(tick, p - p % tick)


def apply(ch, o):
    kind = o[0]
    if kind == "trade":
        _, a, b, symbol, steps, off, taker = o
        if a == b:
            return
        _, _, step = SYMBOLS[symbol]
        qty = steps * step * (100 if symbol == "XRPUSDT" else 1)
        ch.trade(a, b, symbol, qty, price_near(symbol, off), taker=taker)
    elif kind == "mark":
        ch.set_mark(o[1], price_near(o[1], o[2]))
    elif kind == "leverage":
        ch.set_leverage(o[1], o[2], o[3])
    elif kind == "margin_type":
        ch.set_margin_type(o[1], o[2], o[3])
    elif kind == "transfer":
        ch.transfer(o[1], o[2], "USDT", P(o[3]))
    elif kind == "iso_margin":
        ch.adjust_isolated_margin(o[1], o[2], P(o[3]), add=o[4])


def new_house():
    ch = ClearingHouse()
    for _ in range(4):
        a = ch.create_account().id
        ch.deposit(a, "SPOT", "USDT", P("50000"))
        ch.transfer(a, "MAIN_UMFUTURE", "USDT", P("20000"))
    for s, (base, _, _) in SYMBOLS.items():
        ch.set_mark(s, base)
    return ch


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=40))
def test_money_is_conserved_and_refusals_change_nothing(ops):
    ch = new_house()
    for o in ops:
        before = ch.state_hash()
        try:
            apply(ch, o)
        except VenueError:
            assert ch.state_hash() == before, o
        assert ch.is_balanced(), o
        # the settlement wallet is the counterparty of every open position, up to rounding of partial closes
        settlement = ch.ledger.peek(("SETTLEMENT",), "USDT")
        open_value = ch.open_interest_value("USDT")
        assert abs(settlement - open_value) <= 4 * len(ops)


@settings(max_examples=200, deadline=None)
@given(qty=st.integers(1, 500_000), entry=st.integers(1_000, 200_000), leverage=st.integers(1, 150),
       extra=st.integers(-50, 200), short=st.booleans(), date=st.sampled_from([None, "2021-06-01", "2024-12-01"]))
def test_isolated_liquidation_price_is_where_equity_meets_maintenance(qty, entry, leverage, extra, short, date):
    import datetime as dt
    table = INSTR["BTCUSDT"].brackets_at(dt.date.fromisoformat(date) if date else None)
    q = qty * SCALE // 1000 * (-1 if short else 1)
    ep = entry * SCALE
    cost = mul(q, ep)
    iw = notional(q, ep) // leverage + extra * SCALE
    if iw <= 0:
        return
    legs = [Leg(q, cost, table)]
    lp, bp = liquidation_price(iw, legs), bankruptcy_price(iw, legs)
    if lp is None:
        assert not short and bp is None  # only a long can be beyond liquidation ("--"), and then beyond bankruptcy
        return
    equity = iw + unrealized_pnl(q, cost, lp)
    mm = table.maint_margin(notional(q, lp))
    tolerance = abs(q) // SCALE + 2  # LP is rounded to 1e-8: equity is off by at most |q| units
    assert abs(equity - mm) <= tolerance
    # liquidation comes before bankruptcy, and on the losing side of a position healthy at entry
    healthy = iw > table.maint_margin(notional(q, ep))
    if short:
        assert bp is not None and lp <= bp
        assert not healthy or ep < lp
    else:
        assert bp is None or bp <= lp
        assert not healthy or lp < ep


@settings(max_examples=100, deadline=None)
@given(wb=st.integers(1_000, 2_000_000), q1=st.integers(1, 100_000), q2=st.integers(1, 100_000),
       e1=st.integers(20_000, 80_000), e2=st.integers(1_000, 5_000), m2=st.integers(500, 6_000),
       s1=st.booleans(), s2=st.booleans())
def test_cross_liquidation_price_holds_other_symbols_at_mark(wb, q1, q2, e1, e2, m2, s1, s2):
    btc, eth = INSTR["BTCUSDT"].brackets, INSTR["ETHUSDT"].brackets
    a = q1 * SCALE // 1000 * (-1 if s1 else 1)
    b = q2 * SCALE // 1000 * (-1 if s2 else 1)
    ca, cb = mul(a, e1 * SCALE), mul(b, e2 * SCALE)
    o_mm = eth.maint_margin(notional(b, m2 * SCALE))
    o_upnl = unrealized_pnl(b, cb, m2 * SCALE)
    lp = liquidation_price(wb * SCALE, [Leg(a, ca, btc)], o_mm, o_upnl)
    if lp is None:
        return
    equity = wb * SCALE + o_upnl + unrealized_pnl(a, ca, lp)
    mm = o_mm + btc.maint_margin(notional(a, lp))
    assert abs(equity - mm) <= abs(a) // SCALE + 2
