"""Faithfulness measures: ROAD's imputation against its reference, known answers on a toy model, and parity with
Captum's infidelity."""
from pathlib import Path

import numpy as np
import pytest
import torch
from captum.metrics import infidelity as captum_infidelity

from harness.metrics.faithfulness import (ROAD_FRACTIONS, area, blurred, deletion_insertion, gaussian_perturbations,
                                          infidelity, removal_order, road_curve)
from harness.metrics.imputation import noisy_linear_impute

DATA = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tensors here are small and the solver runs many short ops: one intra-op thread is faster than several,
    and on a busy machine much faster (no thread waits at every op for a core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_imputation_matches_the_road_reference():
    """``NoisyLinearImputer(noise=0)`` of grad-cam 1.5.7, stored by ``tests/fixtures/make_road_reference.py``."""
    ref = np.load(DATA / "road_reference.npz")
    x = torch.from_numpy(ref["images"].astype(np.float32) / 255)
    removed = torch.from_numpy(ref["removed"])
    assert [round(f, 2) for f in removed.double().mean((1, 2)).tolist()] == [0.1, 0.5, 0.9]
    got = noisy_linear_impute(x, removed, noise=0)
    assert got.dtype == x.dtype
    assert (got - torch.from_numpy(ref["imputed"])).abs().max() < 1e-4
    assert torch.equal(got[:, :, ~removed[0]][0], x[:, :, ~removed[0]][0])  # kept pixels are unchanged


def test_imputation_known_answers():
    g = torch.Generator().manual_seed(0)
    removed = torch.rand(2, 10, 12, generator=g) < 0.6
    const = torch.full((2, 3, 10, 12), 0.37)
    assert torch.allclose(noisy_linear_impute(const, removed, noise=0), const, atol=1e-7)  # borders included
    rows, cols = torch.meshgrid(torch.arange(10.0), torch.arange(12.0), indexing="ij")
    ramp = torch.stack([0.1 * rows + 0.05 * cols, 1 - 0.07 * cols, 0.02 * rows]).expand(2, 3, 10, 12).double()
    inner = removed.clone()
    inner[:, [0, -1], :] = False
    inner[:, :, [0, -1]] = False  # the border's means are one-sided: a ramp is exact in the interior only
    assert torch.allclose(noisy_linear_impute(ramp, inner, noise=0), ramp, atol=1e-9)
    x = torch.rand(2, 3, 10, 12, generator=g)
    out = noisy_linear_impute(x, removed, noise=0)
    mask = removed[:, None].expand_as(x)
    assert torch.equal(out[~mask], x[~mask])
    # each removed pixel is the weighted mean of its neighbours (interior pixel: 1/6 direct, 1/12 diagonal)
    i, j = [int(v) for v in torch.nonzero(removed[0, 1:-1, 1:-1])[0] + 1]
    patch = out[0, :, i - 1:i + 2, j - 1:j + 2]
    w = torch.tensor([[1, 2, 1], [2, 0, 2], [1, 2, 1]]) / 12
    assert torch.allclose((patch * w).sum((1, 2)), out[0, :, i, j], atol=1e-6)


def test_imputation_noise_is_seeded_per_image_and_only_on_removed_pixels():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 8, 8, generator=g)
    removed = torch.rand(3, 8, 8, generator=g) < 0.5
    clean = noisy_linear_impute(x, removed, noise=0)
    a = noisy_linear_impute(x, removed, noise=0.5, seeds=[1, 2, 3])
    assert torch.equal(a, noisy_linear_impute(x, removed, noise=0.5, seeds=torch.tensor([1, 2, 3])))
    assert torch.equal(a[1:2], noisy_linear_impute(x[1:2], removed[1:2], noise=0.5, seeds=[2]))  # per image
    mask = removed[:, None].expand_as(x)
    assert torch.equal(a[~mask], x[~mask])
    delta = (a - clean)[mask]
    assert delta.abs().min() > 0 and 0.35 < delta.std() < 0.65
    assert not torch.equal(a, noisy_linear_impute(x, removed, noise=0.5, seeds=[1, 2, 4]))


# --- the toy model: its logit is a weighted sum of the pixels, the weights on an isolated "evidence" grid ---

N_TOY, B_TOY = 16, 64


def _toy(slope: float = 4.0, seed: int = 0):
    """Images whose evidence pixels (every other row and column: 25%, none adjacent to another) are bright
    (0.8–1) on a dark background (0–0.2), and a two-class model whose logit ``±slope·(Σ w·x − 0.5)`` weighs only the
    evidence pixels: removing them (imputed from the dark background) takes the probability of class 0 from
    ~0.88 to ~0.2; removing background pixels changes nothing."""
    g = torch.Generator().manual_seed(seed)
    evidence = torch.zeros(N_TOY, N_TOY, dtype=torch.bool)
    evidence[::2, ::2] = True
    x = 0.2 * torch.rand(B_TOY, 3, N_TOY, N_TOY, generator=g)
    x = torch.where(evidence, 0.8 + 0.2 * torch.rand(B_TOY, 3, N_TOY, N_TOY, generator=g), x)
    w = evidence / (3.0 * evidence.sum())

    def model(images):
        z = slope * ((images * w.to(images.device)).sum((1, 2, 3)) - 0.5)
        return torch.stack([z, -z], 1)

    maps = {"gradient×input": (x * w).sum(1)}  # the gradient of the logit is w
    maps["reversed"] = maps["gradient×input"].amax() - maps["gradient×input"]  # evidence pixels ranked last
    maps["random"] = torch.rand(B_TOY, N_TOY, N_TOY, generator=g)
    maps["constant"] = torch.ones(B_TOY, N_TOY, N_TOY)
    return x, model, torch.zeros(B_TOY, dtype=torch.long), torch.arange(B_TOY) + 1000, maps


def test_removal_order_ranks_by_magnitude_and_breaks_ties_by_seed():
    m = torch.tensor([[[0.0, -3.0, 1.0], [2.0, 0.0, 0.0]]])
    morf = removal_order(m, [5])[0].tolist()
    assert morf[:3] == [1, 3, 2] and sorted(morf[3:]) == [0, 4, 5]  # |−3| first; the zeros tie
    lerf = removal_order(m, [5], most_relevant_first=False)[0].tolist()
    assert sorted(lerf[:3]) == [0, 4, 5] and lerf[3:] == [2, 3, 1]
    const = torch.zeros(4, 12, 12)
    seeds = torch.tensor([7, 7, 8, 9])
    order = removal_order(const, seeds)
    assert torch.equal(order[0], order[1]) and not torch.equal(order[0], order[2])  # same seed, same order
    assert all(sorted(row) == list(range(144)) for row in order.tolist())  # permutations
    assert not any(torch.equal(row, torch.arange(144)) for row in order)  # never the pixel index
    assert torch.equal(removal_order(const, seeds, most_relevant_first=False), order)  # ties: one random order
    assert torch.equal(removal_order(const[2:3], [8])[0], order[2])  # an image's order ignores the batch


def test_road_ranks_the_model_s_evidence_above_random_and_constant_maps():
    x, model, target, seeds, maps = _toy()
    morf, gap = {}, {}
    for name, m in maps.items():
        curve = road_curve(model, x, target, m, seeds=seeds)
        assert curve.shape == (B_TOY, len(ROAD_FRACTIONS)) and curve.dtype == torch.float64
        morf[name] = curve.mean(1)
        lerf = road_curve(model, x, target, m, seeds=seeds, most_relevant_first=False).mean(1)
        gap[name] = (lerf - morf[name]).mean().item()
    assert (morf["gradient×input"] < morf["reversed"]).all()
    assert gap["gradient×input"] > 0.3
    assert gap["reversed"] < -0.3
    assert abs(gap["random"]) <= 0.05
    assert gap["constant"] == 0  # a tie-only map removes the same seeded random pixels in both orders


def test_road_curve_calls_the_model_once_and_is_reproducible():
    x, model, target, seeds, maps = _toy()
    calls = []

    def counting(images):
        calls.append(len(images))
        return model(images)

    a = road_curve(counting, x[:4], target[:4], maps["random"][:4], seeds=seeds[:4], fractions=(0.2, 0.6))
    assert calls == [8]
    assert torch.equal(a, road_curve(model, x[:4], target[:4], maps["random"][:4], seeds=seeds[:4],
                                     fractions=(0.2, 0.6)))
    b = road_curve(counting, x[:4], target[:4], maps["random"][:4], seeds=seeds[:4], fractions=(0.2, 0.6),
                   max_batch=3)
    assert calls[1:] == [3, 3, 2] and torch.allclose(a, b, atol=1e-12)
    p = model(x[:4]).softmax(1)[:, 0].double()
    assert torch.allclose(road_curve(model, x[:4], target[:4], maps["random"][:4], seeds=seeds[:4],
                                     fractions=(0.0,), noise=0.1)[:, 0], p)  # nothing removed


def test_deletion_and_insertion_known_answers():
    x, model, target, seeds, maps = _toy()
    p_x = model(x).softmax(1)[:, 0].double()
    area_of = {}
    for name in ("gradient×input", "reversed"):
        dele = deletion_insertion(model, x, target, maps[name], seeds=seeds, steps=8)
        ins = deletion_insertion(model, x, target, maps[name], seeds=seeds, steps=8, mode="insertion")
        assert dele.shape == ins.shape == (B_TOY, 9)
        assert torch.allclose(dele[:, 0], p_x) and torch.allclose(ins[:, -1], p_x)
        zero = model(torch.zeros_like(x)).softmax(1)[:, 0].double()
        assert torch.allclose(dele[:, -1], zero)  # RISE's deletion fill: the constant (0)
        assert torch.allclose(ins[:, 0], model(blurred(x)).softmax(1)[:, 0].double())  # insertion: the blur
        area_of[name] = area(dele), area(ins)
    assert (area_of["gradient×input"][0] < area_of["reversed"][0]).all()
    assert (area_of["gradient×input"][1] > area_of["reversed"][1]).all()
    blur = deletion_insertion(model, x, target, maps["random"], seeds=seeds, steps=4, fill="blur")
    assert torch.allclose(blur[:, -1], model(blurred(x)).softmax(1)[:, 0].double())
    grey = deletion_insertion(model, x, target, maps["random"], seeds=seeds, steps=4, fill="constant",
                              fill_value=torch.tensor([0.5, 0.5, 0.5])[:, None, None])
    assert torch.allclose(grey[:, -1], model(torch.full_like(x, 0.5)).softmax(1)[:, 0].double())


def test_area_and_blur_known_answers():
    ramp = torch.linspace(0, 1, 11, dtype=torch.float64)[None]
    assert area(ramp).item() == pytest.approx(0.5)
    assert area(torch.full((2, 5), 0.3)).tolist() == pytest.approx([0.3, 0.3])
    assert area(torch.tensor([[1.0, 0.0, 0.0]])).item() == pytest.approx(0.25)  # trapezoids, not the mean
    const = torch.full((1, 3, 20, 20), 0.6)
    assert torch.allclose(blurred(const), const)  # reflection padding: no dark border
    spike = torch.zeros(1, 1, 21, 21)
    spike[..., 10, 10] = 1
    kernel = blurred(spike)[0, 0]
    assert kernel.sum().item() == pytest.approx(1.0) and kernel[10, 10] == kernel.max()
    assert (kernel[:5] == 0).all() and (kernel[5:16, 5:16] > 0).all()  # an 11×11 window


def _conv_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 5)).double()


@pytest.mark.parametrize("normalize", [True, False])
def test_infidelity_matches_captum_given_the_same_perturbations(normalize):
    net = _conv_net()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 3, 6, 6, generator=g, dtype=torch.float64)
    target = torch.tensor([0, 3, 1])
    attributions = torch.randn(3, 3, 6, 6, generator=g, dtype=torch.float64)
    seeds, n = torch.tensor([11, 12, 13]), 8
    draws = gaussian_perturbations(x, seeds, n, 0.2)
    assert draws.shape == (3, n, 3, 6, 6)

    def perturb_func(inputs):  # Captum repeats each image n times (repeat_interleave): the draws in that order
        assert inputs.shape[0] == 3 * n
        return draws.flatten(0, 1), inputs - draws.flatten(0, 1)

    want = captum_infidelity(net, perturb_func, x, attributions, target=target, n_perturb_samples=n,
                             normalize=normalize).flatten()
    got = infidelity(net, x, target, attributions, seeds=seeds, n_perturb=n, noise_std=0.2, normalize=normalize)
    assert got.shape == (3,) and got.dtype == torch.float64
    assert (got - want).abs().max() < 1e-5
    maps = attributions.mean(1)  # a map (B, H, W) counts in every channel
    assert torch.allclose(infidelity(net, x, target, maps, seeds=seeds, n_perturb=n, normalize=normalize),
                          infidelity(net, x, target, maps[:, None].expand_as(x), seeds=seeds, n_perturb=n,
                                     normalize=normalize))


def test_infidelity_known_answers():
    x, logits, target, seeds, maps = _toy(slope=1.0)  # f = logit of class 0 = Σ w·x − 0.5: its gradient is w
    evidence = torch.zeros(N_TOY, N_TOY, dtype=torch.bool)
    evidence[::2, ::2] = True
    grad = (evidence / (3.0 * evidence.sum())).expand_as(x)
    # f(x) − f(x − I) = Iᵀw exactly: the gradient has no infidelity, at any scale once normalised
    assert infidelity(logits, x, target, grad, seeds=seeds, normalize=False).max() < 1e-10
    assert infidelity(logits, x, target, 40 * grad, seeds=seeds).max() < 1e-10
    assert (infidelity(logits, x, target, 40 * grad, seeds=seeds, normalize=False) > 1e-3).all()
    draws = gaussian_perturbations(x, seeds, 32, 0.2)
    change = logits(x)[:, 0, None] - logits((x[:, None] - draws).flatten(0, 1))[:, 0].view(B_TOY, 32)
    explains_nothing = (change.double() ** 2).mean(1)
    zero = torch.zeros(B_TOY, N_TOY, N_TOY)  # normalised, an all-zero map has β = 0: E[(f(x) − f(x − I))²]
    assert torch.allclose(infidelity(logits, x, target, zero, seeds=seeds, n_perturb=32), explains_nothing)
    noise = maps["random"] - 0.5  # uncorrelated with the model's weights: β fits ~1/32 of the change by chance
    random = infidelity(logits, x, target, noise, seeds=seeds, n_perturb=32)
    assert (random > 0.5 * explains_nothing).all() and (random <= explains_nothing).all()


@pytest.mark.gpu
def test_the_same_numbers_on_a_gpu():
    x, model, target, seeds, maps = _toy()
    x, m, t = x[:8], maps["random"][:8], target[:8]
    cpu_order = removal_order(maps["constant"][:8], seeds[:8])
    assert torch.equal(removal_order(maps["constant"][:8].cuda(), seeds[:8]).cpu(), cpu_order)
    assert torch.equal(removal_order(m.cuda(), seeds[:8]).cpu(), removal_order(m, seeds[:8]))
    removed = cpu_order.argsort(1).view(8, N_TOY, N_TOY) < 128
    imputed = noisy_linear_impute(x, removed, seeds=seeds[:8])
    assert torch.allclose(noisy_linear_impute(x.cuda(), removed.cuda(), seeds=seeds[:8]).cpu(), imputed, atol=1e-6)
    for fn, kwargs in ((road_curve, {}), (deletion_insertion, {"mode": "insertion"})):
        want = fn(model, x, t, m, seeds=seeds[:8], **kwargs)
        got = fn(model, x.cuda(), t.cuda(), m.cuda(), seeds=seeds[:8], **kwargs)
        assert got.is_cuda and torch.allclose(got.cpu(), want, atol=1e-5)
    got = infidelity(model, x.cuda(), t.cuda(), m.cuda(), seeds=seeds[:8])
    assert torch.allclose(got.cpu(), infidelity(model, x, t, m, seeds=seeds[:8]), rtol=1e-4, atol=1e-9)
