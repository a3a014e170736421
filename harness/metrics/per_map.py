"""Per-map measures (each map on its own, against the data) with one signature, so that the registry can carry them.

Every measure is ``f(maps, scene, settings) -> (B,)`` for maps ``(B, H, W)``; a :class:`Scene` holds the images and
foreground masks of the batch and what is derived from them once per batch (the darkest-pixel region).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from harness.metrics import localisation, regions


@dataclass
class Scene:
    """The images ``(B, C, H, W)`` the maps explain and their foreground masks ``(B, H, W)`` (None: the data has
    none); regions derived from the images are computed on first use and shared by every map of the batch."""

    images: torch.Tensor
    masks: torch.Tensor | None = None
    _darkest: torch.Tensor | None = field(default=None, repr=False)

    @property
    def darkest(self) -> torch.Tensor:
        """The darkest quarter of each image's pixels ``(B, H, W)`` bool (:func:`harness.metrics.regions.darkest`)."""
        if self._darkest is None:
            self._darkest = regions.darkest(self.images)
        return self._darkest


def dark_share(maps: torch.Tensor, scene: Scene, settings=None) -> torch.Tensor:
    return regions.mass_share(maps, scene.darkest.to(maps.device))


def pointing_game(maps: torch.Tensor, scene: Scene, settings=None) -> torch.Tensor:
    return localisation.pointing_game(maps, scene.masks.to(maps.device))


def relevance_mass(maps: torch.Tensor, scene: Scene, settings=None) -> torch.Tensor:
    return localisation.relevance_mass(maps, scene.masks.to(maps.device))
