"""Containers for image data in pixel space.

Every dataset in ``harness.data`` returns an :class:`ImageSplits`: float images in
pixel space ``[0, 1]`` with shape ``(N, C, H, W)``, integer labels ``(N,)`` and,
where the dataset knows it, a foreground mask ``(N, H, W)`` (e.g. the hand in the
rock-paper-scissors images) for localisation scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImageSet:
    """One split of a dataset.

    Attributes:
        images: ``(N, C, H, W)`` float32 in pixel space ``[0, 1]``.
        labels: ``(N,)`` int64 class indices.
        masks: ``(N, H, W)`` bool foreground masks, or ``None`` if unknown.
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if self.masks is not None and self.masks.shape != (len(self.images), *self.images.shape[2:]):
            raise ValueError(f"masks must be (N, H, W), got shape {tuple(self.masks.shape)}")

    def __len__(self) -> int:
        return len(self.images)

    def slice(self, start: int, stop: int) -> "ImageSet":
        """Samples ``start`` to ``stop`` (exclusive), masks included."""
        masks = None if self.masks is None else self.masks[start:stop]
        return ImageSet(self.images[start:stop], self.labels[start:stop], masks)

    def head(self, n: int | None) -> "ImageSet":
        """The first ``n`` samples (all of them when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        masks = None if self.masks is None else self.masks[:n]
        return ImageSet(self.images[:n], self.labels[:n], masks)


@dataclass(frozen=True)
class ImageSplits:
    """Train / validation / test splits plus the class names.

    ``skipped`` lists input files that could not be read (reported in the run log and ``run_info.json``).
    """

    train: ImageSet
    val: ImageSet
    test: ImageSet
    classes: tuple[str, ...]
    skipped: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]
