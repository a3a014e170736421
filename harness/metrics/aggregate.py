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


def aggregate(scores: pd.DataFrame) -> pd.DataFrame | None:
    """One row per (image, method, condition) with every aggregate whose source column is in ``scores``;
    None when no condition has more than one sample (nothing to aggregate)."""
    if "sample" not in scores.columns or scores.empty:
        return None
    keys = [c for c in scores.columns if is_grouping(c)] + [c for c in ("run", "image_id") if c in scores.columns]
    grouped = scores.groupby(keys, dropna=False, sort=False)
    if grouped["sample"].nunique().max() <= 1:
        return None
    kept = scores["pred_agrees"].astype(bool) if "pred_agrees" in scores.columns else True
    out = grouped[["label", "pred"]].first() if {"label", "pred"} <= set(scores.columns) else grouped.size().to_frame()
    out = out.drop(columns=[c for c in out.columns if c == 0])
    out["n_samples"] = grouped["sample"].count()
    out["n_kept"] = kept.groupby([scores[k] for k in keys], dropna=False, sort=False).sum() if "pred_agrees" in \
        scores.columns else out["n_samples"]
    for m in MEASURES.values():
        if m.shape != "aggregate" or m.source not in scores.columns:
            continue
        values = scores[m.source].astype(float)
        if m.samples == "kept":
            values = values.where(kept)
        out[m.name] = getattr(values.groupby([scores[k] for k in keys], dropna=False, sort=False), m.reduce)()
    return out.reset_index()
