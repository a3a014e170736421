"""Writes ``randomisation_reference.npz``: Quantus 0.6's random-logit test, smooth MPRT, efficient MPRT and discrete
entropy on a small network, with the harness's maps, for ``tests/metrics/test_randomisation_parity.py``.

Made with::

    pip install quantus==0.6.0 && PYTHONPATH=. python tests/data/make_randomisation_reference.py

(Quantus is not a dependency of the project; it is only needed to rewrite this file, and by the live parity tests,
``pytest -m slow``). Everything is on the CPU in float32:

- the network :func:`network` (seeded initialisation, weights stored under ``weights/*``) and 4 images 3×12×12
  (``x``, uniform in [0, 1]); ``y``: the network's predictions;
- every explanation is the harness's map: the signed gradient summed over channels (``Saliency``, reduction
  ``sum``), given to Quantus as its ``explain_func`` (Quantus's own ``explain(method="Gradient")`` for smooth MPRT,
  which calls it directly: the same map);
- ``entropy_maps`` ``(6, 1, 12, 12)`` and ``entropy_{10,100}``: ``discrete_entropy`` with 10 and 100 bins;
- ``efficient_mprt``: ``EfficientMPRT()`` (defaults: 100 bins, bottom-up randomisation with Quantus's own seeds,
  only the fully randomised network); its fully randomised network's weights under ``efficient/*``;
- ``random_logit_classes``: the classes ``RandomLogit(num_classes=3, seed=42)`` explained (recorded from its calls);
  ``random_logit_spearman`` / ``_spearman_abs`` with Spearman's ρ of the (absolute) maps; ``random_logit_ssim``: its
  default, SSIM of the *flattened* maps (one-dimensional windows) normalised by their maximum;
- ``smooth_mprt`` ``(1 + L, 4)``: ``SmoothMPRT(nr_samples=5, noise_magnitude=0.1, layer_order="top_down")`` on the
  harness's cascading randomisation (the reference's layer generator replaced by
  :func:`harness.perturbations.randomisation.randomise` of the units from the top) and the harness's noise draws
  (NumPy's ``randn`` replaced by the draws of :class:`harness.attribution.smoothing.NoiseAveraged` for the image
  seeds of a run with seed 0, ``smooth_seeds``): row 0 the trained network ("original"), row k the top k units randomised.
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

N_SMOOTH, NOISE, SEED = 5, 0.1, 0


def network() -> nn.Module:
    """A small CNN (four units with parameters) with a seeded initialisation."""
    torch.manual_seed(7)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def harness_map(model, inputs, targets, **kwargs) -> np.ndarray:
    """The harness's signed gradient summed over channels ``(B, 1, H, W)`` for Quantus's ``explain_func``."""
    from harness.attribution.methods import Saliency
    from harness.attribution.reduce import reduce_channels

    z, t = torch.as_tensor(np.asarray(inputs), dtype=torch.float32), torch.as_tensor(np.asarray(targets)).long()
    return reduce_channels(Saliency().attribute(model, z, t).detach(), "sum").unsqueeze(1).numpy()


def _entropies(out: dict) -> None:
    from quantus.functions.complexity_func import discrete_entropy

    rng = np.random.default_rng(1)
    maps = np.stack([rng.standard_normal((1, 12, 12)), rng.uniform(size=(1, 12, 12)),
                     np.abs(rng.standard_cauchy((1, 12, 12))), np.round(rng.uniform(size=(1, 12, 12)) * 4),
                     np.linspace(-1, 1, 144).reshape(1, 12, 12), np.zeros((1, 12, 12))]).astype(np.float32)
    out["entropy_maps"] = maps
    for bins in (10, 100):
        out[f"entropy_{bins}"] = np.array([discrete_entropy(m, m, n_bins=bins) for m in maps])


def _efficient(out: dict, net, x, y) -> None:
    import quantus
    from quantus.helpers.model.pytorch_model import PyTorchModel

    metric = quantus.EfficientMPRT(disable_warnings=True)
    out["efficient_mprt"] = np.array(metric(net, x, y, a_batch=None, explain_func=harness_map, device="cpu"))
    *_, (_, randomised) = PyTorchModel(net, channel_first=True).get_random_layer_generator(order="bottom_up", seed=42)
    out.update({f"efficient/{k}": v.numpy() for k, v in randomised.state_dict().items()})


def _random_logit(out: dict, net, x, y) -> None:
    import quantus
    from quantus.functions.similarity_func import correlation_spearman

    classes = []

    def recording(model, inputs, targets, **kwargs):
        classes.append(np.asarray(targets).copy())
        return harness_map(model, inputs, targets)

    for name, kwargs in (("spearman", {"similarity_func": correlation_spearman}),
                         ("spearman_abs", {"similarity_func": correlation_spearman, "abs": True}), ("ssim", {})):
        metric = quantus.RandomLogit(num_classes=3, seed=42, disable_warnings=True, **kwargs)
        a = harness_map(net, x, y)
        out[f"random_logit_{name}"] = np.array(metric(net, x, y, a_batch=a, explain_func=recording, device="cpu"))
    out["random_logit_classes"] = classes[-1]


def _smooth(out: dict, net, x, y) -> None:
    import quantus
    from quantus.helpers.model.pytorch_model import PyTorchModel

    from harness.attribution.smoothing import NoiseAveraged
    from harness.perturbations.randomisation import randomise, units
    from harness.seeding import seed_for

    seeds = torch.tensor([[seed_for(SEED, "image", i), 0] for i in range(len(x))])  # the loop's image seeds
    draws = NoiseAveraged(n_samples=N_SMOOTH, include_input=True).noise(torch.from_numpy(x), seeds).numpy()
    calls = iter(range(10 ** 6))
    names = units(net)
    generator = lambda self, order="top_down", seed=42: (  # noqa: E731
        (names[k - 1], randomise(net, names[:k], SEED)) for k in range(1, len(names) + 1))
    saved = np.random.randn, PyTorchModel.get_random_layer_generator
    np.random.randn = lambda *shape: draws[:, next(calls) % (N_SMOOTH - 1)].astype(np.float64)
    PyTorchModel.get_random_layer_generator = generator
    try:
        metric = quantus.SmoothMPRT(nr_samples=N_SMOOTH, noise_magnitude=NOISE, layer_order="top_down",
                                    disable_warnings=True)
        scores = metric(net, x, y, a_batch=None, explain_func=quantus.explain,
                        explain_func_kwargs={"method": "Gradient"}, device="cpu")
    finally:
        np.random.randn, PyTorchModel.get_random_layer_generator = saved
    out["smooth_mprt"] = np.array([scores[k] for k in scores])
    out["smooth_seeds"] = seeds.numpy()


def main() -> None:
    net = network()
    x = np.random.default_rng(0).uniform(size=(4, 3, 12, 12)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    out = {"x": x, "y": y, **{f"weights/{k}": v.numpy() for k, v in net.state_dict().items()}}
    _entropies(out)
    _efficient(out, network(), x, y)
    _random_logit(out, network(), x, y)
    _smooth(out, network(), x, y)
    path = Path(__file__).with_name("randomisation_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
