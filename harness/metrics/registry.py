"""Every measure the harness writes, defined once: name, label, shape, and which direction means "stable".

Tables, figures, rankings and the scorer read these definitions; nothing else lists metric names.

Shapes:
- ``pairwise``: clean map vs one perturbed map, one value per (image, condition, sample) in ``scores.csv``;
- ``per_map``: one value per map (e.g. localisation against a mask), written for the perturbed map as ``name``
  and for the clean map as ``name_clean``;
- ``aggregate``: per image over a condition's samples (max-sensitivity, ...), in ``aggregates.csv``;
- ``split``: a pairwise measure over the samples whose prediction was kept (consistency) or flipped
  (responsiveness), computed from ``scores.csv`` by the report for the sources a run asks for
  (:mod:`harness.metrics.split`);
- ``diagnostic``: facts about the prediction or the method (logit changes, completeness error), summarised where
  they apply.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.metrics import pairwise as pw
from harness.metrics import per_map as pm
from harness.metrics import per_map_faithfulness as pmf
from harness.common.schema import (CLEAN_SUFFIX, COMPLETENESS_ERROR, COMPLETENESS_ERROR_CLEAN, FACT_COLUMNS, MAX_LOGIT_DIFF,
                            PRED_AGREES, TARGET_LOGIT_CHANGE, UNIT_COLUMNS)


@dataclass(frozen=True)
class Measure:
    """One column of scores: how to compute it and how to read it.

    Attributes:
        name: Column name.
        label: Axis / table label.
        shape: ``pairwise``, ``per_map``, ``aggregate``, ``split`` or ``diagnostic``.
        stable: ``higher`` or ``lower`` if that direction means a better map — more stable, better localised, more
            faithful; ``""``.
        identity: Its value for a perturbed map equal to the clean one (plotted at magnitude 0), if defined.
        source: For an aggregate: the pairwise measure it reduces over samples.
        reduce: For an aggregate: ``max``, ``mean`` or ``min`` over the samples (NaN samples ignored).
        samples: For an aggregate: ``all`` samples, or only those whose prediction is ``kept``; for a split
            measure: ``kept`` (consistency) or ``flipped`` (responsiveness).
        paper: Where it is defined.
        compute: The batched function: pairwise ``f(a, b, pair, settings) -> (B,)``
            (:mod:`harness.metrics.pairwise`), per map ``f(maps, scene, settings) -> (B,)``
            (:mod:`harness.metrics.per_map`).
        reference_impl: For a pairwise measure with a reference implementation (scikit-image / SciPy):
            ``f(x, y, valid, settings) -> float`` on one NumPy map pair. A measure with only a reference (HOG) is
            always computed by it.
        pattern: Whether it measures the map's pattern (ranks, normalisation, a maximum, top-k), so that it is
            undefined (NaN, with the reason) on a map that is constant up to precision
            (:mod:`harness.metrics.precision`).
        needs_masks: A per-map measure against the data's foreground masks (NaN with a reason without them).
        needs_model: A per-map measure against the model (faithfulness): computed for the clean maps, and for the
            perturbed maps only where a run asks for it (``metrics.faithfulness_perturbed``).
        needs_representation: A pairwise measure that reads an internal representation of both views
            (``Pair.rep``, ``Pair.rep_p``; :mod:`harness.metrics.representation`): one more forward pass per view,
            made only when such a measure is asked for.
    """

    name: str
    label: str
    shape: str
    stable: str = ""
    identity: float | None = None
    source: str = ""
    reduce: str = ""
    samples: str = "all"
    paper: str = ""
    compute: Callable | None = None
    reference_impl: Callable | None = None
    pattern: bool = False
    needs_masks: bool = False
    needs_model: bool = False
    needs_representation: bool = False


def _similarity(name: str, label: str, compute: Callable | None, reference: Callable, paper: str = "") -> Measure:
    return Measure(name, label, "pairwise", "higher", 1.0, paper=paper, compute=compute, reference_impl=reference,
                   pattern=True)


def _change(name: str, label: str, compute: Callable, identity: float | None = None, paper: str = "") -> Measure:
    return Measure(name, label, "pairwise", "lower", identity, paper=paper, compute=compute)


def _faithfulness(name: str, label: str, better: str, compute: Callable, paper: str) -> Measure:
    return Measure(name, label, "per_map", better, paper=paper, compute=compute, needs_model=True)


_SIMILARITIES = [
    _similarity("ssim", "SSIM", pw.ssim, pw.reference_ssim, "Wang et al. 2004"),
    _similarity("ssim_abs", "SSIM of |map|", pw.ssim_abs, pw.reference_ssim_abs, "Adebayo et al. 2018"),
    _similarity("spearman", "Spearman ρ", pw.spearman, pw.reference_spearman),
    _similarity("spearman_abs", "Spearman ρ of |map|", pw.spearman_abs, pw.reference_spearman_abs,
                "Adebayo et al. 2018"),
    _similarity("kendall", "Kendall τ-b", pw.kendall, pw.reference_kendall),
    _similarity("topk_intersection", "top-k overlap", pw.topk_intersection, pw.reference_topk, "Ghorbani et al. 2019"),
    _similarity("hog_similarity", "HOG similarity", None, pw.reference_hog, "Adebayo et al. 2018"),
]
#: Robustness, complexity and axiomatic measures of Quantus / LATEC (opt-in: none is in the default metrics).
_ROBUSTNESS_COMPLEXITY_AXIOMATIC = [
    Measure("rrs_ratio", "relative representation stability ratio", "pairwise", "lower", paper="Agarwal et al. 2022",
            compute=pw.rrs_ratio, needs_representation=True),
    Measure("rrs", "relative representation stability (RRS)", "aggregate", "lower", None, "rrs_ratio", "max", "kept",
            paper="Agarwal et al. 2022"),
    Measure("complexity", "complexity (entropy of |map| / Σ|map|, nats)", "per_map", "lower",
            paper="Bhatt et al. 2020", compute=pm.fractional_entropy),
    Measure("effective_complexity", "effective complexity (pixels above ε of the peak)", "per_map", "lower",
            paper="Nguyen & Martínez 2020", compute=pm.effective_complexity),
    _faithfulness("completeness", "completeness gap |Σ map − Δ logit|", "lower", pm.completeness,
                  "Sundararajan et al. 2017"),
    _faithfulness("non_sensitivity", "non-sensitivity (share of features)", "lower", pm.non_sensitivity,
                  "Nguyen & Martínez 2020"),
    _faithfulness("prediction_consistency", "consistency (same explanation, same prediction)", "higher",
                  pm.prediction_consistency, "Dasgupta et al. 2022"),
    _faithfulness("sufficiency", "sufficiency (close explanation, same prediction)", "higher", pm.sufficiency,
                  "Dasgupta et al. 2022"),
]
_MEASURES = [
    *_SIMILARITIES,
    _change("com_shift", "centre-of-mass shift (px)", pw.com_shift, 0.0, "Ghorbani et al. 2019"),
    _change("rel_change", "‖Φ(x) − Φ(x')‖ / ‖Φ(x)‖", pw.rel_change, 0.0, "Yeh et al. 2019"),
    _change("lipschitz_ratio", "‖Φ(x) − Φ(x')‖ / ‖x − x'‖", pw.lipschitz_ratio, paper="Alvarez-Melis & Jaakkola 2018"),
    _change("continuity_ratio", "‖Φ̂(x) − Φ̂(x')‖₁ / ‖x − x'‖₂ (Φ̂ = Φ / max|Φ(x)|)", pw.continuity_ratio,
            paper="Montavon et al. 2018"),
    _change("ris_ratio", "relative input stability ratio", pw.ris_ratio, paper="Agarwal et al. 2022"),
    _change("ros_ratio", "relative output stability ratio", pw.ros_ratio, paper="Agarwal et al. 2022"),
    _change("entropy_rise", "relative rise of the map's histogram entropy", pw.entropy_rise, 0.0,
            "Hedström et al. 2023 (efficient MPRT)"),
    Measure("map_entropy", "entropy of the map's histogram (nats)", "per_map", paper="Hedström et al. 2023",
            compute=pm.map_entropy),
    Measure("dark_share", "share of |map| on the darkest quarter", "per_map", compute=pm.dark_share),
    Measure("sparseness", "sparseness (Gini index of |map|)", "per_map", "higher", paper="Chalasani et al. 2020",
            compute=pm.sparseness),
    Measure("pointing_game", "pointing game (max in mask)", "per_map", "higher", paper="Zhang et al. 2018",
            compute=pm.pointing_game, pattern=True, needs_masks=True),
    Measure("relevance_mass", "relevance mass in mask", "per_map", "higher", paper="Arras et al. 2022",
            compute=pm.relevance_mass, needs_masks=True),
    _faithfulness("road_morf", "ROAD, most relevant removed first", "lower", pm.road_morf, "Rong et al. 2022"),
    _faithfulness("road_lerf", "ROAD, least relevant removed first", "higher", pm.road_lerf, "Rong et al. 2022"),
    _faithfulness("deletion", "deletion (area)", "lower", pm.deletion, "Petsiuk et al. 2018"),
    _faithfulness("insertion", "insertion (area)", "higher", pm.insertion, "Petsiuk et al. 2018"),
    _faithfulness("infidelity", "infidelity", "lower", pm.infidelity, "Yeh et al. 2019"),
    # --- faithfulness measures of Quantus / LATEC (harness.metrics.per_map_faithfulness) ---
    _faithfulness("pixel_flipping", "pixel flipping (area)", "lower", pmf.pixel_flipping, "Bach et al. 2015"),
    _faithfulness("region_perturbation", "region perturbation (AOPC)", "higher", pmf.region_perturbation,
                  "Samek et al. 2017"),
    _faithfulness("selectivity", "selectivity (area)", "lower", pmf.selectivity, "Montavon et al. 2018"),
    _faithfulness("irof", "IROF (area over the curve)", "higher", pmf.irof, "Rieger & Hansen 2020"),
    _faithfulness("faithfulness_correlation", "faithfulness correlation", "higher", pmf.faithfulness_correlation,
                  "Bhatt et al. 2020"),
    _faithfulness("faithfulness_estimate", "faithfulness estimate", "higher", pmf.faithfulness_estimate,
                  "Alvarez-Melis & Jaakkola 2018"),
    _faithfulness("monotonicity_correlation", "monotonicity correlation", "higher", pmf.monotonicity_correlation,
                  "Nguyen & Martínez 2020"),
    _faithfulness("sensitivity_n", "sensitivity-n (mean over n)", "higher", pmf.sensitivity_n, "Ancona et al. 2018"),
    # --- end of the faithfulness measures of Quantus / LATEC ---
    Measure("max_sensitivity", "max-sensitivity", "aggregate", "lower", 0.0, "rel_change", "max",
            paper="Yeh et al. 2019"),
    Measure("avg_sensitivity", "avg-sensitivity", "aggregate", "lower", 0.0, "rel_change", "mean",
            paper="Yeh et al. 2019"),
    Measure("local_lipschitz", "local Lipschitz estimate", "aggregate", "lower", None, "lipschitz_ratio", "max",
            paper="Alvarez-Melis & Jaakkola 2018"),
    Measure("continuity", "continuity (max ‖ΔΦ‖₁ / ‖Δx‖₂ over a path)", "aggregate", "lower", None,
            "continuity_ratio", "max", paper="Montavon et al. 2018"),
    Measure("ris", "relative input stability (RIS)", "aggregate", "lower", None, "ris_ratio", "max", "kept",
            paper="Agarwal et al. 2022"),
    Measure("ros", "relative output stability (ROS)", "aggregate", "lower", None, "ros_ratio", "max", "kept",
            paper="Agarwal et al. 2022"),
    *[Measure(f"{m.name}_{r}", f"{r} {m.label}", "aggregate", m.stable, m.identity, m.name, r)
      for m in _SIMILARITIES for r in ("mean", "min")],
    *[Measure(f"consistency_{m.name}", f"consistency: {m.label}, prediction kept", "split", "higher", m.identity,
              m.name, samples="kept", paper="Hendrycks & Dietterich 2019 (corruptions)") for m in _SIMILARITIES],
    *[Measure(f"responsiveness_{m.name}", f"responsiveness: 1 − {m.label}, prediction flipped", "split", "higher",
              None, m.name, samples="flipped", paper="Hendrycks & Dietterich 2019 (corruptions)")
      for m in _SIMILARITIES],
    *_ROBUSTNESS_COMPLEXITY_AXIOMATIC,
    Measure(PRED_AGREES, "prediction unchanged", "diagnostic", "higher", 1.0),
    Measure(MAX_LOGIT_DIFF, "max |logit change|", "diagnostic", "lower", 0.0),
    Measure(TARGET_LOGIT_CHANGE, "target logit change", "diagnostic"),
    Measure(COMPLETENESS_ERROR, "completeness error", "diagnostic", "lower"),
    Measure(COMPLETENESS_ERROR_CLEAN, "completeness error, clean", "diagnostic", "lower"),
]

#: name → measure, in display order.
MEASURES: dict[str, Measure] = {m.name: m for m in _MEASURES}


def measure(column: str) -> Measure | None:
    """The measure behind a column (``<per-map>_clean`` included), or None for a grouping column."""
    if column in MEASURES:
        return MEASURES[column]
    if column.endswith(CLEAN_SUFFIX):
        base = MEASURES.get(column[: -len(CLEAN_SUFFIX)])
        if base is not None and base.shape == "per_map":
            return Measure(column, f"{base.label}, clean", "per_map", base.stable)
    return None


def is_grouping(column: str) -> bool:
    """Whether a score-table column describes the condition or method (everything that is not a unit, a fact or a
    measure: :data:`harness.common.schema.UNIT_COLUMNS`, :data:`~harness.common.schema.FACT_COLUMNS`): the report groups rows by
    these."""
    return column not in UNIT_COLUMNS and column not in FACT_COLUMNS and measure(column) is None and \
        not column.startswith("_")


def names(shape: str) -> list[str]:
    """Names of the measures of one shape, in display order."""
    return [m.name for m in MEASURES.values() if m.shape == shape]
