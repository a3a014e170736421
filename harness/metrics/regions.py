"""Where a map puts its mass: share of the total |attribution| inside a pixel region (batched, on device)."""
from __future__ import annotations

import math

import torch


def darkest(images: torch.Tensor, fraction: float = 0.25) -> torch.Tensor:
    """Boolean ``(B, H, W)`` masks of the ``fraction`` darkest pixels of ``images`` ``(B, C, H, W)``.

    Brightness is the mean over channels; ties are broken by pixel order.
    """
    lum = images.mean(1).flatten(1)
    k = max(1, math.ceil(fraction * lum.shape[1]))
    order = torch.sort(lum, dim=1, stable=True).indices[:, :k]
    mask = torch.zeros_like(lum, dtype=torch.bool).scatter_(1, order, True)
    return mask.view(images.shape[0], *images.shape[2:])


def mass_share(maps: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Share of ``Σ|map|`` inside ``region``, per map ``(B,)`` (NaN for an all-zero map).

    Uniform maps give the region's pixel share; a map that "finds" dark pixels important gives more.
    """
    mass = maps.abs().flatten(1).double()
    total = mass.sum(1)
    inside = (mass * region.flatten(1)).sum(1)
    return torch.where(total > 0, inside / total, torch.full_like(total, float("nan")))
