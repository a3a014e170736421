"""Noise conditions: seeded per image and sample, the same unit draws at every radius, clipped in pixel space."""
import pytest
import torch

from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch
from harness.perturbations.noise import Noise, NoiseCondition


def _batch(ids, encoding="imagenet"):
    enc = Encoding.named(encoding)
    x = torch.rand(len(ids), 3, 6, 6, generator=torch.Generator().manual_seed(0))
    return Batch(x, enc.encode(x), torch.tensor(ids), torch.zeros(len(ids), dtype=torch.long), enc, seed=3)


def test_draws_depend_on_image_and_sample_only():
    cond = NoiseCondition("uniform", 0.1, n_samples=4, clip=False)
    both, alone = _batch([5, 9]), _batch([9])
    u = cond.noise(both, 2)
    assert torch.equal(u[1], cond.noise(alone, 2)[0])  # image 9's draw does not depend on its batch
    assert not torch.equal(u, cond.noise(both, 3))  # another sample, another draw
    assert u.abs().max() <= 0.1 and u.abs().max() > 0.09  # uniform in the L∞ ball of radius 0.1


def test_every_radius_scales_the_same_unit_draw_and_the_image_is_clipped_in_pixel_space():
    b = _batch([0, 1])
    small, large = NoiseCondition("gaussian", 0.05, 2, clip=False), NoiseCondition("gaussian", 0.2, 2, clip=False)
    assert torch.allclose(4 * small.noise(b, 1), large.noise(b, 1), atol=1e-6)
    clipped = NoiseCondition("gaussian", 0.5, 2, clip=True)
    x_p = b.encoding.decode(clipped.transform_inputs(b, 0))
    assert x_p.min() >= -1e-6 and x_p.max() <= 1 + 1e-6
    assert torch.allclose(x_p, (b.x + clipped.noise(b, 0)).clamp(0, 1), atol=1e-5)
    # a carried baseline gets the same draw
    carried = b.encoding.decode(clipped.carry_baseline(b.encoding.encode(torch.zeros_like(b.x)), b, 0))
    assert torch.allclose(carried, clipped.noise(b, 0).clamp(0, 1), atol=1e-5)


def test_family_conditions_and_errors():
    conds = Noise(kinds=["uniform", "gaussian"], radii=[0.01, 0.1], n_samples=3).conditions(Encoding.named("unit"),
                                                                                          (3, 4, 4))
    assert [(c.columns["noise"], c.columns["magnitude"], c.n_samples) for c in conds] == [
        ("uniform", 0.01, 3), ("uniform", 0.1, 3), ("gaussian", 0.01, 3), ("gaussian", 0.1, 3)]
    assert len({c.key for c in conds}) == 4 and all(c.tolerance is None for c in conds)
    assert Noise(kinds="gaussian", radii=0.1).kinds == ["gaussian"]  # a single value is a one-item list
    with pytest.raises(UserError, match="valid choices: uniform, gaussian"):
        Noise(kinds=["salt"])
    with pytest.raises(UserError, match="must be positive"):
        Noise(radii=[0.0])
