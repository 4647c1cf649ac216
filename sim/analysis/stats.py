"""Interval formulas, in one place: every figure jiefang reports takes its interval from here.

- :func:`mean_ci`: Student-t interval of a mean of independent replication values.
- :func:`wilson` and :func:`proportion_ci`: shares, honest at 0 and 1 (docs/model.md, 3.4).
- :func:`paired_difference`: mean difference of paired values (common random numbers).
- :func:`welch_difference`: difference of two independent means (Welch's unequal-variance t).
"""

from __future__ import annotations

import functools
import math

import numpy as np

_Z95 = 1.959963984540054


@functools.lru_cache(maxsize=4096)
def _t(level: float, dof: float) -> float:
    """Student-t quantile; cached, since a sweep's tables ask for the same few hundreds of
    times (scipy's ppf costs about 0.1 ms a call)."""
    from scipy import stats  # only when an interval is computed (keeps imports light)

    return float(stats.t.ppf(0.5 + level / 2, dof))


def _z(level: float) -> float:
    if level == 0.95:
        return _Z95
    from scipy import stats

    return float(stats.norm.ppf(0.5 + level / 2))


def mean_ci(values, level: float = 0.95) -> tuple[float, float]:
    """Mean and Student-t confidence half-width of independent values (NaN half-width with
    fewer than two values or any non-finite one)."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return math.nan, math.nan
    mean = float(np.mean(values))
    if n < 2 or not np.all(np.isfinite(values)):
        return mean, math.nan
    return mean, _t(level, n - 1) * float(np.std(values, ddof=1)) / math.sqrt(n)


def wilson(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (never empty at 0 or n successes)."""
    if n <= 0:
        return math.nan, math.nan
    z = _z(level)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # The interval holds p exactly; rounding left 5.6e-17 above a share of 0 (issue 25).
    return max(min(centre - half, p), 0.0), min(max(centre + half, p), 1.0)


def proportion_ci(values, n, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of replication shares with an interval honest at 0 and 1: the hull of the
    Student-t interval over replications (the spread of layouts, incidents, behaviour) and
    the Wilson interval of the pooled counts."""
    values = np.asarray(values, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = np.isfinite(values) & (n > 0)
    values, n = values[ok], n[ok]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    low, high = wilson(float((values * n).sum()), float(n.sum()), level)
    if values.size >= 2:
        _, half = mean_ci(values, level)
        low, high = min(low, mean - half), max(high, mean + half)
    return mean, max(low, 0.0), min(high, 1.0)


def paired_difference(a, b, level: float = 0.95) -> tuple[float, float]:
    """Mean of ``b - a`` over pairs and its paired-t half-width (pairs with a NaN dropped;
    a difference of two infinities is no pair)."""
    with np.errstate(invalid="ignore"):
        d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    d = d[~np.isnan(d)]
    return mean_ci(d, level)


def welch_difference(a, b, level: float = 0.95) -> tuple[float, float]:
    """``mean(b) - mean(a)`` of independent samples and its Welch-t half-width."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    with np.errstate(invalid="ignore"):  # inf - inf: both never reached
        diff = float(b.mean() - a.mean())
    if a.size < 2 or b.size < 2 or not np.all(np.isfinite(np.r_[a, b])):
        return diff, math.nan
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0:
        return diff, 0.0
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return diff, _t(level, dof) * math.sqrt(va + vb)
