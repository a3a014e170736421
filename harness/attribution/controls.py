"""Control "methods": maps that carry no information about the network or the image.

Scored like a method in every table, they show what a metric says about an explanation that explains nothing
(e.g. a constant map never changes, so its sensitivity is 0, "perfectly stable"; an independent random map has
SSIM ≈ 0 with anything). Adebayo et al. (2018) use such a random-map baseline in their sanity checks.
"""
from __future__ import annotations

import torch

from harness.attribution.methods import Method
from harness.common.seeding import generators_for, seed_for


class RandomMap(Method):
    """An independent uniform random map ``(B, 1, H, W)`` per image and view, seeded (seeds column 1)."""

    control = True

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        view_seeds = seeds[:, 1].tolist() if seeds is not None else list(range(len(z)))
        gens = generators_for(seed_for("random_map", int(s)) for s in view_seeds)
        maps = torch.stack([torch.rand((1, *z.shape[2:]), generator=g) for g in gens])
        return maps.to(device=z.device, dtype=z.dtype)


class ConstantMap(Method):
    """The same constant map (all ones) ``(B, 1, H, W)`` for every input."""

    control = True

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        return torch.ones((len(z), 1, *z.shape[2:]), device=z.device, dtype=z.dtype)
