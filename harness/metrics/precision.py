"""What float precision can tell apart: constant maps, and predictions tied with another class.

One definition each, used by every score, table and figure.

**Constant maps.**
A map computed in floating point can be constant in exact arithmetic and still hold a few distinct values: a
Grad-CAM map of a 1×1 feature map is one number broadcast over the image, but the bilinear upsampling computes
``w·v + (1 − w)·v`` per pixel and leaves values that differ in the last bit (29.783026 / 29.783028 / 29.78303 in
float32). Ranks, min-max normalisation, a maximum or a top-k of such a map describe rounding, not the model.

Definition: a finite map ``m`` is **constant** when

    ``max(m) − min(m) ≤ ULPS · eps(dtype) · max|m|``

with ``eps`` the machine epsilon of the dtype the map was *computed* in (float32: 1.19e-7, so a relative range of
at most 1.9e-6) and :data:`ULPS` = 16 units in the last place of the largest magnitude: several times the error
of the few float operations that turn one value into a map (upsampling, channel reduction), and far below any
pattern that float32 can resolve. An all-zero map is constant. A non-finite map is not (it is reported as such).

What follows from it (see :mod:`harness.metrics.scorer`): measures of a map's *pattern* (SSIM, rank correlations,
top-k, HOG, the pointing game) are NaN with the reason ``constant clean map`` / ``constant perturbed map``;
measures of its mass or magnitude (relative change, Lipschitz ratios, dark-pixel share, relevance mass) stay
defined, since a uniform map has a well-defined mass and norm (that is what makes the constant-map control
"perfectly stable" by a norm). Figures draw a constant map flat and label it.

**Kept predictions.** A prediction is kept when the explained class's logit is within the same tolerance of the
largest logit (:func:`prediction_kept`): a compensated network whose logits equal the original's up to rounding
does not "change its mind" on an image whose two top classes tie to the last bits.

**Ties in a ranking.** Pixels tied at the top-k threshold are taken by a uniformly random order, in expectation
(:func:`harness.metrics.torch_similarity.topk_membership`), never by pixel index: two maps that are both zero
over most of the image do not "agree" on which zeros are important.
"""
from __future__ import annotations

import numpy as np
import torch

#: Tolerance of :func:`is_constant` in units in the last place of a map's largest magnitude.
ULPS = 16


def is_constant(maps: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool: which of the maps ``(B, ...)`` are constant up to their dtype's precision (module docstring).

    The test runs in the maps' own dtype, so a float32 map upcast to float64 later is still judged as float32.
    """
    flat = maps.detach().flatten(1)
    if not flat.is_floating_point():
        return flat.amax(1) == flat.amin(1) if flat.shape[1] else torch.ones(len(flat), dtype=torch.bool)
    eps = torch.finfo(flat.dtype).eps
    hi, lo = flat.amax(1), flat.amin(1)
    scale = torch.maximum(hi.abs(), lo.abs())
    finite = torch.isfinite(flat).all(1)
    return finite & ((hi - lo) <= ULPS * eps * scale)


def is_constant_array(m: np.ndarray) -> bool:
    """:func:`is_constant` for one NumPy map (any shape), judged at the array's own dtype."""
    return bool(is_constant(torch.from_numpy(np.ascontiguousarray(m)).reshape(1, -1))[0])


def prediction_kept(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool: whether class ``target`` ``(B,)`` is still the top class of ``logits`` ``(B, K)`` up to the
    precision of their dtype (its logit within ``ULPS · eps · max|logit|`` of the largest; module docstring)."""
    top = logits.detach().amax(1)
    mine = logits.detach().gather(1, target.view(-1, 1)).squeeze(1)
    tol = ULPS * torch.finfo(logits.dtype).eps * logits.detach().abs().amax(1)
    return torch.isfinite(top) & (mine >= top - tol)
