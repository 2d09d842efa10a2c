"""A seeded random command stream through every risk stage: marks, wicks (crashes), funding,
crossing and resting orders, stop orders, direct trades, isolated and cross accounts in one-way and
hedge mode, per-account alert levels, margin calls, liquidations, the insurance fund and ADL.

``python -m tests.risk_stream`` writes ``tests/fixtures/risk_stream.json.gz``; the committed file is
what ``tests/test_risk_replay.py`` replays (the file, not this generator, is the fixture).
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from perpsim.core.fixed import SCALE

FIXTURE = Path(__file__).parent / "fixtures" / "risk_stream.json.gz"
SYMBOLS = {"BTCUSDT": (60_000, 3, 1), "ETHUSDT": (3_000, 3, 2)}   # price, qty step decimals, price decimals


def make_stream(seed: int = 20261203, traders: int = 48, steps: int = 900) -> list[list]:
    """``[kind, args, ts]`` rows."""
    rng = random.Random(seed)
    t = 0
    out: list[list] = []

    def cmd(kind, **args):
        out.append([kind, args, t])

    cmd("create_account", deposit={"USDT": 10**9 * SCALE})            # 1: the market maker
    cmd("fund_insurance", asset="USDT", amount=2_000 * SCALE)
    prices = {s: p * SCALE for s, (p, _, _) in SYMBOLS.items()}
    for s, p in prices.items():
        cmd("set_index", symbol=s, price=p)
    for a in range(2, traders + 2):
        cmd("create_account", deposit={"USDT": rng.choice([500, 2_000, 10_000, 50_000]) * SCALE})
        if rng.random() < 0.2:
            cmd("set_position_mode", account_id=a, dual_side=True)
        for s in SYMBOLS:
            if rng.random() < 0.35:
                cmd("set_margin_type", account_id=a, symbol=s, margin_type="ISOLATED")
            cmd("set_leverage", account_id=a, symbol=s, leverage=rng.choice([3, 5, 10, 20, 20, 50, 75]))
        if rng.random() < 0.15:
            cmd("set_alert_levels", account_id=a, margin_ratios=[rng.choice([30, 60, 85]) * SCALE // 100],
                liq_distances=[rng.choice([2, 8, 15]) * SCALE])
    hedge = set()
    for row in out:
        if row[0] == "set_position_mode":
            hedge.add(row[1]["account_id"])
    for step in range(steps):
        t += rng.choice([200, 1_000, 5_000, 60_000])
        r = rng.random()
        s = rng.choice(list(SYMBOLS))
        _, qd, pd = SYMBOLS[s]
        if r < 0.12:                                    # the index walks
            prices[s] = max(SCALE, prices[s] * rng.randint(9_850, 10_150) // 10_000 // 10**(8 - pd) * 10**(8 - pd))
            cmd("set_index", symbol=s, price=prices[s])
        elif r < 0.14:                                  # a crash or a squeeze, sampled every second
            pct = rng.choice([-18, -12, -8, 6, 10])
            cmd("wick", symbol=s, pct=pct * SCALE, down_ms=rng.choice([10_000, 30_000]),
                up_ms=rng.choice([20_000, 60_000]))
        elif r < 0.17:
            cmd("quote", account_id=1, symbol=s, levels=8, notional=20_000 * SCALE)
        elif r < 0.19:
            t += rng.choice([3_600_000, 8 * 3_600_000])  # funding
            cmd("advance_clock", ms=1)
        elif r < 0.45:                                  # a crossing market order
            a = rng.randint(2, traders + 1)
            side = rng.choice(["BUY", "SELL"])
            qty = rng.choice([1, 2, 5, 10, 40]) * 10**(8 - qd) * (1 if s == "BTCUSDT" else 10)
            args = dict(account_id=a, symbol=s, side=side, type="MARKET", quantity=qty)
            if a in hedge:
                args["position_side"] = rng.choice(["LONG", "SHORT"])
            cmd("place_order", **args)
        elif r < 0.60:                                  # a resting or crossing limit order
            a = rng.randint(2, traders + 1)
            side = rng.choice(["BUY", "SELL"])
            off = rng.randint(-30, 30)
            px = prices[s] * (10_000 + off) // 10_000 // 10**(8 - pd) * 10**(8 - pd)
            qty = rng.choice([1, 3, 8]) * 10**(8 - qd) * (1 if s == "BTCUSDT" else 10)
            args = dict(account_id=a, symbol=s, side=side, type="LIMIT", quantity=qty, price=px,
                        time_in_force="GTC")
            if a in hedge:
                args["position_side"] = rng.choice(["LONG", "SHORT"])
            cmd("place_order", **args)
        elif r < 0.68:                                  # a direct trade between two traders at the index
            b, c = rng.sample(range(2, traders + 2), 2)
            qty = rng.choice([2, 5, 20, 60]) * 10**(8 - qd) * (1 if s == "BTCUSDT" else 10)
            args = dict(buyer=b, seller=c, symbol=s, qty=qty, price=prices[s])
            if b in hedge:
                args["buyer_position_side"] = "LONG"
            if c in hedge:
                args["seller_position_side"] = "SHORT"
            cmd("trade", **args)
        elif r < 0.72:                                  # a stop-loss on the mark
            a = rng.randint(2, traders + 1)
            side = rng.choice(["BUY", "SELL"])
            trig = prices[s] * (10_000 + (400 if side == "BUY" else -400)) // 10_000 // 10**(8 - pd) * 10**(8 - pd)
            args = dict(account_id=a, symbol=s, side=side, type="STOP_MARKET", trigger_price=trig,
                        close_position=True, working_type="MARK_PRICE")
            if a in hedge:
                args["position_side"] = "LONG" if side == "SELL" else "SHORT"
            cmd("place_algo_order", **args)
        elif r < 0.76:
            a = rng.randint(2, traders + 1)
            cmd("cancel_all_orders", account_id=a, symbol=s)
        elif r < 0.80:
            a = rng.randint(2, traders + 1)
            side = rng.choice(["BUY", "SELL"])
            qty = rng.choice([1, 5]) * 10**(8 - qd) * (1 if s == "BTCUSDT" else 10)
            args = dict(account_id=a, symbol=s, side=side, type="MARKET", quantity=qty, reduce_only=True)
            cmd("place_order", **args)
        elif r < 0.83:
            a = rng.randint(2, traders + 1)
            cmd("adjust_isolated_margin", account_id=a, symbol=s, amount=rng.choice([10, 100]) * SCALE,
                add=rng.random() < 0.7)
        elif r < 0.85:
            a = rng.randint(2, traders + 1)
            cmd("deposit", account_id=a, asset="USDT", amount=rng.choice([100, 1_000]) * SCALE)
        else:                                           # time passes; marks follow the wicks
            cmd("advance_clock", ms=rng.choice([1_000, 10_000, 30_000]))
        if step == steps // 3:
            cmd("set_setting", name="margin_call_ratio", value=70 * SCALE // 100)
        if step == 2 * steps // 3:
            cmd("set_bracket_date", date="2021-12-04")
    return out


def write() -> None:
    FIXTURE.parent.mkdir(exist_ok=True)
    data = json.dumps(make_stream(), separators=(",", ":")).encode()
    FIXTURE.write_bytes(gzip.compress(data, mtime=0))


if __name__ == "__main__":
    write()
