"""SmoothGrad / VarGrad against Captum's NoiseTunnel on the same draws; every configured method through the engine."""
import pytest
import torch
import torch.nn as nn
from captum.attr import NoiseTunnel
from captum.attr import Saliency as CaptumSaliency

from harness.attribution.controls import ConstantMap, RandomMap
from harness.attribution.engine import View, attribute_views, completeness_error
from harness.attribution.methods import Saliency
from harness.attribution.smoothing import NoiseAveraged
from harness.entry.run import build_methods
from harness.perturbations.affine import AffineMap
from harness.perturbations.compensate import compensate
from toys import tiny_cnn


def _cnn():
    return tiny_cnn(width=6, classes=3, head="max").requires_grad_(False)


Z = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
T = torch.tensor([0, 1, 2])
SEEDS = torch.tensor([[11, 1], [12, 2], [13, 3]])


@pytest.mark.parametrize("statistic, nt_type", [("mean", "smoothgrad"), ("var", "vargrad")])
def test_noise_averaged_equals_captum_noise_tunnel_on_the_same_draws(statistic, nt_type, monkeypatch):
    net, method = _cnn(), NoiseAveraged(n_samples=4, noise_level=0.2, statistic=statistic)
    eps = method.noise(Z, SEEDS)  # (B, S, C, H, W) unit draws
    ours = method.attribute(net, Z, T, seeds=SEEDS)
    draws = iter([0.2 * eps.flatten(0, 1)])
    monkeypatch.setattr(torch, "normal", lambda mean, std, *a, **k: next(draws))  # NoiseTunnel's single draw
    theirs = NoiseTunnel(CaptumSaliency(net)).attribute(Z, nt_type=nt_type, nt_samples=4, stdevs=0.2, target=T,
                                                        abs=False)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_smoothgrad_draws_are_seeded_per_image_and_invariant_under_compensated_shift():
    """The same image gets the same draws in every view, so an exactly compensated shift leaves SmoothGrad unchanged
    (Kindermans et al. 2017); a different image seed gives different draws."""
    net, method = _cnn(), NoiseAveraged(n_samples=8)
    amap = AffineMap.translation(torch.tensor([0.3, -0.2, 0.5]))
    comp = compensate(net, amap, (3, 8, 8))
    clean = method.attribute(net, Z, T, seeds=SEEDS)
    assert torch.equal(clean, method.attribute(net, Z, T, seeds=SEEDS))
    assert torch.allclose(method.attribute(comp, amap(Z), T, seeds=SEEDS), clean, atol=1e-5)
    assert not torch.allclose(method.attribute(net, Z, T, seeds=SEEDS + 1), clean, atol=1e-3)
    assert torch.allclose(NoiseAveraged(n_samples=8, noise_level=0.0).attribute(net, Z, T, seeds=SEEDS),
                          Saliency().attribute(net, Z, T), atol=1e-6)


def test_controls():
    r = RandomMap()
    a, b = r.attribute(None, Z, T, seeds=SEEDS), r.attribute(None, Z, T, seeds=SEEDS)
    assert torch.equal(a, b) and a.shape == (3, 1, 8, 8)
    assert not torch.equal(a, r.attribute(None, Z, T, seeds=SEEDS * 2))  # another view, another random map
    assert torch.equal(ConstantMap().attribute(None, Z, T), torch.ones(3, 1, 8, 8))


def test_every_configured_method_runs_through_the_engine(compose_config):
    cfg = compose_config(["attribution.n_steps=4", "attribution.methods.smoothgrad.n_samples=2",
                          "attribution.methods.gradient_shap.kwargs.n_samples=2"])
    methods = build_methods(cfg.attribution)
    everything = build_methods(compose_config([f"attribution.include=[{','.join(cfg.attribution.methods)}]",
                                               "attribution.n_steps=4"]).attribution)
    assert set(everything) == set(cfg.attribution.methods) and set(methods) <= set(everything)
    net = _cnn()
    baselines = {n: [(("carried",), torch.zeros_like(Z))] for n, m in everything.items() if m.needs_baseline}
    out = attribute_views(everything, net, [View("clean", Z, T, SEEDS, baselines)], reduction="sum_abs")["clean"]
    for (name, _), m in out.maps.items():
        assert m.shape == (3, 8, 8) and torch.isfinite(m).all(), name
    assert {k[0] for k in out.maps} == set(everything)
    assert ("deeplift", "carried") in out.errors and ("occlusion", "carried") not in out.errors
    again = attribute_views(everything, net, [View("clean", Z, T, SEEDS, baselines)], reduction="sum_abs")["clean"]
    assert torch.equal(again.maps[("gradient_shap", "carried")], out.maps[("gradient_shap", "carried")])


def test_deeplift_completeness_error_is_computed_from_its_own_attributions():
    """DeepLift's summation to delta holds exactly on a ReLU network without max-pooling (Captum's max-pool rule is
    an approximation, so on the RPS CNN its recorded completeness error is not 0)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(6 * 4 * 4, 3)).eval()
    methods = build_methods(__import__("omegaconf").OmegaConf.create({
        "include": ["deeplift"], "methods": {"deeplift": {
            "_target_": "harness.attribution.methods.Captum",
            "attribution": {"_target_": "captum.attr.DeepLift", "_partial_": True},
            "baseline": {"_target_": "harness.attribution.baselines.constant", "_partial_": True, "value": 0.0},
            "complete": True}}}))
    attr = methods["deeplift"].attribute(net, Z, T, torch.zeros_like(Z))
    assert completeness_error(net, Z, T, torch.zeros_like(Z), attr).max() < 1e-4
