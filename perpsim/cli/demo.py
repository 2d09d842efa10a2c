"""``perpsim demo``: a scripted session on the clearing core, printed with rich."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from perpsim.core.clearing import ClearingHouse
from perpsim.core.fixed import fmt, parse


def run_demo(console: Console | None = None) -> ClearingHouse:
    console = console or Console()
    ch = ClearingHouse()
    alice, bob = ch.create_account().id, ch.create_account().id
    for acct in (alice, bob):
        ch.deposit(acct, "SPOT", "USDT", parse("20000"))
        ch.transfer(acct, "MAIN_UMFUTURE", "USDT", parse("10000"))
    ch.set_mark("BTCUSDT", parse("60000"))
    ch.set_margin_type(alice, "BTCUSDT", True)
    ch.set_leverage(alice, "BTCUSDT", 10)
    ch.trade(alice, bob, "BTCUSDT", parse("1"), parse("60000"))
    console.print("[bold]Alice buys 1 BTCUSDT at 60,000 from Bob (isolated 10x vs cross 20x).[/bold]")
    for mark in ("60000", "57000", "55000"):
        ch.set_mark("BTCUSDT", parse(mark))
        table = Table(title=f"mark {mark}")
        for col in ("account", "qty", "entry", "UPNL", "MM", "liq. price", "bankr. price"):
            table.add_column(col, justify="right")
        for acct in (alice, bob):
            pos = ch.accounts[acct].positions[("BTCUSDT", "BOTH")]
            f = ch.position_figures(pos)
            lp = "--" if f.liquidation_price is None else fmt(f.liquidation_price, 2)
            bp = "--" if f.bankruptcy_price is None else fmt(f.bankruptcy_price, 2)
            table.add_row(str(acct), fmt(f.qty, 3), fmt(f.entry_price, 2), fmt(f.unrealized_pnl, 2),
                          fmt(f.maint_margin, 2), lp, bp)
        console.print(table)
    console.print(f"ledger balanced: {ch.is_balanced()}   state hash: {ch.state_hash()[:16]}")
    console.print("Spot wallets untouched by futures: "
                  f"{fmt(ch.balance(alice, 'SPOT', 'USDT'), 2)} / {fmt(ch.balance(bob, 'SPOT', 'USDT'), 2)} USDT")
    return ch
