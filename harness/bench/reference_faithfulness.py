"""The faithfulness measures side by side (:mod:`harness.bench.references`): ROAD against pytorch-grad-cam's
per-image imputer and Quantus's ROAD, and the removal curves against Quantus's Pixel Flipping, Region Perturbation
and Selectivity, on the same maps."""
from __future__ import annotations

import numpy as np
import torch

from harness.bench.reference_work import QUIET, Work, load_quantus, quantus_call

#: ROAD's fractions in the comparison (the harness's default set) and its removal steps for the curve measures
ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
FLIP_STEPS = 16


# --- ROAD --------------------------------------------------------------------------------------------------------

def road_ours(w: Work) -> np.ndarray:
    from harness.metrics.faithfulness import road_curve

    return road_curve(w.net, w.x, w.target, w.maps, seeds=w.seeds, fractions=ROAD_FRACTIONS, noise=0.0).numpy()


def road_gradcam(w: Work) -> np.ndarray:
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer

    from harness.metrics.faithfulness import _first_removed, removal_order, target_probability

    h, wd = w.x.shape[-2:]
    removed = _first_removed(removal_order(w.maps, w.seeds.tolist()), ROAD_FRACTIONS, (h, wd))  # (F, N, H, W)
    imputer = NoisyLinearImputer(noise=0.0)
    images = torch.stack([torch.stack([imputer(w.x[i], (~removed[f, i]).float()) for i in range(len(w.x))])
                          for f in range(len(ROAD_FRACTIONS))]).float()
    p = target_probability(w.net, images.flatten(0, 1), w.target.repeat(len(ROAD_FRACTIONS)))
    return p.view(len(ROAD_FRACTIONS), -1).T.numpy()


def road_quantus(w: Work) -> np.ndarray:
    quantus = load_quantus()
    out = quantus.ROAD(noise=0.0, percentages=[int(100 * f) for f in ROAD_FRACTIONS], **QUIET)(**quantus_call(w))
    return np.asarray(list(out.values()) if isinstance(out, dict) else out, dtype=float)


# --- the removal curves of Quantus ---------------------------------------------------------------------------------

def flip_ours(w: Work) -> np.ndarray:
    from harness.metrics import removal_curves as rc

    return rc.pixel_flipping(w.net, w.x, w.target, w.maps, seeds=w.seeds, steps=FLIP_STEPS, fill=0.0)[:, 1:].numpy()


def flip_theirs(w: Work) -> np.ndarray:
    h, wd = w.x.shape[-2:]
    metric = load_quantus().PixelFlipping(features_in_step=h * wd // FLIP_STEPS, perturb_baseline=0.0, **QUIET)
    curves = np.asarray(metric(**quantus_call(w, every_channel=True), softmax=True), dtype=float)  # (N, C · steps)
    channels = w.x.shape[1]
    return curves[:, channels - 1::channels]  # after every C-th step: whole pixels removed


def _patch(w: Work) -> int:
    return max(4, min(w.x.shape[-2:]) // 8)


def region_ours(w: Work) -> np.ndarray:
    from harness.metrics import removal_curves as rc

    p = _patch(w)
    steps = (w.x.shape[-2] // p) * (w.x.shape[-1] // p)
    return rc.region_perturbation(w.net, w.x, w.target, w.maps, seeds=w.seeds, patch=p, steps=steps,
                                  fill=0.0)[:, 1:].numpy()


def region_theirs(w: Work) -> np.ndarray:
    p = _patch(w)
    regions = (w.x.shape[-2] // p) * (w.x.shape[-1] // p)
    metric = load_quantus().RegionPerturbation(patch_size=p, regions_evaluation=regions, perturb_baseline=0.0,
                                               **QUIET)
    return np.asarray(metric(**quantus_call(w), softmax=True), dtype=float)


def selectivity_ours(w: Work) -> np.ndarray:
    from harness.metrics import removal_curves as rc

    return rc.patch_curve(w.net, w.x, w.target, w.maps, seeds=w.seeds, patch=_patch(w), fill=0.0)[:, 1:].numpy()


def selectivity_theirs(w: Work) -> np.ndarray:
    metric = load_quantus().Selectivity(patch_size=_patch(w), perturb_baseline=0.0, **QUIET)
    return np.asarray(metric(**quantus_call(w), softmax=True), dtype=float)


