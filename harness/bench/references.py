"""Side by side with the reference implementations, in the same bench run: the same network, images, maps and
random draws given to the harness and to Quantus 0.6, Captum and pytorch-grad-cam, with the seconds per image of each
and the largest difference of their numbers.

The references are optional (``pip install "saliency-harness[bench]"``, for the bench only, never a dependency of
the harness): a comparison whose package is missing is a row that says so. Every comparison gets the maps of the
harness's gradient (``|∂f_t/∂x|`` summed over the channels, ``(N, H, W)``; a 1e-6 relative jitter from a seeded
generator breaks exact ties, so that both sides remove pixels in one order) and, where the measure draws random
numbers, the harness's draws, replayed to the reference through its perturbation argument:

===================  =====================================  =========================================================
harness measure      reference                               what is compared
===================  =====================================  =========================================================
``road_morf``        grad-cam ``NoisyLinearImputer``         the curve (noise 0; the harness's removal order, per image)
``road_morf``        Quantus ``ROAD``                        runs or fails (0.6 fails on 3-channel images)
``pixel_flipping``   Quantus ``PixelFlipping``               the curve (fill 0; below)
``region_pert.``     Quantus ``RegionPerturbation``          the curve of drops (fill 0, every patch)
``selectivity``      Quantus ``Selectivity``                 the curve (fill 0)
``max_sensitivity``  Quantus ``MaxSensitivity``, Captum      the value (the harness's uniform draws replayed)
                     ``sensitivity_max``
``infidelity``       Captum ``infidelity``                   the value (the harness's Gaussian draws replayed, β fitted)
``random_logit``     Quantus ``RandomLogit``                 Spearman ρ of the two maps (Quantus's class draw)
MPRT (cascade)       Quantus ``MPRT``                        Spearman ρ per step (Quantus's randomised networks)
===================  =====================================  =========================================================

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
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)

#: ROAD's fractions in the comparison (the harness's default set) and its removal steps for the curve measures
ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
FLIP_STEPS = 16
NOISE_RADIUS, NOISE_SAMPLES = 0.05, 8
INFIDELITY_SAMPLES, INFIDELITY_STD = 16, 0.2


@dataclass
class Work:
    """What both sides get: ``net`` (images → logits, eval mode), images ``x`` ``(N, C, H, W)`` in ``[0, 1]``, the
    explained classes ``target`` ``(N,)``, the maps ``(N, H, W)`` and a seed per image."""

    net: torch.nn.Module
    x: torch.Tensor
    target: torch.Tensor
    maps: torch.Tensor
    seeds: torch.Tensor


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


def gradient_maps(net: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``|∂f_t/∂x|`` summed over the channels ``(N, H, W)``: the maps every comparison uses."""
    xi = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = net(xi).gather(1, target.view(-1, 1)).sum()
        return torch.autograd.grad(out, xi)[0].abs().sum(1).detach()


def _explain(model, inputs, targets, **kwargs) -> np.ndarray:
    """Quantus's ``explain_func``: the same gradient maps, ``(N, 1, H, W)`` NumPy."""
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
    t = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    return gradient_maps(model, x, t)[:, None].numpy()


def _quantus():
    import quantus

    if not hasattr(np, "trapz"):  # Quantus 0.6 calls np.trapz, removed in NumPy 2.4: the same function renamed
        np.trapz = np.trapezoid
    return quantus


def _call(w: Work, every_channel: bool = False) -> dict:
    """Quantus's arguments; the map ``(N, 1, H, W)``, or repeated in every channel (``every_channel``)."""
    maps = w.maps[:, None].expand_as(w.x) if every_channel else w.maps[:, None]
    return dict(model=w.net, x_batch=w.x.numpy(), y_batch=w.target.numpy(), a_batch=maps.contiguous().numpy(),
                channel_first=True, device="cpu", batch_size=len(w.x))


_QUIET = dict(disable_warnings=True, display_progressbar=False)


# --- ROAD --------------------------------------------------------------------------------------------------------

def _road_ours(w: Work) -> np.ndarray:
    from harness.metrics.faithfulness import road_curve

    return road_curve(w.net, w.x, w.target, w.maps, seeds=w.seeds, fractions=ROAD_FRACTIONS, noise=0.0).numpy()


def _road_gradcam(w: Work) -> np.ndarray:
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer

    from harness.metrics.faithfulness import _first_removed, removal_order, target_probability

    h, wd = w.x.shape[-2:]
    removed = _first_removed(removal_order(w.maps, w.seeds.tolist()), ROAD_FRACTIONS, (h, wd))  # (F, N, H, W)
    imputer = NoisyLinearImputer(noise=0.0)
    images = torch.stack([torch.stack([imputer(w.x[i], (~removed[f, i]).float()) for i in range(len(w.x))])
                          for f in range(len(ROAD_FRACTIONS))]).float()
    p = target_probability(w.net, images.flatten(0, 1), w.target.repeat(len(ROAD_FRACTIONS)))
    return p.view(len(ROAD_FRACTIONS), -1).T.numpy()


def _road_quantus(w: Work) -> np.ndarray:
    quantus = _quantus()
    out = quantus.ROAD(noise=0.0, percentages=[int(100 * f) for f in ROAD_FRACTIONS], **_QUIET)(**_call(w))
    return np.asarray(list(out.values()) if isinstance(out, dict) else out, dtype=float)


# --- the removal curves of Quantus ---------------------------------------------------------------------------------

def _flip_ours(w: Work) -> np.ndarray:
    from harness.metrics import removal_curves as rc

    return rc.pixel_flipping(w.net, w.x, w.target, w.maps, seeds=w.seeds, steps=FLIP_STEPS, fill=0.0)[:, 1:].numpy()


def _flip_theirs(w: Work) -> np.ndarray:
    h, wd = w.x.shape[-2:]
    metric = _quantus().PixelFlipping(features_in_step=h * wd // FLIP_STEPS, perturb_baseline=0.0, **_QUIET)
    curves = np.asarray(metric(**_call(w, every_channel=True), softmax=True), dtype=float)  # (N, C · steps)
    channels = w.x.shape[1]
    return curves[:, channels - 1::channels]  # after every C-th step: whole pixels removed


def _patch(w: Work) -> int:
    return max(4, min(w.x.shape[-2:]) // 8)


def _region_ours(w: Work) -> np.ndarray:
    from harness.metrics import removal_curves as rc

    p = _patch(w)
    steps = (w.x.shape[-2] // p) * (w.x.shape[-1] // p)
    return rc.region_perturbation(w.net, w.x, w.target, w.maps, seeds=w.seeds, patch=p, steps=steps,
                                  fill=0.0)[:, 1:].numpy()


def _region_theirs(w: Work) -> np.ndarray:
    p = _patch(w)
    regions = (w.x.shape[-2] // p) * (w.x.shape[-1] // p)
    metric = _quantus().RegionPerturbation(patch_size=p, regions_evaluation=regions, perturb_baseline=0.0, **_QUIET)
    return np.asarray(metric(**_call(w), softmax=True), dtype=float)


def _selectivity_ours(w: Work) -> np.ndarray:
    from harness.metrics import removal_curves as rc

    return rc.patch_curve(w.net, w.x, w.target, w.maps, seeds=w.seeds, patch=_patch(w), fill=0.0)[:, 1:].numpy()


def _selectivity_theirs(w: Work) -> np.ndarray:
    metric = _quantus().Selectivity(patch_size=_patch(w), perturb_baseline=0.0, **_QUIET)
    return np.asarray(metric(**_call(w), softmax=True), dtype=float)


# --- max-sensitivity, infidelity, random logit ------------------------------------------------------------------------

def noise_draws(w: Work) -> torch.Tensor:
    """The harness's uniform draws ``(S, N, C, H, W)`` in ``[−r, r]``, seeded per image."""
    out = []
    for s in w.seeds.tolist():
        g = torch.Generator().manual_seed(int(s))
        out.append((torch.rand(NOISE_SAMPLES, *w.x.shape[1:], generator=g) * 2 - 1) * NOISE_RADIUS)
    return torch.stack(out, 1)


def _sensitivity_ours(w: Work) -> np.ndarray:
    from harness.attribution.engine import View, attribute_views
    from harness.attribution.methods import Saliency
    from harness.metrics.sensitivity import rel_change

    draws, seeds = noise_draws(w), torch.stack([w.seeds, w.seeds], 1)
    views = [View("clean", w.x, w.target, seeds)]
    views += [View(f"noise {k}", w.x + d, w.target, seeds) for k, d in enumerate(draws)]
    maps = attribute_views({"saliency": Saliency()}, w.net, views, reduction="sum_abs")
    clean = next(iter(maps["clean"].maps.values()))
    ratios = torch.stack([rel_change(clean, next(iter(maps[v.key].maps.values()))) for v in views[1:]])
    return ratios.max(0).values.double().numpy()


def _sensitivity_quantus(w: Work) -> np.ndarray:
    draws = noise_draws(w).flatten(2).numpy()  # (S, N, D)
    step = iter(range(NOISE_SAMPLES))

    def replay(arr, indices, **kwargs):
        return arr + draws[next(step)]

    metric = _quantus().MaxSensitivity(nr_samples=NOISE_SAMPLES, perturb_func=replay, **_QUIET)
    return np.asarray(metric(**_call(w), explain_func=_explain), dtype=float)


def _sensitivity_captum(w: Work) -> np.ndarray:
    from captum.metrics import sensitivity_max

    draws = noise_draws(w).transpose(0, 1).flatten(0, 1)  # image-major, as Captum repeats the inputs

    def explain(inputs, target):  # Captum passes the clean inputs as a tuple and iterates over what is returned
        return (gradient_maps(w.net, inputs[0] if isinstance(inputs, tuple) else inputs, target),)

    return sensitivity_max(explain, w.x, perturb_func=lambda inputs: inputs + draws,
                           n_perturb_samples=NOISE_SAMPLES, target=w.target).double().numpy()


def _infidelity_ours(w: Work) -> np.ndarray:
    from harness.metrics.faithfulness import infidelity

    return infidelity(w.net, w.x, w.target, w.maps, seeds=w.seeds, n_perturb=INFIDELITY_SAMPLES,
                      noise_std=INFIDELITY_STD).numpy()


def _infidelity_captum(w: Work) -> np.ndarray:
    from captum.metrics import infidelity

    from harness.metrics.faithfulness import gaussian_perturbations

    draws = gaussian_perturbations(w.x, w.seeds.tolist(), INFIDELITY_SAMPLES, INFIDELITY_STD).flatten(0, 1)
    maps = w.maps[:, None].expand_as(w.x)

    def perturb(inputs):
        return draws, inputs - draws

    return infidelity(w.net, perturb, w.x, maps, target=w.target, n_perturb_samples=INFIDELITY_SAMPLES,
                      normalize=True).double().numpy()


def _quantus_off_class(w: Work, classes: int, seed: int = 42) -> torch.Tensor:
    """The other class Quantus 0.6's ``RandomLogit`` draws for each image (its own code, replayed)."""
    rng = np.random.RandomState(seed)
    y = w.target.numpy()
    pick = rng.randint(0, classes - 1, len(y))
    return torch.tensor([[c for c in range(classes) if c != t][k] for t, k in zip(y, pick)])


def _logit_ours(w: Work) -> np.ndarray:
    from harness.metrics import torch_similarity as ts

    classes = w.net(w.x[:1]).shape[1]
    other = gradient_maps(w.net, w.x, _quantus_off_class(w, classes))
    return ts.spearman(w.maps, other).double().numpy()


def _logit_theirs(w: Work) -> np.ndarray:
    quantus = _quantus()
    classes = w.net(w.x[:1]).shape[1]
    metric = quantus.RandomLogit(num_classes=classes, similarity_func=quantus.similarity_func.correlation_spearman,
                                 normalise=False, **_QUIET)
    return np.asarray(metric(**_call(w), explain_func=_explain), dtype=float)


def cascade(net: torch.nn.Module, seed: int = 42):
    """Quantus 0.6's cascading randomisation (``get_random_layer_generator("top_down")``), replayed: from the top,
    every module with ``reset_parameters`` is reset after ``torch.manual_seed(seed + 1)``, one more a step; yields
    each step's network (one copy, changed in place)."""
    model = copy.deepcopy(net)
    for _, module in [m for m in model.named_modules() if hasattr(m[1], "reset_parameters")][::-1]:
        torch.manual_seed(seed + 1)
        module.reset_parameters()
        yield model


def _mprt_ours(w: Work) -> np.ndarray:
    from harness.attribution.engine import View, attribute_views
    from harness.attribution.methods import Saliency
    from harness.metrics import torch_similarity as ts

    view = View("clean", w.x, w.target, torch.stack([w.seeds, w.seeds], 1))
    rows = []
    for model in itertools.chain([w.net], cascade(w.net)):  # the original network, then each step (lazily: in place)
        maps = next(iter(attribute_views({"saliency": Saliency()}, model.eval(), [view],
                                         reduction="sum_abs")["clean"].maps.values()))
        rows.append(ts.spearman(w.maps, maps).double().numpy())
    return np.stack(rows)


def _mprt_theirs(w: Work) -> np.ndarray:
    quantus = _quantus()
    metric = quantus.MPRT(similarity_func=quantus.similarity_func.correlation_spearman, layer_order="top_down",
                          **_QUIET)
    return np.asarray(list(metric(**_call(w), explain_func=_explain).values()), dtype=float)


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("road_morf", "grad-cam NoisyLinearImputer (per image)", "pytorch_grad_cam", _road_ours, _road_gradcam,
               f"curve, {len(ROAD_FRACTIONS)} fractions, noise 0"),
    Comparison("road_morf", "Quantus ROAD", "quantus", _road_ours, _road_quantus,
               f"curve, {len(ROAD_FRACTIONS)} fractions, noise 0"),
    Comparison("pixel_flipping", "Quantus PixelFlipping", "quantus", _flip_ours, _flip_theirs,
               f"curve, {FLIP_STEPS} steps, fill 0"),
    Comparison("region_perturbation", "Quantus RegionPerturbation", "quantus", _region_ours, _region_theirs,
               "curve of drops, every patch, fill 0"),
    Comparison("selectivity", "Quantus Selectivity", "quantus", _selectivity_ours, _selectivity_theirs,
               "curve, fill 0"),
    Comparison("max_sensitivity", "Quantus MaxSensitivity", "quantus", _sensitivity_ours, _sensitivity_quantus,
               f"value, {NOISE_SAMPLES} uniform draws (radius {NOISE_RADIUS}) replayed"),
    Comparison("max_sensitivity", "Captum sensitivity_max", "captum", _sensitivity_ours, _sensitivity_captum,
               f"value, {NOISE_SAMPLES} uniform draws (radius {NOISE_RADIUS}) replayed"),
    Comparison("infidelity", "Captum infidelity", "captum", _infidelity_ours, _infidelity_captum,
               f"value, {INFIDELITY_SAMPLES} Gaussian draws (σ {INFIDELITY_STD}) replayed, β fitted"),
    Comparison("random_logit", "Quantus RandomLogit", "quantus", _logit_ours, _logit_theirs,
               "Spearman ρ of the two maps, Quantus's class draw"),
    Comparison("mprt", "Quantus MPRT", "quantus", _mprt_ours, _mprt_theirs,
               "Spearman ρ per cascade step, Quantus's randomised networks replayed"),
)


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
            rows.append({**row, "note": f"{c.package} not installed (pip install 'saliency-harness[bench]')"})
            continue
        ours = c.ours(work)
        t_ours = timer(lambda: c.ours(work), repeats)
        try:
            theirs = c.theirs(work)
        except Exception as exc:  # the reference cannot do this work: recorded, not raised
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            rows.append({**row, "harness_s_per_image": t_ours / len(x), "note": f"reference fails: "
                         f"{type(exc).__name__}: {first}"})
            continue
        t_theirs = timer(lambda: c.theirs(work), repeats)
        ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
        diff = float(np.nanmax(np.abs(ours - theirs))) if ours.shape == theirs.shape else float("nan")
        rows.append({**row, "harness_s_per_image": t_ours / len(x), "reference_s_per_image": t_theirs / len(x),
                     "harness_speedup": t_theirs / t_ours, "max_abs_diff": diff,
                     "note": "" if ours.shape == theirs.shape else f"shapes differ: {ours.shape} vs {theirs.shape}"})
        log.info("reference %s vs %s: ×%.1f, max |Δ| %.2g", c.measure, c.reference, t_theirs / t_ours, diff)
    return rows
