"""Known answers of complexity (Bhatt et al. 2020), effective complexity and non-sensitivity (Nguyen & Martínez 2020),
completeness (Sundararajan et al. 2017) and consistency (Dasgupta et al. 2022)."""
import math

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, Saliency

from harness.common.errors import UserError
from harness.metrics import axiomatic, complexity, explanation_consistency as ec


def test_complexity_is_log_n_for_a_uniform_map_and_zero_for_one_pixel():
    uniform, one_hot, zero = torch.ones(1, 6, 5), torch.zeros(1, 6, 5), torch.zeros(1, 6, 5)
    one_hot[0, 2, 3] = -4.0
    two = torch.zeros(1, 6, 5)
    two[0, 0, 0], two[0, 5, 4] = 2.0, -2.0
    h = complexity.fractional_entropy(torch.cat([uniform * -3, one_hot, two]))
    np.testing.assert_allclose(h.numpy(), [math.log(30), 0.0, math.log(2)], atol=1e-12)
    assert complexity.fractional_entropy(zero).isnan().all()
    r = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(complexity.fractional_entropy(r), complexity.fractional_entropy(-7 * r))


def test_histogram_entropy_is_not_bhatts_complexity():
    """Two maps with the same histogram but mass spread differently: map_entropy cannot tell them apart."""
    spread = torch.tensor([[[1.0, 1.0], [1.0, 1.0]]])
    peaked = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    assert complexity.histogram_entropy(spread)[0] == 0 and complexity.fractional_entropy(spread)[0] > 1.38
    assert complexity.fractional_entropy(peaked)[0] == 0 and complexity.histogram_entropy(peaked)[0] > 0.5


def test_effective_complexity_counts_pixels_above_eps_of_the_peak():
    m = torch.tensor([[[10.0, -5.0, 0.5], [0.0, 1e-5, 2.0]]])
    assert complexity.effective_complexity(m, 0.1).item() == 3  # 10, -5, 2
    assert complexity.effective_complexity(m, 1e-5).item() == 4  # 1e-5 / 10 is not above
    assert complexity.effective_complexity(torch.zeros(2, 3, 3)).tolist() == [0, 0]
    assert complexity.effective_complexity(torch.ones(1, 4, 4)).item() == 16


def _linear(c=2, h=4, w=4, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(c * h * w, k)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.randn(k, c * h * w, generator=g, dtype=torch.float64))
    return net, torch.rand(3, c, h, w, generator=g, dtype=torch.float64), torch.tensor([0, 2, 1])


def test_integrated_gradients_on_a_linear_model_is_complete_and_saliency_is_not():
    net, x, t = _linear()
    black = axiomatic.baseline_image(x, "black")
    assert torch.equal(black[1], torch.full_like(x[1], x[1].min()))
    ig = IntegratedGradients(net).attribute(x, black, target=t, n_steps=8).sum(1)  # reduction "sum"
    assert axiomatic.completeness_gap(net, x, t, ig, "black").max() < 1e-6  # Captum's step weights: float32
    grad = Saliency(net).attribute(x, target=t, abs=False).sum(1)
    gap = axiomatic.completeness_gap(net, x, t, grad, 0.0)
    w = net[1].weight[t]
    expected = (w.sum(1) - (w * x.flatten(1)).sum(1)).abs()  # Σ ∂f/∂x − (f(x) − f(0)) for f linear
    torch.testing.assert_close(gap, expected)
    with pytest.raises(UserError):
        axiomatic.baseline_image(x, "white")


def _half_blind(patch_rows=2):
    """A linear model that reads the bottom half of a 1 × 4 × 4 image only."""
    net, x, t = _linear(c=1)
    with torch.no_grad():
        net[1].weight.view(3, 4, 4)[:, :patch_rows] = 0.0
    return net, x, t


def test_non_sensitivity_is_zero_for_a_map_that_matches_what_the_model_reads():
    net, x, t = _half_blind()
    right = net[1].weight[t].view(3, 4, 4).abs()  # attribution exactly where the model is sensitive
    assert (axiomatic.non_sensitivity(net, x, t, right, patch=1, baseline=0.0) == 0).all()
    assert (axiomatic.non_sensitivity(net, x, t, right, patch=2, baseline=0.0) == 0).all()
    # Quantus's "black" (the image's minimum) leaves that one pixel unchanged: it counts as a feature with no effect
    assert (axiomatic.non_sensitivity(net, x, t, right, patch=1) == 1 / 16).all()
    uniform = torch.ones(3, 4, 4, dtype=torch.float64)  # attributes the ignored half too: 8 of 16 features wrong
    torch.testing.assert_close(axiomatic.non_sensitivity(net, x, t, uniform, patch=1, baseline=0.0, max_batch=5),
                               torch.full((3,), 0.5, dtype=torch.float64))
    wrong = 1 - (right > 0).double()  # the exact opposite: every feature wrong
    assert (axiomatic.non_sensitivity(net, x, t, wrong, patch=1, baseline=0.0) == 1).all()
    with pytest.raises(UserError):
        axiomatic.non_sensitivity(net, x, t, uniform, patch=3)


def test_occlusion_is_the_same_in_any_chunking():
    net, x, t = _linear(c=2)
    blocks = axiomatic.block_ids(4, 4, 2)
    assert blocks.tolist()[0] == [0, 0, 1, 1] and int(blocks.max()) == 3
    base = axiomatic.baseline_image(x, 0.0)
    a = axiomatic.occlusion_probs(net, x, t, blocks, base, max_batch=1)
    b = axiomatic.occlusion_probs(net, x, t, blocks, base, max_batch=None)
    torch.testing.assert_close(a, b)
    by_hand = x.clone()
    by_hand[:, :, 2:, :2] = 0.0  # block 2: rows 2-3, columns 0-1
    torch.testing.assert_close(a[:, 2], net(by_hand).softmax(1).gather(1, t.view(-1, 1))[:, 0])


def test_consistency_is_the_share_of_same_explanation_partners_with_the_same_prediction():
    codes = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=torch.bool)
    pred = torch.tensor([0, 0, 1, 1])
    out = ec.prediction_consistency(codes, pred)
    np.testing.assert_allclose(out[:3].numpy(), [0.5, 0.5, 0.0])
    assert out[3].isnan()  # no partner: undefined, not 0


def test_discretise_picks_the_cells_with_most_mass():
    m = torch.zeros(2, 8, 8)
    m[0, 6, 7] = -5.0  # bottom-right cell of a 4 × 4 grid
    m[1, 0:2, 2:4] = 1.0  # cell 1
    m[1, 7, 0] = 0.5  # cell 12
    codes = ec.discretise(m, 4, 2)
    assert codes[0].nonzero().flatten().tolist() == [0, 15]  # ties (all zero) by cell order
    assert codes[1].nonzero().flatten().tolist() == [1, 12]
    assert ec.discretise(m, 4, 1).sum(1).tolist() == [1, 1]


def test_sufficiency_counts_partners_within_the_threshold_of_the_largest_distance():
    g = torch.Generator().manual_seed(0)
    pattern = torch.rand(2, 6, 6, generator=g, dtype=torch.float64)
    maps = pattern[[0, 0, 0, 1]] + 1e-3 * torch.rand(4, 6, 6, generator=g, dtype=torch.float64)
    maps[1] *= 7.0  # a map's scale does not matter: each is divided by its own peak
    pred = torch.tensor([0, 0, 1, 1])
    out = ec.sufficiency(maps, pred, threshold=0.5)
    np.testing.assert_allclose(out[:3].numpy(), [0.5, 0.5, 0.0])  # images 0-2 are each other's partners
    assert out[3].isnan()  # the far map has no partner: undefined, not 0
    # a threshold of 1 makes every image a partner of every other
    np.testing.assert_allclose(ec.sufficiency(maps, pred, threshold=1.0).numpy(), [1 / 3] * 4)


def test_sufficiency_ignores_a_pixel_equal_in_every_map():
    g = torch.Generator().manual_seed(1)
    maps = torch.rand(5, 4, 4, generator=g, dtype=torch.float64) + 0.1
    pred = torch.tensor([0, 1, 0, 1, 0])
    edged = maps.clone()
    edged[:, 0, 0] = 0.0  # zero variance over the batch: SciPy's seuclidean turns every distance into NaN here
    np.testing.assert_allclose(ec.sufficiency(edged, pred, 1.0).numpy(), [0.5, 0.25, 0.5, 0.25, 0.5])
    dropped = ec.sufficiency(maps[:, 1:, :], pred)  # the same maps without that row...
    edged_row = maps.clone()
    edged_row[:, 0, :] = 0.0  # ...equal the maps whose whole row is zero in every map
    torch.testing.assert_close(ec.sufficiency(edged_row, pred), dropped, equal_nan=True)
    assert ec.sufficiency(maps[:1], pred[:1]).isnan().all()  # one image: no pairs


def test_a_scene_predicts_once_and_a_replaced_scene_predicts_its_own_inputs():
    from dataclasses import replace

    from harness.metrics.per_map import Scene

    calls = []
    weights = torch.tensor([[1.0], [-1.0]])

    def model(images):
        calls.append(len(images))
        return images.flatten(1).sum(1, keepdim=True) @ weights.T

    x = torch.ones(3, 1, 2, 2)
    scene = Scene(x, model=model, inputs=x, target=torch.zeros(3, dtype=torch.long))
    assert scene.predictions.tolist() == [0, 0, 0] and scene.predictions.tolist() == [0, 0, 0]
    assert calls == [3]  # one forward pass for every measure that compares predictions
    moved = replace(scene, inputs=-x)
    assert moved.predictions.tolist() == [1, 1, 1] and calls == [3, 3]
