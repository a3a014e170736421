"""Batched map similarities in torch, on the maps' device: the same numbers as scikit-image and SciPy.

Inputs are maps ``(B, H, W)``; outputs ``(B,)`` (NaN where a map is constant or non-finite). Computed
in float64. The reference implementations in :mod:`harness.metrics.similarity` are what the tests
compare against.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def undefined(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B,)`` True where a map of the pair is non-finite or constant (no normalisation, no ranks)."""
    bad = torch.zeros(a.shape[0], dtype=torch.bool, device=a.device)
    for m in (a, b):
        flat = m.flatten(1)
        finite = torch.isfinite(flat).all(1)
        bad |= ~finite | (flat.amax(1) == flat.amin(1))
    return bad


def undefined_reasons(a: torch.Tensor, b: torch.Tensor) -> list[str]:
    """Per pair, why a similarity is undefined ("" if it is defined): the texts of
    :func:`harness.metrics.similarity.undefined_reason`, computed on the maps' device."""
    flags = []
    for m in (a, b):
        flat = m.flatten(1)
        finite = torch.isfinite(flat).all(1)
        flags += [~finite, finite & (flat.amax(1) == flat.amin(1))]
    nonfinite_a, const_a, nonfinite_b, const_b = (f.tolist() for f in flags)
    texts = []
    for i in range(len(nonfinite_a)):
        texts.append("non-finite values in clean map" if nonfinite_a[i] else "constant clean map" if const_a[i]
                     else "non-finite values in perturbed map" if nonfinite_b[i]
                     else "constant perturbed map" if const_b[i] else "")
    return texts


def _nan_where(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, torch.full_like(values, float("nan")), values)


def minmax(m: torch.Tensor) -> torch.Tensor:
    """Rescale each map ``(B, H, W)`` to ``[0, 1]``."""
    flat = m.flatten(1)
    lo, hi = flat.amin(1)[:, None, None], flat.amax(1)[:, None, None]
    return (m - lo) / (hi - lo)


def ssim(a: torch.Tensor, b: torch.Tensor, win_size: int = 7, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """SSIM of min-max-normalised maps: ``skimage.metrics.structural_similarity(..., data_range=1)``.

    scikit-image averages the SSIM map after cropping ``(win_size − 1) / 2`` pixels at every border; the
    windows centred on the remaining pixels lie inside the image, so a "valid" average pool gives exactly
    its uniform filter there. Sample covariance (``N / (N − 1)``), K1 = 0.01, K2 = 0.03.
    """
    x, y = minmax(a.double()).unsqueeze(1), minmax(b.double()).unsqueeze(1)
    pool = lambda t: F.avg_pool2d(t, win_size, stride=1)  # noqa: E731
    ux, uy = pool(x), pool(y)
    n = win_size * win_size
    cov = n / (n - 1)
    vx, vy = cov * (pool(x * x) - ux * ux), cov * (pool(y * y) - uy * uy)
    vxy = cov * (pool(x * y) - ux * uy)
    c1, c2 = k1 ** 2, k2 ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    return _nan_where(s.flatten(1).mean(1), undefined(a, b))


def rankdata(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (1..N, ties share their mean rank) along dim 1 of ``(B, N)``, like ``scipy.stats.rankdata``."""
    s = x.sort(1).values.contiguous()
    lo = torch.searchsorted(s, x.contiguous(), right=False)
    hi = torch.searchsorted(s, x.contiguous(), right=True)
    return (lo + hi + 1).double() / 2


def _pearson(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xm, ym = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    return (xm * ym).sum(1) / torch.sqrt((xm * xm).sum(1) * (ym * ym).sum(1))


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rho of the pixel values (``scipy.stats.spearmanr``)."""
    r = _pearson(rankdata(a.flatten(1).double()), rankdata(b.flatten(1).double()))
    return _nan_where(r.clamp(-1, 1), undefined(a, b))


def _tied_pairs(x: torch.Tensor) -> torch.Tensor:
    s = x.sort(1).values.contiguous()
    equal = torch.searchsorted(s, x.contiguous(), right=True) - torch.searchsorted(s, x.contiguous(), right=False)
    return (equal - 1).double().sum(1) / 2


def kendall(a: torch.Tensor, b: torch.Tensor, chunk_elements: int = 1 << 24) -> torch.Tensor:
    """Kendall's tau-b (``scipy.stats.kendalltau``), by counting all pairs in chunks: O(N²) work per map.

    Meant for GPUs; on a CPU SciPy's O(N log N) algorithm is faster (the scorer uses it there). Each
    chunk holds about ``chunk_elements`` pair signs (×8 bytes, a few times over).
    """
    x, y = a.flatten(1).double(), b.flatten(1).double()
    n = x.shape[1]
    rows = max(1, chunk_elements // (n * x.shape[0]))
    s = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for i in range(0, n, rows):
        dx = torch.sign(x[:, i:i + rows, None] - x[:, None, :])
        dy = torch.sign(y[:, i:i + rows, None] - y[:, None, :])
        s += (dx * dy).sum((1, 2))
    pairs = n * (n - 1) / 2
    tau = (s / 2) / torch.sqrt((pairs - _tied_pairs(x)) * (pairs - _tied_pairs(y)))
    return _nan_where(tau.clamp(-1, 1), undefined(a, b))


def topk_intersection(a: torch.Tensor, b: torch.Tensor, fraction: float = 0.1) -> torch.Tensor:
    """Share of the top-``fraction`` pixels (by ``|·|``, stable ties) of ``a`` that are top pixels of ``b``."""
    x, y = a.flatten(1).abs(), b.flatten(1).abs()
    k = max(1, int(-(-fraction * x.shape[1] // 1)))
    top = lambda t: torch.zeros_like(t, dtype=torch.bool).scatter_(  # noqa: E731
        1, torch.sort(-t, dim=1, stable=True).indices[:, :k], True)
    share = (top(x) & top(y)).sum(1).double() / k
    return _nan_where(share, undefined(a, b))
