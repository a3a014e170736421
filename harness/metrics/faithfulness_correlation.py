"""Does the map's relevance of a set of pixels predict what removing them does? Correlation measures of faithfulness,
batched in torch.

Maps ``(B, H, W)``, images ``(B, C, H, W)`` in pixel space (``[0, 1]``), targets ``(B,)`` int64, seeds ``(B,)``
one per image. A pixel is removed in every channel (the maps have one value per pixel; Quantus, given a map broadcast
over the channels, removes single channel values instead). Random subsets and noise are drawn per image from its
seed, never per method, so every method on an image is scored on the same draws. A constant map ranks nothing: its
correlation is NaN (:func:`harness.metrics.precision.is_constant`).

- Faithfulness Correlation (Bhatt et al., IJCAI 2020, https://arxiv.org/abs/2005.00631):
  :func:`faithfulness_correlation`.
- Faithfulness Estimate (Alvarez-Melis & Jaakkola, NeurIPS 2018, https://arxiv.org/abs/1806.07538):
  :func:`faithfulness_estimate`.
- Monotonicity Correlation (Nguyen & Martínez 2020, https://arxiv.org/abs/2007.07584): :func:`monotonicity_correlation`.
- Sensitivity-n (Ancona et al., ICLR 2018, https://arxiv.org/abs/1711.06104): :func:`sensitivity_n`.
"""
from __future__ import annotations

import torch

from harness.metrics.faithfulness import Model, Seeds, removal_order
from harness.metrics.imputation import seed_list
from harness.metrics.precision import is_constant
from harness.metrics.removal_curves import Fill, fill_images, first_k, stacked_outputs
from harness.metrics.torch_similarity import rankdata
from harness.common.seeding import generators_for, seed_for


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B,)`` Pearson's r along dim 1 of ``(B, N)`` (``scipy.stats.pearsonr``), float64; NaN where a row is
    constant."""
    a, b = a.double(), b.double()
    am, bm = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    den = torch.sqrt((am * am).sum(1) * (bm * bm).sum(1))
    r = (am * bm).sum(1) / den
    return torch.where(den > 0, r.clamp(-1, 1), torch.full_like(r, float("nan")))


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B,)`` Spearman's ρ along dim 1 of ``(B, N)`` (average ranks for ties, ``scipy.stats.spearmanr``)."""
    return pearson(rankdata(a.double()), rankdata(b.double()))


def random_subsets(seeds: Seeds, runs: int, size: int, shape: tuple[int, int], device=None,
                   stream: str = "faithfulness correlation") -> torch.Tensor:
    """``(runs, B, H, W)`` bool: ``runs`` subsets of ``size`` pixels per image, uniformly without replacement, drawn
    on the CPU from ``seed_for(stream, seed)`` of each image (the same for every method)."""
    n = shape[0] * shape[1]
    out = []
    for g in generators_for([seed_for(stream, s) for s in seed_list(seeds)]):
        picked = torch.rand(runs, n, generator=g).argsort(1)[:, :size]
        out.append(torch.zeros(runs, n, dtype=torch.bool).scatter_(1, picked, True))
    return torch.stack(out, 1).view(runs, -1, *shape).to(device)


def _drops(model: Model, x: torch.Tensor, target: torch.Tensor, removed: torch.Tensor, fill: torch.Tensor,
           probability: bool, max_batch: int | None) -> torch.Tensor:
    """``(B, S)`` ``f(x) − f(x with removed[s] filled)`` for removals ``(S, B, H, W)``."""
    intact = torch.zeros_like(removed[:1])
    out = stacked_outputs(model, x, target, torch.cat([intact, removed]), fill, probability=probability,
                          max_batch=max_batch)
    return out[:, :1] - out[:, 1:]


def _sums(maps: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """``(B, S)`` the map's sum over each removal ``(S, B, H, W)``, float64."""
    return (maps.detach().double()[None] * removed).sum((2, 3)).T


def _undefined_for_constant(values: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    return torch.where(is_constant(maps).to(values.device), torch.full_like(values, float("nan")), values)


def faithfulness_correlation(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *,
                             subsets: torch.Tensor, seeds: Seeds, fill: Fill = 0.0,
                             max_batch: int | None = None) -> torch.Tensor:
    """Faithfulness Correlation (Bhatt et al. 2020): ``corr_S(Σ_{i∈S} Φ_i, f(x) − f(x_{[x_S = x̄_S]}))``.

    Pearson's r over the random subsets ``S`` (:func:`random_subsets`) between the map's sum over the subset and the
    drop of the explained class's logit when the subset is set to the baseline ``x̄`` (``fill``; Quantus: the
    image's minimum, "black"). Higher = more faithful.

    Args:
        subsets: ``(R, B, H, W)`` bool, the ``R`` subsets of each image.
        seeds: ``(B,)`` int seeds (a ``"uniform"`` fill).

    Returns:
        ``(B,)`` float64 in ``[−1, 1]``.
    """
    drops = _drops(model, x, target, subsets, fill_images(x, fill, seeds), False, max_batch)
    return _undefined_for_constant(pearson(_sums(maps, subsets), drops), maps)


def groups(maps: torch.Tensor, seeds: Seeds, n_groups: int) -> torch.Tensor:
    """``(G, B, H, W)`` bool: the pixels in removal order (by ``|map|``, seeded ties) cut into ``n_groups``
    consecutive groups, group ``g`` the ranks ``[round(g·N/G), round((g+1)·N/G))``."""
    b, h, w = maps.shape
    bounds = [int(g * h * w / n_groups + 0.5) for g in range(n_groups + 1)]
    upto = first_k(removal_order(maps, seeds), bounds)
    return (upto[1:] & ~upto[:-1]).view(n_groups, b, h, w)


def faithfulness_estimate(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *, seeds: Seeds,
                          n_groups: int = 64, fill: Fill = 0.0, max_batch: int | None = None) -> torch.Tensor:
    """Faithfulness Estimate (Alvarez-Melis & Jaakkola 2018): ``corr_g(Σ_{i∈g} Φ_i, f(x) − f(x_{−g}))``.

    Pearson's r over groups of pixels (:func:`groups`; the paper's features are single pixels or concepts, Quantus's
    ``features_in_step`` consecutive features in the map's order), each removed alone into ``fill`` (Quantus:
    "black"), ``f`` the explained class's logit. Higher = more faithful.

    Returns:
        ``(B,)`` float64 in ``[−1, 1]``.
    """
    removed = groups(maps, seeds, n_groups)
    drops = _drops(model, x, target, removed, fill_images(x, fill, seeds), False, max_batch)
    return _undefined_for_constant(pearson(_sums(maps, removed), drops), maps)


def monotonicity_noise(x: torch.Tensor, seeds: Seeds, samples: int) -> torch.Tensor:
    """``(K, B, C, H, W)`` uniform ``U(0, 1)`` fills, drawn per image from ``seed_for("monotonicity", seed)``."""
    gens = generators_for([seed_for("monotonicity", s) for s in seed_list(seeds)])
    return torch.stack([torch.rand(samples, *x.shape[1:], generator=g, dtype=x.dtype) for g in gens], 1).to(x.device)


def monotonicity_correlation(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *,
                             seeds: Seeds, n_groups: int = 32, samples: int = 8, fill: Fill = "uniform",
                             eps: float = 1e-5, max_batch: int | None = None) -> torch.Tensor:
    """Monotonicity Correlation (Nguyen & Martínez 2020): ``ρ_g(Σ_{i∈g} |Φ_i|, E[(p(x) − p(x_{g←u}))²] / p(x)²)``.

    Spearman's ρ over the groups of pixels (:func:`groups`) between the group's ``|map|`` and the variance of the
    explained class's probability when the group alone is replaced by a fill ``u``: ``samples`` uniform fields per
    image (``fill="uniform"``, :func:`monotonicity_noise`; Quantus draws one value per group and image), or a
    constant (one sample). ``1 / p(x)²`` is 1 where ``p(x) < eps`` (as Quantus). Higher = more faithful.

    Returns:
        ``(B,)`` float64 in ``[−1, 1]``.
    """
    removed = groups(maps, seeds, n_groups)
    fills = monotonicity_noise(x, seeds, samples) if fill == "uniform" else fill_images(x, fill, seeds)[None]
    removals = torch.cat([torch.zeros_like(removed[:1]), removed])  # the intact image first
    variance = 0
    for f in fills:
        out = stacked_outputs(model, x, target, removals, f, max_batch=max_batch)
        p = out[:, :1]
        variance = variance + (p - out[:, 1:]) ** 2 / len(fills)
    inv = torch.where(p.abs() >= eps, 1 / p ** 2, torch.ones_like(p))
    return _undefined_for_constant(spearman(_sums(maps.abs(), removed), variance * inv), maps)


def sensitivity_n(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *, seeds: Seeds,
                  fractions: tuple[float, ...] = (0.01, 0.05, 0.2, 0.5, 0.8), runs: int = 64, fill: Fill = 0.0,
                  max_batch: int | None = None) -> torch.Tensor:
    """Sensitivity-n (Ancona et al. 2018): for each subset size ``n``, Pearson's r over ``runs`` random subsets ``S``
    of ``n`` pixels between ``Σ_{i∈S} Φ_i`` and ``f(x) − f(x_{S ← fill})`` (:func:`faithfulness_correlation` with
    subsets of that size, drawn from the stream ``"sensitivity-n <n>"`` of each image's seed).

    The paper plots the correlation against ``n``; the harness's measure is its mean over the ``n``. Quantus's
    ``SensitivityN`` removes the most relevant features cumulatively and correlates across images instead.

    Args:
        fractions: the subset sizes, as fractions of the pixels (each at least one pixel).

    Returns:
        ``(B, len(fractions))`` float64 in ``[−1, 1]``.
    """
    h, w = maps.shape[-2:]
    out = []
    for f in fractions:
        size = max(1, int(f * h * w + 0.5))
        subsets = random_subsets(seeds, runs, size, (h, w), maps.device, stream=f"sensitivity-n {size}")
        out.append(faithfulness_correlation(model, x, target, maps, subsets=subsets, seeds=seeds, fill=fill,
                                            max_batch=max_batch))
    return torch.stack(out, 1)
