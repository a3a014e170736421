"""Summary tables of per-image scores: long-format statistics, Markdown and LaTeX renderings.

Rows are grouped by every column that describes the method or the condition (:func:`group_columns`: whatever is
not a unit, a fact or a measure of :mod:`harness.metrics.registry`), so a new family's columns need no code here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.metrics.registry import MEASURES, is_grouping, measure
from harness.metrics.split import add_split, ineligible_reason
from harness.report.stats import STATS, describe
from harness.common.schema import (BASELINE_TREATMENT, CFG_PREFIX, CONDITION, CONTROL, IMAGE_COLUMNS, IMAGE_ID, MAGNITUDE,
                            METHOD, METRIC, NAN_REASON, PRED_AGREES, REGIME, RUN, SAMPLE, STANDARD_COLUMNS, VARIANT,
                            present)

#: The columns a table shows first, when present (the rest of the varying grouping columns follow).
LEADING = (REGIME, VARIANT, MAGNITUDE, CONDITION)
#: Measures shown in the tables of a run without aggregates / with aggregates, when present.
TABLE_METRICS = ("ssim", "spearman", "kendall", "topk_intersection", PRED_AGREES)
AGGREGATE_METRICS = ("max_sensitivity", "avg_sensitivity", "local_lipschitz", "ris", "ros", "ssim_mean")


def treatment_text(v) -> str:
    """A baseline treatment as text (``""`` for a method without a baseline, from memory and from CSV alike)."""
    return "" if pd.isna(v) or v == "" else str(v)


def normalise(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores with text columns that read back the same from CSV, and a ``variant`` column (method + baseline)."""
    scores = scores.copy()
    for col in (CONDITION, BASELINE_TREATMENT):
        if col in scores.columns:
            scores[col] = scores[col].map(treatment_text)
    if BASELINE_TREATMENT not in scores.columns:
        scores[BASELINE_TREATMENT] = ""
    scores[VARIANT] = [m if t == "" else f"{m} ({t} baseline)"
                       for m, t in zip(scores[METHOD], scores[BASELINE_TREATMENT])]
    return scores


def group_columns(scores: pd.DataFrame) -> list[str]:
    """Columns that define a group: the method and the standard condition columns, the other method and condition
    columns that vary, and the ``cfg:`` override columns of a sweep that separate rows those do not already
    separate (of several equivalent ones, the first)."""
    known = [c for c in scores.columns if is_grouping(c) and not c.startswith(CFG_PREFIX) and c != VARIANT]
    always = (METHOD, BASELINE_TREATMENT, *STANDARD_COLUMNS)
    known = [c for c in known if scores[c].nunique(dropna=True) > 1 or c in always]
    for c in [c for c in scores.columns if c.startswith(CFG_PREFIX)]:
        if scores.groupby(known, dropna=False)[c].nunique(dropna=False).max() > 1:
            known.append(c)
    return known


def summarise(scores: pd.DataFrame, seed: int = 0, n_resamples: int = 2000,
              split: tuple[str, ...] = ()) -> pd.DataFrame:
    """Long-format summary: one row per group and measure (mean, median, std, bootstrap CI, n, n_nan).

    Pairwise, per-map and aggregate measures count their NaNs (with the reasons); a diagnostic that is NaN for a
    whole group does not apply to it (e.g. the completeness error of a method without one) and is left out. Several
    samples of an image (noise draws) are first averaged per image (:func:`per_image`): n counts images.

    Args:
        scores: Tidy per-image (or per-image aggregate) scores, from memory or from CSV.
        seed: Seed of the bootstrap resampling (same seed, same table).
        n_resamples: Bootstrap resamples per CI.
        split: Pairwise measures whose split by the prediction is also summarised (``consistency_<m>`` over the
            samples whose prediction was kept, ``responsiveness_<m>`` over those where it flipped:
            :mod:`harness.metrics.split`); n counts the images with an eligible sample.
    """
    scores = add_split(normalise(scores), split)
    groups = group_columns(scores)
    metrics = [c for c in scores.columns if measure(c) is not None]
    scores = per_image(in_image_order(scores, groups), groups, metrics)
    reasons = scores[NAN_REASON] if NAN_REASON in scores.columns else None
    rows = []
    for key, df in scores.groupby(groups, dropna=False, sort=False):
        head = {**dict(zip(groups, key if isinstance(key, tuple) else (key,))), VARIANT: df[VARIANT].iloc[0]}
        for metric in metrics:
            m = measure(metric)
            if m.shape == "diagnostic" and df[metric].isna().all():
                continue
            why = None if reasons is None else reasons.loc[df.index]
            if m.shape == "split":
                why = ineligible_reason(df, m, why)
            rows.append({**head, METRIC: metric, **describe(df[metric], why, seed, n_resamples)})
    return pd.DataFrame(rows)


def in_image_order(scores: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """The rows in one order whatever order they were read in: the groups of ``groups`` in order of first
    appearance, within a group by image (``image_id``, then ``run``) and sample (a stable sort: a run's rows, already
    in this order, stay as they are).

    A bootstrap resamples a group's values by position and a float sum depends on the order of its terms: in this
    order, a sweep's merged shards (read in any order) give the unsharded run's statistics, value for value.
    """
    keys = present(scores.columns, (IMAGE_ID, RUN, SAMPLE))
    if not keys or scores.empty:
        return scores
    group = scores.groupby(groups, dropna=False, sort=False).ngroup().rename("__group")
    order = pd.concat([group, scores[keys]], axis=1).sort_values(["__group", *keys], kind="stable").index
    return scores.loc[order]


def summary_groups(summary: pd.DataFrame) -> list[str]:
    """The grouping columns of a summary made by :func:`summarise` (``variant`` included)."""
    return [c for c in summary.columns if c not in STATS and c != METRIC]


def per_image(scores: pd.DataFrame, groups: list[str], metrics: list[str]) -> pd.DataFrame:
    """Where a condition has several samples per image, their mean per image (NaN samples ignored; the first NaN
    reason kept), so that a summary's n and confidence intervals count images, not draws."""
    if SAMPLE not in scores.columns:
        return scores
    keys = [*groups, *present(scores.columns, IMAGE_COLUMNS)]
    if scores.groupby(keys, dropna=False)[SAMPLE].nunique().max() <= 1:
        return scores
    agg = {m: "mean" for m in metrics}
    agg.update({c: "first" for c in scores.columns if c not in keys and c not in metrics})
    if NAN_REASON in scores.columns:
        agg[NAN_REASON] = lambda r: next((v for v in r if isinstance(v, str) and v), "")
    return scores.groupby(keys, dropna=False, sort=False).agg(agg).reset_index()


def display_columns(summary: pd.DataFrame) -> list[str]:
    """The grouping columns a table shows: the leading ones, then every other one that is not determined by those
    already shown (e.g. ``compensated`` is determined by ``regime``)."""
    groups = [c for c in summary_groups(summary) if c not in (METHOD, BASELINE_TREATMENT)]
    shown = [c for c in LEADING if c in groups and (c in (REGIME, VARIANT, MAGNITUDE)
                                                    or summary[c].nunique(dropna=True) > 1)]
    for c in groups:
        if c in shown or c in LEADING:
            continue
        if summary.groupby(shown, dropna=False)[c].nunique(dropna=False).max() > 1:
            shown.append(c)
    return shown


def table_metrics(summary: pd.DataFrame, metrics: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The measures a table shows: ``metrics`` if given, else the aggregates or the default similarities."""
    measured = set(summary[METRIC])
    if metrics is None:
        metrics = AGGREGATE_METRICS if measured & set(AGGREGATE_METRICS) else TABLE_METRICS
        metrics = (*metrics, PRED_AGREES) if PRED_AGREES not in metrics else metrics
    return tuple(m for m in metrics if m in measured)


def _cell(row: pd.Series, latex: bool = False) -> str:
    if not np.isfinite(row["mean"]):
        return "n/a"
    pm = r" $\pm$ " if latex else " ± "
    half = (row["ci95_high"] - row["ci95_low"]) / 2
    return f"{row['mean']:.3f}{pm}{half:.3f}" if np.isfinite(half) else f"{row['mean']:.3f}"


def _text(column: str, value, signed: bool = True) -> str:
    if column == MAGNITUDE:
        return (f"{float(value):+g}" if signed else f"{float(value):g}") if pd.notna(value) else ""
    return "" if pd.isna(value) else str(value)


def _table(summary: pd.DataFrame, metrics: tuple[str, ...], latex: bool) -> tuple[list[str], list[list[str]]]:
    cols = display_columns(summary)
    groups = summary_groups(summary)
    header = [{VARIANT: "method"}.get(c, c) for c in cols]
    signed = MAGNITUDE in summary.columns and bool((summary[MAGNITUDE] < 0).any())
    header += [*metrics, "n", "n_nan"]
    regimes = {r: i for i, r in enumerate(dict.fromkeys(summary[REGIME]))} if REGIME in summary.columns else {}
    body = []
    for _, df in summary.groupby(groups, dropna=False, sort=False):
        first = df.iloc[0]
        cells = df.set_index(METRIC)
        control = bool(first.get(CONTROL, False)) if pd.notna(first.get(CONTROL, False)) else False
        sort_key = (regimes.get(first.get(REGIME), 0), control, str(first[VARIANT]),
                    *[_text(c, first[c]) for c in cols if c not in (REGIME, VARIANT, MAGNITUDE)],
                    float(first[MAGNITUDE]) if MAGNITUDE in cols and pd.notna(first[MAGNITUDE]) else 0.0)
        n_metric = metrics[0] if metrics and metrics[0] in cells.index else cells.index[0]
        body.append((sort_key, [
            *[_text(c, first[c], signed) for c in cols],
            *[_cell(cells.loc[m], latex) if m in cells.index else "n/a" for m in metrics],
            str(int(cells.loc[n_metric, "n"])), str(int(cells.loc[n_metric, "n_nan"])),
        ]))
    return header, [cells for _, cells in sorted(body, key=lambda t: t[0])]


def to_markdown(summary: pd.DataFrame, metrics: tuple[str, ...] | None = None) -> str:
    """A Markdown table: one line per group, ``mean ± half-width of the bootstrap 95% CI``."""
    header, body = _table(summary, table_metrics(summary, metrics), latex=False)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body]) + "\n"


def to_latex(summary: pd.DataFrame, metrics: tuple[str, ...] | None = None) -> str:
    """A booktabs LaTeX table of the same content as :func:`to_markdown`."""
    header, body = _table(summary, table_metrics(summary, metrics), latex=True)
    esc = [h.replace("_", r"\_") for h in header]
    lines = [r"\begin{tabular}{" + "ll" + "r" * (len(header) - 2) + "}", r"\toprule", " & ".join(esc) + r" \\",
             r"\midrule"]
    lines += [" & ".join(c.replace("_", r"\_") for c in r) + r" \\" for r in body]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"]) + "\n"


def label(metric: str) -> str:
    """A measure's label (the column name if it is not a registered measure)."""
    m = MEASURES.get(metric) or measure(metric)
    return m.label if m is not None else metric
