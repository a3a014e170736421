"""The scorecard: every family of conditions and faithfulness side by side for one model (``DESIGN.md``,
"Robustness is read against faithfulness").

A constant map is perfectly robust and explains nothing, so a robustness verdict is only read beside a faithfulness
one. The scorecard pools the runs of several families on one model and one test split (``python -m harness.report
DIR --out OUT`` over a folder of runs) into one row per method variant (controls included and marked) and one column
group per :class:`Criterion`, each oriented so that **higher is better**: the mean over images, a seeded bootstrap
95% CI over images, the number of images and the rank (1 = best; equal at the printed precision share a rank).

The criteria are data (:data:`~harness.report.criteria.CRITERIA`): which rows of ``scores.csv`` a criterion reads, which measure of
:mod:`harness.metrics.registry` (or the difference of two), how it is oriented. Per image, a criterion is the mean
of ``offset + sign · (measure − minus)`` over its rows (conditions and samples); an aggregate measure
(max-sensitivity) is first computed over each condition's samples by :func:`harness.metrics.aggregate.aggregate`.
An image is identified by its ``image_id`` across the pooled runs (one model, one test split: a warning says when
the runs disagree on an image's label or prediction). A criterion with no rows, or no finite value, is left out and
the legend says so.

A map that is constant in both views has no pattern that could have changed: where a pattern measure (SSIM, rank
correlations, top-k; NaN on a constant map) is NaN for that reason, it counts as unchanged (its identity value, e.g.
SSIM 1). So the constant-map control is as robust as a map can be, and fails the randomisation checks.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from harness.report import criteria
from harness.report.criteria import FAITHFULNESS, ROBUSTNESS, Criterion, per_image
from harness.report.meta_evaluation import tested
from harness.report.stats import bootstrap_ci, tier_ranks
from harness.report.tables import normalise
from harness.report.verdicts import rank_text
from harness.common.schema import BASELINE_TREATMENT, CONTROL, IMAGE_ID, LABEL, METHOD, PRED, VARIANT

log = logging.getLogger(__name__)

#: The statistics of a criterion's column group (its value column is the criterion's name); ``mc``: the reliability
#: of its measure on this model, where a meta-evaluation was run with the scorecard (:func:`mark_reliability`).
CI_LOW, CI_HIGH, N, RANK, PARETO, MC = "ci95_low", "ci95_high", "n", "rank", "pareto", "mc"


#: The columns naming a scorecard row.
VARIANT_COLUMNS = (VARIANT, METHOD, BASELINE_TREATMENT, CONTROL)


def column(criterion: Criterion | str, stat: str = "") -> str:
    """The scorecard column of a criterion's statistic (its value without ``stat``)."""
    name = criterion if isinstance(criterion, str) else criterion.name
    return f"{name}_{stat}" if stat else name


def measured(card: pd.DataFrame, kind: str | None = None) -> list[Criterion]:
    """The criteria (of one kind) that a scorecard holds, in :data:`~harness.report.criteria.CRITERIA` order."""
    return [c for c in criteria.CRITERIA if c.name in card.columns and (kind is None or c.kind == kind)]


def faithfulness_axis(card: pd.DataFrame) -> Criterion | None:
    """The faithfulness criterion the robustness criteria are drawn against: the first one measured."""
    return next(iter(measured(card, FAITHFULNESS)), None)


def _check_images(scores: pd.DataFrame) -> None:
    for col in (LABEL, PRED):
        if col in scores.columns and scores.groupby(IMAGE_ID)[col].nunique().max() > 1:
            log.warning("the pooled runs disagree on the %s of an image: the scorecard compares images by %s, so "
                        "its runs should share one model and one test split", col, IMAGE_ID)


def _variants(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per method variant, methods first and controls last (each in order of appearance)."""
    first = scores.drop_duplicates(VARIANT)[[c for c in VARIANT_COLUMNS if c in scores.columns]].copy()
    if CONTROL not in first.columns:
        first[CONTROL] = False
    first[CONTROL] = first[CONTROL].fillna(False).astype(bool)
    return first.sort_values(CONTROL, kind="stable").reset_index(drop=True)


def printed_decimals(values: pd.Series) -> int:
    """Decimals a criterion is printed (and tied) with: 3, or enough for 3 significant digits of its largest value."""
    v = np.abs(values.to_numpy(dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    return 3 if not len(v) else int(max(3, 2 - np.floor(np.log10(v.max()))))


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each point is non-dominated (no other point at least as high on both and higher on one); points
    with a NaN are not on the front and dominate nothing."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        dominated = ok & (x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i]))
        front[i] = not dominated.any()
    return front


def front(card: pd.DataFrame, robust: Criterion, faithful: Criterion) -> np.ndarray:
    """Whether each variant is on the Pareto front of a robustness and a faithfulness criterion, comparing values at
    their printed precision (as the ranks do)."""
    x, y = (card[c.name].astype(float).round(printed_decimals(card[c.name])) for c in (faithful, robust))
    return pareto_front(x.to_numpy(), y.to_numpy())


def scorecard(scores: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """One row per method variant, one column group per measured criterion (see the module docstring).

    Columns: ``variant, method, baseline_treatment, control``, then per criterion its value (the mean over images),
    ``<name>_ci95_low`` / ``_ci95_high`` (seeded bootstrap over images), ``<name>_n`` (images with a finite value)
    and ``<name>_rank`` (1 = best, :func:`harness.report.stats.tier_ranks` at :func:`printed_decimals`); for each
    robustness criterion, when a faithfulness criterion is measured, ``<name>_pareto``: whether the variant is on
    the Pareto front of that criterion and the first faithfulness criterion (:func:`faithfulness_axis`, :func:`front`).
    """
    scores = normalise(scores[~tested(scores)])  # the meta-evaluation's rows are its own
    _check_images(scores)
    card = _variants(scores)
    for criterion in criteria.CRITERIA:
        values = per_image(scores, criterion)
        if values is None or not np.isfinite(values.to_numpy(dtype=float)).any():
            continue
        stats = {VARIANT: [], criterion.name: [], column(criterion, CI_LOW): [], column(criterion, CI_HIGH): [],
                 column(criterion, N): []}
        by_variant = {k: g.to_numpy(dtype=float) for k, g in values.groupby(level=0, sort=False)}
        for variant in card[VARIANT]:
            v = by_variant.get(variant, np.array([]))
            v = v[np.isfinite(v)]
            low, high = bootstrap_ci(v, seed, n_resamples)
            for key, x in zip(stats, (variant, v.mean() if len(v) else np.nan, low, high, len(v))):
                stats[key].append(x)
        card = card.merge(pd.DataFrame(stats), on=VARIANT, how="left")
        card[column(criterion, RANK)] = tier_ranks(card[criterion.name], True, printed_decimals(card[criterion.name]))
    faithful = faithfulness_axis(card)
    for criterion in measured(card, ROBUSTNESS) if faithful else []:
        card[column(criterion, PARETO)] = front(card, criterion, faithful)
    return card


def _cell(row: pd.Series, criterion: Criterion, decimals: int) -> str:
    value, low, high = (row[column(criterion, s)] for s in ("", CI_LOW, CI_HIGH))
    if not np.isfinite(value):
        return "n/a"
    ci = f" [{low:.{decimals}f}, {high:.{decimals}f}]" if np.isfinite(low) and np.isfinite(high) else ""
    if column(criterion, "rank_low") in row.index:  # grouped by the tests (harness.report.scorecard_verdicts)
        group = row[column(criterion, "group")]
        group = f" {group}" if isinstance(group, str) and group else ""
        grouped = rank_text(row[column(criterion, "rank_low")], row[column(criterion, "rank_high")])
        return f"{value:.{decimals}f}{ci} ({grouped}{group})"
    return f"{value:.{decimals}f}{ci} ({int(row[column(criterion, RANK)])})"


def _images(card: pd.DataFrame, criterion: Criterion) -> str:
    n = card[column(criterion, N)]
    n = n[n > 0]
    return f"{int(n.min())}" if n.min() == n.max() else f"{int(n.min())}–{int(n.max())}"


def scorecard_markdown(card: pd.DataFrame) -> str:
    """``scorecard.md``: the legend (each criterion, its orientation and images; those not measured), then the table
    ``value [95% CI] (rank)``, from a scorecard (or its CSV) alone."""
    shown = measured(card)
    lines = ["# Scorecard", "",
             "One row per method variant (controls marked), one column per criterion, every criterion oriented so "
             "that **higher is better**. A cell is `value [lo, hi] (rank)`: the mean over images, the seeded "
             "bootstrap 95% CI over images, and the rank among the rows (1 = best; values equal at the printed "
             "precision share a rank). Robustness is read against faithfulness: a constant map is perfectly robust "
             "and explains nothing (figures/scorecard_pareto: each robustness criterion against the first "
             "faithfulness criterion, with the Pareto front; `<criterion>_pareto` in scorecard.csv).", ""]
    if any(column(c, "rank_low") in card.columns for c in shown):
        lines += ["Ranks are grouped by tests paired by image (below, \"Which differences are real\"): `(2–4 bc)` is "
                  "a method whose rank the tests place between 2 and 4, not significantly different from the methods "
                  "sharing a letter; `(–)`: too few paired images to rank.", ""]
    lines += [f"- **{c.label}** (`{c.name}`, {c.kind}; {_images(card, c)} images): {c.about}{_reliability(card, c)}"
              for c in shown]
    missing = [c.label for c in criteria.CRITERIA if c not in shown]
    if missing:
        lines.append(f"- Not measured (no rows or no finite value in these scores): {', '.join(missing)}.")
    lines += ["- A map constant in both views has no pattern that could change: its NaN pattern measures (SSIM, "
              "rank correlations, top-k) count as unchanged.", ""]
    decimals = {c.name: printed_decimals(card[c.name]) for c in shown}
    if any(column(c, MC) in card.columns for c in shown):
        lines += ["- MC: the reliability of a criterion's measure on this model (Hedström et al. 2023; the meta-"
                  "evaluation run with the scorecard, meta_evaluation.md): 1 = resilient to minor noise and reactive "
                  "to adversaries; the synthetic constant and random measures score about 0.5 and 0.4.", ""]
    lines += ["| method | " + " | ".join(c.label + _mc_head(card, c) for c in shown) + " |",
              "|---|" + "---|" * len(shown)]
    for _, row in card.iterrows():
        name = f"{row[VARIANT]} (control)" if bool(row[CONTROL]) else str(row[VARIANT])
        lines.append(f"| {name} | " + " | ".join(_cell(row, c, decimals[c.name]) for c in shown) + " |")
    return "\n".join(lines) + "\n"


def _reliability(card: pd.DataFrame, criterion: Criterion) -> str:
    if column(criterion, MC) not in card.columns or not np.isfinite(card[column(criterion, MC)].iloc[0]):
        return ""
    row = card.iloc[0]
    low, high = row[column(criterion, f"{MC}_{CI_LOW}")], row[column(criterion, f"{MC}_{CI_HIGH}")]
    ci = f" [{low:.2f}, {high:.2f}]" if np.isfinite(low) and np.isfinite(high) else ""
    return f" Reliability of `{row[column(criterion, f'{MC}_of')]}` on this model: MC {row[column(criterion, MC)]:.2f}{ci}."


def _mc_head(card: pd.DataFrame, criterion: Criterion) -> str:
    value = card[column(criterion, MC)].iloc[0] if column(criterion, MC) in card.columns else np.nan
    return f" (MC {value:.2f})" if np.isfinite(value) else ""
