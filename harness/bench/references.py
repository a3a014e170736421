"""Side by side with the reference implementations, in the same bench run: the same network, images, maps and
random draws given to the harness and to Quantus 0.6, Captum and pytorch-grad-cam, with the seconds per image of each
and the largest difference of their numbers.

The references are optional (``pip install -e ".[bench]"`` in a clone, for the bench only, never a dependency of
the harness): a comparison whose package is missing is a row that says so. Every comparison gets the maps of the
harness's gradient (``|∂f_t/∂x|`` summed over the channels, ``(N, H, W)``; a 1e-6 relative jitter from a seeded
generator breaks exact ties, so that both sides remove pixels in one order) and, where the measure draws random
numbers, the harness's draws, replayed to the reference through its perturbation argument:

| harness measure | reference | what is compared |
|---|---|---|
| `road_morf` | grad-cam `NoisyLinearImputer` | the curve (noise 0; the harness's removal order, per image) |
| `road_morf` | Quantus `ROAD` | runs or fails (0.6 fails on 3-channel images) |
| `pixel_flipping` | Quantus `PixelFlipping` | the curve (fill 0; below) |
| `region_perturbation` | Quantus `RegionPerturbation` | the curve of drops (fill 0, every patch) |
| `selectivity` | Quantus `Selectivity` | the curve (fill 0) |
| `max_sensitivity` | Quantus `MaxSensitivity`, Captum `sensitivity_max` | the value (the harness's uniform draws replayed) |
| `infidelity` | Captum `infidelity` | the value (the harness's Gaussian draws replayed, β fitted) |
| `random_logit` | Quantus `RandomLogit` | Spearman ρ of the two maps (Quantus's class draw) |
| MPRT (cascade) | Quantus `MPRT` | Spearman ρ per step (Quantus's randomised networks) |

Quantus's removal measures step through a ``C``-channel image's ``C·H·W`` elements, with a step that must divide
``H·W``: Pixel Flipping is given the map in every channel (a pixel's channels are tied, so they go together) and its
curve is read after every ``C``-th step, where whole pixels are removed. Quantus's Faithfulness Estimate groups
elements the same way, so its groups are not the harness's pixel groups on colour images: it is compared on stored
one-channel outputs only (``tests/metrics/test_faithfulness_quantus_parity.py``), as are IROF, the correlations and
monotonicity (their draws cannot be replayed to Quantus through an argument).

Quantus times its whole call (its checks, NumPy conversions and explain calls included): that is what its user
waits for. The harness's side is timed through the same functions its measures call in a run.
"""
from __future__ import annotations

import copy
import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harness.bench import reference_faithfulness as rf
from harness.bench import reference_robustness as rr
from harness.bench.reference_work import Work, gradient_maps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Comparison:
    """One measure, side by side: ``ours(work)`` and ``theirs(work)`` return comparable arrays (or ``theirs``
    raises: the reference cannot do it, recorded as such)."""

    measure: str
    reference: str
    package: str
    ours: Callable[[Work], np.ndarray]
    theirs: Callable[[Work], np.ndarray]
    compared: str



COMPARISONS: tuple[Comparison, ...] = (
    Comparison("road_morf", "grad-cam NoisyLinearImputer (per image)", "pytorch_grad_cam", rf.road_ours,
               rf.road_gradcam,
               f"curve, {len(rf.ROAD_FRACTIONS)} fractions, noise 0"),
    Comparison("road_morf", "Quantus ROAD", "quantus", rf.road_ours, rf.road_quantus,
               f"curve, {len(rf.ROAD_FRACTIONS)} fractions, noise 0"),
    Comparison("pixel_flipping", "Quantus PixelFlipping", "quantus", rf.flip_ours, rf.flip_theirs,
               f"curve, {rf.FLIP_STEPS} steps, fill 0"),
    Comparison("region_perturbation", "Quantus RegionPerturbation", "quantus", rf.region_ours, rf.region_theirs,
               "curve of drops, every patch, fill 0"),
    Comparison("selectivity", "Quantus Selectivity", "quantus", rf.selectivity_ours, rf.selectivity_theirs,
               "curve, fill 0"),
    Comparison("max_sensitivity", "Quantus MaxSensitivity", "quantus", rr.sensitivity_ours, rr.sensitivity_quantus,
               f"value, {rr.NOISE_SAMPLES} uniform draws (radius {rr.NOISE_RADIUS}) replayed"),
    Comparison("max_sensitivity", "Captum sensitivity_max", "captum", rr.sensitivity_ours, rr.sensitivity_captum,
               f"value, {rr.NOISE_SAMPLES} uniform draws (radius {rr.NOISE_RADIUS}) replayed"),
    Comparison("infidelity", "Captum infidelity", "captum", rr.infidelity_ours, rr.infidelity_captum,
               f"value, {rr.INFIDELITY_SAMPLES} Gaussian draws (σ {rr.INFIDELITY_STD}) replayed, β fitted"),
    Comparison("random_logit", "Quantus RandomLogit", "quantus", rr.logit_ours, rr.logit_theirs,
               "Spearman ρ of the two maps, Quantus's class draw"),
    Comparison("mprt", "Quantus MPRT", "quantus", rr.mprt_ours, rr.mprt_theirs,
               "Spearman ρ per cascade step, Quantus's randomised networks replayed"),
)


def _timed(timer, fn: Callable[[Work], np.ndarray], work: Work, repeats: int) -> tuple[float, np.ndarray]:
    """``fn(work)``'s best time by ``timer`` (a warm-up call, then ``repeats``) and its output (the last call's)."""
    out = {}
    seconds = timer(lambda: out.update(value=fn(work)), repeats)
    return seconds, out["value"]


def reference_rows(net: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, base: dict,
                   timer: Callable[[Callable[[], object], int], float], repeats: int = 1,
                   only: Sequence[str] | None = None) -> list[dict]:
    """One row per comparison of :data:`COMPARISONS` (those of ``only``, by measure name, if given): seconds per
    image of the harness and of the reference on the same work, their ratio, and the largest difference of the
    numbers; a reference that is not installed, or that fails, is a row that says so."""
    if next(net.parameters()).device.type != "cpu":
        net = copy.deepcopy(net).cpu()  # the references run on NumPy: the comparison is made on the CPU
    net = net.eval().requires_grad_(False)
    x, target = x.detach().cpu(), target.cpu()
    g = torch.Generator().manual_seed(0)
    maps = gradient_maps(net, x, target)
    maps = maps * (1 + 1e-6 * torch.rand(maps.shape, generator=g))  # no exact ties: one removal order for both
    work = Work(net, x, target, maps, torch.arange(len(x), dtype=torch.long) + 1)
    rows = []
    for c in COMPARISONS:
        if only is not None and c.measure not in only:
            continue
        row = {**base, "measure": c.measure, "reference": c.reference, "compared": c.compared}
        if importlib.util.find_spec(c.package) is None:
            rows.append({**row, "note": f"{c.package} not installed (pip install quantus==0.6.0 'grad-cam>=1.5,<1.6', the bench extra)"})
            continue
        t_ours, ours = _timed(timer, c.ours, work, repeats)
        try:
            t_theirs, theirs = _timed(timer, c.theirs, work, repeats)
        except Exception as exc:  # the reference cannot do this work: recorded, not raised
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            rows.append({**row, "harness_s_per_image": t_ours / len(x), "note": f"reference fails: "
                         f"{type(exc).__name__}: {first}"})
            continue
        ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
        diff = float(np.nanmax(np.abs(ours - theirs))) if ours.shape == theirs.shape else float("nan")
        rows.append({**row, "harness_s_per_image": t_ours / len(x), "reference_s_per_image": t_theirs / len(x),
                     "harness_speedup": t_theirs / t_ours, "max_abs_diff": diff,
                     "note": "" if ours.shape == theirs.shape else f"shapes differ: {ours.shape} vs {theirs.shape}"})
        log.info("reference %s vs %s: ×%.1f, max |Δ| %.2g", c.measure, c.reference, t_theirs / t_ours, diff)
    return rows
