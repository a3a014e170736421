"""Faithfulness measures: ROAD's imputation against its reference, known answers on a toy model, and parity with
Captum's infidelity."""
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.metrics.imputation import noisy_linear_impute

DATA = Path(__file__).parents[1] / "data"


def test_imputation_matches_the_road_reference():
    """``NoisyLinearImputer(noise=0)`` of grad-cam 1.5.7, stored by ``tests/data/make_road_reference.py``."""
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
