"""Funding of USD-M perpetuals in exact 1e-8 integers: premium index, rate, schedule, payment.

Sources: Binance FAQ 360033525031 "Introduction to Binance Futures Funding Rates", fee FAQ
98488a516eb84e3eb34605683dffd554, announcements of 2025-05-02 (hourly switch on cap/floor) and
2025-09-16 (interval scaling ``/ (8/N)``).

Time is always passed in as epoch milliseconds; nothing reads a clock. Rates are 1e-8 ints:
0.01 % = ``10_000``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, Sequence

from perpsim.core.fixed import SCALE, mul3, round_div
from perpsim.core.prices import StepSampler

__all__ = [
    "HOUR_MS",
    "DEFAULT_INTERVAL_HOURS",
    "ALLOWED_INTERVAL_HOURS",
    "DEFAULT_INTEREST_RATE",
    "CLAMP_BAND",
    "PREMIUM_SAMPLE_MS",
    "FundingParams",
    "FundingRate",
    "impact_margin_notional",
    "impact_price",
    "premium_index",
    "PremiumAverage",
    "funding_rate",
    "cap_from_mmr",
    "interval_ms",
    "next_funding_time",
    "funding_times",
    "funding_payment",
    "funding_income",
    "interval_after_settlement",
    "IntervalPolicy",
]

HOUR_MS = 3_600_000
DEFAULT_INTERVAL_HOURS = 8
#: 8 h default; 4 h and 1 h are common; 2 h occurred (BANUSDT, 2025-02-24) [P].
ALLOWED_INTERVAL_HOURS = (1, 2, 4, 8)
#: 0.01 % per 8 h (0.03 % a day) [S: FAQ 360033525031 transcription]; `premiumIndex` returns
#: ``interestRate "0.00010000"`` [P].
DEFAULT_INTEREST_RATE = 10_000
#: clamp(I - P, -0.05 %, +0.05 %) [S].
CLAMP_BAND = 50_000
#: Premium index sampled every 5 s; n = 720 x interval hours [S].
PREMIUM_SAMPLE_MS = 5_000
#: ±2 % cap/floor for most symbols [S].
DEFAULT_CAP = 2_000_000


def _check_interval(hours: int) -> None:
    if hours not in ALLOWED_INTERVAL_HOURS:
        raise ValueError(f"funding interval must be one of {ALLOWED_INTERVAL_HOURS} hours, got {hours!r}")


def interval_ms(hours: int) -> int:
    """A funding interval in ms."""
    _check_interval(hours)
    return hours * HOUR_MS


@dataclass(frozen=True)
class FundingParams:
    """Per-symbol funding parameters (``GET /fapi/v1/fundingInfo``: ``fundingIntervalHours``,
    ``adjustedFundingRateCap``, ``adjustedFundingRateFloor``; interest rate from
    ``premiumIndex``). Defaults: 8 h, 0.01 %, ±2 % [S]. BTCUSDT uses ±0.3 % [P]."""

    interval_hours: int = DEFAULT_INTERVAL_HOURS
    interest_rate: int = DEFAULT_INTEREST_RATE
    cap: int = DEFAULT_CAP
    floor: int = -DEFAULT_CAP
    clamp_band: int = CLAMP_BAND

    def __post_init__(self) -> None:
        _check_interval(self.interval_hours)
        if self.floor > self.cap:
            raise ValueError("funding floor above cap")
        if self.clamp_band < 0:
            raise ValueError("clamp_band must be >= 0")


def cap_from_mmr(mmr: int) -> tuple[int, int]:
    """Cap = +0.75 x MMR, floor = -0.75 x MMR (MMR of the max-leverage tier) for the listed
    majors [S]; BTCUSDT: 0.75 x 0.4 % = 0.3 %, as announced [P]. Returns ``(cap, floor)``."""
    cap = round_div(mmr * 3, 4)
    return cap, -cap


# --------------------------------------------------------------------------------------------
# Premium index
# --------------------------------------------------------------------------------------------


def impact_margin_notional(max_leverage: int) -> int:
    """IMN = 200 USDT / IMR at the symbol's maximum leverage = 200 x maxLeverage, in 1e-8 units
    [S]: 20x -> 4,000; 125x -> 25,000 (TV-IMN)."""
    if max_leverage <= 0:
        raise ValueError("max_leverage must be > 0")
    return 200 * max_leverage * SCALE


def impact_price(levels: Sequence[tuple[int, int]], notional: int) -> int | None:
    """Average fill price of a market order of ``notional`` (quote, 1e-8) walked through
    ``levels`` = ``[(price, qty), ...]`` best first: bids for the impact bid, asks for the impact
    ask [S]. The last level is taken fractionally so that exactly ``notional`` is filled; the
    average ``notional / qty`` is exact, then rounded half away from zero. ``None`` if the book
    is too thin [I: Binance does not say what it does then]."""
    if notional <= 0:
        raise ValueError("notional must be > 0")
    remaining = notional
    qty = Fraction(0)
    for price, q in levels:
        if price <= 0 or q < 0:
            raise ValueError("bad book level")
        level_notional = Fraction(price * q, SCALE)
        if level_notional >= remaining:
            qty += Fraction(remaining * SCALE, price)  # base units, 1e-8 scaled
            remaining = 0
            break
        qty += q
        remaining -= level_notional
    if remaining > 0 or qty == 0:
        return None
    avg = Fraction(notional * SCALE) / qty
    return round_div(avg.numerator, avg.denominator)


def premium_index(impact_bid: int, impact_ask: int, index: int) -> int:
    """P = [max(0, impactBid - index) - max(0, index - impactAsk)] / index [P/S], rounded half
    away from zero to 8 decimals [I: Binance's premiumIndexKlines print 8 decimals]."""
    if index <= 0:
        raise ValueError("index must be > 0")
    num = max(0, impact_bid - index) - max(0, index - impact_ask)
    return round_div(num * SCALE, index)


class PremiumAverage:
    """The time-weighted average premium of one funding period ``(start_ms, start_ms + interval]``.

    Samples are taken every 5 s on the grid (``StepSampler``: the last premium observed at or
    before each grid time), n = 720 x interval hours; the i-th sample of the period has weight i
    (linear, newest heaviest) [S]. For 1 h intervals the weights are equal by default [S:
    "reportedly equally weighted"]; ``weighting`` overrides (``"linear"`` / ``"equal"``).
    Samples missing at the start of a period (no observation yet) are left out of both sums [I].
    """

    def __init__(self, start_ms: int, interval_hours: int = DEFAULT_INTERVAL_HOURS,
                 weighting: str | None = None, sample_ms: int = PREMIUM_SAMPLE_MS):
        self.sample_ms = sample_ms
        self._sampler = StepSampler(sample_ms, None)
        self.restart(start_ms, interval_hours, weighting)

    def restart(self, start_ms: int, interval_hours: int | None = None, weighting: str | None = None) -> None:
        """Begin a new period at ``start_ms`` (the settlement just done), keeping the last
        observed premium as the value in force."""
        hours = self.interval_hours if interval_hours is None else interval_hours
        _check_interval(hours)
        if weighting is None:
            weighting = "equal" if hours == 1 else "linear"
        if weighting not in ("linear", "equal"):
            raise ValueError("weighting must be 'linear' or 'equal'")
        if start_ms % self.sample_ms:
            raise ValueError("period start must lie on the sampling grid")
        self.start_ms = start_ms
        self.interval_hours = hours
        self.weighting = weighting
        self.n = hours * HOUR_MS // self.sample_ms
        current = self._sampler.current
        self._sampler = StepSampler(self.sample_ms, None)
        if current is not None:
            self._sampler.observe(start_ms, current)
            self._sampler.samples.clear()  # the sample at start_ms belongs to the previous period

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.interval_hours * HOUR_MS

    def observe(self, t_ms: int, premium: int) -> None:
        """The premium index changed to ``premium`` at ``t_ms`` (start <= t <= end)."""
        if t_ms < self.start_ms or t_ms > self.end_ms:
            raise ValueError(f"t_ms {t_ms} outside the funding period ({self.start_ms}, {self.end_ms}]")
        self._sampler.observe(t_ms, premium)

    def _weighted(self, now_ms: int) -> tuple[int, int]:
        self._sampler.advance(min(now_ms, self.end_ms))
        num = den = 0
        for b, p in self._sampler.samples:
            i = (b - self.start_ms) // self.sample_ms
            if i < 1:
                continue
            w = i if self.weighting == "linear" else 1
            num += w * p
            den += w
        return num, den

    def samples(self) -> int:
        return sum(1 for b, _ in self._sampler.samples if b > self.start_ms)

    def average(self, now_ms: int) -> int:
        """(1·P1 + 2·P2 + … + k·Pk) / (1 + 2 + … + k) over the samples up to ``now_ms`` (at most
        the period end), rounded half away from zero; 0 with no sample [I]."""
        num, den = self._weighted(now_ms)
        return round_div(num, den) if den else 0


# --------------------------------------------------------------------------------------------
# Rate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FundingRate:
    """A computed rate: ``rate`` is what settles (capped); ``raw`` is before cap/floor;
    ``capped`` tells whether the rate reached the cap or floor, which switches the symbol to
    hourly funding from 2025-05-02 [P]. A raw rate exactly at the limit counts as reaching it
    [I: the announcement says "reaches"]."""

    rate: int
    raw: int
    capped: bool


def funding_rate(average_premium: int, params: FundingParams = FundingParams()) -> FundingRate:
    """F = [P + clamp(I - P, -0.05 %, +0.05 %)] / (8 / N), then clamp(F, floor, cap) [P/S].

    ``I`` and the ±0.05 % band are per-8 h figures; ``/ (8/N)`` scales to an N-hour interval
    (announcement of 2025-09-16, effective 2025-09-18 08:01 UTC) [P]. Binance publishes rates
    with 8 decimals; the scaling is exact before one rounding half away from zero [I: the
    rounding direction is not published]. Cap and floor apply to the scaled rate.
    """
    p = average_premium
    band = params.clamp_band
    raw8 = p + min(max(params.interest_rate - p, -band), band)
    raw = round_div(raw8 * params.interval_hours, 8)
    rate = min(max(raw, params.floor), params.cap)
    return FundingRate(rate, raw, raw >= params.cap or raw <= params.floor)


def interval_after_settlement(current_hours: int, settled: FundingRate) -> int:
    """From 2025-05-02 08:00 UTC: if the rate *at settlement* hit the cap or floor, the next
    settlements are hourly [P]; touching the cap between settlements does nothing [P]. For the
    way back to a longer interval see ``IntervalPolicy``."""
    _check_interval(current_hours)
    return 1 if settled.capped else current_hours


class IntervalPolicy:
    """The automatic funding-interval changes of one symbol (Binance announcement 3243c81a35bd4f0c86a37315c3dc96cc: hourly after a capped settlement, from 2025-05-02).

    - Cap or floor hit at settlement -> hourly from the next settlement [P, 2025-05-02].
    - While hourly: ``revert_cycles`` consecutive settlements with ``|rate| <= revert_abs_rate``
      -> ``revert_hours`` from the next one. Defaults: 0.002 %, 36 cycles, 4 h (rule from
      2025-09-01) [P via mirrors]; a later rule (0.025 %, 16 cycles, from 2026-01-02) is [S].
      The two conflict, so both numbers are parameters; ``revert_cycles=None`` disables reverting.
    Binance applies changes "within about 15 minutes" [P]; here they apply at the next settlement [I].
    """

    def __init__(self, hours: int = DEFAULT_INTERVAL_HOURS, revert_abs_rate: int = 2_000,
                 revert_cycles: int | None = 36, revert_hours: int = 4):
        _check_interval(hours)
        _check_interval(revert_hours)
        self.hours = hours
        self.revert_abs_rate = revert_abs_rate
        self.revert_cycles = revert_cycles
        self.revert_hours = revert_hours
        self.calm_cycles = 0

    def after_settlement(self, settled: FundingRate) -> int:
        """Record one settlement; returns the interval (hours) until the next one."""
        if settled.capped:
            self.hours, self.calm_cycles = 1, 0
        elif self.hours == 1 and self.revert_cycles is not None:
            self.calm_cycles = self.calm_cycles + 1 if abs(settled.rate) <= self.revert_abs_rate else 0
            if self.calm_cycles >= self.revert_cycles:
                self.hours, self.calm_cycles = self.revert_hours, 0
        return self.hours


# --------------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------------


def next_funding_time(now_ms: int, interval_hours: int = DEFAULT_INTERVAL_HOURS) -> int:
    """The first settlement strictly after ``now_ms``. Settlements lie on multiples of the
    interval from 00:00 UTC (00:00, 08:00, 16:00 for 8 h) [P]; at exactly 08:00:00.000 the 08:00
    settlement is due and ``nextFundingTime`` already shows 16:00 [I]."""
    step = interval_ms(interval_hours)
    return (now_ms // step + 1) * step


def funding_times(after_ms: int, until_ms: int, interval_hours: int = DEFAULT_INTERVAL_HOURS) -> Iterator[int]:
    """Settlement times T with ``after_ms < T <= until_ms`` (to catch up when time jumps)."""
    t = next_funding_time(after_ms, interval_hours)
    step = interval_ms(interval_hours)
    while t <= until_ms:
        yield t
        t += step


# --------------------------------------------------------------------------------------------
# Payment
# --------------------------------------------------------------------------------------------


def funding_payment(qty: int, mark: int, rate: int) -> int:
    """What the position pays: ``q x mark x F`` (positive = pays, negative = receives) [P].

    ``q`` is signed (long > 0): F > 0 -> longs pay and shorts receive; F < 0 -> the reverse
    (FAQ 360033525031, fee FAQ 98488a51…). Notional at the **mark** price [P; the fee FAQ's
    "trade price" wording is treated as a slip]. Rounded once to 1e-8, half away from zero, so
    a long and a short of the same size pay and receive exactly the same amount [I: Binance
    does not publish its rounding]. TV-FUND-PAY: 1 BTC x 60,000 x 0.01 % = 6.00.
    """
    return mul3(qty, mark, rate)


def funding_income(qty: int, mark: int, rate: int) -> int:
    """The wallet change, as Binance's ``FUNDING_FEE`` income shows it (negative when paying)."""
    return -funding_payment(qty, mark, rate)
