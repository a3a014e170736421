"""Explanation attacks on a small trained model: the worst case is far worse than random noise of the same size."""
import pandas as pd
import pytest
import torch

from harness.attribution.gradcam import GradCAM
from harness.attribution.methods import InputXGradient, IntegratedGradients, Saliency
from harness.attribution.baselines import constant
from harness.attribution.beta_smoothed import BetaSmoothed
from harness.attribution.smoothing import NoiseAveraged
from harness.attribution.surrogate import softplus
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.perturbations.attack import Attack, AttackCondition
from harness.perturbations.attack_optimiser import objective
from harness.perturbations.base import Batch, Explainer


@pytest.fixture(scope="module")
def attacked(trained_model, small_splits):
    conditions = Attack(objectives=["topk"], epsilons=[8], steps=30).conditions(trained_model.encoding, (3, 32, 32))
    scorer = Scorer(pairwise=["topk_intersection", "ssim", "com_shift"], per_map=[])
    result = Evaluator({"saliency": Saliency()}, scorer, batch_size=8)(trained_model, small_splits.test.head(8),
                                                                       conditions)
    return pd.DataFrame(result.rows), result.examples, conditions


def test_topk_attack_beats_random_sign_noise_of_the_same_size(attacked):
    rows, _, _ = attacked
    attack = rows[rows.regime == "top-k attack (L∞)"].topk_intersection.mean()
    control = rows[rows.regime == "random-sign noise (L∞)"].topk_intersection.mean()
    assert attack <= control - 0.15, (attack, control)


def test_attacked_inputs_stay_in_the_ball_and_keep_the_label(attacked, small_splits):
    rows, examples, conditions = attacked
    assert rows.pred_agrees.all()  # every reported attacked input is classified as before
    key = conditions[-1].key
    x_p, x = examples[f"{key}/inputs/image/saliency"], small_splits.test.images[: len(examples["clean/image"])]
    assert abs(x_p - x.numpy()).max() <= 8 / 255 + 1e-6 and x_p.min() >= 0 and x_p.max() <= 1


def test_differentiable_maps_equal_the_maps(trained_model, small_splits):
    """Each attacked method's differentiable map is its map: the attack optimises what is reported."""
    net = softplus(trained_model.network, 10.0)
    z = trained_model.encode(small_splits.test.images[:3]).requires_grad_(True)
    t, seeds = net(z).argmax(1), torch.tensor([[1, 1], [2, 2], [3, 3]])
    b = torch.zeros_like(z)
    for method, base in [(Saliency(), None), (InputXGradient(), None), (GradCAM(), None),
                         (IntegratedGradients(lambda v: constant(v, 0.0), n_steps=4), b),
                         (NoiseAveraged(n_samples=3), None), (BetaSmoothed(Saliency(), beta=5.0), None)]:
        plain = method.attribute(net, z.detach(), t, base, seeds=seeds)
        diff = method.differentiable(net, z, t, base, seeds)
        assert diff.requires_grad and torch.allclose(plain, diff.detach(), atol=1e-5), type(method).__name__


def test_objectives_known_answers():
    clean = torch.zeros(1, 4, 4)
    clean[0, 0, 0] = 1.0
    moved = torch.zeros(1, 4, 4)
    moved[0, 3, 3] = 1.0
    assert objective("topk", clean, clean, 1 / 16, None).item() == 1.0
    assert objective("topk", moved, clean, 1 / 16, None).item() == 0.0
    assert objective("mass_centre", moved, clean, 0.1, None).item() == pytest.approx(-(18 ** 0.5))
    assert objective("targeted", moved, clean, 0.1, moved).item() == 0.0


def test_controls_and_unattackable_methods(trained_model, small_splits):
    from harness.attribution.controls import RandomMap
    from harness.common.errors import UserError
    from harness.attribution.methods import Captum
    import captum.attr

    x = small_splits.test.images[:2]
    z = trained_model.encode(x)
    batch = Batch(x, z, torch.arange(2), trained_model.network(z).argmax(1), trained_model.encoding)
    cond = AttackCondition("topk", 8, steps=2)
    seeds = torch.zeros(2, 2, dtype=torch.long)
    control = Explainer("random_map", RandomMap(), trained_model.network, None, seeds, "sum_abs")
    assert torch.equal(cond.transform_inputs(batch, 0, control), z)  # a control is not attacked
    gbp = Explainer("gbp", Captum(captum.attr.GuidedBackprop), trained_model.network, None, seeds, "sum_abs")
    with pytest.raises(UserError, match="cannot be attacked"):
        cond.transform_inputs(batch, 0, gbp)


def test_the_surrogate_is_one_copy_whose_beta_follows_each_call_and_the_weights():
    import torch.nn as nn

    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 2))
    a, b = softplus(net, 5.0), softplus(net, 50.0)
    assert a is b and a[1].beta == 50.0 and isinstance(net[1], nn.ReLU)  # the network itself is unchanged
    with torch.no_grad():
        net[0].weight.add_(1.0)
    c = softplus(net, 5.0)
    assert c is not a and torch.equal(c[0].weight, net[0].weight)  # trained further: a new copy


def test_annealed_beta_schedule():
    cond = AttackCondition("topk", 8, steps=5, beta=10.0, beta_max=100.0)
    assert [round(cond.optimiser._beta(s), 6) for s in (1, 3, 5)] == [10.0, round(10 * 10 ** 0.5, 6), 100.0]
