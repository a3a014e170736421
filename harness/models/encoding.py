"""Input encodings: the per-channel affine map from pixel space to model input space.

An encoding is ``z = scale ⊙ x + offset`` with ``x`` in pixel space ``[0, 1]``.
It travels with the model (it is saved in the checkpoint), because attributions
are gradients with respect to ``z``: Input×Gradient, for instance, depends on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.common.errors import UserError

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

#: name -> (scale, offset) per channel, for 3-channel images.
ENCODINGS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "unit": ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    "imagenet": (
        tuple(1.0 / s for s in _IMAGENET_STD),
        tuple(-m / s for m, s in zip(_IMAGENET_MEAN, _IMAGENET_STD)),
    ),
    "symmetric": ((2.0, 2.0, 2.0), (-1.0, -1.0, -1.0)),
    "byte": ((255.0, 255.0, 255.0), (0.0, 0.0, 0.0)),
}


@dataclass(frozen=True)
class Encoding:
    """A named per-channel affine encoding ``z = scale ⊙ x + offset``.

    Attributes:
        name: One of :data:`ENCODINGS`.
        scale: ``(C,)`` per-channel factor ``a``.
        offset: ``(C,)`` per-channel offset ``c``.
    """

    name: str
    scale: torch.Tensor
    offset: torch.Tensor

    @classmethod
    def named(cls, name: str, channels: int = 3) -> "Encoding":
        """The encoding called ``name`` for images with ``channels`` channels."""
        if name not in ENCODINGS:
            raise UserError(f"unknown encoding '{name}'; valid choices: {', '.join(ENCODINGS)}")
        scale, offset = ENCODINGS[name]
        if channels != len(scale):
            if len(set(scale)) > 1 or len(set(offset)) > 1:
                raise UserError(f"encoding '{name}' is defined for {len(scale)} channels, images have {channels}")
            scale, offset = scale[:1] * channels, offset[:1] * channels
        return cls(name, torch.tensor(scale), torch.tensor(offset))

    def _view(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return t.to(device=like.device, dtype=like.dtype).view(1, -1, 1, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel space ``(B, C, H, W)`` → model input space."""
        return x * self._view(self.scale, x) + self._view(self.offset, x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Model input space ``(B, C, H, W)`` → pixel space."""
        return (z - self._view(self.offset, z)) / self._view(self.scale, z)
