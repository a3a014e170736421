"""A network together with the input encoding it was trained with."""
from __future__ import annotations

import torch
import torch.nn as nn

from harness.models.encoding import Encoding


class EncodedClassifier(nn.Module):
    """``logits = network(encoding(x))`` for pixel-space images ``x``.

    Attributions are taken with respect to the *model input* ``z = encoding(x)``,
    so the harness calls :attr:`network` directly on encoded tensors; this class
    exists so that the encoding can never be separated from the weights.
    """

    def __init__(self, network: nn.Module, encoding: Encoding) -> None:
        super().__init__()
        self.network = network
        self.encoding = encoding

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel space ``(B, C, H, W)`` → model input ``(B, C, H, W)``."""
        return self.encoding.encode(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` for pixel-space images ``(B, C, H, W)``."""
        return self.network(self.encode(x))


@torch.no_grad()
def predict(network: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits ``(N, K)`` of ``network`` on model inputs ``z`` ``(N, C, H, W)``, in batches."""
    network.eval()
    return torch.cat([network(z[i : i + batch_size]) for i in range(0, len(z), batch_size)])


def use_channels_last(network: nn.Module) -> nn.Module:
    """Store weights and feed inputs in channels-last layout (about 2× faster convolutions on CPU).

    Numerically equivalent to the default layout up to float rounding.
    """
    network.to(memory_format=torch.channels_last)
    network.register_forward_pre_hook(_to_channels_last)
    return network


def _to_channels_last(_module: nn.Module, args: tuple) -> tuple:
    x = args[0]
    if x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *args[1:])
