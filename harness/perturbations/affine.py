"""Affine perturbations of the model input: ``z' = scale ⊙ z + shift``."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AffineMap:
    """``z' = scale ⊙ z + shift`` in model input space.

    Attributes:
        scale: Per-channel factor, shape ``(C, 1, 1)`` (no zeros).
        shift: Per-channel ``(C, 1, 1)`` or per-pixel ``(C, H, W)`` offset.
    """

    scale: torch.Tensor
    shift: torch.Tensor

    def __post_init__(self) -> None:
        if self.scale.ndim != 3 or self.scale.shape[1:] != (1, 1):
            raise ValueError(f"scale must be per-channel (C, 1, 1), got {tuple(self.scale.shape)}")
        if self.shift.ndim != 3 or self.shift.shape[0] != self.scale.shape[0]:
            raise ValueError(f"shift must be (C, 1, 1) or (C, H, W), got {tuple(self.shift.shape)}")
        if bool((self.scale == 0).any()):
            raise ValueError("scale must be non-zero in every channel")

    @classmethod
    def translation(cls, shift: torch.Tensor) -> "AffineMap":
        """A pure shift ``z' = z + shift`` with ``shift`` of shape ``(C,)`` or ``(C, H, W)``."""
        shift = shift.reshape(shift.shape[0], 1, 1) if shift.ndim == 1 else shift
        return cls(torch.ones(shift.shape[0], 1, 1, dtype=shift.dtype), shift)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Apply to ``z`` of shape ``(B, C, H, W)``."""
        return z * self.scale.to(z) + self.shift.to(z)

