"""A cascade scenario: read from TOML (``tomllib``), validated whole before anything runs.

Every error names its key, e.g. ``population.leverage.median: must be > 0``. ``load`` returns a
``Scenario`` (plain frozen dataclasses); ``overrides`` (dotted keys, as a sweep's grid gives them)
are applied to the raw document before it is validated, so a sweep's variant is checked the same
way. Money and prices are decimal strings (or numbers) read exactly into 1e-8 units; shares and
distribution parameters are plain numbers (they only draw the population, never touch a balance).
"""
from __future__ import annotations

import copy
import datetime as dt
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..core.fixed import SCALE

DAY_MS = 86_400_000
POLICIES = ("reenter_double", "raise_leverage", "flip", "walk_away")
DISTS = ("fixed", "uniform", "lognormal")
RISK_SCANS = ("indexed", "full")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message starts with the offending key."""

    def __init__(self, key: str, msg: str):
        super().__init__(f"{key}: {msg}")
        self.key = key


# ---------------------------------------------------------------------- the typed scenario
@dataclass(frozen=True)
class Dist:
    """A distribution to draw a population figure from: fixed, uniform [low, high], or lognormal
    (median, sigma), clipped to [min, max]."""

    kind: str
    a: float
    b: float = 0.0
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class Wick:
    pct: float
    at: int
    down_ticks: int
    up_ticks: int


@dataclass(frozen=True)
class SymbolMarket:
    symbol: str
    source: str                                 # synthetic | replay
    price: int = 0                              # synthetic: the start price (1e-8 units)
    ticks: int = 0
    shock_pct: float = 0.0
    shock_start: int = 0
    shock_ticks: int = 1
    vol_bps: float = 0.0
    regimes: tuple = ()                         # ((from_tick, vol_bps), ...)
    wick: Wick | None = None
    klines: tuple = ()                          # replay: kline files (trade or markPrice klines)
    funding: str | None = None                  # replay: a fundingRate file (shown beside the engine's rate)
    start_ms: int | None = None
    end_ms: int | None = None
    ticks_per_bar: int = 60


@dataclass(frozen=True)
class Population:
    accounts: int
    symbols: tuple                              # ((symbol, weight), ...)
    wallet: Dist
    leverage: Dist
    size_share: Dist
    long_share: float
    isolated_share: float
    hedge_share: float
    stop_loss_share: float
    stop_loss_distance_pct: Dist
    account_age_days: int


@dataclass(frozen=True)
class Behaviour:
    policies: tuple                             # ((name, share), ...) in POLICIES order, shares sum to 1
    delay_ticks: Dist
    max_rounds: int
    custom: tuple = ()                          # ((module:Class, share), ...) user strategies


@dataclass(frozen=True)
class Liquidity:
    levels: int
    spread_bps: int
    step_bps: int
    notional: int                               # per level at the first level, 1e-8 USDT
    growth_pct: int
    refill_ticks: int
    thin_window_ticks: int
    thin_per_pct: float                         # depth lost per 1% move over the window (0.05 = 5%)
    thin_floor: float                           # the depth never falls below this share
    wallet: int                                 # the market maker's deposit


@dataclass(frozen=True)
class Venue:
    insurance_fund: int
    clearance_fee: int | None                   # 1e-8 units of a rate; None: the instrument's own
    bracket_date: str | None
    trader_protection: bool
    risk_scan: str
    settings: tuple                             # ((name, value), ...) venue settings by name


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    start_ms: int
    tick_ms: int
    ticks: int
    market: tuple                               # SymbolMarket per symbol, sorted by symbol
    population: Population
    behaviour: Behaviour
    liquidity: Liquidity
    venue: Venue
    base_dir: str = "."
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def symbols(self) -> list[str]:
        return [m.symbol for m in self.market]


# ---------------------------------------------------------------------- reading
def load(path: str | Path, overrides: dict | None = None) -> Scenario:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise ScenarioError(str(path), e.strerror or str(e)) from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(str(path), f"not valid TOML ({e})") from None
    return from_dict(doc, overrides, base_dir=str(path.parent))


def from_dict(doc: dict, overrides: dict | None = None, base_dir: str = ".") -> Scenario:
    doc = apply_overrides(doc, overrides or {})
    return _build(_R(doc, ""), doc, base_dir)


def apply_overrides(doc: dict, overrides: dict) -> dict:
    """A copy of ``doc`` with dotted keys set (``"liquidity.notional" = "5000"``)."""
    doc = copy.deepcopy(doc)
    for key, value in overrides.items():
        node = doc
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ScenarioError(key, f"{p} is not a table")
            node = nxt
        node[parts[-1]] = value
    return doc


class _R:
    """A table being read: remembers its key path and which keys were read (the rest are unknown)."""

    def __init__(self, table: Any, path: str):
        if not isinstance(table, dict):
            raise ScenarioError(path or "scenario", "must be a table")
        self.t, self.path, self.seen = table, path, set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.t

    def get(self, name: str, default: Any = ...):
        self.seen.add(name)
        if name not in self.t:
            if default is ...:
                raise ScenarioError(self.key(name), "is required")
            return default
        return self.t[name]

    def sub(self, name: str, required: bool = False) -> "_R":
        v = self.get(name, ... if required else {})
        return _R(v, self.key(name))

    def number(self, name, default=..., gt=None, ge=None, le=None, lt=None, integer=False) -> float:
        v = self.get(name, default)
        k = self.key(name)
        if isinstance(v, str):
            try:
                v = float(Decimal(v)) if not Decimal(v) == Decimal(v).to_integral_value() else int(Decimal(v))
            except InvalidOperation:
                raise ScenarioError(k, f"must be a number, got {v!r}") from None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ScenarioError(k, f"must be a number, got {v!r}")
        if integer and not (isinstance(v, int) or float(v).is_integer()):
            raise ScenarioError(k, f"must be a whole number, got {v!r}")
        for bound, ok, word in ((gt, lambda: v > gt, ">"), (ge, lambda: v >= ge, ">="),
                                (le, lambda: v <= le, "<="), (lt, lambda: v < lt, "<")):
            if bound is not None and not ok():
                raise ScenarioError(k, f"must be {word} {bound}, got {v!r}")
        return int(v) if integer else v

    def money(self, name, default=..., gt=None, ge=None) -> int:
        """A decimal string or number, exactly, in 1e-8 units."""
        v = self.get(name, default)
        k = self.key(name)
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ScenarioError(k, f"must be a decimal string or number, got {v!r}")
        try:
            d = Decimal(str(v))
        except InvalidOperation:
            raise ScenarioError(k, f"not a decimal number: {v!r}") from None
        units = d * SCALE
        if not d.is_finite() or units != units.to_integral_value():
            raise ScenarioError(k, f"at most 8 decimals, got {v!r}")
        units = int(units)
        if gt is not None and not units > gt * SCALE:
            raise ScenarioError(k, f"must be > {gt}, got {v!r}")
        if ge is not None and not units >= ge * SCALE:
            raise ScenarioError(k, f"must be >= {ge}, got {v!r}")
        return units

    def choice(self, name, options, default=...) -> str:
        v = self.get(name, default)
        if v not in options:
            raise ScenarioError(self.key(name), f"must be one of {', '.join(map(str, options))}, got {v!r}")
        return v

    def done(self) -> None:
        extra = sorted(set(self.t) - self.seen)
        if extra:
            raise ScenarioError(self.key(extra[0]), "unknown key")


def _time(r: _R, name: str, default=...) -> int | None:
    v = r.get(name, default)
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        t = v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)
    elif isinstance(v, dt.date):
        t = dt.datetime(v.year, v.month, v.day, tzinfo=dt.timezone.utc)
    elif isinstance(v, str):
        try:
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(r.key(name), f"not an ISO time: {v!r}") from None
        t = t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
    else:
        raise ScenarioError(r.key(name), f"must be an ISO time, got {v!r}")
    return int(t.timestamp() * 1000)


def _dist(r: _R, name: str, default: Any, positive: bool = True, le: float | None = None) -> Dist:
    v = r.get(name, default)
    key = r.key(name)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = {"dist": "fixed", "value": v}
    d = _R(v, key)
    kind = d.choice("dist", DISTS, "lognormal" if d.has("median") else "fixed")
    bound = {"gt": 0} if positive else {"ge": 0}
    if kind == "fixed":
        out = Dist("fixed", d.number("value", **bound, le=le))
    elif kind == "uniform":
        low = d.number("low", **bound, le=le)
        high = d.number("high", ge=low, le=le)
        out = Dist("uniform", low, high)
    else:
        out = Dist("lognormal", d.number("median", gt=0, le=le), d.number("sigma", ge=0, le=5))
    lo = d.number("min", None, **bound) if d.get("min", None) is not None else None
    hi = d.number("max", None, gt=0, le=le) if d.get("max", None) is not None else None
    if lo is not None and hi is not None and hi < lo:
        raise ScenarioError(f"{key}.max", f"must be >= min ({lo}), got {hi}")
    d.done()
    return Dist(out.kind, out.a, out.b, lo, hi)


def _market(r: _R, symbol: str, base_dir: str, default_ticks: int | None) -> SymbolMarket:
    from ..core.instruments import default_instruments
    if symbol not in default_instruments():
        raise ScenarioError(r.path, f"unknown symbol {symbol!r} (one of {', '.join(sorted(default_instruments()))})")
    source = r.choice("source", ("synthetic", "replay"), "synthetic")
    if source == "synthetic":
        ticks = r.number("ticks", default_ticks if default_ticks is not None else ..., gt=0, integer=True)
        shock_ticks = r.number("shock_ticks", 600, gt=0, integer=True)
        regimes = []
        for i, g in enumerate(r.get("regimes", [])):
            gr = _R(g, f"{r.key('regimes')}[{i}]")
            regimes.append((gr.number("from_tick", ge=0, integer=True), gr.number("vol_bps", ge=0, le=1000)))
            gr.done()
        wick = None
        if r.has("wick"):
            w = r.sub("wick")
            wick = Wick(w.number("pct", gt=-100, le=1000), w.number("at", ge=0, integer=True),
                        w.number("down_ticks", gt=0, integer=True), w.number("up_ticks", gt=0, integer=True))
            if wick.pct == 0:
                raise ScenarioError(w.key("pct"), "must not be 0")
            w.done()
        m = SymbolMarket(symbol, source, price=r.money("price", gt=0), ticks=ticks,
                         shock_pct=r.number("shock_pct", 0, gt=-100, le=1000),
                         shock_start=r.number("shock_start", 0, ge=0, integer=True), shock_ticks=shock_ticks,
                         vol_bps=r.number("vol_bps", 0, ge=0, le=1000), regimes=tuple(sorted(regimes)), wick=wick)
    else:
        files = r.get("klines")
        if isinstance(files, str):
            files = [files]
        if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
            raise ScenarioError(r.key("klines"), "must be a file name or a list of them")
        paths = []
        for f in files:
            p = Path(f) if Path(f).is_absolute() else Path(base_dir) / f
            if not p.exists():
                raise ScenarioError(r.key("klines"), f"no such file: {p}")
            paths.append(str(p))
        funding = r.get("funding", None)
        if funding is not None:
            fp = Path(funding) if Path(funding).is_absolute() else Path(base_dir) / funding
            if not fp.exists():
                raise ScenarioError(r.key("funding"), f"no such file: {fp}")
            funding = str(fp)
        m = SymbolMarket(symbol, source, klines=tuple(paths), funding=funding, start_ms=_time(r, "from", None),
                         end_ms=_time(r, "to", None), ticks_per_bar=r.number("ticks_per_bar", 60, gt=0, le=100_000,
                                                                            integer=True))
        if m.start_ms is not None and m.end_ms is not None and m.end_ms <= m.start_ms:
            raise ScenarioError(r.key("to"), "must be after 'from'")
    r.done()
    return m


def _shares(r: _R, name: str, names: tuple | None) -> tuple:
    t = r.sub(name)
    out = []
    for k in sorted(t.t):
        if names is not None and k not in names:
            raise ScenarioError(t.key(k), f"unknown policy (one of {', '.join(names)})")
        out.append((k, t.number(k, ge=0, le=1)))
    return tuple(out)


def _build(r: _R, doc: dict, base_dir: str) -> Scenario:
    from ..core import config
    name = r.get("name", "scenario")
    if not isinstance(name, str) or not name:
        raise ScenarioError("name", "must be a non-empty string")
    seed = r.number("seed", 1, ge=0, integer=True)
    start_ms = _time(r, "start", "2021-12-04T00:00:00Z")
    tick_ms = r.number("tick_ms", 1000, gt=0, le=DAY_MS, integer=True)
    ticks = r.number("ticks", None, gt=0, integer=True) if r.get("ticks", None) is not None else None

    mk = r.sub("market", required=True)
    if not mk.t:
        raise ScenarioError("market", "name at least one symbol, e.g. [market.BTCUSDT]")
    markets = tuple(_market(mk.sub(s), s, base_dir, ticks) for s in sorted(mk.t))
    mk.seen |= set(mk.t)
    mk.done()

    p = r.sub("population", required=True)
    syms = p.get("symbols", {m.symbol: 1 for m in markets})
    if isinstance(syms, list):
        syms = {s: 1 for s in syms}
    sr = _R(syms, p.key("symbols"))
    weights = []
    for s in sorted(sr.t):
        if s not in {m.symbol for m in markets}:
            raise ScenarioError(sr.key(s), "has no [market] table")
        weights.append((s, sr.number(s, gt=0)))
    if not weights:
        raise ScenarioError(p.key("symbols"), "name at least one symbol")
    pop = Population(
        accounts=p.number("accounts", gt=0, le=1_000_000, integer=True),
        symbols=tuple(weights),
        wallet=_dist(p, "wallet", {"dist": "lognormal", "median": 1000, "sigma": 1.0, "min": 20, "max": 10_000_000}),
        leverage=_dist(p, "leverage", {"dist": "lognormal", "median": 10, "sigma": 0.6, "min": 1, "max": 125},
                       le=125),
        size_share=_dist(p, "size_share", {"dist": "uniform", "low": 0.1, "high": 0.5}, le=0.95),
        long_share=p.number("long_share", 0.5, ge=0, le=1),
        isolated_share=p.number("isolated_share", 0.5, ge=0, le=1),
        hedge_share=p.number("hedge_share", 0.0, ge=0, le=1),
        stop_loss_share=p.number("stop_loss_share", 0.0, ge=0, le=1),
        stop_loss_distance_pct=_dist(p, "stop_loss_distance_pct", {"dist": "uniform", "low": 2, "high": 10}, le=90),
        account_age_days=p.number("account_age_days", 61, ge=0, le=3650, integer=True),
    )
    p.done()

    b = r.sub("behaviour")
    policies = _shares(b, "policies", POLICIES) or (("walk_away", 1.0),)
    custom = []
    for i, c in enumerate(b.get("custom", [])):
        cr = _R(c, f"{b.key('custom')}[{i}]")
        target = cr.get("strategy")
        if not isinstance(target, str) or ":" not in target:
            raise ScenarioError(cr.key("strategy"), "must be 'module:Class' (a module importable or a .py file)")
        custom.append((target, cr.number("share", gt=0, le=1)))
        cr.done()
    total = sum(s for _, s in policies) + sum(s for _, s in custom)
    if abs(total - 1) > 1e-9:
        raise ScenarioError(b.key("policies"), f"shares (with behaviour.custom) must sum to 1, got {total:g}")
    beh = Behaviour(policies, _dist(b, "delay_ticks", {"dist": "uniform", "low": 1, "high": 30}, positive=False),
                    b.number("max_rounds", 3, ge=0, le=100, integer=True), tuple(custom))
    b.done()

    lq = r.sub("liquidity")
    liq = Liquidity(levels=lq.number("levels", 10, gt=0, le=50, integer=True),
                    spread_bps=lq.number("spread_bps", 4, ge=0, le=10_000, integer=True),
                    step_bps=lq.number("step_bps", 3, ge=0, le=10_000, integer=True),
                    notional=lq.money("notional", "20000", gt=0),
                    growth_pct=lq.number("growth_pct", 50, ge=0, le=10_000, integer=True),
                    refill_ticks=lq.number("refill_ticks", 1, gt=0, integer=True),
                    thin_window_ticks=lq.number("thin_window_ticks", 60, gt=0, integer=True),
                    thin_per_pct=lq.number("thin_per_pct", 0.0, ge=0, le=1),
                    thin_floor=lq.number("thin_floor", 0.2, gt=0, le=1),
                    wallet=lq.money("wallet", "1000000000", gt=0))
    lq.done()

    v = r.sub("venue")
    known = {n: k for n, k in config.KNOBS.items() if config.OWNER[n] in ("waterfall", "margin_calls", "prices",
                                                                             "guard")}
    st = v.sub("settings")
    settings = []
    for k in sorted(st.t):
        if k not in known:
            raise ScenarioError(st.key(k), "unknown venue setting")
        val = st.get(k)
        kind = known[k].kind
        if kind in ("ratio", "count", "ms") and not isinstance(val, bool):
            val = st.money(k) if isinstance(val, str) else st.number(k, integer=True)
        if not config.accepts(known[k], val):
            raise ScenarioError(st.key(k), f"takes {config.KINDS[kind]}, got {val!r}")
        settings.append((k, val))
    st.done()
    bracket_date = v.get("bracket_date", None)
    if bracket_date is not None:
        try:
            dt.date.fromisoformat(str(bracket_date))
        except ValueError:
            raise ScenarioError(v.key("bracket_date"), f"must be YYYY-MM-DD, got {bracket_date!r}") from None
        bracket_date = str(bracket_date)
    fee = v.get("clearance_fee", None)
    venue = Venue(insurance_fund=v.money("insurance_fund", "1000000", ge=0),
                  clearance_fee=None if fee is None else v.money("clearance_fee", ge=0),
                  bracket_date=bracket_date, trader_protection=bool(v.get("trader_protection", False)),
                  risk_scan=v.choice("risk_scan", RISK_SCANS, "indexed"), settings=tuple(settings))
    if not isinstance(v.t.get("trader_protection", False), bool):
        raise ScenarioError(v.key("trader_protection"), "must be true or false")
    if venue.clearance_fee is not None and venue.clearance_fee > SCALE // 10:
        raise ScenarioError(v.key("clearance_fee"), "must be <= 0.1 (a rate: 0.0125 is 1.25%)")
    v.done()
    r.done()
    if ticks is None:
        ticks = max((m.ticks for m in markets if m.source == "synthetic"), default=0) or None
    return Scenario(name, seed, start_ms, tick_ms, ticks or 0, markets, pop, beh, liq, venue, base_dir, doc)
