"""One scorer for the three shapes of measure: pairwise, per map, and (from the per-sample table) aggregates.

Which measures are computed is configuration (``harness/configs/metrics/*.yaml``); what each one is, computes and
means is defined once in :mod:`harness.metrics.registry`: the scorer calls the measures it is given through their
registry entries and knows no measure by name.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import torch

from harness.common.config_checks import as_list
from harness.common.errors import UserError
from harness.metrics.pairwise import Pair, Settings, undefined_reasons
from harness.metrics.per_map import Scene
from harness.metrics.removal_curves import FILLS
from harness.metrics.registry import MEASURES, Measure, names
from harness.common.schema import CLEAN_SUFFIX
from harness.common.schema import NAN_REASON

BACKENDS = ("auto", "torch", "reference")
__all__ = ["BACKENDS", "Pair", "Scene", "Scorer"]


class Scorer:
    """Scores maps: clean vs perturbed (pairwise), and each map on its own (per map), through the registry.

    Args:
        pairwise: Pairwise measures to compute (names in :mod:`harness.metrics.registry`).
        per_map: Per-map measures, written for the perturbed map (``name``) and the clean map (``name_clean``).
        topk_fraction: ``k`` of ``topk_intersection`` as a fraction of the pixels (0.1 = top 10%).
        backend: For measures with a reference implementation: ``reference`` (scikit-image / SciPy, one map at a
            time on the CPU), ``torch`` (batched on the maps' device, the same numbers) or ``auto`` (torch for maps
            on a GPU, the reference on a CPU, where it is as fast).
        eps_min: ε_min of the relative stability ratios (Agarwal et al. 2022).
        entropy_bins: Histogram bins of ``map_entropy`` and ``entropy_rise`` (Hedström et al. 2023; Quantus: 100).
        measure_settings: Settings of the complexity, axiomatic and consistency measures (the fields of
            :class:`~harness.metrics.pairwise.Settings` from ``effective_complexity_eps`` on).
        representation_layer: The module whose output is the internal representation of ``rrs_ratio`` (None: the
            input of the last ``nn.Linear``; :mod:`harness.metrics.representation`).
    """

    def __init__(self, pairwise: Sequence[str] = ("ssim", "spearman", "spearman_abs", "kendall", "topk_intersection"),
                 per_map: Sequence[str] = ("dark_share",),
                 topk_fraction: float = 0.1, backend: str = "auto", eps_min: float = 1e-6,
                 faithfulness_perturbed: bool = False, faithfulness: Mapping[str, Any] | None = None,
                 entropy_bins: int = 100, measure_settings: Mapping[str, Any] | None = None,
                 representation_layer: str | None = None) -> None:
        self.pairwise = _check(as_list(pairwise, "metrics.pairwise"), "pairwise")
        self.per_map = _check(list(per_map) if per_map else [], "per_map")
        if not 0 < topk_fraction <= 1:
            raise UserError(f"metrics.topk_fraction must be in (0, 1], got {topk_fraction}")
        if backend not in BACKENDS:
            raise UserError(f"unknown metrics.backend '{backend}'; valid choices: {', '.join(BACKENDS)}")
        self.backend = backend
        if int(entropy_bins) < 1:
            raise UserError(f"metrics.entropy_bins must be >= 1, got {entropy_bins}")
        extra = dict(faithfulness or {}, **dict(measure_settings or {}), entropy_bins=int(entropy_bins))
        for key in ("road_fractions", "sensitivity_n_fractions"):
            if key in extra:
                extra[key] = tuple(float(f) for f in extra[key])
        try:
            self.settings = Settings(float(topk_fraction), float(eps_min), **extra)
        except TypeError as exc:
            keys = [f.name for f in fields(Settings) if f.name not in ("topk_fraction", "eps_min", "entropy_bins")]
            raise UserError(f"metrics.faithfulness / metrics.measure_settings: {exc}; valid keys: "
                            f"{', '.join(keys)}") from exc
        for key in ("removal_fill", "region_fill"):
            fill = getattr(self.settings, key)
            if isinstance(fill, str) and fill not in FILLS:
                raise UserError(f"metrics.faithfulness.{key} must be a number or one of {', '.join(FILLS)}, "
                                f"not {fill!r}")
        _check_measure_settings(self.settings)
        self.representation_layer = representation_layer or None
        #: per-map measures of the perturbed maps (the faithfulness measures only where a run asks for them)
        self.per_map_perturbed = [n for n in self.per_map if faithfulness_perturbed or not MEASURES[n].needs_model]

    @property
    def needs_representation(self) -> bool:
        """Whether a pairwise measure asked for reads an internal representation of the views."""
        return any(MEASURES[n].needs_representation for n in self.pairwise)

    def representation(self, network: Any, z: torch.Tensor) -> torch.Tensor | None:
        """The internal representation ``(B, D)`` of model inputs ``z`` that the measures asked for read
        (:mod:`harness.metrics.representation`), or None when none reads one (no forward pass)."""
        if not self.needs_representation or network is None:
            return None
        from harness.metrics.representation import representation

        return representation(network, z, self.representation_layer)

    @property
    def columns(self) -> tuple[str, ...]:
        """Pairwise score columns, in order."""
        return tuple(self.pairwise)

    def score(self, clean, perturbed, pair: Pair | None = None) -> list[dict[str, float | str]]:
        """One dict of pairwise scores per image for maps ``(B, H, W)``; ``nan_reason`` says why a measure of the
        maps' pattern is undefined (``""`` if every one is defined). ``pair.valid`` restricts every measure to the
        pixels valid in both frames (:mod:`harness.metrics.pairwise`)."""
        a, b = torch.as_tensor(clean), torch.as_tensor(perturbed)
        pair = pair or Pair()
        # judged on the maps as computed (float32), not on float64 copies: one definition of "constant"
        reasons = undefined_reasons(a, b, pair.valid)
        cols = {name: self._pairwise(MEASURES[name], a, b, pair, reasons) for name in self.pairwise}
        return [{**{k: float(cols[k][i]) for k in self.pairwise}, NAN_REASON: reasons[i]} for i in range(len(a))]

    def _pairwise(self, m: Measure, a: torch.Tensor, b: torch.Tensor, pair: Pair, reasons: list[str]) -> list[float]:
        use_reference = m.reference_impl is not None and (
            m.compute is None or self.backend == "reference" or (self.backend == "auto" and not a.is_cuda))
        if use_reference:
            na, nb = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
            valid = [None] * len(a) if pair.valid is None else pair.valid.detach().cpu().bool().numpy()
            values = [float("nan") if r and m.pattern else m.reference_impl(x, y, v, self.settings)
                      for x, y, v, r in zip(na, nb, valid, reasons)]
        else:
            values = m.compute(a, b, pair, self.settings).cpu().tolist()
        return [float("nan") if r and m.pattern else v for v, r in zip(values, reasons)]

    def score_maps(self, maps: torch.Tensor, scene: Scene, clean: bool = False,
                   own_frame: torch.Tensor | None = None) -> tuple[dict[str, list[float]], list[str]]:
        """Per-map scores of ``maps`` ``(B, H, W)`` against ``scene``: columns ``name`` for perturbed maps,
        ``name_clean`` for clean ones (``clean=True``), and a NaN reason per map. The measures against the model
        take ``own_frame`` (the maps as computed, before being brought into the clean frame) if given."""
        out, reasons = {}, [""] * len(maps)
        for name in self.per_map if clean else self.per_map_perturbed:
            m = MEASURES[name]
            if m.needs_masks and scene.masks is None:
                values = [float("nan")] * len(maps)
                reasons = ["no mask in the data"] * len(maps)
            else:
                measured = own_frame if m.needs_model and own_frame is not None else maps
                values = m.compute(measured, scene, self.settings).cpu().tolist()
            out[name + (CLEAN_SUFFIX if clean else "")] = values
        return out, reasons


def _check_measure_settings(s: Settings) -> None:
    """One clear line for a setting of the complexity, axiomatic or consistency measures out of its range."""
    positive = {"effective_complexity_eps": s.effective_complexity_eps, "non_sensitivity_eps": s.non_sensitivity_eps,
                "non_sensitivity_patch": s.non_sensitivity_patch, "consistency_grid": s.consistency_grid,
                "consistency_top": s.consistency_top, "sufficiency_threshold": s.sufficiency_threshold}
    bad = [f"{k}={v}" for k, v in positive.items() if not v > 0]
    if not s.sufficiency_threshold <= 1:
        bad.append(f"sufficiency_threshold={s.sufficiency_threshold} > 1 (a share of the largest distance)")
    if s.consistency_top > s.consistency_grid ** 2:
        bad.append(f"consistency_top={s.consistency_top} > consistency_grid² = {s.consistency_grid ** 2}")
    if not (s.axiom_baseline == "black" or isinstance(s.axiom_baseline, (int, float))):
        bad.append(f"axiom_baseline={s.axiom_baseline!r} (black or a number)")
    if bad:
        raise UserError(f"metrics.measure_settings out of range: {', '.join(bad)} "
                        "(ε, patch, grid, top and the threshold are positive)")


def _check(requested: list[str], shape: str) -> list[str]:
    valid = names(shape)
    unknown = [n for n in requested if n not in valid]
    if unknown:
        raise UserError(f"unknown {shape} metric(s) {unknown} in metrics.{shape}; valid choices: {', '.join(valid)}")
    return list(requested)
