"""The strategy interface: how a behaviour (ours or a user's) drives an account through the venue.

A strategy is an object with three methods, all optional::

    class MyStrategy:
        name = "my_strategy"
        def on_start(self, ctx): ...   # the first tick, once per account it drives
        def on_event(self, ctx): ...   # something happened to the account (a fill, a liquidation, a refusal)
        def on_wake(self, ctx): ...    # a tick the strategy asked for with ctx.wake(n)

One instance serves every account it drives; per-account memory is ``ctx.state`` (a dict kept
between calls). It is called after the tick's market moves, in account-id order, so a run stays
deterministic; randomness only from ``ctx.rng`` (the scenario's seeded generator).

What an account sees (``Context``): ``tick``, ``now`` (ms), its ``fills`` (``TradeSettled``) and
``liquidations`` (``LiquidationRecord``) since the last call, the refusals of its last actions
(``errors``: ``(command kind, code, msg)``), the market (``mark``, ``index``, ``last``,
``best_bid``, ``best_ask``), its figures (``account()`` = Binance's cross figures: wallet,
margin balance, available balance...; ``positions()`` / ``position(symbol, side)`` = positionRisk's
figures).

What it may do: ``order`` (MARKET or LIMIT, reduce-only, position side), ``stop`` (a STOP_MARKET
that closes the position, on the mark price), ``set_leverage``, ``set_margin_type``,
``add_margin`` / ``remove_margin`` (isolated), ``deposit`` (new money from outside),
``transfer`` (Binance's universal transfer types), ``wake(n)``. Each action is a venue command,
applied right after the strategy returns, through the same ``Exchange.apply`` as any client's;
a refused one changes nothing and comes back in ``errors``. Amounts and prices are ints in 1e-8
units (``perpsim.core.fixed.parse("12.5")``).
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from ..core.exchange import Command

USDT = "USDT"


class Context:
    """One account's view of the venue for one call, and its queue of actions."""

    __slots__ = ("engine", "account_id", "state", "fills", "liquidations", "errors", "actions")

    def __init__(self, engine, account_id: int, state: dict):
        self.engine, self.account_id, self.state = engine, account_id, state
        self.fills: list = []
        self.liquidations: list = []
        self.errors: list = []
        self.actions: list[Command] = []

    # ------------------------------------------------------------------ what it sees
    @property
    def tick(self) -> int:
        return self.engine.tick

    @property
    def now(self) -> int:
        return self.engine.ex.now

    @property
    def rng(self):
        return self.engine.rng

    def mark(self, symbol: str) -> int:
        return self.engine.ex.clearing.mark(symbol)

    def index(self, symbol: str) -> int:
        return self.engine.ex.markets[symbol].index

    def last(self, symbol: str) -> int:
        return self.engine.ex.markets[symbol].last

    def best_bid(self, symbol: str) -> int | None:
        return self.engine.ex.orders.book(symbol).best_bid()

    def best_ask(self, symbol: str) -> int | None:
        return self.engine.ex.orders.book(symbol).best_ask()

    def account(self, asset: str = USDT):
        return self.engine.ex.clearing.cross_figures(self.account_id, asset)

    def positions(self) -> list:
        ch = self.engine.ex.clearing
        return [ch.position_figures(p) for p in ch.accounts[self.account_id].open_positions()]

    def position(self, symbol: str, side: str = "BOTH"):
        ch = self.engine.ex.clearing
        p = ch.accounts[self.account_id].positions.get((symbol, side))
        return ch.position_figures(p) if p is not None and p.qty else None

    def hedge_mode(self) -> bool:
        return self.engine.ex.clearing.accounts[self.account_id].hedge_mode

    def step_size(self, symbol: str) -> int:
        return self.engine.ex.clearing.instruments[symbol].step_size

    def max_leverage(self, symbol: str) -> int:
        return self.engine.ex.clearing.table(symbol).max_leverage

    # ------------------------------------------------------------------ what it may do
    def _do(self, kind: str, **args) -> None:
        self.actions.append(Command(kind, {"account_id": self.account_id, **args}, 0))

    def order(self, symbol: str, side: str, quantity: int, type: str = "MARKET", price: int | None = None,
              reduce_only: bool = False, position_side: str | None = None, time_in_force: str | None = None):
        args = {"symbol": symbol, "side": side, "type": type, "quantity": quantity}
        if price is not None:
            args["price"] = price
        if reduce_only:
            args["reduce_only"] = True
        if position_side is not None:
            args["position_side"] = position_side
        if time_in_force is not None or type == "LIMIT":
            args["time_in_force"] = time_in_force or "GTC"
        self._do("place_order", **args)

    def stop(self, symbol: str, side: str, trigger_price: int, position_side: str | None = None):
        args = {"symbol": symbol, "side": side, "type": "STOP_MARKET", "trigger_price": trigger_price,
                "close_position": True, "working_type": "MARK_PRICE"}
        if position_side is not None:
            args["position_side"] = position_side
        self._do("place_algo_order", **args)

    def set_leverage(self, symbol: str, leverage: int):
        self._do("set_leverage", symbol=symbol, leverage=leverage)

    def set_margin_type(self, symbol: str, isolated: bool):
        self._do("set_margin_type", symbol=symbol, margin_type="ISOLATED" if isolated else "CROSSED")

    def add_margin(self, symbol: str, amount: int, position_side: str | None = None):
        self._do("adjust_isolated_margin", symbol=symbol, amount=amount, add=True, position_side=position_side)

    def remove_margin(self, symbol: str, amount: int, position_side: str | None = None):
        self._do("adjust_isolated_margin", symbol=symbol, amount=amount, add=False, position_side=position_side)

    def deposit(self, amount: int, asset: str = USDT):
        self._do("deposit", asset=asset, amount=amount)

    def transfer(self, type: str, amount: int, asset: str = USDT):
        self._do("transfer", type=type, asset=asset, amount=amount)

    def wake(self, ticks: int) -> None:
        """Call ``on_wake`` for this account ``ticks`` ticks from now (at least 1)."""
        self.engine.wake(self.account_id, max(1, int(ticks)))


class Strategy:
    """The base class (optional: any object with ``on_event`` / ``on_wake`` will do)."""

    name = "strategy"

    def on_start(self, ctx: Context) -> None:
        pass

    def on_event(self, ctx: Context) -> None:
        pass

    def on_wake(self, ctx: Context) -> None:
        pass


def load_strategy(target: str, base_dir: str = "."):
    """``module:Class`` from an importable module or a ``.py`` file (relative to the scenario)."""
    mod_name, _, cls_name = target.partition(":")
    if mod_name.endswith(".py"):
        path = Path(mod_name) if Path(mod_name).is_absolute() else Path(base_dir) / mod_name
        spec = importlib.util.spec_from_file_location(f"perpsim_user_strategy_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(mod_name)
    return getattr(module, cls_name)()
