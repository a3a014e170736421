"""Exact compensation: f'(A ⊙ z + m) = f(z), including zero-padded borders (Quantus #303)."""
import pytest
import torch
import torch.nn as nn

from harness.common.errors import UserError
from harness.models.classifier import use_channels_last
from harness.models.encoding import Encoding
from harness.perturbations.affine import AffineMap
from harness.perturbations.brightness_shift import BrightnessShift
from harness.perturbations.compensate import CompensatedConv2d, compensate

torch.manual_seed(0)
CHW = (3, 12, 10)


def _net(**conv_kwargs) -> nn.Module:
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 6, kernel_size=3, padding=1, **conv_kwargs)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
    out_hw = conv(torch.zeros(1, *CHW)).shape[-2:]
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(6 * out_hw.numel(), 4)).eval()


def _max_rel_diff(a, b):
    return ((a - b).abs().max() / a.abs().max()).item()


AFFINES = {
    "uniform shift": AffineMap.translation(torch.full((3,), 0.7)),
    "channel shift": AffineMap.translation(torch.tensor([0.5, -1.0, 2.0])),
    "pixel pattern": AffineMap.translation(torch.randn(*CHW)),
    "rescale + shift": AffineMap(torch.tensor([2.0, 0.5, -3.0]).view(3, 1, 1), torch.tensor([0.1, -0.2, 0.3]).view(3, 1, 1)),
}


@pytest.mark.parametrize("name", list(AFFINES))
@pytest.mark.parametrize("conv_kwargs", [{}, {"stride": 2}, {"padding_mode": "reflect"}, {"dilation": 2}])
def test_exact_compensation_reproduces_logits(name, conv_kwargs):
    net, amap = _net(**conv_kwargs), AFFINES[name]
    z = torch.randn(5, *CHW)
    comp = compensate(net, amap, CHW)
    assert _max_rel_diff(net(z), comp(amap(z))) < 1e-5


def test_grouped_convolution():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.Flatten()).eval()
    amap = AffineMap(torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1), torch.tensor([1.0, -1.0, 0.5, 0.0]).view(4, 1, 1))
    z = torch.randn(2, 4, 6, 6)
    assert _max_rel_diff(net(z), compensate(net, amap, (4, 6, 6))(amap(z))) < 1e-5


def test_naive_bias_fold_is_wrong_only_at_zero_padded_borders():
    net, amap = _net(), AFFINES["uniform shift"]
    conv = net[0]
    z = torch.randn(2, *CHW)
    naive = CompensatedConv2d(conv, amap, CHW[1:], exact=False)(amap(z))
    exact = CompensatedConv2d(conv, amap, CHW[1:], exact=True)(amap(z))
    ref = conv(z)
    assert torch.allclose(exact, ref, atol=1e-5)
    interior = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    assert torch.allclose(naive[interior], ref[interior], atol=1e-5)
    assert (naive - ref).abs().max() > 0.1  # the border is off by a partial W·m


def test_compensated_gradient_equals_original_gradient_divided_by_scale():
    net = _net()
    amap = AFFINES["rescale + shift"]
    z = torch.randn(3, *CHW, requires_grad=True)
    (g,) = torch.autograd.grad(net(z)[:, 1].sum(), z)
    zp = amap(z.detach()).requires_grad_(True)
    (gp,) = torch.autograd.grad(compensate(net, amap, CHW)(zp)[:, 1].sum(), zp)
    assert torch.allclose(gp, g / amap.scale, atol=1e-6)


def test_original_network_is_not_modified():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    compensate(net, AFFINES["channel shift"], CHW)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_linear_first_layer():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5), nn.Tanh(), nn.Linear(5, 2)).eval()
    amap = AffineMap(torch.tensor([2.0, 1.0, 0.5]).view(3, 1, 1), torch.randn(3, 4, 4))
    z = torch.randn(4, 3, 4, 4)
    assert _max_rel_diff(net(z), compensate(net, amap, (3, 4, 4))(amap(z))) < 1e-5


def test_channels_last_network():
    net = use_channels_last(_net())
    amap = AFFINES["uniform shift"]
    z = torch.randn(3, *CHW)
    assert _max_rel_diff(net(z), compensate(net, amap, CHW)(amap(z))) < 1e-5


def test_unsupported_first_layer_is_a_clear_error():
    net = nn.Sequential(nn.BatchNorm2d(3), nn.Flatten())
    with pytest.raises(UserError, match="BatchNorm2d"):
        compensate(net, AFFINES["uniform shift"], CHW)


@pytest.mark.parametrize("encoding", ["unit", "imagenet", "symmetric", "byte"])
def test_brightness_shift_is_pixel_shift_in_every_encoding(encoding):
    enc = Encoding.named(encoding)
    x = torch.rand(2, 3, 5, 5)
    for cond in BrightnessShift([-0.5, 0.25]).conditions(enc, (3, 5, 5)):
        assert torch.allclose(cond.amap(enc.encode(x)), enc.encode(x + cond.columns["magnitude"]), atol=1e-4)


def test_brightness_shift_conditions_and_errors():
    conds = BrightnessShift([0.1, 0.2], compensated=[False, True]).conditions(Encoding.named("unit"), (3, 5, 5))
    assert [(c.columns["magnitude"], c.columns["regime"]) for c in conds] == [
        (0.1, "uncompensated"), (0.1, "compensated"), (0.2, "uncompensated"), (0.2, "compensated")]
    assert len({c.key for c in conds}) == 4
    both = BrightnessShift([0.1], compensated=[False, True], exact=[True, False]).conditions(
        Encoding.named("unit"), (3, 5, 5))
    assert [c.columns["regime"] for c in both] == ["uncompensated", "compensated", "compensated, naive fold"]
    assert [c.strict for c in both[1:]] == [True, False] and both[0].tolerance is None
    with pytest.raises(UserError, match="empty"):
        BrightnessShift([])
