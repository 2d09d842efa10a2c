"""One symbol's prices over time: index path, last price, mark price and the funding period.

The index is Binance's weighted index of spot constituents with its outlier and staleness rules
(FAQ 360033525071, prices.py) when constituents are fed (``set_constituents``); an operator price sets
every constituent to one price, so the index equals it. Either way the index follows a
``PricePath`` on which wicks are scheduled. The mark is Binance's perpetual mark price,
median(Price1, Price2, last) (Binance FAQ 360033525071 "What Are Mark Price and Price Index in
USDⓈ-Margined Futures", prices.py), recomputed at every
index change, at least every ``MARK_STEP_MS`` while a wick moves the index (Binance pushes the
mark every second), and at each funding time. The funding rate is Binance's formula
(FAQ 360033525031 "Introduction to Binance Futures Funding Rates", funding.py) over the premium index sampled during the period; the premium comes from
the book's impact prices when the book has depth (``observe_book``), else it is 0.
"""
from __future__ import annotations

from .funding import (FundingParams, FundingRate, PremiumAverage, funding_rate, interval_ms, next_funding_time,
                      premium_index)
from .price_path import PricePath
from .prices import (RULE_CURRENT, RULE_CURRENT_BTC_ETH, BasisAverage, Constituent, IndexResult, IndexUnavailable,
                     compute_index, perp_mark_price)

MARK_STEP_MS = 1_000   # markPrice@1s [P: stream update speed]


class SymbolMarket:
    """Index, last, mark and funding state of one perpetual."""

    def __init__(self, symbol: str, tick: int, now: int, interval_hours: int = 8,
                 params: FundingParams | None = None):
        self.symbol = symbol
        self.path = PricePath(symbol, tick=tick)
        self.index = 0
        self.last = 0
        self.mark = 0
        self.params = params or FundingParams(interval_hours=interval_hours)
        self.interval_hours = interval_hours
        self.next_funding = next_funding_time(now, interval_hours)
        period_start = self.next_funding - interval_ms(interval_hours)
        self.premium = PremiumAverage(period_start, interval_hours)
        self.basis = BasisAverage()
        self.last_settled: FundingRate | None = None
        self.constituents: dict[str, Constituent] = {}
        self.rule = RULE_CURRENT_BTC_ETH if symbol in ("BTCUSDT", "ETHUSDT") else RULE_CURRENT

    def set_constituents(self, now: int, items: list[tuple[str, int, int]]) -> IndexResult:
        """New constituent prices at ``now``: the index is recomputed and becomes the path's price."""
        for source, price, weight in items:
            self.constituents[source] = Constituent(source, price, weight, now)
        try:
            result = compute_index(self.constituents.values(), now, self.rule)
        except IndexUnavailable:
            result = IndexResult(self.index or max(price for _, price, _ in items), "fallback", (), (),
                                 tuple(self.constituents))
        self.path.set(now, result.price)
        return result

    def set_price(self, now: int, price: int) -> None:
        """The operator sets every constituent to ``price``."""
        for source, c in self.constituents.items():
            self.constituents[source] = Constituent(source, price, c.weight, now)
        self.path.set(now, price)

    @property
    def has_price(self) -> bool:
        return bool(self.path.breakpoints())

    def estimated_rate(self, now: int) -> FundingRate:
        """The rate the next settlement would pay if it happened now (premiumIndex.lastFundingRate)."""
        return funding_rate(self.premium.average(now), self.params)

    def update(self, now: int) -> int:
        """Recompute index and mark at ``now``; returns the mark."""
        self.index = self.path.price_at(now)
        rate = self.estimated_rate(now).rate
        last = self.last or self.index
        mark = perp_mark_price(self.index, last, rate, now, self.next_funding,
                               interval_ms(self.interval_hours), self.basis.value(now))
        self.mark = max(mark, 1)
        return self.mark

    def observe_book(self, now: int, best_bid: int | None, best_ask: int | None,
                     impact_bid: int | None, impact_ask: int | None) -> None:
        """Feed the basis average (Price2) and the premium index from the book [P, sections 4.2, 5.2]."""
        if not self.index:
            return
        if best_bid and best_ask:
            self.basis.observe(now, best_bid, best_ask, self.index)
        if impact_bid and impact_ask and self.premium.start_ms <= now <= self.premium.end_ms:
            self.premium.observe(now, premium_index(impact_bid, impact_ask, self.index))

    def wick_sample_times(self, after: int, until: int) -> list[int]:
        """Times in (after, until] at which a moving index must re-mark: every MARK_STEP_MS inside wicks."""
        times = set()
        for w in self.path.wicks:
            lo, hi = max(after + 1, w.start_ms), min(until, w.end_ms)
            if lo > hi:
                continue
            first = -(-lo // MARK_STEP_MS) * MARK_STEP_MS
            times.update(range(first, hi + 1, MARK_STEP_MS))
            times.update(t for t in (w.start_ms, w.bottom_ms, w.end_ms) if after < t <= until)
        return sorted(times)

    def start_next_period(self, settled_at: int, rate: FundingRate) -> None:
        """After settling at ``settled_at``: the next period and settlement time."""
        self.last_settled = rate
        self.premium.restart(settled_at - settled_at % self.premium.sample_ms, self.interval_hours)
        self.next_funding = next_funding_time(settled_at, self.interval_hours)

