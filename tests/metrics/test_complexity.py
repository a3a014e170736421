"""Known answers of the map's histogram entropy and its rise (efficient MPRT, Hedström et al. 2023)."""
import math

import torch

from harness.metrics.complexity import entropy_rise, histogram_counts, histogram_entropy


def test_constant_maps_have_entropy_zero_and_uniform_noise_nearly_log_bins():
    assert (histogram_entropy(torch.full((2, 16, 16), 3.0)) == 0).all()
    near = torch.full((1, 16, 16), 29.783026)
    near[0, 0, 0] = 29.78303  # constant up to float32 precision: its rounding is no pattern
    assert histogram_entropy(near)[0] == 0
    noise = torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0))
    assert ((histogram_entropy(noise, 100) - math.log(100)).abs() < 2e-3).all()
    halves = torch.cat([torch.zeros(1, 8, 4), torch.ones(1, 8, 4)], 2)  # two equal bins of mass 1/2
    assert torch.allclose(histogram_entropy(halves, 10), torch.tensor([math.log(2)], dtype=torch.float64))


def test_the_histogram_is_affine_invariant_and_closes_its_last_bin():
    m = torch.randint(0, 50, (4, 10, 10), generator=torch.Generator().manual_seed(1)).float()
    assert torch.equal(histogram_counts(m, 7), histogram_counts(2 * m + 4, 7))  # exact in float: the same bins
    r = torch.randn(4, 10, 10, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(histogram_entropy(r), histogram_entropy(-3 * r + 1), atol=0.02)
    assert (histogram_counts(m, 7).sum(1) == 100).all() and (histogram_counts(m, 7)[:, -1] >= 1).all()


def test_entropy_rise_is_relative_and_undefined_from_a_constant_to_a_patterned_map():
    peaked = torch.zeros(1, 16, 16)
    peaked[0, :2, :2] = 1.0
    noise = torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(2))
    h0, h1 = histogram_entropy(peaked), histogram_entropy(noise)
    assert torch.allclose(entropy_rise(peaked, noise), (h1 - h0) / h0) and entropy_rise(peaked, noise)[0] > 5
    assert entropy_rise(noise, noise)[0] == 0 and entropy_rise(noise, torch.ones(1, 16, 16))[0] == -1
    assert entropy_rise(torch.ones(1, 16, 16), noise).isnan().all()
    assert entropy_rise(torch.ones(1, 16, 16), torch.zeros(1, 16, 16))[0] == 0  # constant stays constant: unchanged
