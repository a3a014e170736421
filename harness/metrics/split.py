"""Scores split by what the model did: consistency where the prediction is kept, responsiveness where it flips.

A perturbation that does not preserve the prediction (a natural corruption, noise) asks two questions of a map
(Hendrycks & Dietterich 2019 measure the model's accuracy under corruptions; here its explanations):

- **consistency** ``consistency_<m>``: the similarity ``m`` (SSIM, Spearman, ...) of the clean and the perturbed
  map over the samples whose prediction was kept (``pred_agrees``): the map should stay where the model's decision
  stays;
- **responsiveness** ``responsiveness_<m>``: the change ``1 − m`` over the samples whose prediction flipped: a map
  that stays put while the model changes its mind is not explaining the model.

Both are defined once in :mod:`harness.metrics.registry` (shape ``split``: ``source`` the pairwise measure,
``samples`` ``kept`` or ``flipped``) and computed here from ``scores.csv`` alone, for the sources a run asks for
(``report.split``), so any family with a ``pred_agrees`` column gets them. A pure function of the score table: each
split column holds the per-sample value where the sample is eligible and NaN elsewhere; the summary then counts
the eligible images (``n``) and says why the others are not counted (:func:`ineligible_reason`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.metrics.registry import MEASURES, Measure
from harness.common.schema import PRED_AGREES

#: The NaN reason of a sample that a split measure does not count, by the samples it counts.
NOT_COUNTED = {"kept": "prediction flipped (not counted)", "flipped": "prediction kept (not counted)"}


def split_measures(sources: tuple[str, ...] | list[str]) -> list[Measure]:
    """The split measures (consistency, responsiveness) of the pairwise measures ``sources``, in display order."""
    return [m for m in MEASURES.values() if m.shape == "split" and m.source in set(sources)]


def split_value(scores: pd.DataFrame, m: Measure) -> pd.Series:
    """Split measure ``m`` per row of ``scores``: its source's similarity where the prediction was kept
    (``samples = kept``), or its change ``1 − s`` where it flipped (``flipped``); NaN on the other rows."""
    kept = scores[PRED_AGREES].astype(bool)
    source = scores[m.source].astype(float)
    value = source if m.samples == "kept" else MEASURES[m.source].identity - source
    return value.where(kept if m.samples == "kept" else ~kept)


def add_split(scores: pd.DataFrame, sources: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """``scores`` with a column per split measure of ``sources`` present in it (none without ``pred_agrees``)."""
    if PRED_AGREES not in scores.columns:
        return scores
    new = {m.name: split_value(scores, m) for m in split_measures(sources) if m.source in scores.columns}
    return scores.assign(**new) if new else scores


def ineligible_reason(values: pd.DataFrame, m: Measure, reasons: pd.Series | None) -> pd.Series:
    """Per row, why split measure ``m`` is NaN: no eligible sample (the source has a value, the split has none),
    else the row's own reason."""
    base = reasons if reasons is not None else pd.Series("", index=values.index)
    skipped = values[m.source].notna() & values[m.name].isna()
    return pd.Series(np.where(skipped, NOT_COUNTED[m.samples], base), index=values.index)
