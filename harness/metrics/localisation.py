"""Does a map point at the object? Per-map scores against a foreground mask (batched, on the maps' device).

Maps ``(B, H, W)``, masks ``(B, H, W)`` bool; results ``(B,)`` float64, NaN where the mask is empty (no object to
point at), where the map is not finite, for the pointing game where the map is constant (no maximum to point with),
and for relevance mass where the map has no positive relevance.
"""
from __future__ import annotations

import torch

from harness.metrics.precision import is_constant


def pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1 if a pixel where the map reaches its maximum lies inside the mask, else 0 (Zhang et al. 2018,
    https://arxiv.org/abs/1608.00507; ties count if any tied pixel is inside, as in Quantus; no tolerance margin)."""
    flat, inside = maps.detach().flatten(1), masks.flatten(1).bool()
    top = flat == flat.amax(1, keepdim=True)
    hit = (top & inside).any(1).double()
    return torch.where(inside.any(1) & _informative(flat), hit, torch.full_like(hit, float("nan")))


def _informative(flat: torch.Tensor) -> torch.Tensor:
    """``(B,)`` True for a finite map that is not constant up to its precision (a constant map has no maximum to
    point with; :mod:`harness.metrics.precision`)."""
    return torch.isfinite(flat).all(1) & ~is_constant(flat)


def relevance_mass(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of the positive relevance inside the mask, ``Σ_mask max(m, 0) / Σ max(m, 0)`` (relevance mass
    accuracy, Arras et al. 2022, https://arxiv.org/abs/2003.07258). For the default ``sum_abs`` reduction every
    value is positive, so this is the share of ``|attribution|`` on the object."""
    pos = maps.detach().flatten(1).double().clamp_min(0)
    inside = masks.flatten(1).bool()
    total = pos.sum(1)
    share = (pos * inside).sum(1) / total
    ok = inside.any(1) & (total > 0) & torch.isfinite(maps.detach().flatten(1)).all(1)
    return torch.where(ok, share, torch.full_like(share, float("nan")))
