"""One scorer for the three shapes of measure: pairwise, per map, and (from the per-sample table) aggregates.

Which measures are computed is configuration (``harness/configs/metrics/*.yaml``); what each one means is
defined once in :mod:`harness.metrics.registry`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harness.config_checks import as_list
from harness.errors import UserError
from harness.metrics import localisation, regions, sensitivity, similarity
from harness.metrics import torch_similarity as ts
from harness.metrics.registry import names

BACKENDS = ("auto", "torch", "reference")
#: map similarities (NaN with a reason for a constant or non-finite map), with a batched torch version
_SIMILARITY = ("ssim", "ssim_abs", "spearman", "spearman_abs", "kendall", "topk_intersection")


@dataclass(frozen=True)
class Pair:
    """What a pairwise measure may use besides the two maps: pixel-space inputs ``(B, C, H, W)`` and logits ``(B, K)``
    of the clean and the perturbed view."""

    x: torch.Tensor
    x_p: torch.Tensor
    logits: torch.Tensor
    logits_p: torch.Tensor


class Scorer:
    """Scores maps: clean vs perturbed (pairwise), and each map on its own (per map).

    Args:
        pairwise: Pairwise measures to compute (names in :mod:`harness.metrics.registry`).
        per_map: Per-map measures, written for the perturbed map (``name``) and the clean map (``name_clean``).
        topk_fraction: ``k`` of ``topk_intersection`` as a fraction of the pixels (0.1 = top 10%).
        backend: For the map similarities: ``reference`` (scikit-image / SciPy, one map at a time on the CPU),
            ``torch`` (batched on the maps' device, :mod:`harness.metrics.torch_similarity`, the same numbers) or
            ``auto`` (torch for maps on a GPU, the reference on a CPU, where it is as fast).
        eps_min: ε_min of the relative stability ratios (Agarwal et al. 2022).
    """

    def __init__(self, pairwise: Sequence[str] = ("ssim", "spearman", "spearman_abs", "kendall", "topk_intersection"),
                 per_map: Sequence[str] = ("dark_share",),
                 topk_fraction: float = 0.1, backend: str = "auto", eps_min: float = 1e-6) -> None:
        self.pairwise = _check(as_list(pairwise, "metrics.pairwise"), "pairwise")
        self.per_map = _check(list(per_map) if per_map else [], "per_map")
        if not 0 < topk_fraction <= 1:
            raise UserError(f"metrics.topk_fraction must be in (0, 1], got {topk_fraction}")
        if backend not in BACKENDS:
            raise UserError(f"unknown metrics.backend '{backend}'; valid choices: {', '.join(BACKENDS)}")
        self.topk_fraction, self.backend, self.eps_min = topk_fraction, backend, float(eps_min)

    @property
    def columns(self) -> tuple[str, ...]:
        """Pairwise score columns, in order."""
        return tuple(self.pairwise)

    def score(self, clean, perturbed, pair: Pair | None = None) -> list[dict[str, float | str]]:
        """One dict of pairwise scores per image for maps ``(B, H, W)``; ``nan_reason`` says why a similarity is
        undefined (``""`` if every one is defined)."""
        a, b = torch.as_tensor(clean), torch.as_tensor(perturbed)
        cols, reasons = self._similarities(a, b)
        for name in self.pairwise:
            if name not in cols:
                cols[name] = self._change(name, a, b, pair).cpu().tolist()
        return [{**{k: float(cols[k][i]) for k in self.pairwise}, "nan_reason": reasons[i]} for i in range(len(a))]

    def _similarities(self, a: torch.Tensor, b: torch.Tensor) -> tuple[dict[str, list[float]], list[str]]:
        wanted = [n for n in self.pairwise if n in (*_SIMILARITY, "hog_similarity")]
        reference = self.backend == "reference" or (self.backend == "auto" and not a.is_cuda)
        if reference or "hog_similarity" in wanted:
            na, nb = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
        if reference:
            reasons = [similarity.undefined_reason(x, y) or "" for x, y in zip(na, nb)]
        else:
            reasons = ts.undefined_reasons(a, b)
        cols = {}
        for name in wanted:
            if reference or name == "hog_similarity":
                cols[name] = [self._reference(name, x, y) for x, y in zip(na, nb)]
            else:
                cols[name] = self._torch(name, a, b).cpu().tolist()
        return cols, reasons

    def _reference(self, name: str, x: np.ndarray, y: np.ndarray) -> float:
        if name == "topk_intersection":
            return similarity.topk_intersection(x, y, self.topk_fraction)
        return getattr(similarity, name)(x, y)

    def _torch(self, name: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if name == "topk_intersection":
            return ts.topk_intersection(a, b, self.topk_fraction)
        if name in ("spearman_abs", "ssim_abs"):
            return getattr(ts, name.removesuffix("_abs"))(a.abs(), b.abs())
        return getattr(ts, name)(a, b)

    def _change(self, name: str, a: torch.Tensor, b: torch.Tensor, pair: Pair | None) -> torch.Tensor:
        if name in ("rel_change", "com_shift"):
            return getattr(sensitivity, name)(a, b)
        if pair is None:
            raise ValueError(f"{name} needs the inputs and logits of both views")
        if name == "lipschitz_ratio":
            return sensitivity.lipschitz_ratio(a, b, pair.x, pair.x_p)
        if name == "ris_ratio":
            return sensitivity.ris_ratio(a, b, pair.x, pair.x_p, self.eps_min)
        return sensitivity.ros_ratio(a, b, pair.logits, pair.logits_p, self.eps_min)

    @staticmethod
    def aggregate(scores):
        """The third shape: per-image aggregates over a condition's samples (max-sensitivity, ...), reduced from the
        per-sample table that :meth:`score` fills (:func:`harness.metrics.aggregate.aggregate`)."""
        from harness.metrics.aggregate import aggregate

        return aggregate(scores)

    def _darkest(self, images: torch.Tensor) -> torch.Tensor:
        """The darkest-quarter region of ``images``, computed once per batch (every map of it is scored against it)."""
        cached = getattr(self, "_dark", None)
        if cached is None or cached[0] is not images:
            self._dark = (images, regions.darkest(images))
        return self._dark[1]

    def score_maps(self, maps: torch.Tensor, images: torch.Tensor, masks: torch.Tensor | None,
                   suffix: str = "") -> tuple[dict[str, list[float]], list[str]]:
        """Per-map scores of ``maps`` ``(B, H, W)`` for ``images`` ``(B, C, H, W)`` and foreground ``masks``
        ``(B, H, W)`` (None: the data has none): columns ``name + suffix``, and a NaN reason per map."""
        out, reasons = {}, [""] * len(maps)
        for name in self.per_map:
            if name == "dark_share":
                values = regions.mass_share(maps, self._darkest(images))
            elif masks is None:
                values = torch.full((len(maps),), float("nan"), dtype=torch.float64)
                reasons = ["no mask in the data"] * len(maps)
            else:
                values = getattr(localisation, name)(maps, masks.to(maps.device))
            out[name + suffix] = values.cpu().tolist()
        return out, reasons


def _check(requested: list[str], shape: str) -> list[str]:
    valid = names(shape)
    unknown = [n for n in requested if n not in valid]
    if unknown:
        raise UserError(f"unknown {shape} metric(s) {unknown} in metrics.{shape}; valid choices: {', '.join(valid)}")
    return list(requested)


