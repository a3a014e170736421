"""Summary statistics of ``scores.csv`` and their Markdown rendering."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Columns that identify a condition (one summary row per combination).
GROUP_COLUMNS = ["method", "baseline_follows_perturbation", "perturbation", "magnitude", "compensated"]
#: Per-image columns that are summarised.
METRIC_COLUMNS = ["ssim", "spearman", "spearman_abs", "kendall", "topk_intersection", "pred_agrees",
                  "max_logit_diff"]


def describe(values: pd.Series) -> dict[str, float]:
    """Mean, std, Student-t 95% CI, n (finite values) and n_nan of one group's scores."""
    v = values.astype(float).to_numpy()
    finite = v[np.isfinite(v)]
    n = len(finite)
    mean = finite.mean() if n else np.nan
    std = finite.std(ddof=1) if n > 1 else np.nan
    half = stats.t.ppf(0.975, n - 1) * std / np.sqrt(n) if n > 1 else np.nan
    if n > 1 and std == 0:
        half = 0.0
    return {"mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half,
            "n": n, "n_nan": int(len(v) - n)}


def _follows_as_text(v) -> str:
    return "" if pd.isna(v) else str(v).lower()


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Long-format summary: one row per condition group and metric.

    ``baseline_follows_perturbation`` becomes ``"true"``/``"false"``, or ``""`` for methods
    without a baseline, so that the summary is the same whether ``scores`` came from memory or CSV.
    """
    if "baseline_follows_perturbation" in scores.columns:
        col = scores["baseline_follows_perturbation"].map(_follows_as_text)
        scores = scores.assign(baseline_follows_perturbation=col)
    groups = [c for c in GROUP_COLUMNS if c in scores.columns]
    metrics = [c for c in METRIC_COLUMNS if c in scores.columns]
    rows = []
    for key, df in scores.groupby(groups, dropna=False, sort=True):
        for metric in metrics:
            rows.append({**dict(zip(groups, key)), "metric": metric, **describe(df[metric])})
    return pd.DataFrame(rows)


def _fmt(row: pd.Series) -> str:
    if not np.isfinite(row["mean"]):
        return "n/a"
    half = (row["ci95_high"] - row["ci95_low"]) / 2
    return f"{row['mean']:.3f} ± {half:.3f}" if np.isfinite(half) else f"{row['mean']:.3f}"


def to_markdown(summary: pd.DataFrame, metrics: tuple[str, ...] = ("ssim", "spearman", "kendall",
                                                                 "topk_intersection", "pred_agrees")) -> str:
    """A Markdown table: one line per condition, ``mean ± 95% CI half-width`` per metric."""
    groups = [c for c in GROUP_COLUMNS if c in summary.columns]
    metrics = tuple(m for m in metrics if m in set(summary.metric))
    header = ["regime", "method", "baseline follows", "δ", *metrics, "n"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table = []
    for key, df in summary.groupby(groups, dropna=False, sort=False):
        row = dict(zip(groups, key))
        cells = df.set_index("metric")
        values = [_fmt(cells.loc[m]) if m in cells.index else "n/a" for m in metrics]
        n = int(cells["n"].max())
        regime = "compensated" if row["compensated"] else "uncompensated"
        sort_key = (bool(row["compensated"]), row["method"], str(row["baseline_follows_perturbation"]),
                    row["magnitude"])
        table.append((sort_key, [regime, row["method"], str(row["baseline_follows_perturbation"]),
                                 f"{row['magnitude']:+g}", *values, str(n)]))
    lines += ["| " + " | ".join(cells) + " |" for _, cells in sorted(table, key=lambda t: t[0])]
    return "\n".join(lines) + "\n"
