"""Liquidation detection (indexed, exact) and ADL ranking.

``detector``: which margin scopes (isolated positions, cross accounts per margin asset) are
liquidatable at the marks, found through a sorted liquidation-price index and re-verified with
the integer formulas (Binance FAQ 360033525271 "Liquidation Protocols"); its parts: ``candidates``
(what it reports), ``t1_keys`` (single-leg keys and their sorted runs), ``t2_bands`` (multi-leg
bands), ``scans`` (full recomputes: the oracle and the peers) and ``int64_math``. ``adl``: the ADL queue and the 0-4
quantile (FAQ 360033525471, "What Is Auto-Deleveraging (ADL)"). The waterfall (IOC order, insurance fund, ADL execution) calls them.
"""
from .adl import adl_quantiles, adl_queue, adl_ranking, position_ranking
from .candidates import CROSS, ISOLATED, Candidate
from .detector import IndexedDetector
from .scans import NumpyScan, full_scan, numpy_scan

__all__ = ["CROSS", "ISOLATED", "Candidate", "IndexedDetector", "NumpyScan", "full_scan", "numpy_scan",
           "adl_quantiles", "adl_queue", "adl_ranking", "position_ranking"]
