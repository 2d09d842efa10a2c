"""Print a review (analysis.review's dict) with rich: one panel per liquidation, the review's tables."""
from __future__ import annotations

from datetime import datetime, timezone

from rich.console import Console
from rich.panel import Panel
from rich.table import Table


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _yes(flag: bool, good: bool = True) -> str:
    ok = flag if good else not flag
    return f"[{'green' if ok else 'red'}]{'yes' if flag else 'no'}[/]"


def render(result: dict, console: Console | None = None) -> None:
    console = console or Console()
    s = result["summary"]
    console.rule(f"Liquidation review: {s['count']} liquidation(s), loss {s['totalLoss']}")
    for r in result["liquidations"]:
        t = Table(show_header=False, box=None, pad_edge=False)
        t.add_column(style="bold")
        t.add_column()
        lev = f"{r['leverage']}x" + (" (estimated)" if r["leverageEstimated"] else "") if r["leverage"] else "unknown"
        t.add_row("What was the leverage?", f"[{'red' if r['highLeverage'] else 'green'}]{lev}[/]")
        t.add_row("Share of total margin", f"{r['shareOfMargin'] or 'unknown'} of {r['walletBeforeEntry']}"
                  + (" [red](overloaded)[/]" if r["overloaded"] else ""))
        sl = r["stopLoss"]
        t.add_row("Stop-loss set?", _yes(sl["set"]) + (" [red](beyond the liquidation price)[/]"
                                                      if sl["beyondLiquidation"] else ""))
        t.add_row("With or against the trend?", f"{r['trend']['verdict']}: {r['trend']['why']}")
        e = r["entry"]
        t.add_row("Impulse or planned?", f"[{'red' if e['verdict'] == 'impulse' else 'green'}]{e['verdict']}[/]"
                  + "".join(f"\n  - {x['msg']}" for x in e["signals"]))
        t.add_row("Funding while held", f"paid {r['funding']['paid']}, received {r['funding']['received']}")
        t.add_row("Margin type", r["marginType"])
        t.add_row("Initial margin", r["initialMargin"])
        t.add_row("Equity at liquidation", r["equityAtLiquidation"])
        t.add_row("Loss (fees included)", f"{r['loss']}  (actual loss rate {r['lossRate']})")
        t.add_row("Appeal", r["appeal"]["why"])
        if r["typicalFailure"]:
            t.add_row("Typical failure", ", ".join(r["typicalFailure"]))
        t.add_row("Recommendations", "\n".join(f"- {x}" for x in r["recommendations"]) or "-")
        title = (f"#{r['n']} {r['symbol']} {r['direction']} liquidated {_when(r['time'])} "
                 f"(opened {_when(r['openTime'])}, entry {r['entryPrice']}, liq {r['liquidationPrice']})")
        console.print(Panel(t, title=title, title_align="left"))
    if result["cumulative"]:
        c = Table(title="Cumulative effect of the liquidations")
        for h in ("Liquidation count", "Position size (margin)", "Total invested", "Remaining"):
            c.add_column(h, justify="right")
        for row in result["cumulative"]:
            c.add_row(str(row["liquidations"]), row["positionMargin"], row["totalInvested"], row["remaining"])
        console.print(c)
    if result["quitSignals"]:
        console.print(Panel("\n".join(f"- {q['msg']}" for q in result["quitSignals"])
                            + "\n\n[bold]Please stop trading futures.[/] Shift to:\n"
                            + "\n".join(f"- {a}" for a in result["alternatives"]),
                            title="[red]Quit signals[/]", title_align="left"))
    console.print(s["advice"])
