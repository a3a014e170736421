"""Any method averaged over seeded noisy copies of its input (smooth MPRT, Hedström et al. 2023)."""
import functools

import pandas as pd
import torch

from harness.attribution.baselines import constant
from harness.attribution.gradcam import GradCAM
from harness.attribution.methods import IntegratedGradients, Method, Saliency
from harness.attribution.smoothing import NoiseAveraged
from harness.data.base import ImageSet
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.base import Context
from harness.perturbations.randomisation import ModelRandomisation
from toys import tiny_cnn


def _cnn():
    return tiny_cnn(width=6, classes=3, head="max")


Z = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.5
T = torch.tensor([0, 1, 2])
SEEDS = torch.tensor([[11, 1], [12, 2], [13, 3]])


class _Input(Method):
    """The input itself, whatever the network: its noisy average shows the draws."""

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        return z.clone()


def test_include_input_makes_the_last_copy_the_input_and_one_copy_the_base_method():
    net = _cnn()
    one = NoiseAveraged(Saliency(), n_samples=1, noise_level=0.3, include_input=True)
    assert torch.equal(one.attribute(net, Z, T, seeds=SEEDS), Saliency().attribute(net, Z, T))
    two = NoiseAveraged(_Input(), n_samples=2, noise_level=0.1, include_input=True, noise_range="image")
    eps = two.noise(Z, SEEDS)
    assert (eps[:, 1] == 0).all() and (eps[:, 0] != 0).all()
    sigma = 0.1 * (Z.flatten(1).amax(1) - Z.flatten(1).amin(1))  # the image's own range (Quantus's SmoothMPRT)
    assert torch.allclose(two.attribute(net, Z, T, seeds=SEEDS), Z + sigma.view(-1, 1, 1, 1) * eps[:, 0] / 2,
                          atol=1e-6)


def test_any_method_is_averaged_a_baseline_method_against_its_baseline():
    net = _cnn()
    ig = IntegratedGradients(functools.partial(constant, value=0.0), n_steps=8)
    smooth = NoiseAveraged(ig, n_samples=3, noise_level=0.0)
    assert smooth.needs_baseline and smooth.n_steps == 8 and smooth.cost == 24
    base = torch.zeros_like(Z)
    assert torch.allclose(smooth.attribute(net, Z, T, base, seeds=SEEDS), ig.attribute(net, Z, T, base), atol=1e-6)
    cam = NoiseAveraged(GradCAM(), n_samples=3)
    cam.check(net, Z[:1])
    assert cam.attribute(net, Z, T, seeds=SEEDS).shape == (3, 1, 8, 8) and cam.info()


def test_trained_and_randomised_networks_see_the_same_draws():
    """A smoothed map that ignores the network is the same for every randomised network: the draws are per image,
    not per view (fresh draws would make the network look influential)."""
    net = _cnn()
    model = EncodedClassifier(net, Encoding.named("unit"))
    family = ModelRandomisation(modes=["cascading"], seed=0)
    family.bind(Context(network=net))
    methods = {"input": NoiseAveraged(_Input(), n_samples=4, noise_level=0.5),
               "gradient": NoiseAveraged(Saliency(), n_samples=4, noise_level=0.1, include_input=True)}
    ev = Evaluator(methods, Scorer(pairwise=["spearman"], per_map=[]), reduction="sum", batch_size=4)
    rows = pd.DataFrame(ev(model, ImageSet(Z, T), family.conditions(model.encoding, (3, 8, 8))).rows)
    assert (rows[rows.method == "input"].spearman > 1 - 1e-9).all()
    assert rows[(rows.method == "gradient") & (rows.magnitude == rows.magnitude.max())].spearman.abs().mean() < 0.6
