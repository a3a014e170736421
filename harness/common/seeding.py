"""Seeds: one per random draw, derived from the run's seed and what the draw is for.

Every random draw of a run (noise, random-sign perturbations, random maps, SmoothGrad's samples, randomised
layers) is seeded by :func:`seed_for` from the run's seed and plain values naming the draw (its kind, the image,
the sample), and made on the CPU by :func:`generators_for`: a resumed run draws the same numbers, and so does every
batch size and device.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch


def seed_for(*parts: Any) -> int:
    """A 62-bit seed from any values (stable across processes and platforms, unlike ``hash``)."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:15], 16)


def generators_for(seeds: Iterable[int]) -> list[torch.Generator]:
    """One CPU generator per seed (draws are made on the CPU, so every device gets the same numbers)."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch; deterministic kernels where PyTorch has them."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
