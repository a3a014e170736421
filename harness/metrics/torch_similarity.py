"""Batched map similarities in torch, on the maps' device: the same numbers as scikit-image and SciPy.

Inputs are maps ``(B, H, W)``; outputs ``(B,)`` (NaN where a map is constant or non-finite). Computed
in float64. The reference implementations in :mod:`harness.metrics.similarity` are what the tests
compare against.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.metrics.precision import is_constant


def undefined(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B,)`` True where a map of the pair is non-finite or constant up to its precision
    (:func:`harness.metrics.precision.is_constant`: no normalisation, no ranks)."""
    bad = torch.zeros(a.shape[0], dtype=torch.bool, device=a.device)
    for m in (a, b):
        bad |= ~torch.isfinite(m.flatten(1)).all(1) | is_constant(m)
    return bad


def undefined_reasons(a: torch.Tensor, b: torch.Tensor) -> list[str]:
    """Per pair, why a similarity is undefined ("" if it is defined): the texts of
    :func:`harness.metrics.similarity.undefined_reason`, computed on the maps' device."""
    flags = []
    for m in (a, b):
        flags += [~torch.isfinite(m.flatten(1)).all(1), is_constant(m)]
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


def ssim_map(x: torch.Tensor, y: torch.Tensor, win_size: int = 7, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Local SSIM ``(B, H − win_size + 1, W − win_size + 1)`` of maps ``(B, H, W)`` already scaled to ``[0, 1]``: the
    windows that lie inside the image, as scikit-image's ``full=True`` map once its border is cropped."""
    x, y = x.unsqueeze(1), y.unsqueeze(1)
    pool = lambda t: F.avg_pool2d(t, win_size, stride=1)  # noqa: E731
    ux, uy = pool(x), pool(y)
    n = win_size * win_size
    cov = n / (n - 1)
    vx, vy = cov * (pool(x * x) - ux * ux), cov * (pool(y * y) - uy * uy)
    vxy = cov * (pool(x * y) - ux * uy)
    c1, c2 = k1 ** 2, k2 ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))).squeeze(1)


def ssim(a: torch.Tensor, b: torch.Tensor, win_size: int = 7, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """SSIM of min-max-normalised maps: ``skimage.metrics.structural_similarity(..., data_range=1)``.

    scikit-image averages the SSIM map after cropping ``(win_size − 1) / 2`` pixels at every border; the
    windows centred on the remaining pixels lie inside the image, so a "valid" average pool gives exactly
    its uniform filter there (:func:`ssim_map`). Sample covariance (``N / (N − 1)``), K1 = 0.01, K2 = 0.03.
    """
    s = ssim_map(minmax(a.double()), minmax(b.double()), win_size, k1, k2)
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


def _order_keys(x: torch.Tensor) -> torch.Tensor:
    """int64 keys that order and tie like the float64 values of ``x`` (``-0.0`` and ``0.0`` tie)."""
    i = (x.double() + 0.0).view(torch.int64)  # + 0.0 turns -0.0 into 0.0
    return i ^ ((i >> 63) & 0x7FFF_FFFF_FFFF_FFFF)  # negatives: flip all but the sign bit


def _sort_rows(keys: torch.Tensor) -> torch.Tensor:
    """Per row of int64 ``keys`` ``(B, N)``, the column order that sorts it stably (ties keep their order).

    Two stable sorts of the flattened keys, by key and then by row, rather than one ``sort(dim=1)``: PyTorch
    radix-sorts a 1-D integer tensor, which on a CPU is several times faster than its batched comparison sort.
    """
    n = keys.shape[1]
    flat = keys.flatten().sort(stable=True).indices
    flat = flat[torch.div(flat, n, rounding_mode="floor").sort(stable=True).indices]
    return flat.view(keys.shape) - torch.arange(0, flat.numel(), n, device=keys.device)[:, None]


def _starts(s: torch.Tensor) -> torch.Tensor:
    """True where a value of the sorted rows ``s`` differs from the one before it (and in column 0)."""
    new = torch.ones_like(s, dtype=torch.bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    return new


def _tied_pairs(starts: torch.Tensor) -> torch.Tensor:
    """Σ t(t − 1)/2 over the runs of equal values (``t`` values each) marked by :func:`_starts`, per row:
    every value is tied with the values of its run before it."""
    pos = torch.arange(starts.shape[1], device=starts.device)
    return (pos - (starts * pos).cummax(1).values).sum(1)


def _inversions(v: torch.Tensor, bits: int) -> torch.Tensor:
    """Per row of ``v`` ``(B, N)`` (int64 in ``[0, 2**bits)``), the number of pairs ``i < j`` with ``v[i] > v[j]``.

    A most-significant-bit-first binary radix sort (as in a wavelet tree), one pass per bit ``b`` from the top.
    Before the pass for ``b`` each row is stably sorted by ``v >> (b + 1)``: the values sharing those high bits
    form a contiguous group, in their original order. An inverted pair is counted at the highest bit where its
    values differ: there the first is a 1 and the second a 0 of the same group. So the pass adds, for each 0,
    the 1s before it in its group, then partitions each group stably (0s first), which sorts by ``v >> b``.

    With ``c`` the running count of 1s (inclusive) at position ``p`` of a row, ``first[k]`` the number of values
    below ``k``, and per group ``g`` (values ``[2g·2^b, (2g + 2)·2^b)``) ``ones_before`` (1s in earlier groups)
    and ``mid = first[(2g + 1)·2^b]`` (where its 1s will start): a 0 has ``c − ones_before`` 1s before it in its
    group and moves to ``p − c + ones_before``; a 1 moves to ``mid − 1 − ones_before + c``. One gather from a
    per-group table, a cumsum and a scatter per pass: O(N) work per pass, O(N log N) in all.
    """
    m, n = v.shape
    counts = torch.zeros(m, (1 << bits) + 1, dtype=torch.int64, device=v.device).scatter_add_(1, v, torch.ones_like(v))
    first = counts.cumsum(1) - counts
    pos = torch.arange(n, device=v.device)
    dis = torch.zeros(m, dtype=torch.int64, device=v.device)
    for b in reversed(range(bits)):
        s = 1 << b
        start, mid, end = first[:, 0:-1:2 * s], first[:, s::2 * s], first[:, 2 * s::2 * s]  # per group
        ones = end - mid
        ones_before = ones.cumsum(1) - ones
        high = v >> b
        bit = high & 1
        c = bit.cumsum(1)
        # Σ over 0s of (c − ones_before), with Σ over 1s of c = 1 + 2 + … + (number of 1s)
        k = ones.sum(1)
        dis += c.sum(1) - k * (k + 1) // 2 - ((mid - start) * ones_before).sum(1)
        if b == 0:
            break
        offset = torch.stack((ones_before, mid - 1 - ones_before), 2).flatten(1)  # indexed by v >> b
        zero_pos = pos - c
        c -= zero_pos  # 2c − p: a 1's position minus a 0's, before the offsets
        new = offset.gather(1, high).add_(zero_pos).addcmul_(bit, c)
        v = torch.empty_like(v).scatter_(1, new, v)
    return dis


def _kendall_tau_b(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`kendall` of the rows of ``a``, ``b`` ``(B, N)``, before the NaNs of undefined pairs."""
    kx, ky = _order_keys(a), _order_keys(b)
    n = kx.shape[1]
    by_y = _sort_rows(ky)
    y_starts = _starts(ky.gather(1, by_y))
    kx = kx.gather(1, by_y)
    by_xy = _sort_rows(kx)  # stable: ties in a stay sorted by b
    x_starts = _starts(kx.gather(1, by_xy))
    ranks_y = y_starts.cumsum(1).gather(1, by_xy)  # dense ranks of b (1…N), sorted by (a, b)
    xy_starts = x_starts.clone()
    xy_starts[:, 1:] |= ranks_y[:, 1:] != ranks_y[:, :-1]
    xtie, ytie, ntie = _tied_pairs(x_starts), _tied_pairs(y_starts), _tied_pairs(xy_starts)
    dis = _inversions(ranks_y, n.bit_length())
    tot = n * (n - 1) // 2
    return (tot - xtie - ytie + ntie - 2 * dis).double() / torch.sqrt((tot - xtie).double()) / torch.sqrt(
        (tot - ytie).double())


def kendall(a: torch.Tensor, b: torch.Tensor, chunk_elements: int | None = None) -> torch.Tensor:
    """Kendall's tau-b (``scipy.stats.kendalltau``) in O(N log N) per map, batched over the maps.

    SciPy's algorithm: ``tau_b = (tot − xtie − ytie + ntie − 2·dis) / sqrt((tot − xtie)(tot − ytie))`` with
    ``tot = N(N − 1)/2`` pairs, ``xtie`` / ``ytie`` the pairs tied in ``a`` / ``b``, ``ntie`` those tied in both
    and ``dis`` the discordant pairs: the inversions of the dense ranks of ``b`` once the pixels are sorted by
    ``a``, ties by ``b`` (pairs tied in ``a`` are then in order, so not counted). The sorts are stable radix
    sorts of int64 keys (:func:`_sort_rows`), the inversions an MSD radix sort (:func:`_inversions`): about
    ``log2 N`` passes of O(N) tensor ops each. The counts are exact integers and the last step is SciPy's
    floating-point arithmetic, so the result is SciPy's to within a rounding error (≤ 1 ulp), ties included.

    Maps go through in batches of about ``chunk_elements`` pixels (at least one map), each taking some 15 int64
    copies of its size: by default 2^18 on a CPU, where batches that stay in the cache are the fastest, and 2^24
    elsewhere.
    """
    x, y = a.flatten(1), b.flatten(1)
    if chunk_elements is None:
        chunk_elements = 1 << 18 if x.device.type == "cpu" else 1 << 24
    rows = max(1, chunk_elements // max(1, x.shape[1]))
    parts = [_kendall_tau_b(x[i:i + rows], y[i:i + rows]) for i in range(0, len(x), rows)]
    tau = torch.cat(parts) if parts else x.new_empty(0, dtype=torch.float64)
    return _nan_where(tau.clamp(-1, 1), undefined(a, b))


def topk_membership(m: torch.Tensor, k: int) -> torch.Tensor:
    """``(B, N)`` float64: the probability that each pixel of ``m`` ``(B, N)`` is among the ``k`` largest when ties
    are put in a uniformly random order: 1 above the k-th largest value, ``(k − n_above) / n_tied`` for the pixels
    tied with it, 0 below. Without a tie at the threshold it is the plain top-k indicator."""
    t = m.topk(k, dim=1).values[:, -1:]
    above, tied = m > t, m == t
    share = (k - above.sum(1, keepdim=True)).double() / tied.sum(1, keepdim=True).double()
    return above.double() + tied.double() * share


def topk_intersection(a: torch.Tensor, b: torch.Tensor, fraction: float = 0.1) -> torch.Tensor:
    """Share of the top-``fraction`` pixels (by ``|·|``) of ``a`` that are top pixels of ``b`` (Ghorbani et al. 2019).

    Ties at the top-k threshold are broken by a uniformly random order, independently in each map, in expectation
    (:func:`topk_membership`): ``Σ_i P(i ∈ top_k(a)) · P(i ∈ top_k(b)) / k``, deterministic and never decided by
    pixel index (two maps that are zero over most of the image do not agree on which zeros matter).
    """
    x, y = a.flatten(1).abs(), b.flatten(1).abs()
    k = max(1, int(-(-fraction * x.shape[1] // 1)))
    share = (topk_membership(x, k) * topk_membership(y, k)).sum(1) / k
    return _nan_where(share, undefined(a, b))
