"""The paired tests of a criterion's per-image scores: the matrix ``(n_images, n_methods)``, Friedman's omnibus test,
the two-sided Wilcoxon signed-rank test of every pair with Holm's correction, and the images a pair needs.

- Friedman 1937 (https://doi.org/10.1080/01621459.1937.10503522): ``scipy.stats.friedmanchisquare``;
- Wilcoxon 1945 (https://doi.org/10.2307/3001968): ``scipy.stats.wilcoxon`` (:func:`signed_rank`);
- Holm 1979 (https://www.jstor.org/stable/4615733): :func:`harness.report.stats.holm`;
- the images needed: the paired normal approximation over the Wilcoxon test's efficiency (:func:`images_needed`).

How they make the scorecard's verdicts: :mod:`harness.report.verdicts`.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from harness.report.stats import holm

#: Asymptotic relative efficiency of the Wilcoxon signed-rank test to the paired t-test on normal differences.
WILCOXON_ARE = 3 / math.pi

def paired_matrix(values: pd.Series, min_images: int = 5) -> tuple[pd.DataFrame, list[str]]:
    """The ``(n_images, n_methods)`` matrix of a criterion's per-image values, and the methods left out.

    Args:
        values: Per (method, image) values (a two-level index, as :func:`harness.report.scorecard.per_image`).
        min_images: A method with fewer finite values is left out (then it would empty the matrix).

    Returns:
        The complete rows (images where every kept method has a finite value), columns in order of appearance,
        and the methods left out.
    """
    wide = values.astype(float).unstack(0)
    wide = wide[list(dict.fromkeys(values.index.get_level_values(0)))]
    wide = wide.where(np.isfinite(wide))
    kept = [m for m in wide.columns if wide[m].notna().sum() >= min_images]
    return wide[kept].dropna(), [m for m in wide.columns if m not in kept]


def mean_ranks(matrix: pd.DataFrame) -> pd.Series:
    """Each method's mean rank over the images (1 = the highest value; ties share the average rank)."""
    ranks = stats.rankdata(-matrix.to_numpy(float), axis=1, method="average")
    return pd.Series(ranks.mean(axis=0), index=matrix.columns)


def friedman(matrix: pd.DataFrame) -> tuple[float, float]:
    """Friedman's χ² and p over the methods (``scipy.stats.friedmanchisquare``); NaN with fewer than three methods or
    two images; p = 1 when every image ties all methods (no evidence of a difference)."""
    if matrix.shape[1] < 3 or matrix.shape[0] < 2:
        return np.nan, np.nan
    if (matrix.nunique(axis=1) == 1).all():
        return 0.0, 1.0
    res = stats.friedmanchisquare(*(matrix[m].to_numpy(float) for m in matrix.columns))
    return float(res.statistic), float(res.pvalue)


#: Up to this many tied non-zero differences, ``scipy.stats.wilcoxon`` (``method="auto"``) takes its p-value from the
#: exact permutation distribution of all ``2ⁿ`` sign flips; above, from the normal approximation.
EXACT_WITH_TIES = 13


def signed_rank(diff: np.ndarray) -> tuple[int, float, float, float]:
    """The two-sided Wilcoxon signed-rank test of paired differences, as ``scipy.stats.wilcoxon(diff,
    zero_method="wilcox")`` (``method="auto"``).

    Zero differences are dropped. Without ties scipy's exact (n ≤ 50) or normal p is used; with ties among at most
    :data:`EXACT_WITH_TIES` differences, scipy's p is that of the exact permutation distribution of ``R⁺`` over all
    ``2ⁿ`` sign flips, computed here at once (``scipy.stats.permutation_test`` takes ~30 ms a pair, too slow for
    the bootstrap of :mod:`harness.report.stability`; equal to scipy's to rounding, tested).

    Args:
        diff: ``(n,)`` paired differences ``a − b``.

    Returns:
        ``(n, statistic, p, rank_biserial)``: the non-zero differences, ``min(R⁺, R⁻)``, the p-value (1 when every
        difference is zero) and ``(R⁺ − R⁻) / (R⁺ + R⁻)`` (> 0: ``a`` tends to be higher).
    """
    d = np.asarray(diff, float)
    d = d[np.isfinite(d) & (d != 0)]
    if not len(d):
        return 0, np.nan, 1.0, 0.0
    ranks = stats.rankdata(np.abs(d))
    plus, minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    effect = float((plus - minus) / (plus + minus))
    if len(d) > EXACT_WITH_TIES or len(np.unique(np.abs(d))) == len(d):
        res = stats.wilcoxon(d, zero_method="wilcox")
        return len(d), float(res.statistic), float(res.pvalue), effect
    flips = (np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1
    null = flips @ ranks
    tol = abs(np.finfo(float).eps * 100 * plus)
    p = 2 * min(np.mean(null <= plus + tol), np.mean(null >= plus - tol))
    return len(d), float(min(plus, minus)), float(min(p, 1.0)), effect


def pairwise(matrix: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Two-sided Wilcoxon signed-rank test (:func:`signed_rank`) of every pair of methods, Holm-adjusted over the
    pairs.

    Returns:
        One row per pair ``(method_a, method_b)`` in column order: ``n`` (non-zero differences enter the test),
        ``statistic``, ``p`` (1 when every difference is zero), ``p_holm``, ``rank_biserial`` (> 0: ``a`` higher),
        ``mean_diff`` (``a − b``), ``significant`` (``p_holm ≤ alpha``).
    """
    rows, x = [], matrix.to_numpy(float)
    for (i, a), (j, b) in combinations(enumerate(matrix.columns), 2):
        diff = x[:, i] - x[:, j]
        n, statistic, p, effect = signed_rank(diff)
        rows.append({"method_a": a, "method_b": b, "n": n, "statistic": statistic, "p": p, "rank_biserial": effect,
                     "mean_diff": float(diff.mean())})
    table = pd.DataFrame(rows, columns=["method_a", "method_b", "n", "statistic", "p", "rank_biserial", "mean_diff"])
    table.insert(5, "p_holm", holm(table["p"].to_numpy(float)) if len(table) else [])
    table["significant"] = table["p_holm"] <= alpha
    return table


def paired_t_images(effect: float, level: float = 0.05, power: float = 0.8) -> float:
    """Pairs a two-sided paired t-test needs to detect a standardised mean difference ``effect`` (``mean / sd`` of
    the differences) at ``level`` with ``power``: the solution of ``n = ((t₁₋level/₂,ₙ₋₁ + t_power,ₙ₋₁) / effect)²``
    (the usual approximation, without the noncentral t; from the normal ``n`` by fixed-point iteration), not
    rounded. ``effect = 0.5`` at 0.05 and 0.8 gives 33.4 (34 pairs, as Cohen's 1988 tables and G*Power)."""
    n = ((stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)) / effect) ** 2
    for _ in range(50):
        df = max(n - 1.0, 1.0)
        new = ((stats.t.ppf(1 - level / 2, df) + stats.t.ppf(power, df)) / effect) ** 2
        if abs(new - n) < 1e-9:
            break
        n = new
    return float(n)


def images_needed(diff: np.ndarray, alpha: float = 0.05, power: float = 0.8, n_pairs: int = 1) -> float:
    """Paired images a two-sided Wilcoxon signed-rank test needs to separate two methods with these differences.

    The paired t-test's images (:func:`paired_t_images`) for the standardised mean difference ``d = mean / sd`` of
    the observed differences at ``α′ = α / n_pairs`` (Holm's strictest step, so that the pair is separated whatever
    the other pairs' p-values), divided by the Wilcoxon test's asymptotic relative efficiency to the t-test on
    normal differences, ``3/π`` (Lehmann 1975, Nonparametrics, ch. 2), and at least the ``n`` whose smallest exact
    p-value ``2 / 2ⁿ`` reaches ``α′``. A planning estimate: ``d`` is itself estimated from the observed images.

    Args:
        diff: ``(n,)`` observed paired differences.

    Returns:
        The number of images (an integer as float), or ``inf`` when the differences average to zero.
    """
    d = np.asarray(diff, float)
    d = d[np.isfinite(d)]
    level = alpha / max(n_pairs, 1)
    floor = math.ceil(math.log2(2 / level))
    if len(d) < 2 or d.mean() == 0:
        return math.inf
    sd = d.std(ddof=1)
    if sd == 0:
        return float(floor)
    n_t = paired_t_images(abs(d.mean()) / sd, level, power)
    return float(max(math.ceil(n_t / WILCOXON_ARE), floor))


def smallest_p(n: int) -> float:
    """The smallest two-sided exact Wilcoxon signed-rank p-value with ``n`` non-zero differences: ``2 / 2ⁿ``."""
    return 2.0 / 2.0 ** n if n > 0 else 1.0
