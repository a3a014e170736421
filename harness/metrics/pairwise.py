"""Pairwise measures (clean map vs perturbed map) with one signature, so that the registry can carry them.

Every batched measure is ``f(a, b, pair, settings) -> (B,)`` for maps ``a``, ``b`` ``(B, H, W)`` on one device; every
reference measure (scikit-image / SciPy, one map at a time on the CPU) is ``f(x, y, valid, settings) -> float``.
:mod:`harness.metrics.registry` names them; :class:`harness.metrics.scorer.Scorer` calls them.

**The map frame.** ``pair.valid`` ``(B, H, W)`` bool (None: every pixel) marks the pixels that are valid in both
frames once a perturbed map has been brought back into the clean image's frame (a translation uncovers a border, a
rotation its corners). Every measure uses the valid pixels only: rank correlations, top-k and norms are computed on
them, min-max normalisation and SSIM's average too (SSIM averages its local map over the windows that lie wholly
inside the valid region). With every pixel valid the computation is the unmasked one, bit for bit.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from harness.metrics import complexity, sensitivity, similarity
from harness.metrics.precision import is_constant
from harness.metrics import torch_similarity as ts


@dataclass(frozen=True)
class Settings:
    """Parameters of the measures (``harness/configs/metrics/default.yaml``).

    Attributes:
        topk_fraction: ``k`` of the top-k intersection as a fraction of the (valid) pixels.
        eps_min: ε_min of the relative stability ratios (Agarwal et al. 2022).
        road_fractions: Fractions of pixels removed by ROAD (Rong et al. 2022).
        road_noise: Std of ROAD's imputation noise (pixel units).
        deletion_steps: Steps of the deletion / insertion curves (Petsiuk et al. 2018).
        infidelity_samples: Gaussian perturbations per image of infidelity (Yeh et al. 2019).
        infidelity_std: Their std (pixel units).
        max_batch: Most images per model call of the faithfulness measures (None: one call per batch).
        entropy_bins: Bins of a map's histogram for its entropy (Quantus's ``discrete_entropy``: 100).
        effective_complexity_eps: ε of effective complexity, a share of the map's largest ``|value|``.
        axiom_baseline: Baseline of completeness and non-sensitivity: ``black`` (each image's minimum) or a number.
        non_sensitivity_eps: ε of non-sensitivity (attribution share and probability change).
        non_sensitivity_patch: Side (pixels) of non-sensitivity's features.
        consistency_grid: Grid (cells a side) on which consistency discretises a map.
        consistency_top: Cells of that grid that make a map's discrete explanation.
        sufficiency_threshold: Share of the batch's largest map distance within which sufficiency counts two maps
            as the same explanation (Quantus 0.6: 0.6).
        removal_fill: What Pixel Flipping, Selectivity, Faithfulness Correlation and Estimate set removed pixels to
            (pixel units, or ``"mean"`` / ``"uniform"``: :func:`harness.metrics.removal_curves.fill_images`).
        pixel_flipping_steps: Steps of the Pixel Flipping curve (Bach et al. 2015).
        region_patch: Side of the square patches of Region Perturbation and Selectivity (pixels).
        region_steps: Patches removed by Region Perturbation (Samek et al. 2017: AOPC over ``k = 0..L``).
        region_fill: What Region Perturbation fills its patches with (Samek et al.: ``"uniform"`` noise).
        correlation_runs: Random subsets per image of Faithfulness Correlation (Bhatt et al. 2020).
        correlation_subset: Their size, as a fraction of the pixels.
        estimate_groups: Groups of pixels of Faithfulness Estimate (Alvarez-Melis & Jaakkola 2018).
        monotonicity_groups: Groups of pixels of Monotonicity Correlation (Nguyen & Martínez 2020).
        monotonicity_samples: Uniform fills per group of Monotonicity Correlation.
        irof_segments: ``n_segments`` of the SLIC superpixels of IROF (Rieger & Hansen 2020).
        sensitivity_n_fractions: Subset sizes of Sensitivity-n as fractions of the pixels (Ancona et al. 2018; each
            with ``correlation_runs`` subsets).
    """

    topk_fraction: float = 0.1
    eps_min: float = 1e-6
    road_fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
    road_noise: float = 0.01
    deletion_steps: int = 16
    infidelity_samples: int = 32
    infidelity_std: float = 0.2
    max_batch: int | None = 256
    entropy_bins: int = 100
    # complexity, axiomatic and consistency measures (metrics.measure_settings)
    effective_complexity_eps: float = 1e-5
    axiom_baseline: str | float = "black"
    non_sensitivity_eps: float = 1e-5
    non_sensitivity_patch: int = 4
    consistency_grid: int = 4
    consistency_top: int = 1
    sufficiency_threshold: float = 0.6
    # faithfulness measures of Quantus / LATEC (harness.metrics.removal_curves, harness.metrics.faithfulness_correlation)
    removal_fill: float | str = 0.0
    pixel_flipping_steps: int = 64
    region_patch: int = 8
    region_steps: int = 100
    region_fill: float | str = "uniform"
    correlation_runs: int = 64
    correlation_subset: float = 0.1
    estimate_groups: int = 64
    monotonicity_groups: int = 32
    monotonicity_samples: int = 8
    irof_segments: int = 100
    sensitivity_n_fractions: tuple[float, ...] = (0.01, 0.05, 0.2, 0.5, 0.8)


@dataclass(frozen=True)
class Pair:
    """What a pairwise measure may use besides the two maps: pixel-space inputs ``(B, C, H, W)`` and logits ``(B, K)``
    of the clean and the perturbed view, the pixels valid in both frames ``(B, H, W)`` (None: all), and, where a
    measure needs them, an internal representation of each view."""

    x: torch.Tensor | None = None
    x_p: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    logits_p: torch.Tensor | None = None
    valid: torch.Tensor | None = None
    #: an internal representation ``(B, D)`` of each view (:mod:`harness.metrics.representation`; None: not read)
    rep: torch.Tensor | None = None
    rep_p: torch.Tensor | None = None


def masked(valid: torch.Tensor | None) -> bool:
    """Whether some pixel is not valid (otherwise every measure takes its unmasked path)."""
    return valid is not None and not bool(valid.all())


def per_image(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
    """``f(a, b) -> (B,)`` of flattened maps, applied to the valid pixels of each image where a mask is given."""

    def measure(a: torch.Tensor, b: torch.Tensor, pair: Pair, settings: Settings) -> torch.Tensor:
        if not masked(pair.valid):
            return f(a, b, settings)
        v = pair.valid.to(a.device).flatten(1)
        return torch.cat([f(x[m][None], y[m][None], settings) for x, y, m in zip(a.flatten(1), b.flatten(1), v)])

    return measure


def undefined_reasons(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor | None) -> list[str]:
    """Per pair, why a measure of its pattern is undefined on its valid pixels ("" if defined)."""
    if not masked(valid):
        return ts.undefined_reasons(a, b)
    v = valid.to(a.device).flatten(1)
    return [ts.undefined_reasons(x[m][None], y[m][None])[0] for x, y, m in zip(a.flatten(1), b.flatten(1), v)]


def constant_on_valid(m: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """``(B,)`` bool: which maps ``(B, H, W)`` are constant up to precision on their valid pixels
    (:func:`harness.metrics.precision.is_constant`)."""
    if not masked(valid):
        return is_constant(m)
    v = valid.to(m.device).flatten(1)
    return torch.stack([is_constant(x[k][None])[0] for x, k in zip(m.flatten(1), v)])


def ssim(a: torch.Tensor, b: torch.Tensor, pair: Pair, settings: Settings, win_size: int = 7) -> torch.Tensor:
    """:func:`harness.metrics.torch_similarity.ssim`; with a mask, min-max normalised on the valid pixels and
    averaged over the windows inside the valid region (NaN where there is none)."""
    if not masked(pair.valid):
        return ts.ssim(a, b)
    valid = pair.valid.to(a.device)
    x, y = _minmax_valid(a.double(), valid), _minmax_valid(b.double(), valid)
    local = ts.ssim_map(x, y, win_size)
    inside = F.avg_pool2d(valid.double().unsqueeze(1), win_size, stride=1).squeeze(1) >= 1.0 - 1e-12
    mean = (local * inside).flatten(1).sum(1) / inside.flatten(1).sum(1)
    bad = torch.tensor([bool(r) for r in undefined_reasons(a, b, valid)], device=a.device)
    return torch.where(bad | (inside.flatten(1).sum(1) == 0), torch.full_like(mean, float("nan")), mean)


def _minmax_valid(m: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    big = torch.finfo(m.dtype).max
    lo = torch.where(valid, m, big).flatten(1).amin(1).view(-1, 1, 1)
    hi = torch.where(valid, m, -big).flatten(1).amax(1).view(-1, 1, 1)
    return torch.where(valid, (m - lo) / (hi - lo), torch.zeros_like(m))


def _abs(f):
    return lambda a, b, pair, settings: f(a.abs(), b.abs(), pair, settings)


spearman = per_image(lambda a, b, s: ts.spearman(a, b))
kendall = per_image(lambda a, b, s: ts.kendall(a, b))
topk_intersection = per_image(lambda a, b, s: ts.topk_intersection(a, b, s.topk_fraction))
ssim_abs, spearman_abs = _abs(ssim), _abs(spearman)
rel_change = per_image(lambda a, b, s: sensitivity.rel_change(a, b))
#: efficient MPRT (Hedström et al. 2023): the relative rise of the histogram entropy, on the valid pixels
entropy_rise = per_image(lambda a, b, s: complexity.entropy_rise(a, b, s.entropy_bins))


def com_shift(a: torch.Tensor, b: torch.Tensor, pair: Pair, settings: Settings) -> torch.Tensor:
    """Centre-of-mass distance (pixels) of ``|a|`` and ``|b|``, invalid pixels weighted 0."""
    if masked(pair.valid):
        valid = pair.valid.to(a.device)
        a, b = a * valid, b * valid
    return sensitivity.com_shift(a, b)


def lipschitz_ratio(a: torch.Tensor, b: torch.Tensor, pair: Pair, settings: Settings) -> torch.Tensor:
    """``‖Φ(x) − Φ(x')‖ / ‖x − x'‖``, the map norm over valid pixels."""
    a, b = _zero_invalid(a, b, pair)
    return sensitivity.lipschitz_ratio(a, b, _need(pair.x, "x"), pair.x_p)


def continuity_ratio(a: torch.Tensor, b: torch.Tensor, pair: Pair, settings: Settings) -> torch.Tensor:
    """``‖Φ̂(x) − Φ̂(x')‖₁ / ‖x − x'‖₂`` over valid pixels, both maps divided by the clean map's largest ``|value|``
    (as Quantus normalises maps by their maximum), so that methods whose maps differ in scale can be compared and a
    change of scale still counts; NaN for an all-zero clean map."""
    a, b = _zero_invalid(a, b, pair)
    top = a.flatten(1).abs().amax(1).view(-1, *[1] * (a.dim() - 1))
    top = torch.where(top > 0, top, torch.full_like(top, float("nan")))
    return sensitivity.continuity_ratio(a / top, b / top, _need(pair.x, "x"), pair.x_p)


def ris_ratio(a: torch.Tensor, b: torch.Tensor, pair: Pair, settings: Settings) -> torch.Tensor:
    a, b = _zero_invalid(a, b, pair)
    return sensitivity.ris_ratio(a, b, _need(pair.x, "x"), pair.x_p, settings.eps_min)


def ros_ratio(a: torch.Tensor, b: torch.Tensor, pair: Pair, settings: Settings) -> torch.Tensor:
    a, b = _zero_invalid(a, b, pair)
    return sensitivity.ros_ratio(a, b, _need(pair.logits, "logits"), pair.logits_p, settings.eps_min)


def rrs_ratio(a: torch.Tensor, b: torch.Tensor, pair: Pair, settings: Settings) -> torch.Tensor:
    """Relative representation stability of one sample (:func:`harness.metrics.sensitivity.rrs_ratio`)."""
    a, b = _zero_invalid(a, b, pair)
    return sensitivity.rrs_ratio(a, b, _need(pair.rep, "internal representation"), pair.rep_p, settings.eps_min)


def _zero_invalid(a, b, pair: Pair):
    """Maps with both sides' invalid pixels set equal (0), so that they add nothing to a norm of the difference."""
    if not masked(pair.valid):
        return a, b
    valid = pair.valid.to(a.device)
    return a * valid, b * valid


def _need(t: torch.Tensor | None, what: str) -> torch.Tensor:
    if t is None:
        raise ValueError(f"this measure needs the {what} of both views")
    return t


# --- reference implementations (NumPy, one map at a time) ----------------------------------------------------------

def reference(f: Callable[..., float]):
    """A :mod:`harness.metrics.similarity` function ``f(x, y)`` on the valid pixels (flattened where a mask is given;
    these measures do not depend on the pixels' positions)."""
    return lambda x, y, valid, settings: f(x, y) if valid is None or valid.all() else f(x[valid], y[valid])


def reference_ssim(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None, settings: Settings,
                   win_size: int = 7) -> float:
    """``skimage.metrics.structural_similarity`` of the min-max normalised maps; with a mask, its local map
    (``full=True``) averaged over the windows inside the valid region."""
    if valid is None or valid.all():
        return similarity.ssim(x, y)
    from scipy.ndimage import minimum_filter
    from skimage.metrics import structural_similarity

    nx, ny = (np.where(valid, (m - m[valid].min()) / np.ptp(m[valid]), 0.0) for m in (x, y))
    _, local = structural_similarity(nx, ny, data_range=1.0, full=True)
    pad = (win_size - 1) // 2
    inside = minimum_filter(valid.astype(np.uint8), size=win_size, mode="constant", cval=0).astype(bool)
    crop = (slice(pad, -pad), slice(pad, -pad))
    return float(local[crop][inside[crop]].mean()) if inside[crop].any() else float("nan")


def reference_ssim_abs(x, y, valid, settings: Settings) -> float:
    return reference_ssim(np.abs(x), np.abs(y), valid, settings)


reference_spearman = reference(similarity.spearman)
reference_spearman_abs = reference(similarity.spearman_abs)
reference_kendall = reference(similarity.kendall)


def reference_topk(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None, settings: Settings) -> float:
    return reference(lambda p, q: similarity.topk_intersection(p, q, settings.topk_fraction))(x, y, valid, settings)


def reference_hog(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None, settings: Settings) -> float:
    """HOG similarity needs the map's grid: invalid pixels are set to the valid pixels' minimum."""
    if valid is not None and not valid.all():
        x, y = (np.where(valid, m, m[valid].min()) for m in (x, y))
    return similarity.hog_similarity(x, y)
