"""Robustness and randomisation measures side by side (:mod:`harness.bench.references`): max-sensitivity against
Quantus and Captum, infidelity against Captum, random logit and MPRT against Quantus, each with the harness's draws
(or Quantus's, replayed) on both sides."""
from __future__ import annotations

import copy
import itertools

import numpy as np
import torch

from harness.bench.reference_work import QUIET, Work, explain, gradient_maps, load_quantus, quantus_call

NOISE_RADIUS, NOISE_SAMPLES = 0.05, 8
INFIDELITY_SAMPLES, INFIDELITY_STD = 16, 0.2


# --- max-sensitivity, infidelity, random logit ------------------------------------------------------------------------

def noise_draws(w: Work) -> torch.Tensor:
    """The harness's uniform draws ``(S, N, C, H, W)`` in ``[−r, r]``, seeded per image."""
    out = []
    for s in w.seeds.tolist():
        g = torch.Generator().manual_seed(int(s))
        out.append((torch.rand(NOISE_SAMPLES, *w.x.shape[1:], generator=g) * 2 - 1) * NOISE_RADIUS)
    return torch.stack(out, 1)


def sensitivity_ours(w: Work) -> np.ndarray:
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


def sensitivity_quantus(w: Work) -> np.ndarray:
    draws = noise_draws(w).flatten(2).numpy()  # (S, N, D)
    step = iter(range(NOISE_SAMPLES))

    def replay(arr, indices, **kwargs):
        return arr + draws[next(step)]

    metric = load_quantus().MaxSensitivity(nr_samples=NOISE_SAMPLES, perturb_func=replay, **QUIET)
    return np.asarray(metric(**quantus_call(w), explain_func=explain), dtype=float)


def sensitivity_captum(w: Work) -> np.ndarray:
    from captum.metrics import sensitivity_max

    draws = noise_draws(w).transpose(0, 1).flatten(0, 1)  # image-major, as Captum repeats the inputs

    def explain(inputs, target):  # Captum passes the clean inputs as a tuple and iterates over what is returned
        return (gradient_maps(w.net, inputs[0] if isinstance(inputs, tuple) else inputs, target),)

    return sensitivity_max(explain, w.x, perturb_func=lambda inputs: inputs + draws,
                           n_perturb_samples=NOISE_SAMPLES, target=w.target).double().numpy()


def infidelity_ours(w: Work) -> np.ndarray:
    from harness.metrics.faithfulness import infidelity

    return infidelity(w.net, w.x, w.target, w.maps, seeds=w.seeds, n_perturb=INFIDELITY_SAMPLES,
                      noise_std=INFIDELITY_STD).numpy()


def infidelity_captum(w: Work) -> np.ndarray:
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


def logit_ours(w: Work) -> np.ndarray:
    from harness.metrics import torch_similarity as ts

    classes = w.net(w.x[:1]).shape[1]
    other = gradient_maps(w.net, w.x, _quantus_off_class(w, classes))
    return ts.spearman(w.maps, other).double().numpy()


def logit_theirs(w: Work) -> np.ndarray:
    quantus = load_quantus()
    classes = w.net(w.x[:1]).shape[1]
    metric = quantus.RandomLogit(num_classes=classes, similarity_func=quantus.similarity_func.correlation_spearman,
                                 normalise=False, **QUIET)
    return np.asarray(metric(**quantus_call(w), explain_func=explain), dtype=float)


def cascade(net: torch.nn.Module, seed: int = 42):
    """Quantus 0.6's cascading randomisation (``get_random_layer_generator("top_down")``), replayed: from the top,
    every module with ``reset_parameters`` is reset after ``torch.manual_seed(seed + 1)``, one more a step; yields
    each step's network (one copy, changed in place)."""
    model = copy.deepcopy(net)
    for _, module in [m for m in model.named_modules() if hasattr(m[1], "reset_parameters")][::-1]:
        torch.manual_seed(seed + 1)
        module.reset_parameters()
        yield model


def mprt_ours(w: Work) -> np.ndarray:
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


def mprt_theirs(w: Work) -> np.ndarray:
    quantus = load_quantus()
    metric = quantus.MPRT(similarity_func=quantus.similarity_func.correlation_spearman, layer_order="top_down",
                          **QUIET)
    return np.asarray(list(metric(**quantus_call(w), explain_func=explain).values()), dtype=float)


