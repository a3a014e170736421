"""Sparseness of a map: the Gini index of its absolute values (Chalasani et al. 2020, "Concise Explanations of Neural
Networks using Adversarial Training", https://arxiv.org/abs/1810.06583; Quantus' ``Sparseness``).

``G = Σ_i (2i − n − 1) a_(i) / (n Σ_i a_i)`` for the ``n`` values ``a = |map|`` sorted ascending (``a_(1) ≤ … ≤
a_(n)``): 0 when every pixel has the same mass, ``1 − 1/n`` when one pixel has it all. Batched, on the maps' device.
"""
from __future__ import annotations

import torch


def gini(maps: torch.Tensor) -> torch.Tensor:
    """The Gini index of ``|maps|`` per map ``(B,)`` for maps ``(B, H, W)`` (0 for an all-zero map: no inequality)."""
    a = maps.detach().abs().flatten(1).double().sort(dim=1).values
    n = a.shape[1]
    weights = 2 * torch.arange(1, n + 1, device=a.device, dtype=a.dtype) - n - 1
    total = a.sum(1)
    return torch.where(total > 0, (a * weights).sum(1) / (n * total.clamp_min(1e-300)), torch.zeros_like(total))
