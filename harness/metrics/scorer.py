"""Score map stability: every similarity between clean and perturbed maps, per image."""
from __future__ import annotations

import numpy as np

from harness.metrics import similarity


class MapScorer:
    """Per-image similarity of clean vs perturbed maps.

    Args:
        topk_fraction: ``k`` of ``topk_intersection`` as a fraction of the pixels (0.1 = top 10%).
    """

    #: Score columns written to ``scores.csv``, in order.
    columns = ("ssim", "spearman", "spearman_abs", "kendall", "topk_intersection")

    def __init__(self, topk_fraction: float = 0.1) -> None:
        if not 0 < topk_fraction <= 1:
            raise ValueError(f"metrics.topk_fraction must be in (0, 1], got {topk_fraction}")
        self.topk_fraction = topk_fraction

    def score(self, clean: np.ndarray, perturbed: np.ndarray) -> list[dict[str, float | str | None]]:
        """One dict of scores per image for maps ``(B, H, W)``; ``nan_reason`` names an undefined score."""
        rows = []
        for a, b in zip(clean, perturbed):
            a, b = a.astype(np.float64), b.astype(np.float64)
            rows.append({
                "ssim": similarity.ssim(a, b),
                "spearman": similarity.spearman(a, b),
                "spearman_abs": similarity.spearman_abs(a, b),
                "kendall": similarity.kendall(a, b),
                "topk_intersection": similarity.topk_intersection(a, b, self.topk_fraction),
                "nan_reason": similarity.undefined_reason(a, b) or "",
            })
        return rows
