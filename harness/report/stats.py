"""Statistics of per-image scores: group summaries with bootstrap CIs, paired method comparisons, rankings."""
from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from harness.common.schema import METRIC


#: The columns :func:`describe` adds to a summary row.
STATS = ("mean", "median", "std", "ci95_low", "ci95_high", "n", "n_nan", "nan_reasons")


def bootstrap_ci(values: np.ndarray, seed: int = 0, n_resamples: int = 2000,
                 level: float = 0.95) -> tuple[float, float]:
    """Seeded bootstrap CI of the mean (``scipy.stats.bootstrap``, BCa; percentile if BCa is degenerate).

    Fewer than two values give ``(nan, nan)``; identical values give ``(value, value)``.
    """
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan"), float("nan")
    if np.ptp(v) == 0:
        return float(v[0]), float(v[0])
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = stats.bootstrap((v,), np.mean, n_resamples=n_resamples, confidence_level=level, method=method,
                                 rng=np.random.default_rng(seed)).confidence_interval
        if np.isfinite(ci.low) and np.isfinite(ci.high):
            return float(ci.low), float(ci.high)
    return float("nan"), float("nan")


def describe(values: pd.Series, reasons: pd.Series | None = None, seed: int = 0,
             n_resamples: int = 2000) -> dict[str, float | int | str]:
    """Mean, median, std, bootstrap 95% CI, n (finite values), n_nan and the NaN reasons of one group."""
    v = values.astype(float).to_numpy()
    finite = v[np.isfinite(v)]
    n = len(finite)
    low, high = bootstrap_ci(finite, seed, n_resamples)
    why = ""
    if reasons is not None and n < len(v):
        counts = reasons[~np.isfinite(v)].fillna("").replace("", "unknown").value_counts()
        why = "; ".join(f"{r}: {c}" for r, c in sorted(counts.items()))
    return {
        "mean": finite.mean() if n else np.nan, "median": np.median(finite) if n else np.nan,
        "std": finite.std(ddof=1) if n > 1 else np.nan, "ci95_low": low, "ci95_high": high,
        "n": n, "n_nan": int(len(v) - n), "nan_reasons": why,
    }


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaNs stay NaN and do not count)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(order) - rank) * p[i])
        out[i] = min(1.0, running)
    return out


def paired_test(a: np.ndarray, b: np.ndarray) -> dict[str, float | int]:
    """Wilcoxon signed-rank test of ``a − b`` with the matched-pairs rank-biserial effect size.

    The effect size ``r = (R⁺ − R⁻) / (R⁺ + R⁻)`` lies in [−1, 1]; positive means ``a`` tends to be larger.
    Zero differences are dropped (``zero_method="wilcox"``); if all are zero the p-value is NaN.
    """
    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[np.isfinite(d)]
    nz = d[d != 0]
    out = {"n_pairs": len(d), "median_diff": float(np.median(d)) if len(d) else np.nan,
           "statistic": np.nan, "p_value": np.nan, "rank_biserial": 0.0 if len(d) else np.nan}
    if len(nz) == 0:
        return out
    ranks = stats.rankdata(np.abs(nz))
    plus, minus = ranks[nz > 0].sum(), ranks[nz < 0].sum()
    res = stats.wilcoxon(nz)
    out.update(statistic=float(res.statistic), p_value=float(res.pvalue),
               rank_biserial=float((plus - minus) / (plus + minus)))
    return out


def compare_methods(scores: pd.DataFrame, conditions: list[str], variant: str, pair_on: list[str],
                    metrics: tuple[str, ...] = ("ssim", "spearman")) -> pd.DataFrame:
    """Paired Wilcoxon tests between every two method variants, per condition and metric.

    Args:
        scores: Tidy per-image scores.
        conditions: Columns that define a condition (methods are compared within one).
        variant: Column naming the method variant (e.g. method + baseline treatment).
        pair_on: Columns identifying the same image (e.g. run and image_id).
        metrics: Metrics to compare.

    Returns:
        One row per (condition, metric, variant pair) with n_pairs, median_diff, statistic, p_value,
        p_holm (Holm-adjusted within the condition and metric) and rank_biserial.
    """
    rows = []
    if not metrics:
        return pd.DataFrame(rows)
    for key, df in scores.groupby(conditions, dropna=False, sort=True):
        for metric in metrics:
            wide = df.pivot_table(index=pair_on, columns=variant, values=metric, aggfunc="first", dropna=False)
            block = []
            for a, b in combinations(sorted(wide.columns), 2):
                block.append({**dict(zip(conditions, key)), METRIC: metric, "method_a": a, "method_b": b,
                              **paired_test(wide[a].to_numpy(), wide[b].to_numpy())})
            adjusted = holm(np.array([r["p_value"] for r in block]))
            for r, p in zip(block, adjusted):
                r["p_holm"] = p
            rows += block
    return pd.DataFrame(rows)


def tier_ranks(means: pd.Series, higher: bool = True, decimals: int = 3) -> pd.Series:
    """Rank of each entry (1 = best): entries equal at the printed precision (``decimals``) share a tier and its rank,
    the next tier's rank counts the entries above it (1, 1, 3); NaN means stay unranked (NaN)."""
    rounded = means.astype(float).round(decimals)
    return rounded.rank(method="min", ascending=not higher, na_option="keep")


def ranking(summary: pd.DataFrame, by: list[str], variant: str, metric: str = "ssim", higher: bool = True,
            decimals: int = 3) -> list[str]:
    """One line per group of ``by``: method variants from the most to the least stable by mean ``metric``
    (averaged over magnitudes); variants equal at the printed precision are one tier (``a = b (1.000)``,
    :func:`tier_ranks`)."""
    lines = []
    sel = summary[summary[METRIC] == metric]
    for key, df in sel.groupby(by, dropna=False, sort=False):
        means = df.groupby(variant, sort=False)["mean"].mean()
        ranks = tier_ranks(means, higher, decimals)
        tiers = []
        for rank in sorted(ranks.dropna().unique()):
            names = [n for n in means.index if ranks[n] == rank]
            tiers.append(f"{' = '.join(names)} ({round(means[names[0]], decimals):.{decimals}f})")
        undefined = [n for n in means.index if pd.isna(means[n])]
        if undefined:
            tiers.append(f"{' = '.join(undefined)} (undefined)")
        label = ", ".join(f"{c}={v}" for c, v in zip(by, key if isinstance(key, tuple) else (key,)))
        lines.append(f"{label}: {' > '.join(tiers)}")
    return lines
