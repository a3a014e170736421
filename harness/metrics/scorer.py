"""Score map stability: every similarity between clean and perturbed maps, per image."""
from __future__ import annotations

import numpy as np
import torch

from harness.errors import UserError
from harness.metrics import similarity
from harness.metrics import torch_similarity as ts

BACKENDS = ("auto", "torch", "reference")


class MapScorer:
    """Per-image similarity of clean vs perturbed maps.

    Args:
        topk_fraction: ``k`` of ``topk_intersection`` as a fraction of the pixels (0.1 = top 10%).
        backend: ``reference``: scikit-image / SciPy, one map at a time on the CPU; ``torch``: batched
            on the maps' device (:mod:`harness.metrics.torch_similarity`, same numbers); ``auto``: torch for
            maps on a GPU, the reference on a CPU (where it is as fast: see experiments/throughput).
    """

    #: Score columns written to ``scores.csv``, in order.
    columns = ("ssim", "spearman", "spearman_abs", "kendall", "topk_intersection")

    def __init__(self, topk_fraction: float = 0.1, backend: str = "auto") -> None:
        if not 0 < topk_fraction <= 1:
            raise UserError(f"metrics.topk_fraction must be in (0, 1], got {topk_fraction}")
        if backend not in BACKENDS:
            raise UserError(f"unknown metrics.backend '{backend}'; valid choices: {', '.join(BACKENDS)}")
        self.topk_fraction = topk_fraction
        self.backend = backend

    def score(self, clean, perturbed) -> list[dict[str, float | str]]:
        """One dict of scores per image for maps ``(B, H, W)`` (tensors or arrays); ``nan_reason`` says why a
        score is undefined."""
        a, b = torch.as_tensor(clean), torch.as_tensor(perturbed)
        if self.backend == "reference" or (self.backend == "auto" and not a.is_cuda):
            na, nb = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
            reasons = [similarity.undefined_reason(x, y) or "" for x, y in zip(na, nb)]
            cols = {name: [self._reference(name, x, y) for x, y in zip(na, nb)] for name in self.columns}
        else:
            reasons = ts.undefined_reasons(a, b)
            cols = {
                "ssim": ts.ssim(a, b), "spearman": ts.spearman(a, b), "spearman_abs": ts.spearman(a.abs(), b.abs()),
                "kendall": ts.kendall(a, b),
                "topk_intersection": ts.topk_intersection(a, b, self.topk_fraction),
            }
            cols = {k: torch.as_tensor(v).cpu().tolist() if torch.is_tensor(v) else v for k, v in cols.items()}
        return [{**{k: float(cols[k][i]) for k in self.columns}, "nan_reason": reasons[i]} for i in range(len(a))]

    def _reference(self, name: str, x: np.ndarray, y: np.ndarray) -> float:
        if name == "topk_intersection":
            return similarity.topk_intersection(x, y, self.topk_fraction)
        return getattr(similarity, name)(x, y)
