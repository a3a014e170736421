"""Methods against functions with known answers (PAIR saliency style)."""
import pytest
import torch
import torch.nn as nn

from harness.attribution import baselines
from harness.attribution.engine import attribute_all
from harness.attribution.methods import GradCAM, InputXGradient, IntegratedGradients, Saliency, resolve_layer
from harness.attribution.reduce import reduce_channels
from harness.errors import UserError
from harness.perturbations.affine import AffineMap


class Toy(nn.Module):
    """Logit 0 = Σ 5·z₀ + Σ z₁² + Σ sin z₂ (per image); logit 1 = its negative."""

    def forward(self, z):
        f = 5 * z[:, 0].sum((1, 2)) + (z[:, 1] ** 2).sum((1, 2)) + torch.sin(z[:, 2]).sum((1, 2))
        return torch.stack([f, -f], 1)


Z = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
T = torch.zeros(2, dtype=torch.long)


def test_saliency_is_the_analytic_gradient():
    g = Saliency().attribute(Toy(), Z, T)
    assert torch.allclose(g[:, 0], torch.full_like(g[:, 0], 5.0))
    assert torch.allclose(g[:, 1], 2 * Z[:, 1])
    assert torch.allclose(g[:, 2], torch.cos(Z[:, 2]))


def test_input_x_gradient():
    assert torch.allclose(InputXGradient().attribute(Toy(), Z, T), Z * Saliency().attribute(Toy(), Z, T))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_integrated_gradients_completeness(value):
    b = baselines.constant(Z, value)
    ig = IntegratedGradients(baseline=None, n_steps=32).attribute(Toy(), Z, T, b)
    f = Toy()
    expected = f(Z)[:, 0] - f(b)[:, 0]
    assert torch.allclose(ig.sum((1, 2, 3)), expected, rtol=1e-4, atol=1e-4)
    # per-feature closed forms: 5(z-b), z²-b², sin z - sin b
    assert torch.allclose(ig[:, 0], 5 * (Z[:, 0] - b[:, 0]), atol=1e-5)
    assert torch.allclose(ig[:, 1], Z[:, 1] ** 2 - b[:, 1] ** 2, atol=1e-5)
    assert torch.allclose(ig[:, 2], torch.sin(Z[:, 2]) - torch.sin(b[:, 2]), atol=1e-5)


def test_integrated_gradients_needs_baseline_and_steps():
    with pytest.raises(ValueError):
        IntegratedGradients(baseline=None).attribute(Toy(), Z, T)
    with pytest.raises(UserError):
        IntegratedGradients(baseline=None, n_steps=0)


def test_uniform_baseline_is_one_seeded_image():
    a = baselines.uniform(torch.zeros(3, 3, 5, 5), seed=7)
    b = baselines.uniform(torch.zeros(1, 3, 5, 5), seed=7)
    assert torch.equal(a[0], a[2]) and torch.equal(a[0], b[0])
    assert not torch.equal(a[0], baselines.uniform(torch.zeros(1, 3, 5, 5), seed=8)[0])
    assert 0 <= a.min() and a.max() < 1


def _cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()


def test_gradcam_shape_and_relu():
    cam = GradCAM().attribute(_cnn(), torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    assert cam.shape == (2, 1, 8, 8) and cam.min() >= 0


def test_gradcam_layer_resolution():
    net = _cnn()
    assert resolve_layer(net, None) is net[2]
    assert resolve_layer(net, "0") is net[0]
    with pytest.raises(UserError, match="convolutional layers: 0, 2"):
        resolve_layer(net, "conv9")


def test_reductions():
    a = torch.tensor([[[[1.0]], [[-2.0]]]])  # (1, 2, 1, 1)
    assert reduce_channels(a, "sum_abs").item() == 3.0
    assert reduce_channels(a, "sum").item() == -1.0
    assert reduce_channels(a, "max_abs").item() == 2.0
    assert reduce_channels(a, "l2").item() == pytest.approx(5 ** 0.5)
    with pytest.raises(UserError, match="sum_abs, sum, max_abs, l2"):
        reduce_channels(a, "mean")


def test_engine_baseline_follows_or_stays():
    """Toy is affine in z₀, so IG there is 5(z − b): a shifted baseline gives the clean map back."""
    methods = {"ig": IntegratedGradients(baseline=None, n_steps=8)}
    amap = AffineMap.translation(torch.tensor([0.5, 0.0, 0.0]))
    base = {"ig": torch.zeros_like(Z)}
    kw = dict(target=T, baselines=base, follows=[True, False], reduction="sum")
    clean, clean_err = attribute_all(methods, Toy(), Z, amap=None, **kw)
    shifted, err = attribute_all(methods, Toy(), amap(Z), amap=amap, **kw)
    assert set(clean) == set(clean_err) == {("ig", True), ("ig", False)}
    assert torch.allclose(shifted[("ig", True)], clean[("ig", True)], atol=1e-5)
    assert not torch.allclose(shifted[("ig", False)], clean[("ig", False)], atol=1e-2)
    # 8 Gauss-Legendre steps integrate this smooth toy almost exactly: completeness holds
    assert max(e.max().item() for e in [*clean_err.values(), *err.values()]) < 1e-3


def test_completeness_error_known_answer():
    from harness.attribution.engine import completeness_error

    b = torch.zeros_like(Z)
    gap = Toy()(Z)[:, 0] - Toy()(b)[:, 0]
    attr = torch.zeros_like(Z)
    attr[:, 0, 0, 0] = gap * 1.1  # sums to 110% of F(x) - F(b): a 10% error
    assert torch.allclose(completeness_error(Toy(), Z, T, b, attr), torch.full((2,), 0.1), atol=1e-5)
