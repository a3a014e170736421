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
                                       ("topk_intersection", 1e-12)])
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
    from harness.metrics.scorer import Scorer

    a, b = _maps()
    a[1] = 0.0  # a constant map: NaN with the same reason in every backend
    want = Scorer(backend="reference").score(a, b)
    got = Scorer(backend=backend).score(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    for w, g in zip(want, got):
        assert w["nan_reason"] == g["nan_reason"]
        for k in Scorer().columns:
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


def _scipy_kendall(a, b):
    from scipy import stats

    return np.array([stats.kendalltau(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)])


@pytest.mark.parametrize("shape", [(3, 7, 9), (2, 150, 150), (4, 1, 2), (3, 33)])
def test_kendall_matches_scipy_with_ties_and_odd_sizes(shape):
    a = RNG.normal(size=shape)
    b = a + RNG.normal(scale=0.5, size=shape)
    pairs = [(a, b),  # no ties
             (np.round(a * 2) / 2, np.round(b)),  # few distinct values
             (np.maximum(a, 0), np.maximum(b - 0.5, 0))]  # post-ReLU: runs of exact zeros
    for x, y in pairs:
        got = ts.kendall(torch.tensor(x), torch.tensor(y)).numpy()
        np.testing.assert_allclose(got, _scipy_kendall(x, y), atol=1e-10, rtol=0)


def test_kendall_batch_of_different_tie_structures():
    a = RNG.normal(size=(7, 12, 10))
    b = a + RNG.normal(scale=0.5, size=a.shape)
    a[1], b[1] = np.round(a[1]), np.round(b[1] * 3)
    a[2], b[2] = np.maximum(a[2], 0), np.maximum(b[2], 0)
    a[3] = np.where(a[3] > 1, 1.0, np.where(RNG.random(a[3].shape) < 0.5, -0.0, 0.0))  # -0.0 ties with 0.0
    b[4] = 2.0  # constant: NaN
    a[5], b[5] = -np.abs(a[5]), np.round(-b[5] * 4) / 4  # negative values, ties
    a[6] = np.where(a[6] > 0, a[6], -np.inf)  # non-finite: NaN
    got = ts.kendall(torch.tensor(a), torch.tensor(b)).numpy()
    want = _scipy_kendall(a, b)
    want[6] = np.nan
    assert np.isnan(got[[4, 6]]).all()
    np.testing.assert_allclose(got, want, atol=1e-10, rtol=0)
    one_by_one = ts.kendall(torch.tensor(a), torch.tensor(b), chunk_elements=1).numpy()  # batches of one map
    np.testing.assert_array_equal(one_by_one, got)


def test_kendall_float32_maps_rank_like_scipy():
    a = RNG.random((3, 16, 16)).astype(np.float32)
    b = np.maximum(a + RNG.normal(scale=0.3, size=a.shape).astype(np.float32), 0)
    got = ts.kendall(torch.tensor(a), torch.tensor(b))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), _scipy_kendall(a.astype(float), b.astype(float)), atol=1e-10, rtol=0)


def test_inversions_match_pair_count():
    v = torch.tensor(RNG.integers(0, 9, size=(5, 37)))
    v[0] = torch.arange(37).flip(0)  # every pair inverted
    want = (v[:, :, None] > v[:, None, :]).triu(1).sum((1, 2))
    assert ts._inversions(v, 6).tolist() == want.tolist()
