"""Interval statistics over seeds: mean, standard deviation and the Student-t interval of the mean.

The column names they produce (``mean``, ``std``, ``ci95_t_low``, ``ci95_t_high``) are shared by
the aggregated tables (:mod:`fusionbench.experiments.aggregate`), the plots and the reports.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats


def ci_names(confidence: float = 0.95) -> tuple[str, str]:
    """The statistic names of a cell's interval: ``('ci95_t_low', 'ci95_t_high')`` at 95 %.

    The name says which interval it is (a Student-t interval of the mean) and at what level, so
    a CSV read on its own cannot be mistaken for a bootstrap or a ± std band.
    """
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must lie in (0, 1), got {confidence}')
    level = f'{confidence * 100:.10g}'.replace('.', '_')
    return f'ci{level}_t_low', f'ci{level}_t_high'


CI_LOW, CI_HIGH = ci_names(0.95)
#: The statistics of a metric column at the default level; ``std`` is the sample standard
#: deviation over seeds (ddof = 1) -- what "±" means in every table, README and report.
STATS = ('mean', 'std', CI_LOW, CI_HIGH)


def t_interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``values``: ``mean ± t_{n-1} · s / √n``.

    NaNs are dropped first. Valid at any number of seeds ≥ 2 for (approximately) normal per-seed
    values, unlike the percentile bootstrap, which at 3 seeds returns about ``[min, max]`` and
    covers far less than its nominal level. Fewer than 2 values give ``(nan, nan)`` (no interval
    can be formed); identical values give the degenerate ``(v, v)``. Source: scipy.stats.t.
    """
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must lie in (0, 1), got {confidence}')
    x = _finite(values)
    if x.size < 2:
        return math.nan, math.nan
    mean = float(x.mean())
    sem = float(x.std(ddof=1)) / math.sqrt(x.size)
    if sem == 0:
        return mean, mean
    low, high = stats.t.interval(confidence, x.size - 1, loc=mean, scale=sem)
    return float(low), float(high)


def _finite(values: Iterable[float]) -> np.ndarray:
    x = np.asarray(list(values), dtype=float)
    return x[~np.isnan(x)]


def summarize(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """``mean``, ``std`` (ddof=1; NaN below 2 values) and the t-interval (:func:`t_interval`),
    keyed ``mean, std, ci<level>_t_low, ci<level>_t_high``."""
    x = _finite(values)
    mean = float(x.mean()) if x.size else math.nan
    std = float(x.std(ddof=1)) if x.size > 1 else math.nan
    low_name, high_name = ci_names(confidence)
    low, high = t_interval(x, confidence=confidence)
    return {'mean': mean, 'std': std, low_name: low, high_name: high}




def paired_sd(ci_low: float, ci_high: float, n: int, confidence: float = 0.95) -> float:
    """The standard deviation of per-seed differences behind a paired t-interval
    ``[ci_low, ci_high]`` of ``n`` seeds: ``s = half-width · √n / t_{n-1}``. NaN below 2 seeds."""
    if n < 2 or not math.isfinite(ci_low) or not math.isfinite(ci_high):
        return math.nan
    return (ci_high - ci_low) / 2 * math.sqrt(n) / float(stats.t.ppf(0.5 + confidence / 2, n - 1))


def seeds_needed(sd: float, effect: float, confidence: float = 0.95, power: float = 0.8,
                 most: int = 100) -> int | None:
    """The fewest paired seeds with which a true difference ``effect`` is decided (its two-sided
    ``confidence`` t-interval excludes 0) with probability ``power``, for per-seed differences
    of standard deviation ``sd``: the smallest ``n ≥ 2`` with
    ``t_{1−α/2, n−1} + t_{power, n−1} ≤ effect · √n / sd`` (the usual t approximation of the
    power of a one-sample t-test). ``sd`` 0 gives 2; None when more than ``most`` are needed or
    ``sd`` is NaN.

    Hand check: sd 1.0, effect 2, 95 %, 80 %: n = 4 gives 3.182 + 0.978 = 4.160 > 4.0; n = 5 gives
    2.776 + 0.941 = 3.717 ≤ 4.472 -> 5.
    """
    if not math.isfinite(sd):
        return None
    for n in range(2, most + 1):
        if sd == 0 or (stats.t.ppf(0.5 + confidence / 2, n - 1) + stats.t.ppf(power, n - 1)
                       <= effect * math.sqrt(n) / sd):
            return n
    return None


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (monotone, capped at 1).

    Used for every family of tests the project reports together (the reference comparison's
    cells, a table's claims). Written here because scipy has no Holm correction and a statistics
    package for one function is not worth a dependency. Hand check: p = (0.01, 0.04, 0.03) ->
    sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> running maximum 0.03, 0.06,
    0.06 -> in input order (0.03, 0.06, 0.06).
    """
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * float(pvalues[i])))
        adjusted[i] = running
    return adjusted
