import numpy as np
import pytest
from scipy import stats
from skimage.metrics import structural_similarity

from harness.metrics import similarity as sim
from harness.metrics.scorer import Scorer

RNG = np.random.default_rng(0)


def test_identity_scores_one():
    a = RNG.random((32, 32))
    assert sim.ssim(a, a) == pytest.approx(1.0)
    assert sim.spearman(a, a) == pytest.approx(1.0)
    assert sim.spearman_abs(a, a) == pytest.approx(1.0)
    assert sim.kendall(a, a) == pytest.approx(1.0)
    assert sim.topk_intersection(a, a, 0.1) == 1.0


def test_matches_reference_implementations():
    a, b = RNG.random((40, 30)), RNG.random((40, 30)) * 3 - 1
    na, nb = (a - a.min()) / np.ptp(a), (b - b.min()) / np.ptp(b)
    assert sim.ssim(a, b) == structural_similarity(na, nb, data_range=1.0)
    assert sim.spearman(a, b) == stats.spearmanr(a.ravel(), b.ravel()).statistic
    assert sim.spearman_abs(a, b) == stats.spearmanr(np.abs(a).ravel(), np.abs(b).ravel()).statistic
    assert sim.kendall(a, b) == stats.kendalltau(a.ravel(), b.ravel()).statistic


def test_ties_match_scipy():
    a = np.maximum(RNG.normal(size=(16, 16)), 0)  # post-ReLU: many zeros
    b = np.maximum(a + RNG.normal(scale=0.3, size=a.shape), 0)
    assert sim.spearman(a, b) == pytest.approx(stats.spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-12)
    assert sim.kendall(a, b) == pytest.approx(stats.kendalltau(a.ravel(), b.ravel(), variant="b").statistic)


def test_invariant_to_positive_affine_rescaling():
    a = RNG.random((20, 20))
    assert sim.ssim(a, 5 * a + 2) == pytest.approx(1.0)
    assert sim.spearman(a, 5 * a + 2) == pytest.approx(1.0)


def test_negated_map_is_anticorrelated_but_abs_is_not():
    a = RNG.random((20, 20)) + 0.1
    assert sim.spearman(a, -a) == pytest.approx(-1.0)
    assert sim.spearman_abs(a, -a) == pytest.approx(1.0)


def test_topk_known_answer():
    a = np.arange(100.0).reshape(10, 10)  # top 10% = values 90..99
    b = a.copy()
    b.ravel()[[95, 96, 97, 98, 99]] = 0  # half of a's top pixels drop out of b's top 10%
    assert sim.topk_intersection(a, b, 0.1) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        sim.topk_intersection(a, b, 0.0)


def test_constant_map_gives_nan_with_reason():
    a, zero = RNG.random((8, 8)), np.zeros((8, 8))
    scores = Scorer(backend="reference").score(np.stack([a, zero]), np.stack([a, a]))
    assert scores[0]["nan_reason"] == "" and scores[0]["ssim"] == pytest.approx(1.0)
    assert scores[1]["nan_reason"] == "constant clean map"
    assert all(np.isnan(scores[1][k]) for k in Scorer().columns)


def test_non_finite_map_gives_nan_with_reason():
    a = RNG.random((8, 8))
    b = a.copy()
    b[0, 0] = np.nan
    assert sim.undefined_reason(a, b) == "non-finite values in perturbed map"
    assert np.isnan(sim.spearman(a, b))


def test_dark_region_and_mass_share():
    import torch

    from harness.metrics.regions import darkest, mass_share

    img = torch.arange(16.0).reshape(1, 1, 4, 4).expand(1, 3, 4, 4)  # pixel value = index
    region = darkest(img, 0.25)
    assert region.flatten().tolist() == [True] * 4 + [False] * 12
    maps = torch.zeros(3, 4, 4)
    maps[0] = 1.0
    maps[1, 0, :2] = 1.0
    share = mass_share(maps, region.expand(3, 4, 4))
    assert share[0] == pytest.approx(0.25) and share[1] == 1.0 and torch.isnan(share[2])


def test_topk_ties_are_broken_at_random_in_expectation_not_by_pixel_index():
    """Two maps that are zero except on five different pixels share no important pixel; sorting the tied zeros by
    index would give them 5 of 10 "top" pixels in common (0.5)."""
    a, b = np.zeros(100), np.zeros(100)
    a[:5], b[50:55] = 1.0, 1.0
    expected = (2 * 5 * (5 / 95) + 90 * (5 / 95) ** 2) / 10  # Σ P_a P_b / k
    assert sim.topk_intersection(a.reshape(10, 10), b.reshape(10, 10), 0.1) == pytest.approx(expected)
    assert expected < 0.1  # below the chance level k / N: they disagree
    from harness.metrics import torch_similarity as ts
    import torch
    t = ts.topk_intersection(torch.tensor(a).view(1, 10, 10), torch.tensor(b).view(1, 10, 10), 0.1)
    assert t.item() == pytest.approx(expected)
