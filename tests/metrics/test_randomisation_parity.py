"""Parity with Quantus 0.6 (random logit, smooth MPRT, efficient MPRT, discrete entropy) on stored reference outputs
(``tests/fixtures/make_randomisation_reference.py`` made them; the live comparison is in ``test_quantus_live.py``)."""
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from harness.attribution.methods import Saliency
from harness.attribution.reduce import reduce_channels
from harness.attribution.smoothing import NoiseAveraged
from harness.data.base import ImageSet
from harness.loop.evaluation import Evaluator
from harness.metrics.complexity import entropy_rise, histogram_entropy
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.base import Context
from harness.perturbations.random_logit import RandomClass
from harness.perturbations.randomisation import ModelRandomisation

DATA = Path(__file__).parents[1] / "fixtures"


def _maker():
    spec = importlib.util.spec_from_file_location("make_reference", DATA / "make_randomisation_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(DATA / "randomisation_reference.npz"))


def _network(ref, prefix="weights/"):
    net = MAKER.network()
    net.load_state_dict({k[len(prefix):]: torch.from_numpy(v) for k, v in ref.items() if k.startswith(prefix)})
    return net.eval()


def _maps(net, x, y):
    return reduce_channels(Saliency().attribute(net, torch.from_numpy(x), torch.from_numpy(y)).detach(), "sum")


def _rows(ref, methods, conditions, pairwise):
    model = EncodedClassifier(_network(ref), Encoding.named("unit"))
    data = ImageSet(torch.from_numpy(ref["x"]), torch.from_numpy(ref["y"]))
    ev = Evaluator(methods, Scorer(pairwise=pairwise, per_map=[]), reduction="sum", batch_size=4, seed=MAKER.SEED)
    return pd.DataFrame(ev(model, data, conditions).rows)


def test_discrete_entropy_is_quantus_bin_for_bin(ref):
    maps = torch.from_numpy(ref["entropy_maps"]).flatten(1)
    for bins in (10, 100):
        np.testing.assert_allclose(histogram_entropy(maps, bins).numpy(), ref[f"entropy_{bins}"], rtol=0, atol=1e-12)


def test_efficient_mprt_is_quantus_on_its_fully_randomised_network(ref):
    x, y = ref["x"], ref["y"].astype(np.int64)
    rise = entropy_rise(_maps(_network(ref), x, y), _maps(_network(ref, "efficient/"), x, y))
    np.testing.assert_allclose(rise.numpy(), ref["efficient_mprt"], rtol=0, atol=1e-9)


class _QuantusClasses(RandomClass):
    """The random-logit condition with the classes the reference drew (it cannot be given ours)."""

    def __init__(self, classes):
        super().__init__()
        self.classes = torch.as_tensor(classes).long()

    def explained_target(self, batch, logits_p, sample):
        return self.classes[batch.image_ids]


def test_random_logit_is_quantus_by_rank_correlation(ref):
    rows = _rows(ref, {"saliency": Saliency()}, [_QuantusClasses(ref["random_logit_classes"])],
                 ["spearman", "spearman_abs"])
    assert (rows.explained.to_numpy() == ref["random_logit_classes"]).all()
    np.testing.assert_allclose(rows.spearman, ref["random_logit_spearman"], atol=1e-9)
    np.testing.assert_allclose(rows.spearman_abs, ref["random_logit_spearman_abs"], atol=1e-9)


def test_quantus_random_logit_ssim_is_a_one_dimensional_ssim_of_the_flattened_maps(ref):
    """Quantus's default similarity differs from the harness's SSIM (documented in docs/randomisation.md): the
    maps are flattened, so its 7-pixel windows run along the rows, with the data range of both maps."""
    from skimage.metrics import structural_similarity

    x, y = ref["x"], ref["y"].astype(np.int64)
    net = _network(ref)
    a, b = (_maps(net, x, t).flatten(1).double().numpy() for t in (y, ref["random_logit_classes"].astype(np.int64)))
    a, b = a / np.abs(a).max(), b / np.abs(b).max()  # normalise_by_max, over the whole batch
    ssim = [structural_similarity(p, q, data_range=float(np.ptp(np.concatenate([p, q])))) for p, q in zip(a, b)]
    np.testing.assert_allclose(ssim, ref["random_logit_ssim"], atol=1e-6)


def test_smooth_mprt_is_quantus_on_the_same_networks_and_draws(ref):
    net = _network(ref)
    family = ModelRandomisation(modes=["cascading"], seed=MAKER.SEED)
    family.bind(Context(network=net))
    smooth = NoiseAveraged(Saliency(), n_samples=MAKER.N_SMOOTH, noise_level=MAKER.NOISE, include_input=True,
                           noise_range="image")
    rows = _rows(ref, {"smooth": smooth}, family.conditions(Encoding.named("unit"), (3, 12, 12)), ["spearman_abs"])
    got = rows.pivot(index="magnitude", columns="image_id", values="spearman_abs").to_numpy()
    np.testing.assert_allclose(got, ref["smooth_mprt"][1:], atol=1e-5)
