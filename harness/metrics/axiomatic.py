"""Axiomatic measures of a map against the model: completeness and non-sensitivity, batched in torch.

- **Completeness** (Sundararajan et al., "Axiomatic Attribution for Deep Networks", ICML 2017,
  https://arxiv.org/abs/1703.01365, Proposition 1): the attributions add up to the output's change from a baseline,
  ``Σ_i a_i = f_t(x) − f_t(x̄)``. :func:`completeness_gap` is ``|Σ_i a_i − (f_t(x) − f_t(x̄))|`` in logits (0: the
  axiom holds). Quantus 0.6's ``Completeness`` returns the float equality ``Σ a == f(x) − f(x̄)`` (a boolean that
  is False for any rounding), and by default first divides the map by its maximum, which breaks the sum: here the
  map is summed as computed, and the gap itself is the score.
- **Non-sensitivity** (Nguyen & Martínez, "On quantitative aspects of model interpretability", 2020,
  https://arxiv.org/abs/2007.07584): a feature the model does not react to should get no attribution, and a
  feature with no attribution should not move the model. :func:`non_sensitivity` is the share of features in the
  symmetric difference of the two sets, ``|Z_a Δ Z_f| / n`` (0: they agree). A feature is a ``patch × patch`` block
  of pixels, all channels (``patch = 1``: a pixel); ``Z_a``: its share of the map's largest block mass
  ``Σ_block |a| / max_block Σ |a| < ε``; ``Z_f``: replacing it by the baseline moves the explained class's
  probability by less than ``ε``. Quantus 0.6 counts the same difference (``|Z_a Δ Z_f|``, not divided by
  ``n``) over single tensor elements (each channel of a pixel apart), and fails for ``features_in_step > 1``.

The baseline ``x̄`` is ``"black"``, each image's smallest value (Quantus's ``perturb_baseline="black"``), or a
number (pixel units). Inputs are pixel-space images ``(B, C, H, W)``; ``model`` maps them to logits ``(N, K)``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from harness.common.errors import UserError

Model = Callable[[torch.Tensor], torch.Tensor]


def baseline_image(x: torch.Tensor, baseline: str | float = "black") -> torch.Tensor:
    """The baseline ``(B, C, H, W)`` of images ``x``: ``"black"`` each image's minimum over all its values (Quantus's
    ``"black"``), or a constant."""
    if baseline == "black":
        return x.flatten(1).amin(1).view(-1, *[1] * (x.dim() - 1)).expand_as(x)
    if isinstance(baseline, str):
        raise UserError(f"unknown axiom baseline '{baseline}'; valid: 'black' or a number (pixel units)")
    return torch.full_like(x, float(baseline))


@torch.no_grad()
def completeness_gap(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor,
                     baseline: str | float = "black") -> torch.Tensor:
    """``|Σ_i a_i − (f_t(x) − f_t(x̄))|`` per map ``(B,)`` float64, for maps ``(B, H, W)`` of images ``x``
    ``(B, C, H, W)`` explaining classes ``target`` ``(B,)``; ``f_t`` the logit. The map must keep the
    attributions' sum (``attribution.reduction: sum``)."""
    logits = model(torch.cat([x, baseline_image(x, baseline)]))
    f = logits.gather(1, torch.cat([target, target]).view(-1, 1))[:, 0].double()
    gap = f[: len(x)] - f[len(x):]
    return (maps.detach().flatten(1).double().sum(1).to(gap.device) - gap).abs()


def block_ids(h: int, w: int, patch: int, device=None) -> torch.Tensor:
    """``(H, W)`` int64: each pixel's ``patch × patch`` block, numbered row-major."""
    if patch < 1 or h % patch or w % patch:
        raise UserError(f"non_sensitivity_patch {patch} must divide the image size {h}×{w}")
    rows = torch.arange(h, device=device) // patch
    cols = torch.arange(w, device=device) // patch
    return rows.view(-1, 1) * (w // patch) + cols.view(1, -1)


@torch.no_grad()
def occlusion_probs(model: Model, x: torch.Tensor, target: torch.Tensor, blocks: torch.Tensor,
                    baseline: torch.Tensor, max_batch: int | None = None) -> torch.Tensor:
    """``(B, P)`` probability of the explained class with each block of ``blocks`` ``(H, W)``
    (:func:`block_ids`) replaced by the baseline in every channel, in model calls of at most ``max_batch`` images."""
    b, p = len(x), int(blocks.max()) + 1
    step = max(1, (max_batch or b * p) // b)
    out = []
    for s in range(0, p, step):
        ids = torch.arange(s, min(s + step, p), device=x.device).view(-1, 1, 1)
        m = (blocks == ids).unsqueeze(1).unsqueeze(0)  # (1, p', 1, H, W)
        xs = torch.where(m, baseline.unsqueeze(1), x.unsqueeze(1)).flatten(0, 1)
        probs = model(xs).softmax(1)
        probs = probs.view(b, -1, probs.shape[1])
        out.append(probs.gather(2, target.view(b, 1, 1).expand(b, probs.shape[1], 1))[..., 0])
    return torch.cat(out, 1).double()


@torch.no_grad()
def non_sensitivity(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, patch: int = 1,
                    eps: float = 1e-5, baseline: str | float = "black", max_batch: int | None = None) -> torch.Tensor:
    """``|Z_a Δ Z_f| / n`` per map ``(B,)`` float64 (module docstring) for maps ``(B, H, W)`` of images ``x``
    ``(B, C, H, W)`` explaining ``target`` ``(B,)``: one model call per ``patch × patch`` block and image."""
    blocks = block_ids(x.shape[-2], x.shape[-1], patch, x.device)
    mass = F.avg_pool2d(maps.detach().abs().double().unsqueeze(1).to(x.device), patch).flatten(1)  # (B, P)
    top = mass.amax(1, keepdim=True)
    no_attribution = mass / torch.where(top > 0, top, torch.ones_like(top)) < eps
    p_x = model(x).softmax(1).gather(1, target.view(-1, 1)).double()
    no_effect = (occlusion_probs(model, x, target, blocks, baseline_image(x, baseline), max_batch) - p_x).abs() < eps
    return (no_attribution ^ no_effect).double().mean(1)
