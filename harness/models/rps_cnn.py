"""The rock-paper-scissors CNN of the seed blog post, parameterised.

Six 3×3 convolutions in three blocks, each block followed by 2×2 max-pooling,
then a three-layer MLP. At ``image_size=150, width=1`` it is the blog's network
exactly (first linear layer 82944 → 1024).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

_CONV_CHANNELS = (32, 64, 128, 128, 256, 256)
_HIDDEN = (1024, 512)


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return int(h), int(w)


def build_rps_cnn(
    image_size: int | Sequence[int] = 64,
    width: float = 0.5,
    in_channels: int = 3,
    num_classes: int = 3,
) -> nn.Sequential:
    """Build the network (model input space → logits).

    Args:
        image_size: Input height and width (an int for square images).
        width: Multiplier on every layer's width (1.0 = the blog's network).
        in_channels: Input channels.
        num_classes: Output logits.

    Returns:
        ``nn.Sequential`` mapping ``(B, in_channels, H, W)`` to ``(B, num_classes)``.
    """
    h, w = _size(image_size)
    if min(h, w) < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    ch = [max(1, round(c * width)) for c in _CONV_CHANNELS]
    layers: list[nn.Module] = []
    prev = in_channels
    for i, c in enumerate(ch):
        layers += [nn.Conv2d(prev, c, kernel_size=3, padding=1), nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2, 2))
        prev = c
    flat = prev * (h // 2 // 2 // 2) * (w // 2 // 2 // 2)
    hidden = [max(1, round(n * width)) for n in _HIDDEN]
    layers += [nn.Flatten(), nn.Linear(flat, hidden[0]), nn.ReLU()]
    layers += [nn.Linear(hidden[0], hidden[1]), nn.ReLU(), nn.Linear(hidden[1], num_classes)]
    return nn.Sequential(*layers)
