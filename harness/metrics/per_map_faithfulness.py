"""The faithfulness measures of Quantus and LATEC as per-map measures ``f(maps, scene, settings) -> (B,)`` for the
registry (:mod:`harness.metrics.per_map`'s signature): maps ``(B, H, W)`` against ``scene.model`` on
``scene.inputs``, the explained classes ``scene.target`` and one seed per image ``scene.seeds`` (draws shared by
every method on an image). Settings: :class:`harness.metrics.pairwise.Settings` (``metrics.faithfulness``).
"""
from __future__ import annotations

import torch

from harness.metrics import faithfulness_correlation as fc
from harness.metrics import removal_curves as rc
from harness.metrics.faithfulness import area
from harness.metrics.per_map import Scene


def _args(maps: torch.Tensor, scene: Scene) -> tuple:
    return scene.model, scene.inputs, scene.target, maps.detach()


def pixel_flipping(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Pixel Flipping (Bach et al. 2015): area under ``p`` as the most relevant pixels are flipped (lower = better)."""
    curve = rc.pixel_flipping(*_args(maps, scene), seeds=scene.seeds, steps=settings.pixel_flipping_steps,
                              fill=settings.removal_fill, max_batch=settings.max_batch)
    return area(curve)


def region_perturbation(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Region Perturbation (Samek et al. 2017): AOPC, the mean drop of ``p`` over ``k = 0..L`` patches removed."""
    drops = rc.region_perturbation(*_args(maps, scene), seeds=scene.seeds, patch=settings.region_patch,
                                   steps=settings.region_steps, fill=settings.region_fill,
                                   max_batch=settings.max_batch)
    return drops.mean(1)


def selectivity(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Selectivity (Montavon et al. 2018): area under ``p`` as every patch is removed, most relevant first."""
    curve = rc.patch_curve(*_args(maps, scene), seeds=scene.seeds, patch=settings.region_patch,
                           fill=settings.removal_fill, max_batch=settings.max_batch)
    return area(curve)


def irof(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """IROF (Rieger & Hansen 2020): area over the normalised ``p`` curve of removing superpixels (higher = better)."""
    curves = rc.irof_curves(*_args(maps, scene), seeds=scene.seeds, n_segments=settings.irof_segments,
                            max_batch=settings.max_batch)
    return torch.stack([1 - area(c[None])[0] for c in curves])


def faithfulness_correlation(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Faithfulness Correlation (Bhatt et al. 2020) over ``correlation_runs`` random subsets of the pixels."""
    h, w = maps.shape[-2:]
    size = max(1, int(settings.correlation_subset * h * w + 0.5))
    subsets = fc.random_subsets(scene.seeds, settings.correlation_runs, size, (h, w), maps.device)
    return fc.faithfulness_correlation(*_args(maps, scene), subsets=subsets, seeds=scene.seeds,
                                       fill=settings.removal_fill, max_batch=settings.max_batch)


def faithfulness_estimate(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Faithfulness Estimate (Alvarez-Melis & Jaakkola 2018) over ``estimate_groups`` groups of pixels."""
    return fc.faithfulness_estimate(*_args(maps, scene), seeds=scene.seeds, n_groups=settings.estimate_groups,
                                    fill=settings.removal_fill, max_batch=settings.max_batch)


def monotonicity_correlation(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Monotonicity Correlation (Nguyen & Martínez 2020) over ``monotonicity_groups`` groups of pixels."""
    return fc.monotonicity_correlation(*_args(maps, scene), seeds=scene.seeds, n_groups=settings.monotonicity_groups,
                                       samples=settings.monotonicity_samples, max_batch=settings.max_batch)


def sensitivity_n(maps: torch.Tensor, scene: Scene, settings) -> torch.Tensor:
    """Sensitivity-n (Ancona et al. 2018): its correlation averaged over the subset sizes ``sensitivity_n_fractions``."""
    return fc.sensitivity_n(*_args(maps, scene), seeds=scene.seeds, fractions=settings.sensitivity_n_fractions,
                            runs=settings.correlation_runs, fill=settings.removal_fill,
                            max_batch=settings.max_batch).mean(1)
