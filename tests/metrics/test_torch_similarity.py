"""The torch metrics reproduce scikit-image and SciPy (the reference implementations)."""
import numpy as np
import pytest
import torch

from harness.metrics import similarity as ref
from harness.metrics import torch_similarity as ts

RNG = np.random.default_rng(0)


def _maps():
    a = RNG.random((4, 20, 24))
    b = a + RNG.normal(scale=0.3, size=a.shape)
    relu = np.maximum(RNG.normal(size=(4, 20, 24)), 0)  # post-ReLU: many ties at 0, like Grad-CAM
    relu2 = np.maximum(relu + RNG.normal(scale=0.5, size=relu.shape), 0)
    rounded = np.round(a * 4) / 4  # few distinct values: ties everywhere
    return np.concatenate([a, relu, rounded]), np.concatenate([b, relu2, np.round(b * 4) / 4])


@pytest.mark.parametrize("name, tol", [("ssim", 1e-10), ("spearman", 1e-10), ("kendall", 1e-10),
                                       ("topk_intersection", 0.0)])
def test_matches_reference(name, tol):
    a, b = _maps()
    got = getattr(ts, name)(torch.tensor(a), torch.tensor(b)).numpy()
    want = np.array([getattr(ref, name)(x, y) for x, y in zip(a, b)])
    np.testing.assert_allclose(got, want, atol=tol, rtol=0)


def test_float32_maps_within_1e_5():
    a, b = _maps()
    got = ts.ssim(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)).numpy()
    want = np.array([ref.ssim(x.astype(np.float32).astype(float), y.astype(np.float32).astype(float))
                     for x, y in zip(a, b)])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_identity_and_undefined():
    a = torch.tensor(RNG.random((2, 16, 16)))
    for f in (ts.ssim, ts.spearman, ts.kendall, ts.topk_intersection):
        assert torch.allclose(f(a, a), torch.ones(2, dtype=torch.float64))
    const = torch.zeros(1, 16, 16)
    nan = a[:1].clone()
    nan[0, 0, 0] = float("nan")
    assert torch.isnan(ts.ssim(const.double(), a[:1])).all() and torch.isnan(ts.spearman(nan, a[:1])).all()


def test_rankdata_matches_scipy():
    from scipy.stats import rankdata

    x = np.array([[3.0, 1.0, 3.0, 2.0, 3.0, 0.0]])
    assert ts.rankdata(torch.tensor(x)).numpy().tolist() == [rankdata(x[0]).tolist()]


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_scorer_backends_agree_with_reference(backend):
    from harness.metrics.scorer import MapScorer

    a, b = _maps()
    a[1] = 0.0  # a constant map: NaN with the same reason in every backend
    want = MapScorer(backend="reference").score(a, b)
    got = MapScorer(backend=backend).score(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    for w, g in zip(want, got):
        assert w["nan_reason"] == g["nan_reason"]
        for k in MapScorer.columns:
            assert (np.isnan(w[k]) and np.isnan(g[k])) or abs(w[k] - g[k]) < 1e-5, (k, w[k], g[k])


def test_undefined_reasons_match_reference_texts():
    a = torch.rand(4, 8, 8, dtype=torch.float64)
    b = a.clone()
    a[1] = 0.0
    b[2, 0, 0] = float("inf")
    b[3] = 2.0
    want = [ref.undefined_reason(x.numpy(), y.numpy()) or "" for x, y in zip(a, b)]
    assert ts.undefined_reasons(a, b) == want == ["", "constant clean map", "non-finite values in perturbed map",
                                                  "constant perturbed map"]
