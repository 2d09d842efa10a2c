"""The HTML report: one self-contained page (plotly.js inline, no network) per run or sweep.

A run's page: index, mark and last price with the liquidated notional per tick; the insurance
fund and ADL over time; the distribution of traders' losses and of the "actual loss rate"
(loss / margin of each liquidated position, as in the liquidation review); how many traders
fell into each spiral; liquidations by leverage. A sweep's page: each summary figure against
each parameter of the grid.
"""
from __future__ import annotations

import html
import json

E8 = 1e8   # 1e-8 units -> display units (charts only; the figures themselves stay exact)


def _page(title: str, summary: dict | list, figures: list) -> str:
    parts = []
    for i, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False}))
    head = json.dumps(summary, indent=2)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}pre{background:#f4f4f4;padding:1em;"
            "overflow:auto;max-height:30em}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><h2>Summary</h2><pre>{html.escape(head)}</pre>"
            + "".join(f"<div>{p}</div>" for p in parts) + "</body></html>")


def run_report(summary: dict, tables: dict) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    ts = tables["timeseries"].to_pylist()
    liq = tables["liquidations"].to_pylist()
    accounts = tables["accounts"].to_pylist()
    figs = []
    for symbol in sorted({r["symbol"] for r in ts}):
        rows = [r for r in ts if r["symbol"] == symbol]
        x = [r["tick"] for r in rows]
        f = make_subplots(specs=[[{"secondary_y": True}]])
        for k in ("index", "mark", "last"):
            f.add_trace(go.Scatter(x=x, y=[r[k] / E8 if r[k] else None for r in rows], name=k, mode="lines"))
        f.add_trace(go.Bar(x=x, y=[r["liquidated_notional"] / E8 for r in rows], name="liquidated notional (USDT)",
                           opacity=0.5), secondary_y=True)
        f.update_layout(title=f"{symbol}: index, mark and last price; liquidated notional per tick",
                        xaxis_title="tick")
        figs.append(f)
    first = sorted({r["symbol"] for r in ts})[0] if ts else None
    rows = [r for r in ts if r["symbol"] == first]
    adl = {}
    for r in ts:
        adl[r["tick"]] = adl.get(r["tick"], 0) + r["adl_notional"]
    f = make_subplots(specs=[[{"secondary_y": True}]])
    f.add_trace(go.Scatter(x=[r["tick"] for r in rows], y=[r["insurance_fund"] / E8 for r in rows],
                           name="insurance fund (USDT)", mode="lines"))
    f.add_trace(go.Bar(x=list(adl), y=[v / E8 for v in adl.values()], name="ADL notional (USDT)", opacity=0.6),
                secondary_y=True)
    f.update_layout(title="Insurance fund and auto-deleveraging over time", xaxis_title="tick")
    figs.append(f)
    f = make_subplots(rows=1, cols=2, subplot_titles=("Traders' PnL at the end (liquidated traders, USDT)",
                                                      "Actual loss rate of liquidated positions (loss / margin)"))
    f.add_trace(go.Histogram(x=[a["pnl"] / E8 for a in accounts if a["liquidations"]], nbinsx=60, name="PnL"),
                row=1, col=1)
    f.add_trace(go.Histogram(x=[r["loss_rate"] for r in liq if r["loss_rate"] is not None], nbinsx=60,
                             name="loss rate"), row=1, col=2)
    figs.append(f)
    sp = summary.get("spirals", {})
    names = sorted(sp)
    f = go.Figure()
    for k in ("accounts", "re_entered", "liquidations", "wiped"):
        f.add_trace(go.Bar(x=names, y=[sp[n][k] for n in names], name=k))
    f.update_layout(title="Spirals: traders per after-loss policy, who re-entered, liquidations, wiped",
                    barmode="group")
    figs.append(f)
    buckets = [(1, 5), (5, 10), (10, 20), (20, 50), (50, 126)]
    labels = [f"{a}-{b - 1}x" for a, b in buckets]
    share = []
    for a, b in buckets:
        mine = [x for x in accounts if a <= x["leverage"] < b]
        share.append(100 * sum(1 for x in mine if x["liquidations"]) / len(mine) if mine else 0)
    f = go.Figure(go.Bar(x=labels, y=share, name="liquidated (%)"))
    f.update_layout(title="Share of traders liquidated, by opening leverage", yaxis_title="%")
    figs.append(f)
    return _page(f"Cascade: {summary.get('scenario', '')} (seed {summary.get('seed')})", summary, figs)


FIGURES = ("liquidations", "accounts_wiped", "adl_events", "insurance_fund_end", "negative_balance_cover",
           "liquidated_notional")


def sweep_report(rows: list[dict], params: list[str]) -> str:
    """Each summary figure against each parameter (one point per scenario x seed)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    figs = []
    for p in params:
        f = make_subplots(rows=2, cols=3, subplot_titles=FIGURES)
        for i, k in enumerate(FIGURES):
            f.add_trace(go.Box(x=[str(r[p]) for r in rows], y=[float(r[k]) for r in rows], name=k,
                               boxpoints="all"), row=i // 3 + 1, col=i % 3 + 1)
        f.update_layout(title=f"Summary against {p}", showlegend=False, height=700)
        figs.append(f)
    return _page("Sweep", [{k: r[k] for k in ("task", "seed", *params, "liquidations", "state_hash")}
                           for r in rows], figs)
