"""Random noise around each image: the average-case stability of a map.

Yeh et al. 2019 (https://arxiv.org/abs/1901.09392) draw perturbations uniformly from an L∞ ball of radius ``r``
around the input (max-/avg-sensitivity); Alvarez-Melis & Jaakkola 2018 (https://arxiv.org/abs/1806.08049) add
Gaussian noise of standard deviation ``σ`` (local Lipschitz estimate). Both are applied in pixel space,
``x' = x + u``, optionally clipped to ``[0, 1]``, and encoded like the input. Sample ``s`` of image ``i`` is drawn
from a generator seeded by (run seed, noise kind, ``i``, ``s``) only: a resumed run draws the same samples, and every
radius scales the *same* unit draws (common random numbers, so that radii are compared on equal terms).
"""
from __future__ import annotations

from typing import Any

import torch

from harness.common.config_checks import check_choices, check_magnitudes
from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch, Condition, Perturbation, add_in_pixels
from harness.common.schema import CLIP, NOISE, condition_columns
from harness.common.seeding import generators_for, seed_for

#: noise kind → (regime label, unit draw)
#: The family's name (the ``perturbation`` column).
FAMILY = "noise"
KINDS = {
    "uniform": ("uniform noise, L∞ radius", lambda shape, g: torch.rand(shape, generator=g) * 2 - 1),
    "gaussian": ("gaussian noise, σ", lambda shape, g: torch.randn(shape, generator=g)),
}


class NoiseCondition(Condition):
    """``n_samples`` seeded noise draws of one kind and size per image (pixel space, optionally clipped).

    Args:
        kind: ``uniform`` (in the L∞ ball of radius ``radius``) or ``gaussian`` (standard deviation ``radius``).
        radius: The size (``magnitude`` column), pixel units.
        n_samples: Draws per image.
        clip: Clip the noisy image to ``[0, 1]``.
    """

    def __init__(self, kind: str, radius: float, n_samples: int, clip: bool = True) -> None:
        super().__init__(condition_columns(FAMILY, float(radius), KINDS[kind][0], own={NOISE: kind, CLIP: bool(clip)}))
        self.kind, self.radius, self.n_samples, self.clip = kind, float(radius), int(n_samples), bool(clip)

    axis = "r (L∞) or σ, pixel units"

    def noise(self, batch: Batch, sample: int) -> torch.Tensor:
        """The pixel-space noise ``u`` ``(B, C, H, W)`` of draw ``sample`` for every image of ``batch``."""
        draw = KINDS[self.kind][1]
        gens = generators_for(seed_for("noise", batch.seed, self.kind, int(i), sample) for i in batch.image_ids)
        u = torch.stack([draw(batch.x.shape[1:], g) for g in gens])
        return (self.radius * u).to(device=batch.x.device, dtype=batch.x.dtype)

    def transform_inputs(self, batch: Batch, sample: int, explainer=None) -> torch.Tensor:
        x = batch.x + self.noise(batch, sample)
        return batch.encoding.encode(x.clamp(0.0, 1.0) if self.clip else x)

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        """The baseline plus the same noise draw (clipped like the image)."""
        return add_in_pixels(batch.encoding, baseline, self.noise(batch, sample), self.clip)


class Noise(Perturbation):
    """Uniform (L∞ ball) and/or Gaussian noise at several sizes, ``n_samples`` draws per image.

    Args:
        kinds: ``uniform``, ``gaussian`` or both.
        radii: Sizes in pixel units (L∞ radius for uniform, σ for Gaussian), e.g. ``[0.01, 0.05, 0.1, 0.2]``.
        n_samples: Draws per image and size (papers use 50–200; 16–32 keep a CPU run short).
        clip: Clip noisy images to ``[0, 1]``.
    """

    name = FAMILY

    def __init__(self, kinds: Any = ("uniform",), radii: Any = (0.05,), n_samples: int = 16,
                 clip: bool = True) -> None:
        self.kinds = check_choices(kinds, "perturbation.kinds", tuple(KINDS))
        self.radii = check_magnitudes(radii, "perturbation.radii")
        if any(r <= 0 for r in self.radii):
            raise UserError(f"perturbation.radii must be positive, got {self.radii}")
        if int(n_samples) < 1:
            raise UserError(f"perturbation.n_samples must be >= 1, got {n_samples}")
        self.n_samples, self.clip = int(n_samples), bool(clip)

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        return [NoiseCondition(k, r, self.n_samples, self.clip) for k in self.kinds for r in self.radii]
