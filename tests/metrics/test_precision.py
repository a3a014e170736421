"""Constant up to precision is constant: one definition for scores, counts and figures (harness.metrics.precision)."""
import numpy as np
import pytest
import torch

from harness.metrics.precision import ULPS, is_constant, is_constant_array
from harness.metrics.scorer import Scorer
from harness.metrics import similarity


def _rounding_noise(value: float = 29.783028, shape=(2, 16, 16)) -> torch.Tensor:
    """One float32 value broadcast over maps, with pixels one and two units in the last place away (what bilinear
    upsampling of a 1×1 Grad-CAM feature map leaves)."""
    v = torch.full(shape, value, dtype=torch.float32)
    up = torch.nextafter(v, torch.tensor(float("inf")))
    v[:, ::3, ::2] = up[:, ::3, ::2]
    v[:, 1::5, ::3] = torch.nextafter(up, torch.tensor(float("inf")))[:, 1::5, ::3]
    v[:, 2::7, 1::4] = torch.nextafter(v, torch.tensor(0.0))[:, 2::7, 1::4]
    return v


def test_a_constant_map_with_float32_rounding_noise_is_constant():
    m = _rounding_noise()
    assert len(torch.unique(m[0])) >= 3  # three distinct values, like the 29.783026 / 29.783028 / 29.78303
    assert is_constant(m).all()
    assert is_constant(torch.zeros(3, 8, 8)).all()  # all-zero maps are constant
    assert is_constant_array(m[0].numpy())


def test_a_map_with_a_genuine_small_feature_is_not_constant():
    m = torch.ones(1, 16, 16)
    m[0, 4, 4] += 1e-3
    assert not is_constant(m).any()
    tiny = torch.ones(1, 16, 16)
    tiny[0, 0, 0] += 2 * ULPS * torch.finfo(torch.float32).eps  # just past the tolerance
    assert not is_constant(tiny).any()
    assert not is_constant(torch.tensor([[0.0, float("nan")]])).any()  # non-finite maps are reported as such


def test_the_precision_is_the_computed_dtype_not_a_later_upcast():
    m = _rounding_noise()
    assert is_constant(m).all() and not is_constant(m.double()).any()  # the float64 copy holds the float32 noise
    assert is_constant(torch.full((1, 4, 4), 3.0, dtype=torch.float64) + 1e-17 * torch.rand(1, 4, 4)).all()


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_scores_of_rounding_noise_are_nan_with_the_reason(backend):
    a, b = _rounding_noise(), _rounding_noise(value=29.78)
    scorer = Scorer(pairwise=("ssim", "spearman", "kendall", "topk_intersection", "rel_change"), backend=backend)
    rows = scorer.score(a, b)
    for row in rows:
        assert row["nan_reason"] == "constant clean map"
        assert all(np.isnan(row[k]) for k in ("ssim", "spearman", "kendall", "topk_intersection"))
        assert row["rel_change"] == pytest.approx(0.003028 / 29.783028, rel=1e-2)  # the magnitude change stays defined
    structured = torch.rand(2, 16, 16)
    rows = scorer.score(structured, a)
    assert rows[0]["nan_reason"] == "constant perturbed map" and np.isnan(rows[0]["ssim"])
    assert not any(np.isnan(v) for v in scorer.score(structured, structured + 0.1)[0].values() if isinstance(v, float))


def test_reference_functions_share_the_definition():
    noisy = _rounding_noise()[0].numpy()
    assert similarity.undefined_reason(noisy, np.random.default_rng(0).random((16, 16))) == "constant clean map"
    assert np.isnan(similarity.ssim(noisy, noisy))
