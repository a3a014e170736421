"""The batched engine: stacking views and baselines, pass sizing, out-of-memory halving."""
import pytest
import torch

from harness.attribution.batching import CPU_BATCH, Batcher
from harness.attribution.engine import View, attribute_views
from harness.attribution.gradcam import GradCAM
from harness.attribution.methods import InputXGradient, IntegratedGradients, Saliency
from harness.common.errors import UserError
from harness.perturbations.affine import AffineMap
from toys import tiny_cnn


def _cnn():
    return tiny_cnn(width=4, classes=3).requires_grad_(False)


def _setup():
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(5, 3, 8, 8, generator=gen)
    target = torch.tensor([0, 1, 2, 0, 1])
    methods = {
        "saliency": Saliency(), "gradcam": GradCAM(), "ixg": InputXGradient(),
        "ig_black": IntegratedGradients(None, n_steps=8), "ig_white": IntegratedGradients(None, n_steps=8),
        "ig_coarse": IntegratedGradients(None, n_steps=4),
        "ig_zero": IntegratedGradients(None, n_steps=8, baseline_space="model"),
    }
    baselines = {"ig_black": torch.zeros_like(z), "ig_white": torch.ones_like(z),
                 "ig_coarse": torch.full_like(z, 0.5), "ig_zero": torch.zeros_like(z)}
    amaps = [AffineMap.translation(torch.tensor([0.3, -0.2, 0.1])),
             AffineMap(torch.tensor([2.0, 1.0, 0.5]).view(3, 1, 1), torch.zeros(3, 1, 1))]
    return z, target, methods, baselines, amaps


def _view(key, z, target, baselines, methods, amap=None):
    """A view as the evaluator builds it: the clean input shares one baseline between both treatments; a perturbed
    view carries it through ``amap`` or keeps it fixed (a model-space baseline is only ever fixed)."""
    seeds = torch.zeros(len(z), 2, dtype=torch.int64)
    out = {}
    for name, b in baselines.items():
        fixed_only = getattr(methods[name], "fixed_baseline", False)
        if amap is None:
            out[name] = [(("fixed",) if fixed_only else ("carried", "fixed"), b)]
        else:
            out[name] = [(("fixed",), b)] if fixed_only else [(("carried",), amap(b)), (("fixed",), b)]
    return View(key, z if amap is None else amap(z), target, seeds, out)


def test_stacked_views_equal_one_view_at_a_time():
    z, target, methods, baselines, amaps = _setup()
    net = _cnn()
    views = [_view("clean", z, target, baselines, methods),
             *(_view(f"c{i}", z, target, baselines, methods, a) for i, a in enumerate(amaps))]
    stacked = attribute_views(methods, net, views, reduction="sum_abs", batcher=Batcher(max_batch=7))
    for v in views:
        alone = attribute_views(methods, net, [v], reduction="sum_abs", batcher=Batcher(max_batch=1000))[v.key]
        got = stacked[v.key]
        assert list(got.maps) == list(alone.maps)  # same keys, in the configured order
        for k in alone.maps:
            assert torch.allclose(got.maps[k], alone.maps[k], atol=1e-6), (v.key, k)
        for k in alone.errors:
            assert torch.allclose(got.errors[k], alone.errors[k], atol=1e-5, equal_nan=True), (v.key, k)
    # IG maps exist for both treatments of a perturbed view, one for a model-space baseline
    assert {("ig_black", "carried"), ("ig_black", "fixed"), ("ig_zero", "fixed")} <= set(stacked["c0"].maps)
    assert ("ig_zero", "carried") not in stacked["c0"].maps
    # the clean view computes one map per IG method and shares it between the treatments
    assert stacked["clean"].maps[("ig_black", "carried")] is stacked["clean"].maps[("ig_black", "fixed")]


def test_ig_stacked_over_baselines_equals_separate_calls():
    z, target, methods, baselines, _ = _setup()
    net = _cnn()
    two = {k: methods[k] for k in ("ig_black", "ig_white")}
    view = _view("clean", z, target, {k: baselines[k] for k in two}, two)
    got = attribute_views(two, net, [view], reduction="sum")["clean"]
    for name in two:
        ref = methods[name].attribute(net, z, target, baselines[name]).sum(1)
        assert torch.allclose(got.maps[(name, "carried")], ref, atol=1e-6)


def test_batcher_respects_the_limit_and_the_cost():
    sizes = []

    def fn(x, lim):
        sizes.append(len(x))
        return x * 2

    b = Batcher(max_batch=32)
    b.fit(_cnn(), torch.zeros(3, 8, 8))
    x = torch.arange(10.0)
    assert torch.equal(b.map(fn, x, cost=8), x * 2)
    assert sizes == [4, 4, 2]
    sizes.clear()
    b.map(fn, x, cost=100)  # more inputs per item than the limit: one item per call
    assert sizes == [1] * 10


def test_batcher_halves_on_out_of_memory_and_keeps_every_result():
    calls = []

    def fn(x, lim):
        calls.append((len(x), lim))
        if len(x) * 4 > 8:
            raise torch.cuda.OutOfMemoryError("simulated")
        return x + 1

    b = Batcher(max_batch=32)
    b.fit(_cnn(), torch.zeros(3, 8, 8))
    x = torch.arange(7.0)
    assert torch.equal(b.map(fn, x, cost=4), x + 1)
    assert b.limit == 8 and calls[:3] == [(7, 32), (4, 16), (2, 8)]
    with pytest.raises(torch.cuda.OutOfMemoryError):
        Batcher(limit=1).map(lambda x, lim: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError("x")), x)


def test_batcher_defaults_and_bad_settings():
    b = Batcher()
    assert b.fit(_cnn(), torch.zeros(3, 8, 8)) == CPU_BATCH
    assert Batcher(max_batch=5).fit(_cnn(), torch.zeros(3, 8, 8)) == 5
    with pytest.raises(UserError, match="max_batch"):
        Batcher(max_batch=0)
    with pytest.raises(UserError, match="memory_fraction"):
        Batcher(memory_fraction=1.5)


def test_ig_splits_steps_when_the_limit_is_below_n_steps():
    z, target, methods, baselines, _ = _setup()
    net = _cnn()
    one = {"ig_black": methods["ig_black"]}
    view = _view("clean", z, target, {"ig_black": baselines["ig_black"]}, one)
    small = attribute_views(one, net, [view], reduction="sum", batcher=Batcher(max_batch=3))["clean"]
    large = attribute_views(one, net, [view], reduction="sum", batcher=Batcher(max_batch=1000))["clean"]
    assert torch.allclose(small.maps[("ig_black", "carried")], large.maps[("ig_black", "carried")], atol=1e-6)
