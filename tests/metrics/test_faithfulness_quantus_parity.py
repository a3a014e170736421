"""Parity of the faithfulness measures with Quantus 0.6 on stored outputs (``fixtures/quantus_faithfulness.npz``, made
by ``fixtures/make_quantus_faithfulness.py``): the same tiny network, one-channel images, maps without ties and
constant baselines (the deterministic variants), Faithfulness Correlation on Quantus's recorded random subsets."""
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.metrics import faithfulness_correlation as fc
from harness.metrics import removal_curves as rc

REF = np.load(Path(__file__).parents[1] / "fixtures" / "quantus_faithfulness.npz")
FILL, MONO_FILL, IROF_FILL = 0.0, 0.5, 0.3


def _model(images: torch.Tensor) -> torch.Tensor:
    """The fixture's network: conv 3×3 (padding 1) → ReLU → 4×4 average pooling → linear."""
    p = {k[len("params_"):]: torch.from_numpy(REF[k]) for k in REF.files if k.startswith("params_")}
    h = torch.nn.functional.conv2d(images, p["conv_w"], p["conv_b"], padding=1).relu()
    return torch.nn.functional.avg_pool2d(h, 4).flatten(1) @ p["fc_w"].T + p["fc_b"]


@pytest.fixture(scope="module")
def data():
    x, y, maps = (torch.from_numpy(REF[k]) for k in ("x", "y", "maps"))
    return _model, x, y.long(), maps, torch.arange(len(x)) + 7


def test_pixel_flipping_is_quantus_s_curve(data):
    curve = rc.pixel_flipping(*data[:4], seeds=data[4], steps=32, fill=FILL)
    assert curve.shape == (5, 33)
    np.testing.assert_allclose(curve[:, 1:].numpy(), REF["pixel_flipping"], atol=1e-6)


def test_region_perturbation_and_selectivity_are_quantus_s_curves(data):
    drops = rc.region_perturbation(*data[:4], seeds=data[4], patch=4, steps=16, fill=FILL)
    assert (drops[:, 0] == 0).all()
    np.testing.assert_allclose(drops[:, 1:].numpy(), REF["region_perturbation"], atol=1e-6)
    curve = rc.patch_curve(*data[:4], seeds=data[4], patch=4, fill=FILL)
    np.testing.assert_allclose(curve[:, 1:].numpy(), REF["selectivity"], atol=1e-6)


def test_faithfulness_estimate_is_quantus_s(data):
    got = fc.faithfulness_estimate(*data[:4], seeds=data[4], n_groups=32, fill=FILL)
    np.testing.assert_allclose(got.numpy(), REF["faithfulness_estimate"], atol=1e-5)


def test_faithfulness_correlation_on_quantus_s_subsets_is_quantus_s(data):
    subsets = torch.from_numpy(REF["correlation_subsets"])
    assert (subsets.sum((2, 3)) == 26).all()
    got = fc.faithfulness_correlation(*data[:4], subsets=subsets, seeds=data[4], fill=FILL)
    np.testing.assert_allclose(got.numpy(), REF["faithfulness_correlation"], atol=1e-5)


def test_monotonicity_correlation_with_a_constant_fill_is_quantus_s(data):
    got = fc.monotonicity_correlation(*data[:4], seeds=data[4], n_groups=32, fill=MONO_FILL)
    np.testing.assert_allclose(got.numpy(), REF["monotonicity_correlation"], atol=1e-9)


def test_irof_curve_gives_quantus_s_area_over_the_curve(data):
    """Quantus returns ``S − trapz(c_1..c_S)`` (unit spacing); the harness ``1 − area(c_0..c_S)`` on ``[0, 1]``."""
    curves = rc.irof_curves(*data[:4], seeds=data[4], fill=IROF_FILL)
    quantus_aoc = [len(c) - 1 - np.trapezoid(c[1:].numpy()) for c in curves]
    # Quantus sums ~S float32 ratios (S ≈ 50 here): 1e-5 apart on values of S − trapz ≈ 5
    np.testing.assert_allclose(quantus_aoc, REF["irof"], atol=5e-5)
    assert all(c[0] == 1 for c in curves)
