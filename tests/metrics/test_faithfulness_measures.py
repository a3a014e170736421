"""Known answers of the faithfulness measures of Quantus / LATEC (:mod:`harness.metrics.removal_curves`,
:mod:`harness.metrics.faithfulness_correlation`): a linear model explained by its exact attribution, reversed and
constant maps, the curves' end points, seeding and batching."""
import math

import numpy as np
import pytest
import torch

from harness.metrics import faithfulness_correlation as fc
from harness.metrics import removal_curves as rc
from harness.metrics.faithfulness import area
from harness.metrics.pairwise import Settings
from harness.metrics.per_map import Scene
from harness.metrics.registry import MEASURES

B, C, H, W = 6, 3, 16, 16
NEW = ("pixel_flipping", "region_perturbation", "selectivity", "irof", "faithfulness_correlation",
       "faithfulness_estimate", "monotonicity_correlation", "sensitivity_n")


pytestmark = pytest.mark.usefixtures("one_thread")


def _linear(scale: float = 1.0, seed: int = 0):
    """Images in [0, 1], a two-class model with logit ``z = scale · Σ w·x`` (and ``−z``), and its exact attribution
    ``Φ = Σ_c w ⊙ x`` (gradient × input: the logit's drop when a pixel is set to 0)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, C, H, W, generator=g, dtype=torch.float64)
    w = torch.randn(C, H, W, generator=g, dtype=torch.float64) / 20

    def model(images):
        z = scale * (images * w).sum((1, 2, 3))
        return torch.stack([z, -z], 1)

    return model, x, torch.zeros(B, dtype=torch.long), (x * w).sum(1) * scale, torch.arange(B) + 100


def test_the_exact_attribution_of_a_linear_model_correlates_perfectly():
    """f(x) − f(x_S ← 0) = Σ_S Φ for every subset S: Pearson r = 1 (−1 for −Φ), NaN for a constant map."""
    model, x, target, phi, seeds = _linear()
    subsets = fc.random_subsets(seeds, 20, 26, (H, W))
    for sign in (1, -1):
        corr = fc.faithfulness_correlation(model, x, target, sign * phi, subsets=subsets, seeds=seeds)
        est = fc.faithfulness_estimate(model, x, target, sign * phi, seeds=seeds, n_groups=16)
        assert torch.allclose(corr, torch.full((B,), float(sign), dtype=torch.float64), atol=1e-12)
        assert torch.allclose(est, torch.full((B,), float(sign), dtype=torch.float64), atol=1e-12)
        sens = fc.sensitivity_n(model, x, target, sign * phi, seeds=seeds, fractions=(0.001, 0.1, 0.8), runs=12)
        assert sens.shape == (B, 3)  # n = 1 pixel, 26, 205
        assert torch.allclose(sens, torch.full((B, 3), float(sign), dtype=torch.float64), atol=1e-12)
    const = torch.ones(B, H, W)
    assert fc.faithfulness_correlation(model, x, target, const, subsets=subsets, seeds=seeds).isnan().all()
    assert fc.faithfulness_estimate(model, x, target, const, seeds=seeds).isnan().all()
    assert fc.sensitivity_n(model, x, target, const, seeds=seeds, runs=4).isnan().all()
    noise = torch.rand(B, H, W, generator=torch.Generator().manual_seed(3))
    assert fc.faithfulness_correlation(model, x, target, noise, subsets=subsets, seeds=seeds).abs().mean() < 0.5


def test_monotonicity_is_perfect_for_a_map_ordered_as_the_output_s_variance():
    """On a black image, filling pixel i with 1 moves the logit by Σ_c w_i (all w > 0): the probability's squared
    change rises with w_i, so ``|map| = w`` has ρ = 1 and the reversed map ρ = −1, one pixel per group."""
    g = torch.Generator().manual_seed(1)
    w = torch.rand(1, 6, 6, generator=g, dtype=torch.float64) + 0.1

    def model(images):
        z = (images * w).sum((1, 2, 3))
        return torch.stack([z, -z], 1)

    x, target, seeds = torch.zeros(2, 1, 6, 6, dtype=torch.float64), torch.zeros(2, dtype=torch.long), [1, 2]
    good = w.expand(2, 6, 6)
    mono = fc.monotonicity_correlation(model, x, target, good, seeds=seeds, n_groups=36, fill=1.0)
    assert torch.allclose(mono, torch.ones(2, dtype=torch.float64), atol=1e-12)
    reversed_ = fc.monotonicity_correlation(model, x, target, 2 - good, seeds=seeds, n_groups=36, fill=1.0)
    assert torch.allclose(reversed_, -torch.ones(2, dtype=torch.float64), atol=1e-12)
    assert fc.monotonicity_correlation(model, x, target, torch.ones(2, 6, 6), seeds=seeds).isnan().all()


def test_curves_start_at_the_intact_image_and_end_at_the_fill():
    model, x, target, phi, seeds = _linear()
    p = torch.softmax(model(x), 1)[:, 0]
    p_black = torch.softmax(model(torch.zeros_like(x)), 1)[:, 0]
    flip = rc.pixel_flipping(model, x, target, phi, seeds=seeds, steps=8)
    assert flip.shape == (B, 9) and torch.allclose(flip[:, 0], p) and torch.allclose(flip[:, -1], p_black)
    patches = rc.patch_curve(model, x, target, phi, seeds=seeds, patch=5)  # 4 × 4 patches, partial at the border
    assert patches.shape == (B, 17) and torch.allclose(patches[:, 0], p) and torch.allclose(patches[:, -1], p_black)
    drops = rc.region_perturbation(model, x, target, phi, seeds=seeds, patch=5, steps=100, fill=0.0)
    assert torch.allclose(drops, p[:, None] - patches)  # at most every patch
    for c, full in zip(rc.irof_curves(model, x, target, phi, seeds=seeds, n_segments=20, fill=0.0), p_black / p):
        assert c[0] == 1 and torch.isclose(c[-1], full)


def test_the_model_s_evidence_removed_first_scores_best():
    """A model that reads one bright 4 × 4 square on a dark background: the map on that square beats the map on the
    rest on every measure."""
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[4:8, 8:12] = True
    x = torch.rand(B, C, H, W, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 0.1
    x = torch.where(mask, 0.9 + x, x)

    def model(images):
        z = 8 * ((images * mask).sum((1, 2, 3)) / (C * 16) - 0.5)
        return torch.stack([z, -z], 1)

    target, seeds = torch.zeros(B, dtype=torch.long), torch.arange(B)
    good = (x * mask).sum(1)
    bad = (x * ~mask).sum(1)
    scene_good = Scene(x, model=model, inputs=x, target=target, seeds=seeds)
    settings = Settings(region_patch=4, region_steps=4, pixel_flipping_steps=16, irof_segments=30)
    for name in NEW:
        m = MEASURES[name]
        a, b = (m.compute(maps, scene_good, settings) for maps in (good, bad))
        better = a > b if m.stable == "higher" else a < b
        assert better.all(), name


def test_draws_are_seeded_per_image_shared_by_methods_and_batching_changes_nothing():
    model, x, target, phi, seeds = _linear()
    subsets = fc.random_subsets(seeds, 8, 10, (H, W))
    assert torch.equal(subsets[:, 2:3], fc.random_subsets(seeds[2:3], 8, 10, (H, W)))  # an image's own draws
    assert (subsets.sum((2, 3)) == 10).all() and not torch.equal(subsets[:, 0], subsets[:, 1])
    noise = fc.monotonicity_noise(x, seeds, 3)
    assert torch.equal(noise[:, 4:5], fc.monotonicity_noise(x[4:5], seeds[4:5], 3))
    fill = rc.fill_images(x, "uniform", seeds)
    assert torch.equal(fill[1:2], rc.fill_images(x[1:2], "uniform", seeds[1:2])) and 0 <= fill.min() < fill.max() <= 1
    scene = Scene(x, model=model, inputs=x, target=target, seeds=seeds)
    whole, chunked = Settings(max_batch=None, region_patch=4), Settings(max_batch=7, region_patch=4)
    for name in NEW:
        a = MEASURES[name].compute(phi, scene, whole)
        assert torch.equal(a, MEASURES[name].compute(phi, scene, whole)), name  # same seed, same bytes
        assert torch.allclose(a, MEASURES[name].compute(phi, scene, chunked), atol=1e-12), name
        assert torch.allclose(a[3:4], MEASURES[name].compute(phi[3:4], Scene(
            x[3:4], model=model, inputs=x[3:4], target=target[3:4], seeds=seeds[3:4]), whole), atol=1e-12), name


def test_a_constant_map_scores_like_a_random_order():
    """Ties are broken by the image's seeded order, never by pixel index: a constant map removes the pixels in a
    random order, the same for every constant map (its value is irrelevant)."""
    model, x, target, phi, seeds = _linear()
    scene = Scene(x, model=model, inputs=x, target=target, seeds=seeds)
    for name in ("pixel_flipping", "region_perturbation", "selectivity", "irof"):
        ones = MEASURES[name].compute(torch.ones(B, H, W), scene, Settings(region_patch=4))
        assert torch.equal(ones, MEASURES[name].compute(torch.full((B, H, W), 3.0), scene, Settings(region_patch=4)))
        assert ones.isfinite().all()


def test_scalars_follow_the_papers_definitions():
    """AOPC (Samek et al. 2017) = mean drop over k = 0..L; IROF = 1 − area of the normalised curve; pixel flipping
    and selectivity = area under the curve (trapezoidal, on [0, 1])."""
    model, x, target, phi, seeds = _linear()
    scene = Scene(x, model=model, inputs=x, target=target, seeds=seeds)
    s = Settings(region_patch=4, region_steps=5, region_fill=0.0, irof_segments=20)
    drops = rc.region_perturbation(model, x, target, phi, seeds=seeds, patch=4, steps=5, fill=0.0)
    assert torch.allclose(MEASURES["region_perturbation"].compute(phi, scene, s), drops.sum(1) / 6)
    curves = rc.irof_curves(model, x, target, phi, seeds=seeds, n_segments=20)
    aoc = [1 - float(np.trapezoid(c.numpy(), dx=1 / (len(c) - 1))) for c in curves]
    assert np.allclose(MEASURES["irof"].compute(phi, scene, s).numpy(), aoc)
    curve = rc.patch_curve(model, x, target, phi, seeds=seeds, patch=4)
    assert torch.allclose(MEASURES["selectivity"].compute(phi, scene, s), area(curve))
    assert math.isclose(float(area(torch.tensor([[1.0, 0.0, 0.0]]))[0]), 0.25)


def test_batched_correlations_are_scipy_s():
    from scipy.stats import pearsonr, spearmanr

    g = torch.Generator().manual_seed(2)
    a = torch.rand(5, 30, generator=g, dtype=torch.float64)
    b = a + torch.rand(5, 30, generator=g, dtype=torch.float64)
    a[:, :6] = 0.5  # ties
    p, s = fc.pearson(a, b), fc.spearman(a, b)
    for i in range(5):
        assert math.isclose(p[i], pearsonr(a[i], b[i])[0], abs_tol=1e-12)
        assert math.isclose(s[i], spearmanr(a[i], b[i])[0], abs_tol=1e-12)
    assert fc.pearson(torch.ones(1, 4), torch.rand(1, 4)).isnan().all()
