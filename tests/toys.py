"""Small networks the tests share (``from toys import tiny_cnn``; ``tests/`` is on the path through its conftest)."""
from __future__ import annotations

import torch
import torch.nn as nn


def tiny_cnn(width: int = 4, classes: int = 3, head: str = "avg", size: int = 8, seed: int = 0) -> nn.Module:
    """Two 3×3 convolutions (zero padding) with ReLUs on ``(B, 3, size, size)`` inputs, then a linear layer on
    ``head``: ``avg`` global average pooling, or ``max`` 2×2 max pooling and the flattened features. Weights from
    ``torch.manual_seed(seed)``; in eval mode."""
    torch.manual_seed(seed)
    body = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    if head == "avg":
        tail = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes)]
    elif head == "max":
        tail = [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(width * (size // 2) ** 2, classes)]
    else:
        raise ValueError(f"head must be 'avg' or 'max', got {head!r}")
    return nn.Sequential(*body, *tail).eval()
