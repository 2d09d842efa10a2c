"""Price index and mark price of USD-M perpetuals, in exact 1e-8 integers.

Sources: Binance FAQ 360033525071 "What Are Mark Price and Price
Index in USDⓈ-Margined Futures"; 2020 FAQ 547ba48141474ab3bddc5d7898f97928 "Price Index";
P2P FAQ 66607f4c63e748568f503fcbd8f08965 for the current capping rule; announcement of
2025-09-16 "Important Updates on Funding Rate Formula and Mark Price Calculation".

Everything here is a pure function of its arguments or a small deterministic state machine fed
with explicit ``ms`` timestamps. Nothing reads a clock. Rounding is half away from zero
(``fixed.round_div``) and happens once per formula. Index and mark prices keep all 8 decimals
(Binance's ``premiumIndex`` prints both with 8 decimals, not on the tick).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence

from perpsim.core.fixed import ONE, SCALE, mul, round_div

__all__ = [
    "Constituent",
    "IndexRule",
    "IndexResult",
    "IndexUnavailable",
    "RULE_2020",
    "RULE_CURRENT",
    "RULE_CURRENT_BTC_ETH",
    "compute_index",
    "index_price",
    "median",
    "price1",
    "price2",
    "mark_price",
    "perp_mark_price",
    "delivery_mark_price",
    "StepSampler",
    "BasisAverage",
    "MARK_BASIS_WINDOW",
    "MARK_BASIS_SAMPLE_MS",
]


# --------------------------------------------------------------------------------------------
# Price index (FAQ 360033525071, "Mark Price and Price Index")
# --------------------------------------------------------------------------------------------


class IndexUnavailable(Exception):
    """No constituent is usable (all stale or none given). Binance then falls back to its
    "Last Price Protected" mechanism, whose details are cut off in the FAQ [P, incomplete]."""


@dataclass(frozen=True)
class Constituent:
    """One spot venue's price in the basket (``GET /fapi/v1/constituents``).

    ``weight`` is any non-negative int (Binance publishes ``weight`` as a decimal fraction; pass
    it through ``fixed.parse``). ``updated_ms`` is when the source last updated.
    """

    source: str
    price: int
    weight: int
    updated_ms: int


@dataclass(frozen=True)
class IndexRule:
    """Outlier and outage handling.

    - ``deviation``: rate (1e-8 units) beyond which a source is an outlier, measured as
      ``|p - median| / median > deviation`` (strict, as both FAQs say "more than").
    - ``cap``: True = clamp the outlier to ``median x (1 ± deviation)`` (current rule);
      False = set its weight to 0 (2020 rule).
    - ``multi_outlier_median``: 2020 rule: if more than one source is an outlier, the index is
      the plain median of all (fresh) sources.
    - ``stale_ms``: a source not updated for longer than this gets weight 0.
    """

    deviation: int
    cap: bool
    multi_outlier_median: bool
    stale_ms: int


#: 2020 FAQ 547ba481…: > 5 % from the median -> weight 0; > 5 % on several -> median of all;
#: no update for 10 s -> weight 0. [P]
RULE_2020 = IndexRule(deviation=5 * SCALE // 100, cap=False, multi_outlier_median=True, stale_ms=10_000)
#: Current rule text (P2P FAQ 66607f4c…, assumed for futures [S]): > 3 % -> capped at
#: median x 1.03 / 0.97; no update for 5 minutes -> weight 0.
RULE_CURRENT = IndexRule(deviation=3 * SCALE // 100, cap=True, multi_outlier_median=False, stale_ms=300_000)
#: Same, with the 1 % band the text gives for BTC and ETH indexes.
RULE_CURRENT_BTC_ETH = IndexRule(deviation=SCALE // 100, cap=True, multi_outlier_median=False, stale_ms=300_000)


@dataclass(frozen=True)
class IndexResult:
    """The index and how it was formed: ``method`` is ``"weighted"`` or ``"median"``;
    ``used`` holds ``(source, price_used, weight_used)`` for every fresh source."""

    price: int
    method: str
    used: tuple[tuple[str, int, int], ...]
    outliers: tuple[str, ...]
    stale: tuple[str, ...]


def median(values: Sequence[int]) -> int:
    """Median of ints; for an even count the mean of the two middle values, rounded half away
    from zero [I: Binance does not say how it breaks an even count]."""
    if not values:
        raise ValueError("median of nothing")
    s = sorted(values)
    n = len(s)
    mid = n // 2
    if n % 2:
        return s[mid]
    return round_div(s[mid - 1] + s[mid], 2)


def _is_outlier(price: int, med: int, deviation: int) -> bool:
    # |p - med| / med > deviation, exactly: |p - med| * SCALE > deviation * med
    return abs(price - med) * SCALE > deviation * med


def compute_index(
    constituents: Iterable[Constituent],
    now_ms: int,
    rule: IndexRule = RULE_CURRENT,
) -> IndexResult:
    """Price Index = Σ w_i p_i / Σ w_i over the usable sources (FAQ 360033525071) [P].

    Order of the steps [I: the FAQs list the rules, not their order]: drop stale sources
    (``now_ms - updated_ms > stale_ms``) and zero-weight ones; take the median of the remaining
    prices (unweighted); flag outliers against it; under the 2020 rule, use that median when
    more than one source is an outlier; otherwise cap the outliers (current rule) or zero their
    weight (2020 rule) and take the weighted mean (the median again if no weight is left).
    Raises ``IndexUnavailable`` when no fresh source is left.
    """
    fresh: list[Constituent] = []
    stale: list[str] = []
    for c in constituents:
        if c.price <= 0:
            raise ValueError(f"constituent {c.source}: price must be > 0")
        if c.weight < 0:
            raise ValueError(f"constituent {c.source}: weight must be >= 0")
        if now_ms - c.updated_ms > rule.stale_ms:
            stale.append(c.source)
        elif c.weight > 0:
            fresh.append(c)
    if not fresh:
        raise IndexUnavailable("no fresh index constituent")
    med = median([c.price for c in fresh])
    flags = [_is_outlier(c.price, med, rule.deviation) for c in fresh]
    outliers = tuple(c.source for c, out in zip(fresh, flags) if out)

    if rule.multi_outlier_median and len(outliers) > 1:
        used = tuple((c.source, c.price, c.weight) for c in fresh)
        return IndexResult(med, "median", used, outliers, tuple(stale))
    if rule.cap:
        hi = mul(med, ONE + rule.deviation)
        lo = mul(med, ONE - rule.deviation)
        used = tuple((c.source, min(max(c.price, lo), hi), c.weight) for c in fresh)
    else:
        used = tuple((c.source, c.price, 0 if out else c.weight) for c, out in zip(fresh, flags))
    total_w = sum(w for _, _, w in used)
    if total_w == 0:
        return IndexResult(med, "median", used, outliers, tuple(stale))
    price = round_div(sum(p * w for _, p, w in used), total_w)
    return IndexResult(price, "weighted", used, outliers, tuple(stale))


def index_price(
    constituents: Iterable[Constituent],
    now_ms: int,
    rule: IndexRule = RULE_CURRENT,
    fallback: int | None = None,
) -> int:
    """The index as an int; ``fallback`` (e.g. the previous index or last price) is returned
    instead of raising ``IndexUnavailable`` when given."""
    try:
        return compute_index(constituents, now_ms, rule).price
    except IndexUnavailable:
        if fallback is None:
            raise
        return fallback


# --------------------------------------------------------------------------------------------
# Mark price (FAQ 360033525071; announcement of 2025-09-16 on the mark price calculation)
# --------------------------------------------------------------------------------------------

#: USD-M since 2025-09-18 08:01 UTC: 30-point moving average of the basis, one point per second
#: (announcement of 2025-09-16) [P]. Before that: 60 points, one per second.
MARK_BASIS_WINDOW = 30
MARK_BASIS_SAMPLE_MS = 1_000


def price1(index: int, last_funding_rate: int, time_until_funding_ms: int, interval_ms: int) -> int:
    """Price1 = index x (1 + lastFundingRate x timeUntilNextFunding / fundingInterval) [P].

    FAQ 360033525071; the 2019 example (TV-MARK-1): 10,000 x (1 + 0.03 % x 4/8) = 10,001.5.
    Rounded once, half away from zero. Which rate to pass is the caller's choice [I]: the FAQ
    says "last funding rate"; the Mark-Price API doc (``GET /fapi/v1/premiumIndex``) glosses
    ``lastFundingRate`` as the "most recently updated funding rate" (zh-CN page), which reads
    like the running estimate ``funding_rate(PremiumAverage.average(now))`` rather than the last
    settled rate. Not confirmed.
    """
    if interval_ms <= 0:
        raise ValueError("interval_ms must be > 0")
    if not 0 <= time_until_funding_ms <= interval_ms:
        raise ValueError("time_until_funding_ms must be within [0, interval_ms]")
    num = index * (SCALE * interval_ms + last_funding_rate * time_until_funding_ms)
    return round_div(num, SCALE * interval_ms)


def price2(index: int, basis_average: int) -> int:
    """Price2 = index + moving average of basis [P]."""
    return index + basis_average


def mark_price(p1: int, p2: int, last_price: int) -> int:
    """Mark = median(Price1, Price2, contract last price) [P]; FAQ example: "if Price 1 <
    Price 2 < Contract Price, take Price 2" (TV-MARK-2)."""
    return sorted((p1, p2, last_price))[1]


def perp_mark_price(
    index: int,
    last_price: int,
    last_funding_rate: int,
    now_ms: int,
    next_funding_ms: int,
    interval_ms: int,
    basis_average: int,
) -> int:
    """Perpetual mark price from its inputs: median(Price1, Price2, last)."""
    p1 = price1(index, last_funding_rate, next_funding_ms - now_ms, interval_ms)
    return mark_price(p1, price2(index, basis_average), last_price)


def delivery_mark_price(index: int, basis_average: int) -> int:
    """Delivery (quarterly) contracts: Mark = index + MA(basis), no median [P, 2025-09-16]."""
    return index + basis_average


class StepSampler:
    """A value sampled at a fixed grid of times, forward-filled.

    The sample at grid time ``b`` (a multiple of ``sample_ms``) is the last value observed at or
    before ``b`` [I: Binance says "one point per second" / "every 5 seconds" without saying which
    value inside the second is taken]. Grid times before the first observation have no sample.
    Only the newest ``window`` samples are kept (``None`` = keep all). Time must not go back.
    """

    def __init__(self, sample_ms: int, window: int | None = None):
        if sample_ms <= 0:
            raise ValueError("sample_ms must be > 0")
        if window is not None and window <= 0:
            raise ValueError("window must be > 0")
        self.sample_ms = sample_ms
        self.window = window
        self.samples: deque[tuple[int, int]] = deque(maxlen=window)
        self._current: int | None = None
        self._last_ms: int | None = None
        self._next_grid: int | None = None

    @property
    def current(self) -> int | None:
        return self._current

    def _fill(self, until_ms: int, inclusive: bool) -> None:
        if self._current is None or self._next_grid is None:
            return
        last = until_ms if inclusive else until_ms - 1
        if last < self._next_grid:
            return
        last_grid = last - last % self.sample_ms
        count = (last_grid - self._next_grid) // self.sample_ms + 1
        start = self._next_grid
        if self.window is not None and count > self.window:
            start = last_grid - (self.window - 1) * self.sample_ms
        for b in range(start, last_grid + 1, self.sample_ms):
            self.samples.append((b, self._current))
        self._next_grid = last_grid + self.sample_ms

    def advance(self, now_ms: int) -> None:
        """Take every grid sample up to and including ``now_ms``."""
        self._check_time(now_ms)
        self._fill(now_ms, inclusive=True)
        self._last_ms = now_ms

    def observe(self, t_ms: int, value: int) -> None:
        """The value changed to ``value`` at ``t_ms``."""
        self._check_time(t_ms)
        self._fill(t_ms, inclusive=False)
        if self._next_grid is None:
            self._next_grid = -((-t_ms) // self.sample_ms) * self.sample_ms
        self._current = value
        self._fill(t_ms, inclusive=True)
        self._last_ms = t_ms

    def _check_time(self, t_ms: int) -> None:
        if self._last_ms is not None and t_ms < self._last_ms:
            raise ValueError(f"time went back: {t_ms} < {self._last_ms}")


class BasisAverage:
    """Moving average of ``basis = (bid1 + ask1) / 2 - index`` for Price2 [P].

    Default window 30 points, one per second (USD-M since 2025-09-18 08:01 UTC); pass
    ``window=60`` for the earlier 1-minute average. The mean of the points present (fewer than
    ``window`` at start-up) is rounded half away from zero; with no point yet the average is 0,
    so Price2 = index [I].
    """

    def __init__(self, window: int = MARK_BASIS_WINDOW, sample_ms: int = MARK_BASIS_SAMPLE_MS):
        self._sampler = StepSampler(sample_ms, window)

    def observe(self, t_ms: int, best_bid: int, best_ask: int, index: int) -> None:
        """New top of book or index at ``t_ms``. The mid keeps its half unit exactly: the basis
        is stored doubled and halved once, in ``value``."""
        self._sampler.observe(t_ms, best_bid + best_ask - 2 * index)

    def value(self, now_ms: int) -> int:
        """The moving average at ``now_ms`` (takes the grid samples due up to then)."""
        self._sampler.advance(now_ms)
        samples = self._sampler.samples
        if not samples:
            return 0
        return round_div(sum(v for _, v in samples), 2 * len(samples))

    def __len__(self) -> int:
        return len(self._sampler.samples)
