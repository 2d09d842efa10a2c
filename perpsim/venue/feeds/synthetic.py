"""A seeded synthetic price feed: geometric Brownian motion with jumps and volatility regimes.

Per step of ``step_ms`` the log price moves by

    (mu_r - sigma_r^2 / 2) dt + sigma_r sqrt(dt) Z  +  sum of N ~ Poisson(lambda dt) jumps ~ Normal(m, s)

where ``r`` is the current regime, a Markov chain that leaves its state with probability
``switch_prob`` per step to a uniformly chosen other regime (Merton's jump diffusion with
Markov-switching volatility; textbook models, no Binance mechanism). Floats live only inside
the generator: each price is quantised to the tick at the edge (half to even via ``numpy.rint``)
and returned as an int of 1e-8 units, never below one tick.

Reproducible: numpy's ``Generator(PCG64)`` seeded from ``SeedSequence(seed, spawn_key=symbol)``;
draws are made in fixed-size chunks, so a path does not depend on how far or in which order it
is read, and two symbols with the same seed get independent paths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .records import PriceTick

__all__ = ["Regime", "SyntheticParams", "SyntheticFeed"]

_YEAR_MS = 365 * 24 * 3_600_000
_CHUNK = 4096


@dataclass(frozen=True)
class Regime:
    """Annualised volatility and drift of one regime (0.8 = 80 %/yr)."""

    vol: float
    drift: float = 0.0


@dataclass(frozen=True)
class SyntheticParams:
    """Start price and tick are ints of 1e-8 units; the rest are model floats.

    ``jump_rate`` is the expected number of jumps a day; ``jump_mean``/``jump_std`` describe a
    jump's log size (-0.002 = a 0.2 % drop on average)."""

    start_price: int
    tick: int
    step_ms: int = 1_000
    regimes: tuple[Regime, ...] = field(default_factory=lambda: (Regime(0.5), Regime(1.5)))
    switch_prob: float = 1.0 / 3600.0
    jump_rate: float = 4.0
    jump_mean: float = -0.002
    jump_std: float = 0.01
    start_regime: int = 0

    def __post_init__(self) -> None:
        if self.start_price <= 0 or self.tick <= 0 or self.step_ms <= 0:
            raise ValueError("start_price, tick and step_ms must be > 0")
        if not self.regimes:
            raise ValueError("at least one regime")
        if not 0.0 <= self.switch_prob <= 1.0 or self.jump_rate < 0 or self.jump_std < 0:
            raise ValueError("bad switch_prob / jump parameters")
        if any(r.vol < 0 for r in self.regimes):
            raise ValueError("volatility must be >= 0")
        if not 0 <= self.start_regime < len(self.regimes):
            raise ValueError("start_regime out of range")


class SyntheticFeed:
    """One symbol's synthetic path from ``start_ms``; ``price_at(t)`` holds within a step."""

    def __init__(self, symbol: str, seed: int, params: SyntheticParams, start_ms: int = 0):
        self.symbol = symbol
        self.seed = seed
        self.params = params
        self.start_ms = start_ms
        ss = np.random.SeedSequence(entropy=seed, spawn_key=tuple(symbol.encode("utf-8")))
        self._rng = np.random.Generator(np.random.PCG64(ss))
        p = params
        dt = p.step_ms / _YEAR_MS
        vols = np.array([r.vol for r in p.regimes], dtype=np.float64)
        drifts = np.array([r.drift for r in p.regimes], dtype=np.float64)
        self._mean = (drifts - 0.5 * vols**2) * dt
        self._scale = vols * math.sqrt(dt)
        self._lam = p.jump_rate * p.step_ms / 86_400_000
        self._log0 = math.log(p.start_price)
        self._log = self._log0
        self._regime = p.start_regime
        self._prices: list[np.ndarray] = []
        self._regimes: list[np.ndarray] = []

    def _grow(self) -> None:
        p, rng, n = self.params, self._rng, _CHUNK
        nreg = len(p.regimes)
        # regime chain, vectorised: each switch adds 1 + U{0..R-2} modulo R
        switch = rng.random(n) < p.switch_prob
        hop = 1 + rng.integers(0, max(nreg - 1, 1), n)
        if nreg == 1:
            switch[:] = False
        regimes = (self._regime + np.cumsum(np.where(switch, hop, 0))) % nreg
        z = rng.standard_normal(n)
        jumps = rng.poisson(self._lam, n)
        jz = rng.standard_normal(n)
        dlog = self._mean[regimes] + self._scale[regimes] * z + jumps * p.jump_mean + np.sqrt(jumps) * p.jump_std * jz
        if not self._prices:
            dlog[0] = 0.0  # step 0 is the start price exactly
            regimes[0] = p.start_regime
        logs = self._log + np.cumsum(dlog)
        ticks = np.rint(np.exp(logs) / p.tick)
        ticks = np.maximum(ticks, 1.0)
        if not np.all(np.isfinite(ticks)) or ticks.max() > 2**62 // p.tick:
            raise OverflowError(f"{self.symbol}: synthetic price overflow; lower the volatility or drift")
        prices = ticks.astype(np.int64) * p.tick
        if not self._prices:
            prices[0] = p.start_price
        self._log = float(logs[-1])
        self._regime = int(regimes[-1])
        self._prices.append(prices)
        self._regimes.append(regimes.astype(np.int8))

    def _index(self, t_ms: int) -> int:
        if t_ms < self.start_ms:
            raise LookupError(f"{self.symbol}: {t_ms} is before the feed starts ({self.start_ms})")
        k = (t_ms - self.start_ms) // self.params.step_ms
        while k >= len(self._prices) * _CHUNK:
            self._grow()
        return k

    def price_at(self, t_ms: int) -> int:
        """The price in force at ``t_ms`` (int, 1e-8 units, on the tick)."""
        k = self._index(t_ms)
        return int(self._prices[k // _CHUNK][k % _CHUNK])

    def regime_at(self, t_ms: int) -> int:
        k = self._index(t_ms)
        return int(self._regimes[k // _CHUNK][k % _CHUNK])

    def path(self, steps: int) -> np.ndarray:
        """The first ``steps`` prices as an int64 array (1e-8 units)."""
        if steps <= 0:
            return np.zeros(0, dtype=np.int64)
        self._index(self.start_ms + (steps - 1) * self.params.step_ms)
        return np.concatenate(self._prices)[:steps].copy()

    def ticks(self, start_ms: int, end_ms: int) -> Iterator[PriceTick]:
        """One ``PriceTick`` per step boundary in ``[start_ms, end_ms]``."""
        step = self.params.step_ms
        first = max(start_ms, self.start_ms)
        first += (-(first - self.start_ms)) % step
        for t in range(first, end_ms + 1, step):
            yield PriceTick(self.symbol, t, self.price_at(t))
