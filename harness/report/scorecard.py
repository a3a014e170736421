"""The scorecard: every family of conditions and faithfulness side by side for one model (``DESIGN.md``,
"Robustness is read against faithfulness").

A constant map is perfectly robust and explains nothing, so a robustness verdict is only read beside a faithfulness
one. The scorecard pools the runs of several families on one model and one test split (``python -m harness.report
DIR --out OUT`` over a folder of runs) into one row per method variant (controls included and marked) and one column
group per :class:`Criterion`, each oriented so that **higher is better**: the mean over images, a seeded bootstrap
95% CI over images, the number of images and the rank (1 = best; equal at the printed precision share a rank).

The criteria are data (:data:`CRITERIA`): which rows of ``scores.csv`` a criterion reads, which measure of
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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.metrics.aggregate import aggregate
from harness.metrics.registry import MEASURES
from harness.report.meta_evaluation import tested
from harness.report.stats import bootstrap_ci, tier_ranks
from harness.report.tables import normalise, treatment_text
from harness.report.verdicts import rank_text
from harness.schema import (ALIGNED, BASELINE_TREATMENT, CLEAN_SUFFIX, CONTROL, IMAGE_ID, LABEL, MAGNITUDE,
                            MAP_CONSTANT, MAP_CONSTANT_CLEAN, METHOD, OBJECTIVE, PERTURBATION, PRED, PRED_AGREES, REGIME,
                            RUN, TRANSFORM, VARIANT)

log = logging.getLogger(__name__)

#: The kinds of criteria: robustness (drawn against faithfulness), model dependence, faithfulness.
ROBUSTNESS, SANITY, FAITHFULNESS = "robustness", "sanity check", "faithfulness"
#: The statistics of a criterion's column group (its value column is the criterion's name); ``mc``: the reliability
#: of its measure on this model, where a meta-evaluation was run with the scorecard (:func:`mark_reliability`).
CI_LOW, CI_HIGH, N, RANK, PARETO, MC = "ci95_low", "ci95_high", "n", "rank", "pareto", "mc"


@dataclass(frozen=True)
class Criterion:
    """One column group of the scorecard, oriented so that higher is better.

    Attributes:
        name: The value column of ``scorecard.csv`` (its statistics are ``<name>_<stat>``, :func:`column`).
        label: The table's and the figures' header.
        about: One sentence for the legend: what it measures and how it is oriented.
        kind: :data:`ROBUSTNESS`, :data:`SANITY` or :data:`FAITHFULNESS`.
        where: ``(column, values)`` pairs: a row is read if each column holds one of the values (as text).
        unless: ``(column, values)`` pairs: a row holding one of the values is not read (an empty cell reads ``""``).
        largest: Only the rows at the largest magnitude of each run (e.g. the full cascade).
        measure: A measure of the registry: a column of ``scores.csv`` or an aggregate over a condition's samples.
        minus: A second measure subtracted from the first (a gap), or ``""``.
        sign: ``+1`` or ``-1``: the orientation.
        offset: Added after the sign (``1 − spearman_abs``).
    """

    name: str
    label: str
    about: str
    kind: str
    measure: str
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unless: tuple[tuple[str, tuple[str, ...]], ...] = ()
    largest: bool = False
    minus: str = ""
    sign: float = 1.0
    offset: float = 0.0


CRITERIA: tuple[Criterion, ...] = (
    Criterion("input_invariance", "input invariance",
              "SSIM of the clean map and the map under a brightness shift that the compensated network undoes exactly "
              "(Kindermans et al. 2017); 1 = invariant, higher is better.", ROBUSTNESS, "ssim",
              where=((PERTURBATION, ("brightness_shift",)), (REGIME, ("compensated",)))),
    Criterion("noise_stability", "noise stability",
              "minus the max-sensitivity max‖Φ(x) − Φ(x')‖ / ‖Φ(x)‖ over the noise draws of an image (Yeh et al. "
              "2019), averaged over the noise kinds and sizes; 0 = unchanged, higher is better.", ROBUSTNESS,
              "max_sensitivity", where=((PERTURBATION, ("noise",)),), sign=-1.0),
    Criterion("attack_stability", "attack stability",
              "top-k overlap of the clean map and the map of an input attacked against it (Ghorbani et al. 2019; "
              "the random-sign control left out), averaged over the radii; 1 = the top pixels kept, higher is "
              "better.", ROBUSTNESS, "topk_intersection",
              where=((PERTURBATION, ("attack",)),), unless=((OBJECTIVE, ("",)),)),
    Criterion("equivariance", "equivariance",
              "Spearman ρ of the clean map and the map of a translated or slightly rotated image brought back into "
              "the clean frame, on the valid pixels, where the prediction was kept; 1 = the map moves with the "
              "content, higher is better.", ROBUSTNESS, "spearman",
              where=((PERTURBATION, ("geometric",)), (ALIGNED, ("True",)), (PRED_AGREES, ("True",)),
                     (TRANSFORM, ("translation", "rotation")))),
    Criterion("corruption_consistency", "corruption consistency",
              "Spearman ρ of the clean map and the map of a naturally corrupted image (Hendrycks & Dietterich 2019) "
              "where the prediction was kept, averaged over corruptions and severities; 1 = unchanged, higher is "
              "better.", ROBUSTNESS, "spearman", where=((PERTURBATION, ("corruption",)), (PRED_AGREES, ("True",)))),
    Criterion("model_randomisation", "model randomisation",
              "1 − Spearman ρ of |map| between the trained network and the network with every layer randomised "
              "(the full cascade; Adebayo et al. 2018); 0 = the map ignores the weights, higher is better.", SANITY,
              "spearman_abs", where=((PERTURBATION, ("model_randomisation",)), (REGIME, ("cascading",))),
              largest=True, sign=-1.0, offset=1.0),
    Criterion("label_randomisation", "label randomisation",
              "1 − Spearman ρ of |map| between the trained network and one trained on permuted labels (Adebayo et "
              "al. 2018); 0 = the map ignores what was learned, higher is better.", SANITY, "spearman_abs",
              where=((PERTURBATION, ("data_randomisation",)),), sign=-1.0, offset=1.0),
    Criterion("random_logit", "random logit",
              "1 − Spearman ρ of |map| between the predicted class's map and the map of another, random class of the "
              "same image (Sixt et al. 2020); 0 = the map ignores the class, higher is better.", SANITY,
              "spearman_abs", where=((PERTURBATION, ("random_logit",)),), sign=-1.0, offset=1.0),
    Criterion("efficient_mprt", "efficient MPRT",
              "relative rise of the map's histogram entropy from the trained to the fully randomised network (the "
              "full cascade; Hedström et al. 2023); 0 = the map's complexity ignores the weights, higher is better.",
              SANITY, "entropy_rise", where=((PERTURBATION, ("model_randomisation",)), (REGIME, ("cascading",))),
              largest=True),
    Criterion("road_gap", "ROAD gap",
              "ROAD LeRF − MoRF of the clean map: the explained class's mean probability with the least relevant "
              "pixels imputed minus with the most relevant ones imputed (Rong et al. 2022); 0 = no better than "
              "chance, higher is better.", FAITHFULNESS, "road_lerf" + CLEAN_SUFFIX, minus="road_morf" + CLEAN_SUFFIX),
    Criterion("insertion_deletion_gap", "insertion − deletion",
              "insertion − deletion area of the clean map (Petsiuk et al. 2018): the probability curve as the most "
              "relevant pixels are inserted minus as they are deleted; higher is better.", FAITHFULNESS,
              "insertion" + CLEAN_SUFFIX, minus="deletion" + CLEAN_SUFFIX),
    Criterion("fidelity", "fidelity",
              "minus the infidelity of the clean map (Yeh et al. 2019): how badly the map's dot product with random "
              "perturbations predicts the change of the explained logit; 0 = perfect, higher is better.",
              FAITHFULNESS, "infidelity" + CLEAN_SUFFIX, sign=-1.0),
)
#: The columns naming a scorecard row.
VARIANT_COLUMNS = (VARIANT, METHOD, BASELINE_TREATMENT, CONTROL)


def column(criterion: Criterion | str, stat: str = "") -> str:
    """The scorecard column of a criterion's statistic (its value without ``stat``)."""
    name = criterion if isinstance(criterion, str) else criterion.name
    return f"{name}_{stat}" if stat else name


def measured(card: pd.DataFrame, kind: str | None = None) -> list[Criterion]:
    """The criteria (of one kind) that a scorecard holds, in :data:`CRITERIA` order."""
    return [c for c in CRITERIA if c.name in card.columns and (kind is None or c.kind == kind)]


def reference(card: pd.DataFrame) -> Criterion | None:
    """The faithfulness criterion the robustness criteria are drawn against: the first one measured."""
    return next(iter(measured(card, FAITHFULNESS)), None)


def _text(values: pd.Series) -> pd.Series:
    return values.map(treatment_text)


def criterion_rows(scores: pd.DataFrame, criterion: Criterion) -> pd.DataFrame:
    """The rows a criterion reads (none if a ``where`` column is missing)."""
    keep = pd.Series(True, index=scores.index)
    for col, values in criterion.where:
        if col not in scores.columns:
            return scores.iloc[:0]
        keep &= _text(scores[col]).isin(values)
    for col, values in criterion.unless:
        text = _text(scores[col]) if col in scores.columns else pd.Series("", index=scores.index)
        keep &= ~text.isin(values)
    rows = scores[keep]
    if criterion.largest and MAGNITUDE in rows.columns and not rows.empty:
        runs = rows[RUN] if RUN in rows.columns else pd.Series("", index=rows.index)
        rows = rows[rows[MAGNITUDE] == rows.groupby(runs)[MAGNITUDE].transform("max")]
    return rows


def unchanged_constant(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose clean and perturbed maps are both constant, with their NaN pattern measures set to the measure's
    identity value (an unchanged map: SSIM 1, Spearman 1, top-k overlap 1)."""
    if not {MAP_CONSTANT, MAP_CONSTANT_CLEAN} <= set(rows.columns):
        return rows
    both = rows[MAP_CONSTANT].fillna(False).astype(bool) & rows[MAP_CONSTANT_CLEAN].fillna(False).astype(bool)
    rows = rows.copy()
    for name, m in MEASURES.items():
        if name in rows.columns and m.pattern and m.identity is not None:
            rows.loc[both & rows[name].isna(), name] = m.identity
    return rows


def per_image(scores: pd.DataFrame, criterion: Criterion) -> pd.Series | None:
    """A criterion's value per (variant, image): the mean over its rows; None if it has no rows or no measure.

    Args:
        scores: Pooled scores with a ``variant`` column (:func:`harness.report.tables.normalise`).
    """
    rows = unchanged_constant(criterion_rows(scores, criterion))
    used = [m for m in (criterion.measure, criterion.minus) if m]
    if rows.empty:
        return None
    if any(m in MEASURES and MEASURES[m].shape == "aggregate" for m in used):
        rows = aggregate(rows)
        if rows is None:
            return None
    if any(m not in rows.columns for m in used):
        return None
    value = rows[criterion.measure].astype(float)
    if criterion.minus:
        value = value - rows[criterion.minus].astype(float)
    value = criterion.offset + criterion.sign * value
    means = value.groupby([rows[VARIANT], rows[IMAGE_ID]], sort=False).mean()
    # in image order (stable), whatever order the rows were read in: the bootstrap resamples by position
    return means.iloc[np.argsort(means.index.get_level_values(1).to_numpy(), kind="stable")]


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
    the Pareto front of that criterion and the first faithfulness criterion (:func:`reference`, :func:`front`).
    """
    scores = normalise(scores[~tested(scores)])  # the meta-evaluation's rows are its own
    _check_images(scores)
    card = _variants(scores)
    for criterion in CRITERIA:
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
    faithful = reference(card)
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
    missing = [c.label for c in CRITERIA if c not in shown]
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
