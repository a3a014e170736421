"""Integrated-Gradients baselines, defined in pixel space ``[0, 1]``.

Each function takes the pixel-space images ``(B, C, H, W)`` being explained and
returns baselines of the same shape. They are encoded like the input; under a
perturbation they are carried through it, stay fixed in model input space, or are
recomputed from the perturbed input (``attribution.baseline_treatments``). Configure them with
``_target_`` and ``_partial_: true`` so that Hydra binds the parameters.
A method with ``baseline_space: model`` uses the function's output directly as a
model-input baseline instead (``constant`` with value 0 there is Captum's default
zero baseline), which stays fixed under every perturbation.
"""
from __future__ import annotations

import math

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


def gaussian(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """The input plus one seeded ``N(0, sigma²)`` noise field, clipped to ``[0, 1]``."""
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(images.shape[1:], generator=gen, dtype=torch.float32) * float(sigma)
    return (images + noise.to(device=images.device, dtype=images.dtype)).clamp(0.0, 1.0)


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of the input (reflect padding, kernel ``2⌈3σ⌉ + 1``)."""
    from torchvision.transforms.functional import gaussian_blur

    k = 2 * math.ceil(3 * float(sigma)) + 1
    return gaussian_blur(images, kernel_size=[k, k], sigma=[float(sigma), float(sigma)])


def training_mean(images: torch.Tensor, train_mean: torch.Tensor) -> torch.Tensor:
    """The mean training image ``(C, H, W)`` for every input (``train_mean`` is bound by the harness)."""
    return train_mean.to(device=images.device, dtype=images.dtype).expand_as(images).clone()


def input_min(images: torch.Tensor) -> torch.Tensor:
    """A constant image at each input's darkest value ("black = the minimum"): a scalar per image."""
    return images.amin(dim=(1, 2, 3), keepdim=True).expand_as(images).clone()


def available() -> list[str]:
    """Names of the baseline functions in this module (for error messages)."""
    import inspect
    import sys

    module = sys.modules[__name__]
    return [n for n, f in inspect.getmembers(module, inspect.isfunction)
            if f.__module__ == __name__ and not n.startswith("_") and n != "available"]
