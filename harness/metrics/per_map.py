"""Per-map measures (each map on its own, against the data or the model) with one signature, for the registry.

Every measure is ``f(maps, scene, settings) -> (B,)`` for maps ``(B, H, W)``. A :class:`Scene` holds what the maps
are measured against: the images and foreground masks of the batch and what is derived from them once per batch
(the darkest-pixel region), and for the faithfulness measures the model that the maps explain (pixel-space images →
logits), the images it saw, the explained classes and a seed per image (the order of tied pixels and the random
draws: the same for every map of an image, so that methods are compared on the same draws).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from harness.metrics import axiomatic, complexity, explanation_consistency, faithfulness, localisation, regions
from harness.metrics import sparseness as _sparseness


@dataclass
class Scene:
    """What maps ``(B, H, W)`` are measured against.

    Attributes:
        images: Pixel-space images ``(B, C, H, W)`` (the clean images: regions and masks belong to them).
        masks: Foreground masks ``(B, H, W)`` (None: the data has none).
        model: For the faithfulness measures: pixel-space images ``(N, C, H, W)`` → logits ``(N, K)`` of the network
            that the maps explain (None: not measured).
        inputs: The pixel-space images that network saw ``(B, C, H, W)`` (the perturbed ones for perturbed maps).
        target: ``(B,)`` the explained classes.
        seeds: ``(B,)`` int64, one per image.
    """

    images: torch.Tensor
    masks: torch.Tensor | None = None
    model: Callable[[torch.Tensor], torch.Tensor] | None = None
    inputs: torch.Tensor | None = None
    target: torch.Tensor | None = None
    seeds: torch.Tensor | None = None
    _darkest: torch.Tensor | None = field(default=None, repr=False)
    _predictions: torch.Tensor | None = field(default=None, repr=False, init=False)  # not carried by replace()

    @property
    def darkest(self) -> torch.Tensor:
        """The darkest quarter of each image's pixels ``(B, H, W)`` bool (:func:`harness.metrics.regions.darkest`)."""
        if self._darkest is None:
            self._darkest = regions.darkest(self.images)
        return self._darkest

    @property
    def predictions(self) -> torch.Tensor:
        """The model's class for each input ``(B,)`` (one forward pass, made once per batch for the measures that
        compare predictions: consistency, sufficiency)."""
        if self._predictions is None:
            with torch.no_grad():
                self._predictions = self.model(self.inputs).argmax(1)
        return self._predictions


def dark_share(maps: torch.Tensor, scene: Scene, settings=None) -> torch.Tensor:
    return regions.mass_share(maps, scene.darkest.to(maps.device))


def sparseness(maps: torch.Tensor, scene: Scene, settings=None) -> torch.Tensor:
    """Sparseness (Chalasani et al. 2020): the Gini index of ``|map|``."""
    return _sparseness.gini(maps)


def pointing_game(maps: torch.Tensor, scene: Scene, settings=None) -> torch.Tensor:
    return localisation.pointing_game(maps, scene.masks.to(maps.device))


def relevance_mass(maps: torch.Tensor, scene: Scene, settings=None) -> torch.Tensor:
    return localisation.relevance_mass(maps, scene.masks.to(maps.device))


def map_entropy(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Entropy of the map's discrete histogram (Quantus's ``discrete_entropy``; :mod:`harness.metrics.complexity`)."""
    return complexity.histogram_entropy(maps, settings.entropy_bins).to(maps.device)


def _road(most_relevant_first: bool):
    def road(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
        """ROAD (Rong et al. 2022): mean probability of the explained class over the removed fractions."""
        curve = faithfulness.road_curve(scene.model, scene.inputs, scene.target, maps.detach(), seeds=scene.seeds,
                                        fractions=settings.road_fractions, most_relevant_first=most_relevant_first,
                                        noise=settings.road_noise, max_batch=settings.max_batch)
        return curve.mean(1)

    return road


def _curve(mode: str):
    def area(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
        """Deletion / insertion (Petsiuk et al. 2018): area under the explained class's probability curve."""
        curve = faithfulness.deletion_insertion(scene.model, scene.inputs, scene.target, maps.detach(),
                                                seeds=scene.seeds, steps=settings.deletion_steps, mode=mode,
                                                max_batch=settings.max_batch)
        return faithfulness.area(curve)

    return area


def infidelity(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Infidelity (Yeh et al. 2019) of the map, the same in every channel, on the explained class's logit."""
    return faithfulness.infidelity(scene.model, scene.inputs, scene.target, maps.detach(), seeds=scene.seeds,
                                   n_perturb=settings.infidelity_samples, noise_std=settings.infidelity_std,
                                   max_batch=settings.max_batch)


road_morf, road_lerf = _road(True), _road(False)
deletion, insertion = _curve("deletion"), _curve("insertion")


# --- complexity (Bhatt et al. 2020; Nguyen & Martínez 2020), axiomatic, consistency (Dasgupta et al. 2022) ---------

def fractional_entropy(maps: torch.Tensor, scene: Scene, settings=None) -> torch.Tensor:
    """Complexity (Bhatt et al. 2020): the entropy of ``|map| / Σ |map|`` (:mod:`harness.metrics.complexity`)."""
    return complexity.fractional_entropy(maps)


def effective_complexity(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Effective complexity (Nguyen & Martínez 2020): pixels with ``|map| / max |map| > ε``."""
    return complexity.effective_complexity(maps, settings.effective_complexity_eps)


def completeness(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """``|Σ map − (f_t(x) − f_t(x̄))|`` (Sundararajan et al. 2017; :mod:`harness.metrics.axiomatic`)."""
    return axiomatic.completeness_gap(scene.model, scene.inputs, scene.target, maps, settings.axiom_baseline)


def non_sensitivity(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Non-sensitivity (Nguyen & Martínez 2020; :mod:`harness.metrics.axiomatic`)."""
    return axiomatic.non_sensitivity(scene.model, scene.inputs, scene.target, maps, settings.non_sensitivity_patch,
                                     settings.non_sensitivity_eps, settings.axiom_baseline, settings.max_batch)


def prediction_consistency(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Consistency (Dasgupta et al. 2022) within the batch (:mod:`harness.metrics.explanation_consistency`)."""
    pred = scene.predictions
    codes = explanation_consistency.discretise(maps, settings.consistency_grid, settings.consistency_top)
    return explanation_consistency.prediction_consistency(codes.to(pred.device), pred)


def sufficiency(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Sufficiency (Dasgupta et al. 2022) within the batch (:mod:`harness.metrics.explanation_consistency`)."""
    pred = scene.predictions
    return explanation_consistency.sufficiency(maps.to(pred.device), pred, settings.sufficiency_threshold)
