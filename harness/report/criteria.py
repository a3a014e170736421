"""The scorecard's criteria as data: which rows of ``scores.csv`` each reads, which measure, how it is oriented
(``higher is better``), and its value per (variant, image) (:func:`per_image`), which the scorecard and the tested
verdicts summarise (:mod:`harness.report.scorecard`).

A criterion names its family, regimes and labels by the constants of the family's module
(:mod:`harness.perturbations`), never by a copy of their text, so a renamed label is renamed here too; a criterion
whose family ran but wrote none of its labels is an error (:func:`criterion_rows`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.common.errors import UserError
from harness.common.schema import (ALIGNED, CLEAN_SUFFIX, IMAGE_ID, MAGNITUDE, MAP_CONSTANT, MAP_CONSTANT_CLEAN,
                                   OBJECTIVE, PERTURBATION, PRED_AGREES, REGIME, RUN, TRANSFORM, VARIANT)
from harness.metrics.aggregate import aggregate
from harness.metrics.registry import MEASURES
from harness.perturbations import (attack, brightness_shift, corruption, geometric, invariance, noise, random_logit,
                                   randomisation)
from harness.report.tables import treatment_text

#: The kinds of criteria: robustness (drawn against faithfulness), model dependence, faithfulness.
ROBUSTNESS, SANITY, FAITHFULNESS = "robustness", "sanity check", "faithfulness"


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
        parts: A criterion made of several measures (each part a criterion of its own; ``measure`` and the row
            filters then unused): per image, the variants are ranked on each part and the ranks averaged
            (:func:`combined_ranks`), as LATEC combines the measures of a criterion (Klein et al. 2024), but per
            image, so that the paired tests still apply.
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
    parts: tuple[Criterion, ...] = ()


CRITERIA: tuple[Criterion, ...] = (
    Criterion("input_invariance", "input invariance",
              "SSIM of the clean map and the map under a brightness shift that the compensated network undoes exactly "
              "(Kindermans et al. 2017); 1 = invariant, higher is better.", ROBUSTNESS, "ssim",
              where=((PERTURBATION, (brightness_shift.FAMILY,)), (REGIME, (invariance.EXACT_FOLD,)))),
    Criterion("noise_stability", "noise stability",
              "minus the max-sensitivity max‖Φ(x) − Φ(x')‖ / ‖Φ(x)‖ over the noise draws of an image (Yeh et al. "
              "2019), averaged over the noise kinds and sizes; 0 = unchanged, higher is better.", ROBUSTNESS,
              "max_sensitivity", where=((PERTURBATION, (noise.FAMILY,)),), sign=-1.0),
    Criterion("attack_stability", "attack stability",
              "top-k overlap of the clean map and the map of an input attacked against it (Ghorbani et al. 2019; "
              "the random-sign control left out), averaged over the radii; 1 = the top pixels kept, higher is "
              "better.", ROBUSTNESS, "topk_intersection",
              where=((PERTURBATION, (attack.FAMILY,)),), unless=((OBJECTIVE, ("",)),)),
    Criterion("equivariance", "equivariance",
              "Spearman ρ of the clean map and the map of a translated or slightly rotated image brought back into "
              "the clean frame, on the valid pixels, where the prediction was kept; 1 = the map moves with the "
              "content, higher is better.", ROBUSTNESS, "spearman",
              where=((PERTURBATION, (geometric.FAMILY,)), (ALIGNED, (True,)), (PRED_AGREES, (True,)),
                     (TRANSFORM, (geometric.TRANSLATION, geometric.ROTATION)))),
    Criterion("corruption_consistency", "corruption consistency",
              "Spearman ρ of the clean map and the map of a naturally corrupted image (Hendrycks & Dietterich 2019) "
              "where the prediction was kept, averaged over corruptions and severities; 1 = unchanged, higher is "
              "better.", ROBUSTNESS, "spearman", where=((PERTURBATION, (corruption.FAMILY,)), (PRED_AGREES, (True,)))),
    Criterion("model_randomisation", "model randomisation",
              "1 − Spearman ρ of |map| between the trained network and the network with every layer randomised "
              "(the full cascade; Adebayo et al. 2018); 0 = the map ignores the weights, higher is better.", SANITY,
              "spearman_abs", where=((PERTURBATION, (randomisation.MODEL_FAMILY,)), (REGIME, (randomisation.CASCADING,))),
              largest=True, sign=-1.0, offset=1.0),
    Criterion("label_randomisation", "label randomisation",
              "1 − Spearman ρ of |map| between the trained network and one trained on permuted labels (Adebayo et "
              "al. 2018); 0 = the map ignores what was learned, higher is better.", SANITY, "spearman_abs",
              where=((PERTURBATION, (randomisation.DATA_FAMILY,)),), sign=-1.0, offset=1.0),
    Criterion("random_logit", "random logit",
              "1 − Spearman ρ of |map| between the predicted class's map and the map of another, random class of the "
              "same image (Sixt et al. 2020); 0 = the map ignores the class, higher is better.", SANITY,
              "spearman_abs", where=((PERTURBATION, (random_logit.FAMILY,)),), sign=-1.0, offset=1.0),
    Criterion("efficient_mprt", "efficient MPRT",
              "relative rise of the map's histogram entropy from the trained to the fully randomised network (the "
              "full cascade; Hedström et al. 2023); 0 = the map's complexity ignores the weights, higher is better.",
              SANITY, "entropy_rise", where=((PERTURBATION, (randomisation.MODEL_FAMILY,)), (REGIME, (randomisation.CASCADING,))),
              largest=True),
    Criterion("road_gap", "ROAD gap",
              "ROAD LeRF − MoRF of the clean map: the explained class's mean probability with the least relevant "
              "pixels imputed minus with the most relevant ones imputed (Rong et al. 2022); 0 = no better than "
              "chance, higher is better.", FAITHFULNESS, "road_lerf" + CLEAN_SUFFIX, minus="road_morf" + CLEAN_SUFFIX),
    Criterion("perturbation_curves", "insertion & region perturbation",
              "the variants' mean rank per image on two removal curves of the clean map, scaled to [0, 1]: insertion "
              "area (the probability as the most relevant pixels are inserted, Petsiuk et al. 2018) and region "
              "perturbation AOPC (the probability's fall as the most relevant patches are replaced by noise, Samek et "
              "al. 2017), the two most reliable faithfulness measures on the default model (MC ≈ 0.8; deletion 0.61); "
              "higher is better.", FAITHFULNESS, "",
              parts=(Criterion("insertion", "insertion", "", FAITHFULNESS, "insertion" + CLEAN_SUFFIX),
                     Criterion("region_perturbation", "region perturbation", "", FAITHFULNESS,
                               "region_perturbation" + CLEAN_SUFFIX))),
    Criterion("fidelity", "fidelity",
              "minus the infidelity of the clean map (Yeh et al. 2019): how badly the map's dot product with random "
              "perturbations predicts the change of the explained logit; 0 = perfect, higher is better.",
              FAITHFULNESS, "infidelity" + CLEAN_SUFFIX, sign=-1.0),
)
#: The columns whose values a family writes whatever its settings (its regimes): a criterion that reads one of them
#: and finds none of its values in its family's rows is an error (:func:`criterion_rows`), not a column left out.
LABELS = (REGIME,)


def _text(values: pd.Series) -> pd.Series:
    return values.map(treatment_text)


def criterion_rows(scores: pd.DataFrame, criterion: Criterion) -> pd.DataFrame:
    """The rows a criterion reads (none if a ``where`` column is missing); values are compared as the tables print
    them (``True``, ``0.5``, a label).

    Raises:
        UserError: the criterion's family ran but wrote none of the criterion's labels (:data:`LABELS`): a renamed
            regime would otherwise drop the criterion silently.
    """
    if criterion.parts:  # the rows any part reads, once each
        rows = pd.concat([criterion_rows(scores, part) for part in criterion.parts])
        return rows[~rows.index.duplicated()]
    keep = pd.Series(True, index=scores.index)
    for col, values in criterion.where:
        if col not in scores.columns:
            return scores.iloc[:0]
        keep &= _text(scores[col]).isin([treatment_text(v) for v in values])
    for col, values in criterion.unless:
        text = _text(scores[col]) if col in scores.columns else pd.Series("", index=scores.index)
        keep &= ~text.isin([treatment_text(v) for v in values])
    rows = scores[keep]
    if rows.empty:
        _check_labels(scores, criterion)
    if criterion.largest and MAGNITUDE in rows.columns and not rows.empty:
        runs = rows[RUN] if RUN in rows.columns else pd.Series("", index=rows.index)
        rows = rows[rows[MAGNITUDE] == rows.groupby(runs)[MAGNITUDE].transform("max")]
    return rows


def _check_labels(scores: pd.DataFrame, criterion: Criterion) -> None:
    """One line if the criterion's family is in ``scores`` but none of its rows holds a label the criterion reads."""
    where = dict(criterion.where)
    if PERTURBATION not in where or PERTURBATION not in scores.columns:
        return
    family = scores[_text(scores[PERTURBATION]).isin([treatment_text(v) for v in where[PERTURBATION]])]
    for col in LABELS:
        if col in where and len(family) and col in family.columns:
            written = set(_text(family[col]))
            if not written & {treatment_text(v) for v in where[col]}:
                raise UserError(f"scorecard criterion '{criterion.name}' reads {col} {list(where[col])} of "
                                f"{list(where[PERTURBATION])}, whose rows hold only {sorted(written)}: a renamed "
                                "label? (harness.report.criteria.CRITERIA)")


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
    """A criterion's value per (variant, image): the mean over its rows (a combined criterion: its parts' ranks,
    :func:`combined_ranks`); None if it has no rows or no measure (a combined criterion: if a part has none).

    Args:
        scores: Pooled scores with a ``variant`` column (:func:`harness.report.tables.normalise`).
    """
    if criterion.parts:  # every part measured, or the criterion is not
        values = [per_image(scores, part) for part in criterion.parts]
        return None if any(v is None for v in values) else combined_ranks(values)
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


def combined_ranks(parts: list[pd.Series | None]) -> pd.Series | None:
    """Several measures of one criterion as one value per (variant, image): on each part, each image's variants are
    ranked (ties share their mean rank) and scaled to ``[0, 1]`` (0: below every other variant, 1: above every one);
    the value is the mean over the parts that score the variant on the image. Parts with no value (None) are left
    out; None if none has one. Scale-free, so a measure in probabilities and one in pixels weigh the same."""
    present = [p.rename(i) for i, p in enumerate(parts) if p is not None]
    if not present:
        return None
    table = pd.concat(present, axis=1)
    by_image = table.groupby(level=1, sort=False)
    ranks = by_image.rank(method="average")
    scaled = (ranks - 1) / (by_image.transform("count") - 1).where(lambda n: n > 0)
    means = scaled.mean(axis=1, skipna=True).dropna()
    return means.iloc[np.argsort(means.index.get_level_values(1).to_numpy(), kind="stable")]
