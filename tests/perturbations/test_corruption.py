"""Natural corruptions: parity with the reference implementation (stored outputs of ``imagecorruptions``, made by
``tests/fixtures/make_corruption_reference.py``), the elastic transform's pieces against SciPy / OpenCV, sizes,
seeding, and the family's conditions."""
from pathlib import Path

import numpy as np
import pytest
import torch
from kornia.filters import filter2d

from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch
from harness.perturbations.corruption import CORRUPTIONS, Corruptions, corrupt
from harness.perturbations.corruption_spatial import motion_kernel, plasma_fractal, reflect_smoothing
from harness.common.seeding import generators_for

REF = np.load(Path(__file__).parents[1] / "fixtures" / "corruption_reference.npz")
IMAGES = torch.from_numpy(REF["images"]).permute(0, 3, 1, 2).double() / 255
DETERMINISTIC = ("contrast", "brightness", "saturate", "defocus_blur", "gaussian_blur", "pixelate",
                 "jpeg_compression")
RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "fog")


def _reference(name: str, index: int) -> torch.Tensor:
    return torch.from_numpy(REF[name][index]).permute(0, 3, 1, 2).double()


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_corruptions_equal_the_reference(name):
    """Stored 8-bit outputs: within their rounding (0.5/255); PIL's box resampling rounds after each axis (1/255)."""
    tolerance = (1.0 if name == "pixelate" else 0.5) + 1e-4
    for severity in range(1, 6):
        ours = corrupt(IMAGES, name, severity, scale=1.0) * 255
        assert (ours - _reference(name, severity - 1)).abs().max() <= tolerance, (name, severity)


def test_motion_blur_trail_equals_the_reference_at_fixed_angles():
    for k, (severity, angle) in enumerate(zip((1, 3, 5), REF["motion_angles"])):
        radius, sigma = CORRUPTIONS["motion_blur"].params[severity - 1]
        kernel = motion_kernel(radius, sigma, float(angle), IMAGES.shape[-2:])
        ours = filter2d(IMAGES.float(), kernel[None].float(), border_type="replicate").clamp(0, 1).double() * 255
        assert (ours - _reference("motion_blur", k)).abs().max() <= 0.5 + 1e-4, severity


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n == "gaussian_noise" else pytest.mark.slow)
                                  for n in RANDOM])
def test_random_corruptions_match_the_reference_in_distribution(name):
    """Mean and standard deviation of ``corrupted − image`` over draws per image (the reference's: 100), ours vs
    the reference's."""
    n = 20 if name == "gaussian_noise" else 100
    diffs = torch.stack([corrupt(IMAGES, name, s, 1.0, generators_for([7 * d, 7 * d + 1])) - IMAGES
                         for s in range(1, 6) for d in range(n)]).reshape(5, n, *IMAGES.shape)
    ours = torch.stack([diffs.mean((1, 3, 4, 5)), diffs.transpose(1, 2).flatten(2).std(-1)], -1).numpy()
    mean_tol = 0.03 if name == "fog" else 0.003  # a fog's mean moves with its coarsest draws
    np.testing.assert_allclose(ours[..., 0], REF[f"{name}_stats"][..., 0], atol=mean_tol)
    np.testing.assert_allclose(ours[..., 1], REF[f"{name}_stats"][..., 1], atol=0.01 if name == "fog" else 0.003)


def test_elastic_smoothing_equals_scipy_for_small_and_huge_sigma():
    ndimage = pytest.importorskip("scipy.ndimage")
    u = np.random.default_rng(0).uniform(-1, 1, size=(20, 13))
    for sigma in (0.7, 3.0, 40.0):  # the paper's σ reaches 171 px on 224-px images: far beyond the side
        ours = reflect_smoothing(20, sigma) @ torch.from_numpy(u) @ reflect_smoothing(13, sigma).T
        want = ndimage.gaussian_filter(u, sigma, mode="reflect", truncate=3)
        np.testing.assert_allclose(ours.numpy(), want, atol=1e-12)


def test_plasma_fractal_is_seeded_normalised_and_a_power_of_two():
    a, b = plasma_fractal(16, 2.0, generators_for([1, 2])), plasma_fractal(16, 2.0, generators_for([1, 3]))
    assert a.shape == (2, 16, 16) and torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
    assert torch.equal(a.amin((1, 2)), torch.zeros(2, dtype=a.dtype))
    assert torch.equal(a.amax((1, 2)), torch.ones(2, dtype=a.dtype))


@pytest.mark.parametrize("shape", [(3, 64, 64), (3, 37, 50), (1, 28, 28)])
def test_every_corruption_runs_at_every_size_in_range_and_seeded(shape):
    x = torch.rand(3, *shape, generator=torch.Generator().manual_seed(0))
    for name, c in CORRUPTIONS.items():
        if c.rgb_only and shape[0] != 3:
            continue
        y = corrupt(x, name, 5, min(shape[1:]) / 224, generators_for([5, 6, 7]))
        assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1 and not torch.equal(x, y), name
        if c.random and shape[1] == 64:  # the same image and seed draw the same, alone or in a batch
            alone = corrupt(x[1:2], name, 5, min(shape[1:]) / 224, generators_for([6]))
            assert torch.allclose(alone, y[1:2], atol=1e-6), name


def test_severity_increases_the_change_on_the_default_size():
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    x = filter2d(x, torch.ones(1, 5, 5) / 25, border_type="reflect")  # smooth images, like photographs
    for name in ("gaussian_noise", "gaussian_blur", "contrast", "pixelate", "jpeg_compression"):
        change = [(corrupt(x, name, s, 64 / 224, generators_for(range(4))) - x).abs().mean() for s in (1, 3, 5)]
        assert change[0] < change[1] < change[2], name


@pytest.mark.slow
def test_blur_sizes_scale_with_the_image():
    """A smooth image blurred at 224 px, and its 112-px copy blurred with scale 1/2, agree once downsampled."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 224), torch.linspace(0, 1, 224), indexing="ij")
    big = torch.stack([torch.sin(6 * xx), torch.cos(5 * yy), xx * yy]).double()[None] * 0.4 + 0.5
    small = torch.nn.functional.avg_pool2d(big, 2)
    for name in ("gaussian_blur", "defocus_blur"):
        blurred = torch.nn.functional.avg_pool2d(corrupt(big, name, 4, 1.0), 2)
        assert (corrupt(small, name, 4, 0.5) - blurred).abs().mean() < 0.01, name


def test_family_conditions_columns_seeds_and_errors():
    family = Corruptions(corruptions=["gaussian_noise", "contrast"], severities=[1, 3], n_samples=2)
    conditions = family.conditions(Encoding.named("unit", 3), (3, 64, 64))
    assert [(c.columns["corruption"], c.columns["severity"], c.n_samples) for c in conditions] == [
        ("gaussian_noise", 1, 2), ("gaussian_noise", 3, 2), ("contrast", 1, 1), ("contrast", 3, 1)]
    assert conditions[0].columns["magnitude"] == 1.0 and conditions[0].columns["corruption_group"] == "noise"
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    batch = Batch(x, x, torch.tensor([4, 9]), torch.zeros(2, dtype=torch.long), Encoding.named("unit", 3), seed=1)
    z0, z0_again, z1 = (conditions[0].transform_inputs(batch, s) for s in (0, 0, 1))
    assert torch.equal(z0, z0_again) and not torch.equal(z0, z1)
    assert len(Corruptions().conditions(Encoding.named("unit", 3), (3, 64, 64))) == 5 * len(CORRUPTIONS)
    with pytest.raises(UserError, match="perturbation.corruptions"):
        Corruptions(corruptions=["snow"])
    with pytest.raises(UserError, match="perturbation.severities"):
        Corruptions(severities=[6])
    with pytest.raises(UserError, match="RGB"):
        Corruptions(corruptions=["saturate"]).conditions(Encoding.named("unit", 1), (1, 28, 28))
