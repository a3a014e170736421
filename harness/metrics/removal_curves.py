"""Removal curves: the explained class's probability as pixels, patches or superpixels are removed, most relevant
first. Batched faithfulness measures in torch.

Maps ``(B, H, W)``, images ``(B, C, H, W)`` in the pixel space the model takes (``[0, 1]``), targets ``(B,)``
int64, seeds ``(B,)`` one per image. Pixels, patches and superpixels are ranked by ``|map|`` (summed over a patch,
averaged over a superpixel), ties broken by a seeded random order (:func:`harness.metrics.faithfulness.removal_order`),
and every removal of a batch goes to the model in one call (chunks of ``max_batch`` images). Random fills are drawn
per image from its seed, so every method on an image is scored on the same draws.

- Pixel Flipping (Bach et al., PLoS ONE 2015, https://doi.org/10.1371/journal.pone.0130140): :func:`pixel_flipping`.
- Region Perturbation (Samek et al., IEEE TNNLS 2017, https://arxiv.org/abs/1509.06321), AOPC:
  :func:`region_perturbation`.
- Selectivity (Montavon et al., DSP 2018, https://arxiv.org/abs/1706.07979): :func:`patch_curve` to the last patch.
- IROF (Rieger & Hansen 2020, https://arxiv.org/abs/2003.08747): :func:`irof_curves`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from harness.metrics.faithfulness import Model, Seeds, removal_order
from harness.metrics.imputation import seed_list
from harness.common.seeding import generators_for, seed_for

Fill = float | str
#: The named fills of :func:`fill_images` (besides a number).
FILLS = ("mean", "uniform")


def fill_images(x: torch.Tensor, fill: Fill, seeds: Seeds, stream: str = "removal fill") -> torch.Tensor:
    """``(B, C, H, W)`` what removed pixels become: a constant (pixel units), ``"mean"`` (each image's mean over
    its channels and pixels: Quantus's ``"mean"`` baseline) or ``"uniform"`` (``U(0, 1)`` on every pixel and channel,
    drawn on the CPU from ``seed_for(stream, seed)`` of each image: the same field for every method)."""
    if fill == "mean":
        return x.mean((1, 2, 3), keepdim=True).expand_as(x)
    if fill == "uniform":
        gens = generators_for([seed_for(stream, s) for s in seed_list(seeds)])
        return torch.stack([torch.rand(*x.shape[1:], generator=g, dtype=x.dtype) for g in gens]).to(x.device)
    if isinstance(fill, str):
        raise ValueError(f"fill must be a number or one of {FILLS}, not {fill!r}")
    return torch.full_like(x, float(fill))


def target_outputs(model: Model, x: torch.Tensor, target: torch.Tensor, removed: torch.Tensor, image: torch.Tensor,
                   fill: torch.Tensor, *, probability: bool = True, max_batch: int | None = None) -> torch.Tensor:
    """``(N,)`` float64 output of the explained class for ``N`` removals: ``image[n]``'s pixels where ``removed[n]``
    ``(N, H, W)`` is True replaced by its ``fill`` ``(B, C, H, W)`` in every channel; the softmax probability
    (``probability=True``) or the logit. The images are built ``max_batch`` at a time (all at once if None)."""
    out = []
    step = max_batch or max(1, len(removed))
    for lo in range(0, len(removed), step):
        idx, mask = image[lo:lo + step], removed[lo:lo + step, None]
        with torch.no_grad():
            logits = model(torch.where(mask, fill[idx], x[idx])).double()
        scores = logits.softmax(1) if probability else logits
        out.append(scores.gather(1, target[idx].view(-1, 1).to(scores.device)).squeeze(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def stacked_outputs(model: Model, x: torch.Tensor, target: torch.Tensor, removed: torch.Tensor, fill: torch.Tensor,
                    *, probability: bool = True, max_batch: int | None = None) -> torch.Tensor:
    """``(B, S)``: :func:`target_outputs` for removals ``(S, B, H, W)``, one per step and image."""
    s, b = removed.shape[:2]
    image = torch.arange(b, device=x.device).repeat(s)
    out = target_outputs(model, x, target, removed.flatten(0, 1), image, fill, probability=probability,
                         max_batch=max_batch)
    return out.view(s, b).T


def curve_outputs(model: Model, x: torch.Tensor, target: torch.Tensor, removed_at: Callable[[range], torch.Tensor],
                  n_points: int, fill: torch.Tensor, max_batch: int | None = None) -> torch.Tensor:
    """``(B, n_points)`` probabilities of a removal curve whose masks ``(len(steps), B, H, W)`` ``removed_at(steps)``
    builds for a range of steps, one chunk of ``max_batch`` images at a time (a 785-step curve of 32 images of
    224 × 224 pixels would otherwise hold 1.3 GB of masks)."""
    per = max(1, (max_batch or n_points * len(x)) // len(x))
    parts = [stacked_outputs(model, x, target, removed_at(range(lo, min(lo + per, n_points))), fill,
                             max_batch=max_batch) for lo in range(0, n_points, per)]
    return torch.cat(parts, 1)


def first_k(order: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
    """``(len(counts), B, N)`` bool: True on the first ``counts[s]`` entries of each row of ``order`` ``(B, N)``."""
    positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
    ranks = torch.empty_like(order).scatter_(1, order, positions)
    k = torch.tensor(list(counts), device=order.device, dtype=order.dtype)
    return ranks[None] < k[:, None, None]


def pixel_flipping(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *, seeds: Seeds,
                   steps: int = 64, fill: Fill = 0.0, max_batch: int | None = None) -> torch.Tensor:
    """Pixel Flipping (Bach et al. 2015): ``p`` as the pixels are flipped to ``fill``, most relevant first.

    At step ``i`` of ``0..steps`` the first ``round(i·H·W / steps)`` pixels of the removal order are set to the fill
    in every channel (Quantus's ``PixelFlipping`` with ``features_in_step = H·W / steps`` on one-channel images, and
    its ``"black"`` baseline for ``fill=0``). The measure is the curve's :func:`~harness.metrics.faithfulness.area`
    (lower = more faithful).

    Returns:
        ``(B, steps + 1)`` float64 probabilities, step 0 the intact image.
    """
    b, _, h, w = x.shape
    order = removal_order(maps, seeds)

    def removed_at(at: range) -> torch.Tensor:
        return first_k(order, [int(i * h * w / steps + 0.5) for i in at]).view(len(at), b, h, w)

    return curve_outputs(model, x, target, removed_at, steps + 1, fill_images(x, fill, seeds), max_batch)


def patch_order(maps: torch.Tensor, seeds: Seeds, patch: int) -> torch.Tensor:
    """``(B, nh·nw)`` the patches of a ``patch × patch`` grid (``nh = ⌈H / patch⌉``; partial patches at the bottom and
    right) in removal order: by the sum of ``|map|`` over the patch, ties in a seeded random order."""
    b, h, w = maps.shape
    nh, nw = -(-h // patch), -(-w // patch)
    padded = torch.nn.functional.pad(maps.detach().abs(), (0, nw * patch - w, 0, nh * patch - h))
    sums = padded.view(b, nh, patch, nw, patch).sum((2, 4))
    return removal_order(sums, seeds)


def patches_removed(order: torch.Tensor, counts: Sequence[int], patch: int, shape: tuple[int, int]) -> torch.Tensor:
    """``(len(counts), B, H, W)`` bool: the pixels of the first ``counts[s]`` patches of ``order``
    (:func:`patch_order`)."""
    h, w = shape
    nh, nw = -(-h // patch), -(-w // patch)
    grid = first_k(order, counts).view(len(counts), order.shape[0], nh, nw)
    return grid.repeat_interleave(patch, 2).repeat_interleave(patch, 3)[..., :h, :w]


def patch_curve(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *, seeds: Seeds,
                patch: int = 8, steps: int | None = None, fill: Fill = 0.0,
                max_batch: int | None = None) -> torch.Tensor:
    """``p`` as the patches of a ``patch × patch`` grid are removed cumulatively, most relevant first
    (:func:`patch_order`), one patch per step, for ``steps`` steps (None: every patch).

    Region Perturbation (Samek et al. 2017) reads it as drops (:func:`region_perturbation`); Selectivity (Montavon et
    al. 2018) as the area under it to the last patch (lower = more faithful). These are Quantus's
    ``RegionPerturbation`` and ``Selectivity`` (its non-overlapping grid) for a constant fill.

    Returns:
        ``(B, L + 1)`` float64 probabilities, ``L = min(steps, nh·nw)``, column 0 the intact image.
    """
    b, _, h, w = x.shape
    order = patch_order(maps, seeds, patch)
    n = order.shape[1] if steps is None else min(steps, order.shape[1])
    return curve_outputs(model, x, target, lambda at: patches_removed(order, at, patch, (h, w)), n + 1,
                         fill_images(x, fill, seeds), max_batch)


def region_perturbation(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *, seeds: Seeds,
                        patch: int = 8, steps: int = 100, fill: Fill = "uniform",
                        max_batch: int | None = None) -> torch.Tensor:
    """Region Perturbation (Samek et al. 2017): the drops ``p(x) − p(x_MoRF^(k))``, ``k = 0..L``.

    The paper's AOPC is their mean over ``k = 0..L`` (higher = more faithful). Its regions are filled with uniform
    noise (``fill="uniform"``, seeded per image); Quantus's default fills with the image's minimum ("black").

    Returns:
        ``(B, L + 1)`` float64 drops, column 0 zero.
    """
    curve = patch_curve(model, x, target, maps, seeds=seeds, patch=patch, steps=steps, fill=fill,
                        max_batch=max_batch)
    return curve[:, :1] - curve


def superpixels(x: torch.Tensor, n_segments: int = 100) -> list[np.ndarray]:
    """SLIC superpixels of each image ``(C, H, W)`` (``skimage.segmentation.slic(image, start_label=0)`` on the
    channels-last float64 image, as Quantus's IROF), one ``(H, W)`` int label array per image, labels ``0..S−1``."""
    from skimage.segmentation import slic

    images = x.detach().cpu().double().numpy()
    return [slic(np.moveaxis(img, 0, -1), n_segments=n_segments, start_label=0) for img in images]


def _segment_removals(maps: torch.Tensor, seeds: Seeds, segments: list[np.ndarray]) -> list[torch.Tensor]:
    """Per image ``(S + 1, H, W)`` bool: its first ``k = 0..S`` superpixels removed, ranked by mean ``|map|``."""
    out = []
    for m, seed, seg in zip(maps.detach().abs(), seed_list(seeds), segments):
        labels = torch.as_tensor(seg, device=m.device, dtype=torch.long)
        n = int(labels.max()) + 1
        totals = torch.zeros(n, dtype=m.dtype, device=m.device).index_add_(0, labels.flatten(), m.flatten())
        means = totals / torch.bincount(labels.flatten(), minlength=n).clamp_min(1).to(m.dtype)
        order = removal_order(means.view(1, 1, n), [seed])[0]
        rank = torch.empty_like(order).scatter_(0, order, torch.arange(n, device=m.device))
        out.append(rank[labels][None] < torch.arange(n + 1, device=m.device)[:, None, None])
    return out


def irof_curves(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *, seeds: Seeds,
                n_segments: int = 100, fill: Fill = "mean", max_batch: int | None = None) -> list[torch.Tensor]:
    """IROF (Rieger & Hansen 2020): ``p(x_k) / p(x)`` as the ``k = 0..S`` most relevant SLIC superpixels
    (:func:`superpixels`, ranked by mean ``|map|``) are removed into ``fill`` (default: the intact image's mean over
    its channels and pixels; Quantus's "mean" is that of the whole batch as perturbed so far).

    The measure is the area over the curve, ``1 −`` its :func:`~harness.metrics.faithfulness.area` on ``[0, 1]``
    (higher = more faithful). Quantus's ``IROF`` returns ``S − trapz(c_1..c_S)`` instead (unit spacing, without
    the intact image's point), not comparable across images with different ``S``.

    Returns:
        One ``(S_b + 1,)`` float64 curve per image (images have different numbers of superpixels).
    """
    removals = _segment_removals(maps, seeds, superpixels(x, n_segments))
    image = torch.cat([torch.full((len(r),), i, device=x.device) for i, r in enumerate(removals)])
    scores = target_outputs(model, x, target, torch.cat(removals), image, fill_images(x, fill, seeds),
                            max_batch=max_batch)
    curves = scores.split([len(r) for r in removals])
    return [c / c[0] for c in curves]
