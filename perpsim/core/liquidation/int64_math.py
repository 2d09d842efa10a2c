"""Exact fixed-point products of int64 numpy columns (the 1e-8 units of ``fixed.py``), every
intermediate term in range."""
from __future__ import annotations

import numpy as np

from ..fixed import SCALE as S

HALF = S // 2


def np_mul_rate(n: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Exact ``round_half_up(n x r / 1e8)`` for int64 n >= 0 and a rate 0 <= r <= 1e8:
    ``n = nh S + nl`` gives ``nh r + round(nl r / S)``, every term in range."""
    nh, nl = np.divmod(n, S)
    return nh * r + (nl * r + HALF) // S


def np_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ``round_half_up(a x b / 1e8)`` for int64 a, b >= 0 whose result fits in int64.

    Both are split at 1e8: a x b / S = ah bh S + ah bl + al bh + al bl / S, every term in range.
    """
    ah, al = np.divmod(a, S)
    bh, bl = np.divmod(b, S)
    return ah * bh * S + ah * bl + al * bh + (al * bl + HALF) // S
