"""scikit-learn's bundled handwritten digits (real data, offline), upscaled.

1797 grayscale 8×8 digits (0-9) from the UCI optical-recognition data set, scaled to ``[0, 1]`` and
bilinearly upscaled to ``image_size``. The MNIST-like setting of Kindermans et al. (2017), small
enough to train a CNN in seconds on a CPU.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from harness.data.base import ImageSet, ImageSplits


def make_splits(image_size: int | Sequence[int] = 32, val_fraction: float = 0.15, test_fraction: float = 0.15,
                seed: int = 0) -> ImageSplits:
    """Digits as ``(N, 1, H, W)`` images in ``[0, 1]``, randomly split by ``seed``; the mask is the ink (> 0.3)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))
    n_test, n_val = int(round(test_fraction * len(x))), int(round(val_fraction * len(x)))
    parts = [order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]]
    test, val, train = (ImageSet(x[i], y[i], x[i, 0] > 0.3) for i in parts)
    return ImageSplits(train, val, test, tuple(str(d) for d in range(10)))
