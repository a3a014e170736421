"""Sanity checks (Adebayo et al. 2018) on a small trained model: which maps change when the model does."""
import pandas as pd
import pytest
import torch
import torch.nn as nn

from harness.attribution.controls import RandomMap
from harness.attribution.gradcam import GradCAM
from harness.attribution.methods import Captum, InputXGradient, Saliency
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.perturbations.base import Context
from harness.perturbations.randomisation import DataRandomisation, ModelRandomisation, randomise, units


def test_units_are_layers_of_a_plain_cnn_and_blocks_of_a_resnet():
    from harness.models.rps_cnn import build_rps_cnn
    from harness.models.torchvision_models import build

    assert units(build_rps_cnn(32, 0.25)) == ["20", "18", "16", "12", "10", "7", "5", "2", "0"]
    resnet = units(build("resnet18", num_classes=3))
    assert resnet[:3] == ["fc", "layer4.1", "layer4.0"] and resnet[-2:] == ["bn1", "conv1"]


def test_randomise_is_seeded_per_unit_and_leaves_the_network_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    net[1].running_mean.fill_(0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    a, b = randomise(net, ["4", "1"], seed=1), randomise(net, ["4"], seed=1)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # the original is untouched
    assert torch.equal(a[4].weight, b[4].weight) and not torch.equal(a[4].weight, net[4].weight)
    assert torch.equal(a[1].running_mean, net[1].running_mean)  # Adebayo: BatchNorm statistics kept
    assert (randomise(net, ["1"], seed=1, reset_batchnorm_stats=True)[1].running_mean == 0).all()  # Quantus
    assert not torch.equal(randomise(net, ["4"], seed=2)[4].weight, a[4].weight)


@pytest.fixture(scope="module")
def scores(trained_model, small_splits):
    methods = {"saliency": Saliency(), "ixg": InputXGradient(), "gradcam": GradCAM(),
               "guided_backprop": Captum(_partial("GuidedBackprop")), "random_map": RandomMap()}
    family = ModelRandomisation(modes=["cascading"], seed=0)
    family.bind(Context(network=trained_model.network))
    conditions = family.conditions(trained_model.encoding, (3, 32, 32))
    scorer = Scorer(pairwise=["ssim_abs", "spearman_abs"], per_map=[])
    rows = Evaluator(methods, scorer, reduction="sum", batch_size=16)(trained_model, small_splits.test.head(16),
                                                                      conditions).rows
    return pd.DataFrame(rows)


def _partial(name):
    import functools

    import captum.attr

    return functools.partial(getattr(captum.attr, name))


def _mean(scores, depth, method, metric="ssim_abs"):
    return scores[(scores.magnitude == depth) & (scores.method == method)][metric].mean()


def test_top_layer_randomisation_leaves_guided_backprop_but_not_the_gradient(scores):
    assert _mean(scores, 1, "guided_backprop") >= 0.9
    assert _mean(scores, 1, "saliency") <= 0.85
    assert _mean(scores, 1, "gradcam") <= 0.6


def test_full_cascade_changes_every_map(scores):
    full = scores.magnitude.max()
    for method in ("saliency", "ixg", "guided_backprop"):
        assert _mean(scores, full, method) <= 0.15, method
    # Grad-CAM's randomised maps are mostly flat (or all zero): SSIM credits the flat regions, ranks do not
    assert _mean(scores, full, "gradcam", "spearman_abs") <= 0.15
    assert abs(_mean(scores, full, "random_map")) <= 0.02


def test_data_randomisation_fits_permuted_labels_and_explains_its_own_prediction(trained_model, small_splits,
                                                                               tmp_path):
    family = DataRandomisation(n_train=64, target_accuracy=0.9, max_epochs=40, seed=0)
    context = Context(network=trained_model.network, encoding=trained_model.encoding,
                      train_images=small_splits.train.images, train_labels=small_splits.train.labels,
                      cache_dir=tmp_path, model_key="test")
    family.bind(context)
    (cond,) = family.conditions(trained_model.encoding, (3, 32, 32))
    assert cond.info()["train_accuracy_permuted_labels"] >= 0.9
    rows = pd.DataFrame(Evaluator({"saliency": Saliency()}, Scorer(pairwise=["ssim_abs"], per_map=[]),
                                  reduction="sum")(trained_model, small_splits.test.head(8), [cond]).rows)
    assert (rows.explained == rows.pred_perturbed).all() and rows.ssim_abs.mean() < 0.6
    family.bind(context)  # the retrained network is cached
    assert list(tmp_path.rglob("*.pt")) and family.conditions(trained_model.encoding, (3, 32, 32))
