"""Known answers for every perturbation family on a small model with a zero-padded first conv."""
import itertools

import pytest
import torch
import torch.nn as nn

from harness.attribution.baselines import constant, input_min, uniform
from harness.attribution.methods import InputXGradient, IntegratedGradients, Saliency
from harness.models.encoding import ENCODINGS, Encoding
from harness.perturbations.channel_shift import ChannelShift
from harness.perturbations.compensate import compensate
from harness.perturbations.normalisation_change import NormalisationChange, change_map
from harness.perturbations.pattern_shift import PatternShift, checkerboard

CHW = (3, 16, 16)
X = torch.rand(3, *CHW, generator=torch.Generator().manual_seed(0))
T = torch.tensor([0, 1, 2])


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 3)).eval()


def _all_conditions(enc):
    families = [NormalisationChange(), ChannelShift([[0.3, -0.2, 0.1]]), PatternShift([0.5], cell=4)]
    return [c for f in families for c in f.conditions(enc, CHW) if c.compensated]


@pytest.mark.parametrize("e1", list(ENCODINGS))
def test_exact_compensation_for_every_family_and_encoding(e1):
    enc, net = Encoding.named(e1), _net()
    z = enc.encode(X)
    for cond in _all_conditions(enc):
        f, f2 = net(z), compensate(net, cond.amap, CHW)(cond.amap(z))
        assert ((f - f2).abs().max() / f.abs().max()).item() < 1e-5, cond.key


@pytest.mark.parametrize("e1, e2", [p for p in itertools.permutations(ENCODINGS, 2)])
def test_normalisation_change_is_the_other_encoding(e1, e2):
    a, b = Encoding.named(e1), Encoding.named(e2)
    assert torch.allclose(change_map(a, b)(a.encode(X)), b.encode(X), atol=1e-3)
    cond = NormalisationChange(targets=[e2], compensated=True).conditions(a, CHW)[0]
    assert cond.columns["condition"] == f"{e1}→{e2}"


def _grad(net, z):
    return Saliency().attribute(net, z, T)


@pytest.mark.parametrize("e1, e2", [("unit", "byte"), ("unit", "symmetric"), ("unit", "imagenet"),
                                    ("imagenet", "symmetric")])
def test_gradient_scales_by_a1_over_a2_and_ixg_depends_on_the_offset(e1, e2):
    net, a, b = _net(), Encoding.named(e1), Encoding.named(e2)
    amap = change_map(a, b)
    z1 = a.encode(X)
    comp = compensate(net, amap, CHW)
    g1, g2 = _grad(net, z1), _grad(comp, amap(z1))
    assert torch.allclose(g2, g1 / amap.scale, rtol=1e-4, atol=1e-6)
    ixg1, ixg2 = InputXGradient().attribute(net, z1, T), InputXGradient().attribute(comp, amap(z1), T)
    offset_free = torch.allclose(amap.shift, torch.zeros_like(amap.shift), atol=1e-6)
    assert torch.allclose(ixg1, ixg2, rtol=1e-4, atol=1e-6) == offset_free


@pytest.mark.parametrize("family", [ChannelShift([[0.3, -0.2, 0.1]]), PatternShift([0.5], cell=4)])
def test_shift_families_keep_gradient_but_not_ixg(family):
    net, enc = _net(), Encoding.named("unit")
    z = enc.encode(X)
    cond = [c for c in family.conditions(enc, CHW) if c.compensated][0]
    comp = compensate(net, cond.amap, CHW)
    assert torch.allclose(_grad(net, z), _grad(comp, cond.amap(z)), atol=1e-5)
    ixg = InputXGradient()
    assert not torch.allclose(ixg.attribute(net, z, T), ixg.attribute(comp, cond.amap(z), T), atol=1e-3)


@pytest.mark.parametrize("baseline", [lambda x: constant(x, 0.0), lambda x: constant(x, 1.0),
                                      lambda x: uniform(x, seed=1)])
def test_ig_invariant_iff_baseline_follows(baseline):
    net, enc = _net(), Encoding.named("imagenet")
    z, b = enc.encode(X), enc.encode(baseline(X))
    cond = NormalisationChange(targets=["unit"], compensated=True).conditions(enc, CHW)[0]
    comp, ig = compensate(net, cond.amap, CHW), IntegratedGradients(baseline, n_steps=16)
    clean = ig.attribute(net, z, T, b)
    carried = ig.attribute(comp, cond.amap(z), T, cond.amap(b))
    fixed = ig.attribute(comp, cond.amap(z), T, b)
    assert torch.allclose(carried, clean, rtol=1e-4, atol=1e-5)  # (z₂ − b₂) ⊙ ∇f/A = (z₁ − b₁) ⊙ ∇f
    assert not torch.allclose(fixed, clean, rtol=1e-2, atol=1e-3)


def test_pattern_shift_breaks_the_scalar_min_baseline_but_not_the_carried_one():
    net, enc = _net(), Encoding.named("unit")
    ig = IntegratedGradients(input_min, n_steps=16)
    for family, tracks in ((PatternShift([0.5], cell=4), False), (ChannelShift([[0.4, 0.4, 0.4]]), True)):
        cond = [c for c in family.conditions(enc, CHW) if c.compensated][0]
        comp = compensate(net, cond.amap, CHW)
        x_shifted = enc.decode(cond.amap(enc.encode(X)))
        clean = ig.attribute(net, enc.encode(X), T, enc.encode(input_min(X)))
        carried = ig.attribute(comp, enc.encode(x_shifted), T, cond.amap(enc.encode(input_min(X))))
        recomputed = ig.attribute(comp, enc.encode(x_shifted), T, enc.encode(input_min(x_shifted)))
        assert torch.allclose(carried, clean, atol=1e-4)
        assert torch.allclose(recomputed, clean, atol=1e-4) == tracks


def test_checkerboard():
    board = checkerboard(4, 4, 2)
    assert board.tolist()[0] == [1, 1, -1, -1] and board.tolist()[2] == [-1, -1, 1, 1]
