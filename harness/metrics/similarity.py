"""Similarity between two saliency maps ``(H, W)``: pure functions on numpy arrays.

Each returns a float, or NaN when the score is undefined (a constant map, up to the precision of its dtype as
defined in :mod:`harness.metrics.precision`, has no ranks and no min-max normalisation); :func:`undefined_reason`
says why.
The reference implementations are used directly, so the numbers are exactly
``skimage.metrics.structural_similarity`` and ``scipy.stats``.
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from skimage.metrics import structural_similarity

from harness.metrics.precision import is_constant_array


def undefined_reason(a: np.ndarray, b: np.ndarray) -> str | None:
    """Why a similarity of ``a`` and ``b`` is undefined, or None if it is defined."""
    for name, m in (("clean", a), ("perturbed", b)):
        if not np.all(np.isfinite(m)):
            return f"non-finite values in {name} map"
        if is_constant_array(m):
            return f"constant {name} map"
    return None


def minmax(m: np.ndarray) -> np.ndarray:
    """Rescale ``m`` to ``[0, 1]`` (NaN everywhere if it is constant)."""
    lo, span = m.min(), np.ptp(m)
    return (m - lo) / span if span > 0 else np.full_like(m, np.nan, dtype=float)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of min-max-normalised maps (Wang et al. 2004, https://doi.org/10.1109/TIP.2003.819861).

    Exactly ``skimage.metrics.structural_similarity(minmax(a), minmax(b), data_range=1.0)``
    with scikit-image's defaults (7×7 uniform window, K1=0.01, K2=0.03).
    """
    if undefined_reason(a, b):
        return float("nan")
    return float(structural_similarity(minmax(a).astype(np.float64), minmax(b).astype(np.float64), data_range=1.0))


def ssim_abs(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`ssim` of ``|a|`` and ``|b|``: the attribution's magnitude, whatever its sign (Adebayo et al. 2018)."""
    return ssim(np.abs(a), np.abs(b))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the pixel values (``scipy.stats.spearmanr``, average ranks for ties)."""
    if undefined_reason(a, b):
        return float("nan")
    return float(stats.spearmanr(a.ravel(), b.ravel()).statistic)


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of ``|a|`` and ``|b|`` (Adebayo et al. 2018, https://arxiv.org/abs/1810.03292)."""
    return spearman(np.abs(a), np.abs(b))


def kendall(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b (``scipy.stats.kendalltau``, ties accounted for)."""
    if undefined_reason(a, b):
        return float("nan")
    return float(stats.kendalltau(a.ravel(), b.ravel(), variant="b").statistic)


def topk_membership(m: np.ndarray, fraction: float) -> np.ndarray:
    """Per pixel of ``|m|`` (flattened), the probability of being among the ``ceil(fraction · size)`` largest when
    ties are ordered uniformly at random: 1 above the k-th largest value, ``(k − n_above) / n_tied`` for the pixels
    tied with it, 0 below."""
    v = np.abs(m).ravel()
    k = max(1, int(np.ceil(fraction * v.size)))
    t = np.sort(v)[::-1][k - 1]
    above, tied = v > t, v == t
    return above + tied * (k - above.sum()) / tied.sum()


def topk_intersection(a: np.ndarray, b: np.ndarray, fraction: float = 0.1) -> float:
    """Fraction of the top-``fraction`` pixels (by ``|·|``) of ``a`` that are also top pixels of ``b`` (Ghorbani et
    al. 2019), ties at the threshold broken by a random order in expectation: ``Σ P_a · P_b / k``
    (:func:`topk_membership`)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"top-k fraction must be in (0, 1], got {fraction}")
    if undefined_reason(a, b):
        return float("nan")
    k = max(1, int(np.ceil(fraction * a.size)))
    return float((topk_membership(a, fraction) * topk_membership(b, fraction)).sum() / k)


def hog_similarity(a: np.ndarray, b: np.ndarray, pixels_per_cell: int | None = None) -> float:
    """Pearson correlation of the HOG descriptors of the min-max-normalised maps (Adebayo et al. 2018,
    https://arxiv.org/abs/1810.03292; ``skimage.feature.hog`` with 9 orientations, 3×3-cell blocks, L2-Hys).

    The paper's cells are 16×16 pixels; maps smaller than 64 pixels a side use a quarter of their side so that a
    block still fits. (Adebayo et al.'s released notebook correlates the descriptors by Spearman's rank instead.)
    """
    from skimage.feature import hog

    if undefined_reason(a, b):
        return float("nan")
    cell = pixels_per_cell or max(2, min(16, min(a.shape) // 4))
    if min(a.shape) // cell < 3:  # not one 3×3-cell block fits
        return float("nan")
    ha = hog(minmax(a), pixels_per_cell=(cell, cell), cells_per_block=(3, 3), feature_vector=True)
    hb = hog(minmax(b), pixels_per_cell=(cell, cell), cells_per_block=(3, 3), feature_vector=True)
    if np.ptp(ha) == 0 or np.ptp(hb) == 0:
        return float("nan")
    return float(stats.pearsonr(ha, hb).statistic)
