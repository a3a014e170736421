"""Integrated-Gradients baselines, defined in pixel space ``[0, 1]``.

Each function takes the pixel-space images ``(B, C, H, W)`` being explained and
returns baselines of the same shape. They are encoded like the input; under a
perturbation they either pass through it or stay fixed in model input space
(``attribution.baseline_follows_perturbation``). Configure them with
``_target_`` and ``_partial_: true`` so that Hydra binds the parameters.
"""
from __future__ import annotations

import torch


def constant(images: torch.Tensor, value: float) -> torch.Tensor:
    """A uniform image of ``value`` (0 = black, 1 = white)."""
    return torch.full_like(images, float(value))


def uniform(images: torch.Tensor, seed: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """One seeded uniform-noise image on ``[low, high)``, the same for every input.

    The draw depends only on ``seed`` and the image shape, so every batch, every
    run and every perturbed copy sees the same random baseline.
    """
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.rand(images.shape[1:], generator=gen, dtype=torch.float32) * (high - low) + low
    return noise.to(device=images.device, dtype=images.dtype).expand_as(images).clone()
