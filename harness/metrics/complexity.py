"""The complexity of a map: the entropy of its discrete histogram and its rise when the network is randomised, the
entropy of its fractional contributions (Bhatt et al. 2020), and its effective complexity (Nguyen & Martínez 2020).

Three measures, easily confused:

- :func:`histogram_entropy` (``map_entropy``): the entropy of the histogram of the map's *values* (below). It is
  neither of the two measures that follow: it does not look at where the mass is, only at how the values spread.
- :func:`fractional_entropy` (``complexity``): Bhatt et al., "Evaluating and Aggregating Feature-based Model
  Explanations", IJCAI 2020 (https://arxiv.org/abs/2005.00631): the Shannon entropy of the *fractional
  contribution distribution* ``P_g(i) = |g_i| / Σ_j |g_j|`` over the ``N`` pixels, ``−Σ_i P_g(i) ln P_g(i)``:
  ``ln N`` for a uniform map, 0 for a map with all its mass on one pixel (lower: simpler). Quantus's
  ``Complexity``.
- :func:`effective_complexity` (``effective_complexity``): Nguyen & Martínez, "On quantitative aspects of model
  interpretability", 2020 (https://arxiv.org/abs/2007.07584): the number of features whose attribution is
  above a threshold ``ε``, ``|{i : |g_i| > ε}|``, here (as Quantus's ``EffectiveComplexity`` with its default
  normalisation) for the map divided by its largest ``|value|``, so that ``ε`` is a share of the map's peak and
  methods in different units are compared on one scale (lower: fewer features matter).

The histogram entropy:

Efficient MPRT (Hedström et al., "Sanity Checks Revisited: An Exploration to Repair the Model Parameter
Randomisation Test", XAI in Action workshop, NeurIPS 2023, https://arxiv.org/abs/2401.06465): instead of comparing
the trained network's map with the randomised network's pixel by pixel, compare their *complexity*. A map that
explains a trained network concentrates on a few features; once every layer is randomised, a map that depends on
the network should become noise-like, and its histogram spread out. The score is the relative rise of the
discrete entropy from the trained to the fully randomised network, ``(H(Φ') − H(Φ)) / H(Φ)``, one number per image
and method (higher: the map reacts more to the randomisation).

``H`` is Quantus's ``discrete_entropy`` (0.6): the Shannon entropy (nats) of the histogram of the map's values in
``n_bins`` equal bins spanning its own range ``[min, max]`` (100 bins by default, as Quantus when no bin rule is
set). The bins follow ``numpy.histogram`` exactly (edges from ``linspace`` in the map's dtype, the last bin closed),
so the counts are NumPy's. It is invariant to any affine rescaling of the map (so normalisation does not matter),
0 for a constant map, and at most ``log(n_bins)`` (a map whose values fill the bins evenly).

A map that is constant up to its precision (:func:`harness.metrics.precision.is_constant`) has entropy 0: its
rounding noise is no pattern (NumPy would histogram the last bits).
"""
from __future__ import annotations

import torch

from harness.metrics.precision import is_constant


def histogram_counts(maps: torch.Tensor, n_bins: int = 100) -> torch.Tensor:
    """``(B, n_bins)`` float64 counts of each map ``(B, ...)`` in ``n_bins`` equal bins over its own range, bin by bin
    as ``numpy.histogram(map, bins=n_bins)``."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    a = maps.detach().flatten(1)
    a = a if a.is_floating_point() else a.double()
    lo, hi = a.amin(1, keepdim=True), a.amax(1, keepdim=True)
    same = lo == hi
    lo, hi = torch.where(same, lo - 0.5, lo), torch.where(same, hi + 0.5, hi)
    step = (hi - lo) / n_bins
    edges = torch.arange(n_bins + 1, dtype=a.dtype, device=a.device) * step + lo  # numpy.linspace, in a's dtype
    edges[:, -1:] = hi
    idx = ((a - lo) / (hi - lo) * n_bins).long()
    idx = idx - (idx == n_bins).long()
    idx = idx - (a < edges.gather(1, idx)).long()  # NumPy's correction within ~1 ulp of an edge
    idx = idx + ((a >= edges.gather(1, idx + 1)) & (idx != n_bins - 1)).long()
    counts = torch.zeros(len(a), n_bins, dtype=torch.float64, device=a.device)
    return counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float64))


def histogram_entropy(maps: torch.Tensor, n_bins: int = 100) -> torch.Tensor:
    """``(B,)`` the Shannon entropy (nats) of each map's histogram (Quantus's ``discrete_entropy``,
    ``scipy.stats.entropy`` of ``numpy.histogram``'s counts); 0 for a map constant up to precision."""
    p = histogram_counts(maps, n_bins)
    p = p / p.sum(1, keepdim=True)
    h = -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(1)
    return torch.where(is_constant(maps).to(h.device), torch.zeros_like(h), h)


def entropy_rise(clean: torch.Tensor, perturbed: torch.Tensor, n_bins: int = 100) -> torch.Tensor:
    """``(H(perturbed) − H(clean)) / H(clean)`` per map pair ``(B, ...)`` (efficient MPRT's score when ``perturbed``
    explains the fully randomised network). A constant clean map (``H = 0``): 0 if the perturbed map is constant
    too (its complexity did not change: the constant-map control fails the test), else NaN (an unbounded rise;
    Quantus divides by zero)."""
    h0, h1 = histogram_entropy(clean, n_bins), histogram_entropy(perturbed, n_bins)
    undefined = torch.where(h1 > 0, torch.full_like(h0, float("nan")), torch.zeros_like(h0))
    return torch.where(h0 > 0, (h1 - h0) / torch.where(h0 > 0, h0, torch.ones_like(h0)), undefined)


def fractional_entropy(maps: torch.Tensor) -> torch.Tensor:
    """Complexity (Bhatt et al. 2020): ``−Σ_i p_i ln p_i`` with ``p = |map| / Σ |map|``, per map ``(B, ...)`` →
    ``(B,)`` float64 nats (``0 ln 0 = 0``); NaN for an all-zero map (no distribution). Quantus 0.6 computes
    ``−Σ p ln(p + 1e-12)``, within ``N · 1e-12`` of this."""
    a = maps.detach().abs().flatten(1).double()
    total = a.sum(1, keepdim=True)
    p = a / torch.where(total > 0, total, torch.ones_like(total))
    h = -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum(1)
    return torch.where(total[:, 0] > 0, h, torch.full_like(h, float("nan")))


def effective_complexity(maps: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Effective complexity (Nguyen & Martínez 2020): how many pixels have ``|map| / max |map| > eps``, per map
    ``(B, ...)`` → ``(B,)`` float64 (0 for an all-zero map: no pixel matters). Quantus 0.6's
    ``EffectiveComplexity`` with ``normalise=True, abs=True`` (maps normalised one at a time; Quantus divides a
    batch by the largest value over the whole batch)."""
    a = maps.detach().abs().flatten(1).double()
    top = a.amax(1, keepdim=True)
    scaled = a / torch.where(top > 0, top, torch.ones_like(top))
    return (scaled > eps).sum(1).double()
