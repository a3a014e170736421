"""Does removing what a map calls important change the model's output? Batched faithfulness measures.

Maps ``(B, H, W)`` (ranked by ``|map|``), images ``(B, C, H, W)`` in the pixel space the model takes, targets
``(B,)`` int64. A ``model`` is a callable from images ``(N, C, H, W)`` to logits ``(N, K)``; it is called under
``torch.no_grad()`` on all the perturbed images of a batch at once (in chunks of ``max_batch`` images if given).
Curves are ``(B, F)`` in float64. Random draws are made on the CPU from one generator per image
(:func:`harness.common.seeding.generators_for`), so every device gets the same numbers; ties in a map are broken by a
seeded random order, never by pixel index (:func:`removal_order`).

- ROAD (Rong et al., ICML 2022, https://arxiv.org/abs/2202.00449): :func:`road_curve`, removed pixels imputed by
  :func:`harness.metrics.imputation.noisy_linear_impute`; the measure is the curve's mean.
- Deletion / insertion (Petsiuk et al., BMVC 2018, https://arxiv.org/abs/1806.07421): :func:`deletion_insertion`,
  the measure is :func:`area`.
- Infidelity (Yeh et al., NeurIPS 2019, https://arxiv.org/abs/1901.09392): :func:`infidelity`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

from harness.metrics.imputation import noisy_linear_impute, seed_list
from harness.common.seeding import generators_for, seed_for

Model = Callable[[torch.Tensor], torch.Tensor]
Seeds = torch.Tensor | Iterable[int]

#: ROAD's removal fractions used by default.
ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
#: The blurred fill of RISE's reference code (``gkern(klen=11, nsig=5)``): kernel size and sigma, in pixels.
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0


def removal_order(maps: torch.Tensor, seeds: Seeds, most_relevant_first: bool = True) -> torch.Tensor:
    """Pixels in the order they are removed: by ``|map|``, ties in a seeded random order.

    Each image's pixels are first put in a random order (``torch.randperm`` from a CPU generator seeded by its
    seed), then stably sorted by ``|map|``: tied pixels keep their random order, never their pixel index. A
    constant map thus gives a random permutation, and the same one whether the most or the least relevant pixels
    come first. The same seed gives the same order on every device.

    Args:
        maps: ``(B, H, W)`` finite maps.
        seeds: ``(B,)`` int seeds, one per image.
        most_relevant_first: largest ``|map|`` first (MoRF, deletion) or smallest first (LeRF).

    Returns:
        ``(B, H·W)`` int64 flat pixel indices on ``maps``' device, first removed first.
    """
    b, h, w = maps.shape
    perms = torch.stack([torch.randperm(h * w, generator=g) for g in generators_for(seed_list(seeds))])
    perms = perms.to(maps.device).view(b, h * w)
    keys = maps.detach().abs().flatten(1).gather(1, perms)
    return perms.gather(1, keys.sort(dim=1, descending=most_relevant_first, stable=True).indices)


def _first_removed(order: torch.Tensor, shares: Sequence[float], shape: tuple[int, int]) -> torch.Tensor:
    """``(len(shares), B, H, W)`` bool: for each share ``f``, True on the first ``⌊f·H·W + 1/2⌋`` pixels (``f·H·W``
    rounded half up) of each ``order``."""
    counts = [int(f * order.shape[1] + 0.5) for f in shares]
    positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
    ranks = torch.empty_like(order).scatter_(1, order, positions)  # ranks[b, pixel] = its place in the order
    k = torch.tensor(list(counts), device=order.device)
    return (ranks[None] < k[:, None, None]).view(len(shares), order.shape[0], *shape)


def _outputs(model: Model, images: torch.Tensor, max_batch: int | None) -> torch.Tensor:
    with torch.no_grad():
        parts = images.split(max_batch) if max_batch else (images,)
        return torch.cat([model(part) for part in parts])


def target_probability(model: Model, images: torch.Tensor, target: torch.Tensor,
                       max_batch: int | None = None) -> torch.Tensor:
    """``(N,)`` float64 softmax probability of class ``target`` ``(N,)`` for ``images`` ``(N, C, H, W)``."""
    logits = _outputs(model, images, max_batch).double()
    return logits.softmax(1).gather(1, target.view(-1, 1).to(logits.device)).squeeze(1)


def road_curve(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *, seeds: Seeds,
               fractions: Sequence[float] = ROAD_FRACTIONS, most_relevant_first: bool = True, noise: float = 0.01,
               max_batch: int | None = None) -> torch.Tensor:
    """ROAD: the probability of ``target`` once a fraction of the pixels is removed and imputed (Rong et al. 2022).

    For each fraction ``f``, the first ``f·H·W`` pixels (rounded half up) of :func:`removal_order` are removed
    from every channel and filled by noisy linear imputation (:func:`harness.metrics.imputation.noisy_linear_impute`,
    one system for all fractions and images). The noise of an image is seeded by ``seed_for("road noise", seed)`` and
    is the same field at every fraction. The measure is the curve's mean: MoRF (``most_relevant_first=True``),
    lower = more faithful; LeRF, higher = more faithful; ``LeRF − MoRF`` combines both.

    Args:
        model: images ``(N, C, H, W)`` → logits ``(N, K)``.
        x: ``(B, C, H, W)`` images.
        target: ``(B,)`` int64 classes.
        maps: ``(B, H, W)`` maps.
        seeds: ``(B,)`` int seeds (tie order and imputation noise).
        fractions: removed fractions, each in ``[0, 1]``.
        most_relevant_first: MoRF (True) or LeRF (False).
        noise: std of the imputation noise (ROAD: 0.01 on images in ``[0, 1]``).
        max_batch: most images per model call (None: one call).

    Returns:
        ``(B, F)`` float64 probabilities, one column per fraction.
    """
    b, c, h, w = x.shape
    n_frac = len(fractions)
    seeds = seed_list(seeds)
    order = removal_order(maps, seeds, most_relevant_first)
    removed = _first_removed(order, fractions, (h, w))
    noise_seeds = [seed_for("road noise", s) for s in seeds] * n_frac
    images = noisy_linear_impute(x.repeat(n_frac, 1, 1, 1), removed.flatten(0, 1), noise, noise_seeds)
    return target_probability(model, images, target.repeat(n_frac), max_batch).view(n_frac, b).T


def blurred(x: torch.Tensor, kernel_size: int = BLUR_KERNEL, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """RISE's blurred fill: a Gaussian blur (``torchvision.transforms.functional.gaussian_blur``) of ``x``.

    Kernel size 11 and sigma 5 are those of RISE's code (``gkern(11, 5)`` in ``eclique/RISE/evaluation.py``).
    That code builds its kernel by ``scipy.ndimage.gaussian_filter`` of an 11×11 delta (the tails beyond the
    window folded back in: a flatter kernel, centre weight 0.0088 against 0.0120 here, at most 0.0033 apart) and
    convolves with zero padding (a darkened 5-pixel border); torchvision truncates and renormalises the Gaussian
    and pads by reflection, so a constant image stays constant.
    """
    from torchvision.transforms.functional import gaussian_blur  # imported on use: torchvision takes ~2 s

    return gaussian_blur(x, [kernel_size, kernel_size], [sigma, sigma])


def deletion_insertion(model: Model, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *, seeds: Seeds,
                       steps: int = 16, mode: str = "deletion", fill: str | None = None,
                       fill_value: float | torch.Tensor = 0.0, max_batch: int | None = None) -> torch.Tensor:
    """Deletion / insertion curves (Petsiuk et al., BMVC 2018, https://arxiv.org/abs/1806.07421).

    At step ``i`` of ``0..steps`` the first ``i·H·W / steps`` pixels (rounded half up) of :func:`removal_order`
    (most relevant first) are, in every channel, replaced by the fill image (``mode="deletion"``: starts at ``x``,
    ends at the fill) or copied from ``x`` into the fill image (``"insertion"``: starts at the fill, ends at
    ``x``); the curve is the softmax probability of ``target`` at each step and the measure its :func:`area`:
    deletion, lower = more faithful; insertion, higher. RISE removes 224 pixels per step (224 steps on 224×224
    images); here the number of steps is fixed, so that every image size costs the same.

    The fill is ``"constant"`` (``fill_value``, a number or a tensor broadcastable to ``x``; RISE's zeros were in
    the normalised input space, i.e. the dataset's mean colour) or ``"blur"`` (:func:`blurred`). None takes RISE's
    choice: constant for deletion, blur for insertion.

    Args:
        model: images ``(N, C, H, W)`` → logits ``(N, K)``.
        x: ``(B, C, H, W)`` images.
        target: ``(B,)`` int64 classes.
        maps: ``(B, H, W)`` maps.
        seeds: ``(B,)`` int seeds of the tie order.
        steps: number of steps (the curve has ``steps + 1`` points).
        mode: ``"deletion"`` or ``"insertion"``.
        fill: ``"constant"``, ``"blur"`` or None.
        fill_value: the constant fill.
        max_batch: most images per model call (None: one call).

    Returns:
        ``(B, steps + 1)`` float64 probabilities.
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', not {mode!r}")
    fill = fill or ("constant" if mode == "deletion" else "blur")
    if fill == "blur":
        substrate = blurred(x)
    elif fill == "constant":
        substrate = torch.as_tensor(fill_value, dtype=x.dtype, device=x.device).expand_as(x)
    else:
        raise ValueError(f"fill must be 'blur' or 'constant', not {fill!r}")
    b, c, h, w = x.shape
    order = removal_order(maps, seeds, most_relevant_first=True)
    changed = _first_removed(order, [i / steps for i in range(steps + 1)], (h, w))[:, :, None]
    start, finish = (x, substrate) if mode == "deletion" else (substrate, x)
    images = torch.where(changed, finish[None], start[None]).flatten(0, 1)
    return target_probability(model, images, target.repeat(steps + 1), max_batch).view(steps + 1, b).T


def area(curve: torch.Tensor) -> torch.Tensor:
    """``(B,)`` area under curves ``(B, S + 1)`` sampled evenly on ``[0, 1]``: the trapezoidal mean (RISE's ``auc``)."""
    return (curve.sum(1) - (curve[:, 0] + curve[:, -1]) / 2) / (curve.shape[1] - 1)


def gaussian_perturbations(x: torch.Tensor, seeds: Seeds, n_perturb: int, noise_std: float) -> torch.Tensor:
    """``(B, n_perturb, C, H, W)`` draws of ``N(0, noise_std²)`` in ``x``'s dtype, on its device, for images ``x``
    ``(B, C, H, W)``: drawn on the CPU from one generator per image, seeded by ``seeds`` ``(B,)``."""
    return torch.stack([noise_std * torch.randn(n_perturb, *x.shape[1:], generator=g, dtype=x.dtype)
                        for g in generators_for(seed_list(seeds))]).to(x.device)


def infidelity(model_fn: Model, x: torch.Tensor, target: torch.Tensor, attributions: torch.Tensor, *, seeds: Seeds,
               n_perturb: int = 32, noise_std: float = 0.2, normalize: bool = True,
               max_batch: int | None = None) -> torch.Tensor:
    """Infidelity (Yeh et al., NeurIPS 2019, https://arxiv.org/abs/1901.09392) with Gaussian perturbations.

    ``E_I[(β·IᵀΦ − (f(x) − f(x − I)))²]`` with ``I ~ N(0, σ²)`` i.i.d. on every pixel and channel, ``f`` the
    ``target`` output of ``model_fn`` (logits or probabilities: the caller's choice), the expectation taken
    over ``n_perturb`` draws per image. It is ``captum.metrics.infidelity`` given the same draws.

    ``normalize=True`` (the default) scales the explanation by the least-squares ``β = E[IᵀΦ·Δf] / E[(IᵀΦ)²]``
    (Captum's ``normalize``; ``β = 0`` for an all-zero map), as the authors' code does: maps of different methods
    come in unrelated units (gradients, gradient × input, channel reductions), and without it infidelity would rank
    their scale, not how well they predict the output's change. ``normalize=False`` takes ``β = 1``.

    Args:
        model_fn: images ``(N, C, H, W)`` → outputs ``(N, K)``.
        x: ``(B, C, H, W)`` images.
        target: ``(B,)`` int64 classes.
        attributions: ``(B, C, H, W)``, or maps ``(B, H, W)`` taken as the same in every channel.
        seeds: ``(B,)`` int seeds of the perturbations (:func:`gaussian_perturbations`).
        n_perturb: draws per image.
        noise_std: ``σ``, in pixel units (the authors' code: 0.2 on images in ``[0, 1]``; it also clips ``x − I``
            to that range, which is not done here).
        normalize: fit ``β`` (True) or take ``β = 1``.
        max_batch: most images per model call (None: one call).

    Returns:
        ``(B,)`` float64.
    """
    b = x.shape[0]
    draws = gaussian_perturbations(x, seeds, n_perturb, noise_std)
    phi = attributions if attributions.dim() == 4 else attributions[:, None]
    explained = (draws.double() * phi[:, None].detach().double()).flatten(2).sum(2)  # IᵀΦ: (B, S)
    outputs = _outputs(model_fn, torch.cat([x, (x[:, None] - draws).flatten(0, 1)]), max_batch)
    rows = torch.arange(b, device=outputs.device)
    f_x = outputs[:b][rows, target].double()
    f_p = outputs[b:].view(b, n_perturb, -1)[rows, :, target].double()
    change = f_x[:, None] - f_p
    if normalize:
        den = (explained * explained).sum(1)
        beta = (explained * change).sum(1) / torch.where(den == 0, torch.ones_like(den), den)
        explained = beta[:, None] * explained
    return ((explained - change) ** 2).mean(1)
