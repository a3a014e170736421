"""Sensitivity ratios, localisation and per-image aggregates: known answers, and parity with Captum."""
import numpy as np
import pandas as pd
import pytest
import torch
from captum.metrics import sensitivity_max

from harness.attribution.methods import Saliency
from harness.attribution.reduce import reduce_channels
from harness.loop.evaluation import Evaluator
from harness.metrics import localisation, sensitivity
from harness.metrics.aggregate import aggregate
from harness.metrics.scorer import Scorer
from harness.perturbations.base import Batch
from harness.perturbations.noise import NoiseCondition


def test_relative_change_and_lipschitz_known_answers():
    a = torch.tensor([[[3.0, 4.0]]])  # ‖a‖ = 5
    b = torch.tensor([[[0.0, 0.0]]])
    assert sensitivity.rel_change(a, b).item() == pytest.approx(1.0)
    assert sensitivity.rel_change(b, a).item() == pytest.approx(5.0)  # ‖Φ(x)‖ = 0 is divided by 1, as Captum
    x, x_p = torch.zeros(1, 1, 1, 2), torch.tensor([[[[0.0, 2.0]]]])
    assert sensitivity.lipschitz_ratio(a, b, x, x_p).item() == pytest.approx(2.5)
    assert torch.isnan(sensitivity.lipschitz_ratio(a, b, x, x))  # x' = x: undefined


def test_relative_stability_known_answers():
    a, b = torch.tensor([[[2.0, 4.0]]]), torch.tensor([[[1.0, 4.0]]])  # (a − b)/a = (0.5, 0): norm 0.5
    x, x_p = torch.tensor([[[[1.0, 2.0]]]]), torch.tensor([[[[1.0, 1.0]]]])  # (x − x')/x = (0, 0.5): norm 0.5
    assert sensitivity.ris_ratio(a, b, x, x_p).item() == pytest.approx(1.0)
    h, h_p = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.25]])
    assert sensitivity.ros_ratio(a, b, h, h_p).item() == pytest.approx(2.0)
    assert sensitivity.ros_ratio(a, b, h, h).item() == pytest.approx(0.5 / 1e-6)  # max(‖Δh‖, ε_min)


def test_centre_of_mass_shift():
    a, b = torch.zeros(1, 5, 5), torch.zeros(1, 5, 5)
    a[0, 1, 1], b[0, 4, 1] = 1.0, 2.0
    assert sensitivity.com_shift(a, b).item() == pytest.approx(3.0)


def test_pointing_game_and_relevance_mass():
    maps = torch.tensor([[[0.0, 1.0], [3.0, 0.0]], [[-5.0, 1.0], [1.0, 2.0]]])
    masks = torch.tensor([[[False, True], [False, False]], [[False, False], [False, True]]])
    assert localisation.pointing_game(maps, masks).tolist() == [0.0, 1.0]
    assert localisation.relevance_mass(maps, masks).tolist() == pytest.approx([0.25, 0.5])  # positive part only
    empty = torch.zeros_like(masks)
    assert torch.isnan(localisation.pointing_game(maps, empty)).all()
    assert torch.isnan(localisation.relevance_mass(maps, empty)).all()


def test_aggregates_reduce_samples_with_their_policy():
    rows = []
    for s, (rel, agrees) in enumerate([(0.2, True), (0.9, False), (0.4, True)]):
        rows.append({"image_id": 0, "sample": s, "label": 1, "pred": 1, "pred_agrees": agrees, "method": "m",
                     "perturbation": "noise", "magnitude": 0.1, "regime": "r", "rel_change": rel,
                     "ris_ratio": 10 * rel, "ssim": 1 - rel})
    agg = aggregate(pd.DataFrame(rows)).iloc[0]
    assert agg.max_sensitivity == pytest.approx(0.9) and agg.avg_sensitivity == pytest.approx(0.5)  # all samples
    assert agg.ris == pytest.approx(4.0)  # only label-preserving samples
    assert agg.ssim_min == pytest.approx(0.1) and (agg.n_samples, agg.n_kept) == (3, 2)
    assert aggregate(pd.DataFrame(rows[:1])) is None  # one sample: nothing to aggregate


def test_max_sensitivity_equals_captum_sensitivity_max(trained_model, small_splits):
    """The same noise samples through the harness's loop and through ``captum.metrics.sensitivity_max``."""
    data = small_splits.test.head(6)
    cond = NoiseCondition("uniform", 0.05, n_samples=5, clip=False)
    ev = Evaluator({"saliency": Saliency()}, Scorer(pairwise=["rel_change"], per_map=[]), batch_size=4)
    ours = aggregate(pd.DataFrame(ev(trained_model, data, [cond]).rows)).sort_values("image_id")

    net, enc = trained_model.network, trained_model.encoding
    x = data.images
    z = enc.encode(x)
    target = net(z).argmax(1)
    batch = Batch(x, z, torch.arange(len(x)), target, enc)
    samples = torch.stack([cond.transform_inputs(batch, s) for s in range(5)], 1).flatten(0, 1)  # image-major

    def explain(inputs, target):
        with torch.enable_grad():
            return (reduce_channels(Saliency().attribute(net, inputs[0], target), "sum_abs"),)

    theirs = sensitivity_max(explain, z, perturb_func=lambda _inputs: (samples,), n_perturb_samples=5, target=target)
    np.testing.assert_allclose(ours["max_sensitivity"].to_numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
