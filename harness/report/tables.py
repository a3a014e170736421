"""Summary tables of ``scores.csv``: long-format statistics, Markdown and LaTeX renderings."""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.stats import describe

#: Columns that identify a condition in every run.
BASE_GROUPS = ["method", "baseline_follows_perturbation", "perturbation", "magnitude", "compensated"]
#: Columns that become part of a condition when they vary (e.g. across the runs of a sweep).
OPTIONAL_GROUPS = ["condition", "encoding", "n_steps", "reduction"]
#: Per-image columns that are summarised.
METRIC_COLUMNS = ["ssim", "spearman", "spearman_abs", "kendall", "topk_intersection", "pred_agrees",
                  "max_logit_diff", "completeness_error", "dark_share_clean", "dark_share_perturbed"]
#: Scores defined for every row (NaN there means "undefined", and is counted); the other metrics are only
#: summarised for groups where they apply (e.g. ``completeness_error`` for IG).
SIMILARITY_COLUMNS = ("ssim", "spearman", "spearman_abs", "kendall", "topk_intersection")
#: Metrics shown in the Markdown / LaTeX tables.
TABLE_METRICS = ("ssim", "spearman", "kendall", "topk_intersection", "pred_agrees")


def follows_as_text(v) -> str:
    """``True``/``False``/missing → ``"true"``/``"false"``/``""`` (identical from memory and from CSV)."""
    return "" if pd.isna(v) or v == "" else str(v).lower()


def normalise(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores with ``baseline_follows_perturbation`` as text and a ``variant`` column (method + baseline)."""
    if "condition" in scores.columns:  # "" in memory reads back from CSV as missing
        scores = scores.assign(condition=scores["condition"].fillna(""))
    follows = scores["baseline_follows_perturbation"].map(follows_as_text)
    variant = [m if f == "" else f"{m} ({'shifted' if f == 'true' else 'fixed'} baseline)"
               for m, f in zip(scores["method"], follows)]
    return scores.assign(baseline_follows_perturbation=follows, variant=variant)


def group_columns(scores: pd.DataFrame) -> list[str]:
    """The base condition columns plus optional and ``cfg:`` override columns that take several values.

    (``n_steps`` is set only for IG rows; missing values do not count as a value.)
    """
    varies = [c for c in OPTIONAL_GROUPS + [c for c in scores.columns if c.startswith("cfg:")]
              if c in scores.columns and scores[c].nunique(dropna=True) > 1]
    known = [c for c in BASE_GROUPS if c in scores.columns] + [c for c in varies if not c.startswith("cfg:")]
    # an override that only restates known columns (e.g. attribution.n_steps vs n_steps) adds nothing
    extra = [c for c in varies if c.startswith("cfg:")
             and scores.groupby(known, dropna=False)[c].nunique(dropna=False).max() > 1]
    return known + extra


def summarise(scores: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Long-format summary: one row per condition and metric (mean, median, std, bootstrap CI, n, n_nan).

    Args:
        scores: Tidy per-image scores (from memory or ``scores.csv``).
        seed: Seed of the bootstrap resampling (same seed, same table).
        n_resamples: Bootstrap resamples per CI.
    """
    scores = normalise(scores)
    groups = group_columns(scores)
    metrics = [c for c in METRIC_COLUMNS if c in scores.columns]
    reasons = scores["nan_reason"] if "nan_reason" in scores.columns else None
    rows = []
    for key, df in scores.groupby(groups, dropna=False, sort=True):
        head = {**dict(zip(groups, key)), "variant": df["variant"].iloc[0]}
        for metric in metrics:
            if metric not in SIMILARITY_COLUMNS and df[metric].isna().all():
                continue  # not applicable to this method
            why = None if reasons is None else reasons.loc[df.index]
            rows.append({**head, "metric": metric, **describe(df[metric], why, seed, n_resamples)})
    return pd.DataFrame(rows)


def _cell(row: pd.Series, latex: bool = False) -> str:
    if not np.isfinite(row["mean"]):
        return "n/a"
    pm = r" $\pm$ " if latex else " ± "
    half = (row["ci95_high"] - row["ci95_low"]) / 2
    return f"{row['mean']:.3f}{pm}{half:.3f}" if np.isfinite(half) else f"{row['mean']:.3f}"


def _table(summary: pd.DataFrame, metrics: tuple[str, ...], latex: bool) -> tuple[list[str], list[list[str]]]:
    groups = [c for c in summary.columns if c in BASE_GROUPS or c in OPTIONAL_GROUPS or c.startswith("cfg:")]
    extra = [c for c in groups if c not in BASE_GROUPS]
    metrics = tuple(m for m in metrics if m in set(summary.metric))
    header = ["regime", "method", "δ" if not latex else r"$\delta$", *extra, *metrics, "n", "n_nan"]
    body = []
    for key, df in summary.groupby(groups, dropna=False, sort=False):
        row = dict(zip(groups, key))
        cells = df.set_index("metric")
        sort_key = (bool(row["compensated"]), row["method"], str(row["baseline_follows_perturbation"]),
                    *[str(row[c]) for c in extra], row["magnitude"])
        body.append((sort_key, [
            "compensated" if row["compensated"] else "uncompensated", str(df["variant"].iloc[0]),
            f"{row['magnitude']:+g}", *[str(row[c]) for c in extra],
            *[_cell(cells.loc[m], latex) if m in cells.index else "n/a" for m in metrics],
            str(int(cells["n"].iloc[0])), str(int(cells["n_nan"].iloc[0])),
        ]))
    return header, [cells for _, cells in sorted(body, key=lambda t: t[0])]


def to_markdown(summary: pd.DataFrame, metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    """A Markdown table: one line per condition, ``mean ± half-width of the bootstrap 95% CI``."""
    header, body = _table(summary, metrics, latex=False)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body]) + "\n"


def to_latex(summary: pd.DataFrame, metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    """A booktabs LaTeX table of the same content as :func:`to_markdown`."""
    header, body = _table(summary, metrics, latex=True)
    esc = [h.replace("_", r"\_") for h in header]
    lines = [r"\begin{tabular}{" + "ll" + "r" * (len(header) - 2) + "}", r"\toprule", " & ".join(esc) + r" \\",
             r"\midrule"]
    lines += [" & ".join(c.replace("_", r"\_") for c in r) + r" \\" for r in body]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"]) + "\n"
