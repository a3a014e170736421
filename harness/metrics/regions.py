"""Where a map puts its mass: share of the total |attribution| inside a pixel region."""
from __future__ import annotations

import numpy as np


def darkest(image: np.ndarray, fraction: float = 0.25) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the ``fraction`` darkest pixels of ``image`` ``(C, H, W)`` (mean over channels)."""
    lum = image.mean(axis=0)
    k = max(1, int(np.ceil(fraction * lum.size)))
    mask = np.zeros(lum.size, dtype=bool)
    mask[np.argsort(lum.ravel(), kind="stable")[:k]] = True
    return mask.reshape(lum.shape)


def mass_share(m: np.ndarray, region: np.ndarray) -> float:
    """Share of ``Σ|m|`` that falls inside ``region`` (NaN for an all-zero map).

    Uniform maps give ``region.mean()``; a map that "finds" dark pixels important gives more.
    """
    total = np.abs(m).sum()
    return float(np.abs(m)[region].sum() / total) if total > 0 else float("nan")
