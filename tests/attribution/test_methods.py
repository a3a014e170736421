"""Methods against functions with known answers (PAIR saliency style)."""
import pytest
import torch
import torch.nn as nn

from harness.attribution import baselines
from harness.attribution.engine import View, attribute_views
from harness.attribution.gradcam import GradCAM
from harness.attribution.layers import resolve_layer
from harness.attribution.methods import InputXGradient, IntegratedGradients, Saliency
from harness.attribution.reduce import reduce_channels
from harness.common.errors import UserError
from harness.perturbations.affine import AffineMap
from toys import tiny_cnn


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
    return tiny_cnn(width=4, classes=2)


def test_gradcam_shape_and_relu():
    cam = GradCAM().attribute(_cnn(), torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    assert cam.shape == (2, 1, 8, 8) and cam.min() >= 0


def test_gradcam_layer_resolution():
    net = _cnn()
    assert resolve_layer(net, None, torch.zeros(1, 3, 8, 8)) is net[3]  # the ReLU after the last convolution
    assert resolve_layer(net, "0") is net[0]
    with pytest.raises(UserError, match="convolutional layers: 0, 2"):
        resolve_layer(net, "conv9")


def test_gradcam_default_layer_skips_normalisation_and_falls_back_to_a_functional_relu(caplog):
    bn = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                       nn.Flatten(), nn.Linear(4, 2)).eval()
    assert resolve_layer(bn, None, torch.zeros(1, 3, 8, 8)) is bn[2]

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 2)

        def forward(self, z):
            return self.fc(torch.relu(self.conv(z)).mean((2, 3)))

    net = Functional()
    with caplog.at_level("WARNING"):
        assert resolve_layer(net, None, torch.zeros(1, 3, 8, 8)) is net.conv
    assert "applied functionally" in caplog.text


class _RectifiedMatters(nn.Module):
    """A known answer: Grad-CAM on the raw convolution is all zero, on its ReLU output it is not.

    Input: one channel, 1 at the centre pixel, 0 elsewhere. A 1×1 convolution gives A¹ = 2z − 1 (+1 at the
    centre, −1 elsewhere) and A² = 1 everywhere; after the ReLU, R¹ = 1 at the centre only, R² = 1. The logit
    is Σ R¹ − 2·R²(centre). On the raw maps α¹ = 1/N (only the centre passes the ReLU) and α² = −2/N, so
    α¹A¹ + α²A² = −1/N at the centre and −3/N elsewhere: ReLU gives an all-zero map. On the rectified maps
    α¹ = 1, α² = −2/N: 1 − 2/N > 0 at the centre, so the map is positive there.
    """

    def __init__(self, size: int = 5):
        super().__init__()
        self.conv, self.relu, self.flat = nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Flatten()
        self.head = nn.Linear(2 * size * size, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([2.0, 0.0]).view(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([-1.0, 1.0]))
            w = torch.zeros(2, size, size)
            w[0] = 1.0
            w[1, size // 2, size // 2] = -2.0
            self.head.weight.copy_(w.view(1, -1))

    def forward(self, z):
        return self.head(self.flat(self.relu(self.conv(z))))


def test_gradcam_uses_rectified_feature_maps():
    net = _RectifiedMatters().eval()
    z = torch.zeros(1, 1, 5, 5)
    z[0, 0, 2, 2] = 1.0
    target = torch.zeros(1, dtype=torch.long)
    assert GradCAM(layer="conv").attribute(net, z, target).abs().max() == 0  # the raw convolution: all zero
    cam = GradCAM().attribute(net, z, target)  # the default: the ReLU after it
    assert resolve_layer(net, None, z) is net.relu
    assert cam[0, 0, 2, 2] > 0 and cam[0, 0, 2, 2] == cam.max()


def test_reductions():
    a = torch.tensor([[[[1.0]], [[-2.0]]]])  # (1, 2, 1, 1)
    assert reduce_channels(a, "sum_abs").item() == 3.0
    assert reduce_channels(a, "sum").item() == -1.0
    assert reduce_channels(a, "max_abs").item() == 2.0
    assert reduce_channels(a, "l2").item() == pytest.approx(5 ** 0.5)
    with pytest.raises(UserError, match="sum_abs, sum, max_abs, l2"):
        reduce_channels(a, "mean")


def test_engine_baseline_carried_or_fixed():
    """Toy is affine in z₀, so IG there is 5(z − b): a carried baseline gives the clean map back."""
    methods = {"ig": IntegratedGradients(baseline=None, n_steps=8)}
    amap = AffineMap.translation(torch.tensor([0.5, 0.0, 0.0]))
    b, seeds = torch.zeros_like(Z), torch.zeros(len(Z), 2, dtype=torch.int64)
    views = [View("clean", Z, T, seeds, {"ig": [(("carried", "fixed"), b)]}),
             View("shifted", amap(Z), T, seeds, {"ig": [(("carried",), amap(b)), (("fixed",), b)]})]
    out = attribute_views(methods, Toy(), views, reduction="sum")
    clean, shifted = out["clean"], out["shifted"]
    assert set(clean.maps) == set(clean.errors) == {("ig", "carried"), ("ig", "fixed")}
    assert torch.allclose(shifted.maps[("ig", "carried")], clean.maps[("ig", "carried")], atol=1e-5)
    assert not torch.allclose(shifted.maps[("ig", "fixed")], clean.maps[("ig", "fixed")], atol=1e-2)
    # 8 Gauss-Legendre steps integrate this smooth toy almost exactly: completeness holds
    assert max(e.max().item() for vm in out.values() for e in vm.errors.values()) < 1e-3


def test_completeness_error_known_answer():
    from harness.attribution.engine import completeness_error

    b = torch.zeros_like(Z)
    gap = Toy()(Z)[:, 0] - Toy()(b)[:, 0]
    attr = torch.zeros_like(Z)
    attr[:, 0, 0, 0] = gap * 1.1  # sums to 110% of F(x) - F(b): a 10% error
    assert torch.allclose(completeness_error(Toy(), Z, T, b, attr), torch.full((2,), 0.1), atol=1e-5)
