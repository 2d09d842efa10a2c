"""A run's results: the summary (JSON, money as decimal strings), Parquet tables, an HTML report.

Summary figures (``summarize``):

* ``accounts``: the population; ``liquidations``: liquidation records (one per position closed or
  reduced by the waterfall, of anyone: traders, the market maker, holders);
  ``liquidated_notional``: sum of quantity x average execution price over them;
* ``accounts_liquidated``: traders liquidated at least once; ``accounts_wiped``: of those, the ones
  whose equity at the end (wallets + unrealized PnL) is below 1% of all they deposited [I];
* ``adl_events`` / ``adl_notional``: positions reduced by auto-deleveraging and their notional at
  the bankruptcy price; ``insurance_fund_start/end/min``: the fund's wallet;
  ``negative_balance_cover``: what the fund paid to bring wallets back to zero;
* ``ledger_balanced``: deposits - withdrawals == all wallets + funds + fees, exactly;
  ``negative_balances``: traders' wallets below zero at the end (0 on a sound venue);
  ``state_hash``: the venue's ``Exchange.state_hash()``;
* ``spirals``: per after-loss policy, the traders following it, those who re-entered at least
  once, their liquidations and re-entries.

Tables (Parquet, pyarrow): ``timeseries`` (per tick and symbol), ``liquidations`` (per record,
with the policy and the spiral round of its account, the margin and the "actual loss rate" =
loss / margin as in the liquidation review), ``accounts`` (per trader). Amounts and prices are
int64 in 1e-8 units (the schema metadata says so); ``loss_rate`` is a float (a ratio).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..core.fixed import fmt
from ..core.ledger import FUTURES, ISOLATED
from .engine import Run
from .population import USDT

UNITS = {b"units": b"amounts and prices: int64 in 1e-8 units (1 USDT = 100000000)"}


def equity(ex, account_id: int) -> int:
    """Wallets (futures cross + isolated) plus the unrealized PnL of open positions, USDT."""
    ch = ex.clearing
    acct = ch.accounts[account_id]
    total = ch.balance(account_id, FUTURES, USDT)
    for p in acct.open_positions():
        mark = ch.mark(p.symbol) or p.entry_price
        total += p.qty * mark // 10**8 - p.cost
    for p in acct.positions.values():
        if p.wallet is not None:
            total += p.wallet.balance
    return total


def account_rows(run: Run) -> list[dict]:
    ex = run.ex
    rows = []
    for t in run.traders:
        a = run.accounts[t.account_id]
        eq = equity(ex, t.account_id)
        rows.append({"account_id": t.account_id, "symbol": t.symbol, "policy": t.policy, "leverage": t.leverage,
                     "long": t.long, "isolated": t.isolated, "hedge": t.hedge, "stop_loss_pct": t.stop_pct,
                     "qty": t.qty, "wallet_start": t.wallet, "deposits": a["deposits"], "equity_end": eq,
                     "pnl": eq - a["deposits"], "liquidations": a["liquidations"], "rounds": a["rounds"],
                     "wiped": a["liquidations"] > 0 and eq * 100 < a["deposits"]})
    return rows


def summarize(run: Run, accounts: list[dict] | None = None) -> dict:
    ex = run.ex
    accounts = account_rows(run) if accounts is None else accounts
    fund = ex.clearing.user_wallet(ex.insurance_account(USDT), FUTURES, USDT).balance
    negative = sum(1 for (kind, owner, *_), w in ex.clearing.ledger.wallets.items()
                   if kind in (FUTURES, ISOLATED) and isinstance(owner, int) and owner > 0 and w.balance < 0)
    spirals = {}
    for name in sorted({a["policy"] for a in accounts}):
        mine = [a for a in accounts if a["policy"] == name]
        spirals[name] = {"accounts": len(mine), "re_entered": sum(1 for a in mine if a["rounds"] > 0),
                         "re_entries": sum(a["rounds"] for a in mine),
                         "liquidations": sum(a["liquidations"] for a in mine),
                         "wiped": sum(1 for a in mine if a["wiped"])}
    liq = run.liquidations
    first_adl = next((r["tick"] for r in liq if r["adl_qty"]), None)
    return {
        "scenario": run.scenario.name, "seed": run.seed, "ticks": len({r["tick"] for r in run.ticks}),
        "accounts": len(run.traders), "liquidations": len(liq),
        "liquidated_notional": fmt(sum(r["notional"] for r in liq)),
        "accounts_liquidated": sum(1 for a in accounts if a["liquidations"]),
        "accounts_wiped": sum(1 for a in accounts if a["wiped"]),
        "adl_events": run.adl_events, "adl_notional": fmt(run.adl_notional), "first_adl_tick": first_adl,
        "insurance_fund_start": fmt(run.fund_start), "insurance_fund_end": fmt(fund),
        "insurance_fund_min": fmt(min(run.fund_min, fund)), "negative_balance_cover": fmt(run.negative_cover),
        "margin_calls": run.margin_calls, "refused_commands": run.refused,
        "ledger_balanced": ex.clearing.is_balanced(), "negative_balances": negative,
        "spirals": spirals, "state_hash": ex.state_hash(),
        "seconds": round(run.seconds, 3), "setup_seconds": round(run.setup_seconds, 3),
        "liquidations_per_second": round(len(liq) / run.seconds, 1) if run.seconds else None,
        "risk_scan": run.scenario.venue.risk_scan,
    }


# ---------------------------------------------------------------------- Parquet
def tables(run: Run, accounts: list[dict]):
    import pyarrow as pa
    out = {}
    for name, rows in (("timeseries", run.ticks), ("liquidations", run.liquidations), ("accounts", accounts)):
        t = pa.Table.from_pylist(rows) if rows else pa.table({"tick": pa.array([], pa.int64())})
        out[name] = t.replace_schema_metadata(UNITS)
    return out


def write(run: Run, out: Path, report: bool = True) -> dict:
    """The results folder: summary.json, timeseries/liquidations/accounts.parquet, report.html."""
    import pyarrow.parquet as pq
    out.mkdir(parents=True, exist_ok=True)
    accounts = account_rows(run)
    summary = summarize(run, accounts)
    tbl = tables(run, accounts)
    for name, t in tbl.items():
        pq.write_table(t, out / f"{name}.parquet")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if report:
        from .report import run_report
        (out / "report.html").write_text(run_report(summary, tbl))
    return summary


def counts_by(rows: list[dict], key: str) -> dict:
    return dict(sorted(Counter(r[key] for r in rows).items()))
