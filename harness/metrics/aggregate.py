"""Per-image aggregates over a condition's samples (max-sensitivity, local Lipschitz estimate, RIS, ROS, ...).

A pure function of the per-sample score table: ``aggregates.csv`` is rebuilt from ``scores.csv`` alone. Each
aggregate reduces one pairwise measure over the samples of an (image, method, condition), as defined in
:mod:`harness.metrics.registry`, with an explicit policy for samples whose prediction changed:

- ``all`` samples (max/avg-sensitivity, local Lipschitz, mean/min similarities): the map always explains the
  clean input's predicted class, so a flipped prediction does not make the map undefined (as in
  ``captum.metrics.sensitivity_max`` and Yeh et al.);
- ``kept`` samples only (RIS, ROS): Agarwal et al. define them over perturbations that keep the predicted label.

``n_samples`` and ``n_kept`` say how many samples each value rests on; a value with no eligible sample is NaN
(Quantus instead turns an image's whole score NaN when any one sample flips). NaN samples are ignored.
"""
from __future__ import annotations

import pandas as pd

from harness.metrics.registry import MEASURES, is_grouping
from harness.common.schema import IMAGE_COLUMNS, LABEL, N_KEPT, N_SAMPLES, PRED, PRED_AGREES, SAMPLE, present


def aggregate(scores: pd.DataFrame) -> pd.DataFrame | None:
    """One row per (image, method, condition) with every aggregate whose source column is in ``scores``;
    None when no condition has more than one sample (nothing to aggregate)."""
    if SAMPLE not in scores.columns or scores.empty:
        return None
    keys = [c for c in scores.columns if is_grouping(c)] + present(scores.columns, IMAGE_COLUMNS)
    grouped = scores.groupby(keys, dropna=False, sort=False)
    if grouped[SAMPLE].nunique().max() <= 1:
        return None
    kept = scores[PRED_AGREES].astype(bool) if PRED_AGREES in scores.columns else True
    out = grouped[[LABEL, PRED]].first() if {LABEL, PRED} <= set(scores.columns) else grouped.size().to_frame()
    out = out.drop(columns=[c for c in out.columns if c == 0])
    out[N_SAMPLES] = grouped[SAMPLE].count()
    out[N_KEPT] = kept.groupby([scores[k] for k in keys], dropna=False, sort=False).sum() if PRED_AGREES in \
        scores.columns else out[N_SAMPLES]
    for m in MEASURES.values():
        if m.shape != "aggregate" or m.source not in scores.columns:
            continue
        values = scores[m.source].astype(float)
        if m.samples == "kept":
            values = values.where(kept)
        out[m.name] = getattr(values.groupby([scores[k] for k in keys], dropna=False, sort=False), m.reduce)()
    return out.reset_index()
