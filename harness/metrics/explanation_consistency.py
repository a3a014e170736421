"""Consistency and Sufficiency (Dasgupta et al. 2022): do inputs with the same (or a close) explanation get the same
prediction?

Dasgupta, Frost & Moshkovitz, "Framework for Evaluating Faithfulness of Local Explanations", ICML 2022
(https://arxiv.org/abs/2202.00734), define the consistency of an explainer over a data distribution as the
probability that two inputs with the same explanation have the same prediction,
``P(f(x) = f(x') | e(x) = e(x'))`` (higher: the explanation determines the prediction). It needs discrete
explanations and pairs of inputs, so here:

- **discretisation** (:func:`discretise`): a map's explanation ``e(x)`` is the set of the ``top`` cells with the most
  ``|map|`` mass on a ``grid × grid`` grid (ties by cell order): "where the map points". Quantus 0.6's default,
  ``top_n_sign``, hashes the signs of the map's *first* ``n`` pixels in memory order (its top-left corner, all
  positive after its ``abs``), not its top-``n``: nearly every map gets one label;
- **pairs** (:func:`prediction_consistency`): the other images of the same batch, for the same method and view
  (the loop scores a batch's maps together). Image ``i``'s value is the share of the images ``j ≠ i`` with
  ``e(x_j) = e(x_i)`` that have ``f(x_j) = f(x_i)``, NaN when no other image shares its explanation; the mean over
  images with a value is the batch's estimate. It depends on which images share a batch (``data.batch_size`` and
  the data's order), as Quantus's batch score does; Quantus scores an image without a partner 0 rather than NaN.

Sufficiency (:func:`sufficiency`) replaces "the same discrete explanation" by "an explanation within a distance":
image ``j`` is ``i``'s partner when the standardised Euclidean distance of their maps (``|map|`` divided by its own
peak, each pixel scaled by its variance over the batch) is at most ``threshold`` times the batch's largest such
distance, as Quantus 0.6's ``Sufficiency`` (``seuclidean``, ``normalise_by_max`` of the distance matrix, threshold
0.6). Image ``i``'s value is again the share of its partners that get its prediction (the paper's local sufficiency
of the explanation "maps like mine"). A pixel with the same value in every map of the batch adds nothing to any
distance and is left out; SciPy's ``seuclidean`` divides it by a zero variance and makes every distance NaN, so
Quantus then scores every image 0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def discretise(maps: torch.Tensor, grid: int = 4, top: int = 1) -> torch.Tensor:
    """``(B, grid²)`` bool: the ``top`` cells of each map ``(B, H, W)`` with the most ``|map|`` mass on a
    ``grid × grid`` grid (cells of ``adaptive_avg_pool2d``; ties by cell order)."""
    mass = F.adaptive_avg_pool2d(maps.detach().abs().double().unsqueeze(1), grid).flatten(1)
    order = torch.sort(mass, dim=1, descending=True, stable=True).indices[:, :top]
    return torch.zeros_like(mass, dtype=torch.bool).scatter_(1, order, True)


def prediction_consistency(codes: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Per image ``(B,)`` float64: the share of the other images with the same code ``(B, D)`` whose prediction
    ``(B,)`` is its own; NaN without such an image."""
    same_e = (codes.unsqueeze(0) == codes.unsqueeze(1)).all(2)
    same_e.fill_diagonal_(False)
    same_f = pred.view(1, -1) == pred.view(-1, 1)
    n = same_e.sum(1).double()
    agree = (same_e & same_f).sum(1).double()
    return torch.where(n > 0, agree / n.clamp_min(1), torch.full_like(n, float("nan")))


def sufficiency(maps: torch.Tensor, pred: torch.Tensor, threshold: float = 0.6) -> torch.Tensor:
    """Per image ``(B,)`` float64: the share of the other images of the batch whose map ``(B, H, W)`` lies within
    ``threshold`` of its own (standardised Euclidean distance of the peak-normalised ``|map|``, divided by the
    batch's largest distance) whose prediction ``(B,)`` is its own; NaN without such an image (or with one image)."""
    a = maps.detach().abs().double().flatten(1)
    peak = a.amax(1, keepdim=True)
    a = torch.where(peak > 0, a / peak.clamp_min(torch.finfo(a.dtype).tiny), a)
    if len(a) < 2:
        return torch.full((len(a),), float("nan"), dtype=torch.float64, device=a.device)
    var = a.var(0, unbiased=True)
    varies = var > 0
    z = a[:, varies] / var[varies].sqrt()
    dist = torch.cdist(z, z)
    dist.fill_diagonal_(0.0)
    top = dist.max()
    close = dist <= threshold * top if top > 0 else torch.ones_like(dist, dtype=torch.bool)
    close.fill_diagonal_(False)
    same_f = pred.view(1, -1).to(a.device) == pred.view(-1, 1).to(a.device)
    n = close.sum(1).double()
    agree = (close & same_f).sum(1).double()
    return torch.where(n > 0, agree / n.clamp_min(1), torch.full_like(n, float("nan")))
