"""ROAD's imputation solver: the multigrid pieces against their dense definitions, and the solve against SciPy's
direct sparse solve of the same system, with a number of iterations that does not grow with the holes."""
import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch

from harness.metrics import imputation
from harness.metrics.imputation import NEIGHBOUR_WEIGHTS, imputation_stencil, solve_imputation
from harness.metrics.multigrid import (OFFSETS, build_hierarchy, dense_matrix, galerkin_coarsen, prolong, restrict,
                                       stencil_apply, v_cycle)


pytestmark = pytest.mark.usefixtures("one_thread")


def _interpolation(n: int) -> torch.Tensor:
    """``(n, ⌊n / 2⌋ + 1)`` dense 1-D linear interpolation from the even points (on an even line the last coarse
    point sits one past the end)."""
    m = n // 2 + 1
    p = torch.zeros(n, m, dtype=torch.float64)
    for i in range(m):
        for j, weight in ((2 * i - 1, 0.5), (2 * i, 1.0), (2 * i + 1, 0.5)):
            if 0 <= j < n:
                p[j, i] = weight
    return p


@pytest.mark.parametrize("shape", [(7, 8), (10, 5)])
def test_transfers_and_galerkin_coarsening_are_their_dense_definitions(shape):
    h, w = shape
    p = torch.kron(_interpolation(h), _interpolation(w))  # (h·w, h'·w'), row-major pixels
    g = torch.Generator().manual_seed(0)
    r = torch.rand(2, 3, h, w, generator=g, dtype=torch.float64)
    coarse_shape = (h // 2 + 1, w // 2 + 1)
    assert torch.allclose(restrict(r).flatten(2), r.flatten(2) @ p, atol=1e-12)
    e = torch.rand(2, 3, *coarse_shape, generator=g, dtype=torch.float64)
    assert torch.allclose(prolong(e, shape).flatten(2), e.flatten(2) @ p.T, atol=1e-12)
    removed = torch.rand(2, h, w, generator=g) < 0.6
    c = imputation_stencil(removed)
    a = dense_matrix(c)
    assert torch.allclose(a, a.transpose(1, 2)) and torch.allclose(stencil_apply(c, r).flatten(2),
                                                                 r.flatten(2) @ a.transpose(1, 2), atol=1e-12)
    assert torch.allclose(dense_matrix(galerkin_coarsen(c)), p.T @ a @ p, atol=1e-12)


@pytest.mark.parametrize("shape", [(8, 8), (9, 6), (224, 224)])
def test_the_interpolation_keeps_constants_up_to_every_edge(shape):
    """The image border is a free edge of the imputation system (a removed pixel there averages the neighbours
    that exist), so the coarse grids must represent a constant up to it: with the coarse pixels on the even fine
    pixels only, an even grid's last row and column got half of it, and a hole touching the bottom or right edge
    took 5× the iterations."""
    h, w = shape
    coarse = torch.ones(1, 1, h // 2 + 1, w // 2 + 1, dtype=torch.float64)
    assert torch.equal(prolong(coarse, shape), torch.ones(1, 1, h, w, dtype=torch.float64))


def _direct(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The system written out pixel by pixel, as the reference builds it, solved by ``scipy.sparse.linalg.spsolve``:
    ``x`` ``(C, H, W)``, ``removed`` ``(H, W)``."""
    h, w = removed.shape
    index = -np.ones((h, w), dtype=np.int64)
    unknowns = np.argwhere(removed)
    index[removed] = np.arange(len(unknowns))
    rows, cols, vals = [], [], []
    rhs = np.zeros((len(unknowns), x.shape[0]))
    diag = np.zeros(len(unknowns))
    for di, dj in OFFSETS:
        if (di, dj) == (0, 0):
            continue
        weight = NEIGHBOUR_WEIGHTS[di + 1][dj + 1]
        i, j = unknowns[:, 0] + di, unknowns[:, 1] + dj
        inside = (i >= 0) & (i < h) & (j >= 0) & (j < w)
        diag[inside] += weight
        n = np.flatnonzero(inside)
        neighbour_removed = removed[i[n], j[n]]
        rows.append(n[neighbour_removed])
        cols.append(index[i[n], j[n]][neighbour_removed])
        vals.append(np.full(neighbour_removed.sum(), -weight))
        kept = n[~neighbour_removed]
        rhs[kept] += weight * x[:, i[kept], j[kept]].T
    a = scipy.sparse.csc_matrix((np.concatenate(vals + [diag]), (np.concatenate(rows + [np.arange(len(diag))]),
                                                                 np.concatenate(cols + [np.arange(len(diag))]))))
    out = x.astype(np.float64).copy()
    out[:, removed] = scipy.sparse.linalg.spsolve(a, rhs).reshape(len(unknowns), -1).T
    return out


def _holes(size: int, widths) -> torch.Tensor:
    removed = torch.zeros(len(widths), size, size, dtype=torch.bool)
    for k, width in enumerate(widths):
        removed[k, 3:3 + width, size - 5 - width:size - 5] = True
    return removed


def test_large_holes_converge_to_the_direct_solve_in_a_bounded_number_of_iterations():
    """One 200×200 hole of a 224×224 image (Jacobi-preconditioned CG needed some 800 iterations), and the same
    bound for holes of width 25 and 100: the iterations do not grow with the hole."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 2, 224, 224, generator=g)
    removed = _holes(224, (25, 100, 200))
    iterations = [imputation._solve(x[k:k + 1], removed[k:k + 1], 1e-8, 100)[1] for k in range(3)]
    assert max(iterations) <= 15, iterations
    got = solve_imputation(x, removed)
    for k in range(3):
        ref = _direct(x[k].double().numpy(), removed[k].numpy())
        assert np.abs(got[k].numpy() - ref).max() < 1e-6


def test_holes_at_the_bottom_right_corner_converge_as_fast_as_the_others():
    """The removal of the most relevant pixels of a map that rises towards a corner: the holes grow from the
    bottom-right corner (free edges, where the interpolation must keep constants), 10–90% of the pixels."""
    g = torch.Generator().manual_seed(5)
    x = torch.rand(9, 3, 224, 224, generator=g)
    distance = torch.arange(224)[:, None] + torch.arange(224)[None]
    removed = (distance[None] >= 446 - torch.linspace(0.1, 0.9, 9)[:, None, None] * 446)
    got, iterations = imputation._solve(x, removed, 1e-8, 100)
    assert iterations <= 12, iterations
    for k in (0, 8):
        assert np.abs(got[k].numpy() - _direct(x[k].double().numpy(), removed[k].numpy())).max() < 1e-6


def test_scattered_pixels_converge_to_the_direct_solve():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 64, 48, generator=g)
    removed = torch.rand(2, 64, 48, generator=g) < torch.tensor([0.3, 0.9])[:, None, None]
    got, iterations = imputation._solve(x, removed, 1e-8, 100)
    assert iterations <= 15
    for k in range(2):
        assert np.abs(got[k].numpy() - _direct(x[k].double().numpy(), removed[k].numpy())).max() < 1e-6


def test_an_image_with_every_pixel_removed_stays_at_zero_and_leaves_the_others_alone():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 16, 16, generator=g)
    removed = torch.rand(2, 16, 16, generator=g) < 0.5
    removed[1] = True
    got = solve_imputation(x, removed)
    assert torch.equal(got[1], torch.zeros_like(got[1]))
    assert np.abs(got[0].numpy() - _direct(x[0].double().numpy(), removed[0].numpy())).max() < 1e-6


def test_the_v_cycle_is_a_symmetric_positive_definite_preconditioner():
    g = torch.Generator().manual_seed(4)
    removed = torch.rand(1, 20, 20, generator=g) < 0.7
    hierarchy = build_hierarchy(imputation_stencil(removed))
    n = 400
    basis = torch.eye(n, dtype=torch.float64)[:, None].view(n, 1, 20, 20).transpose(0, 1)  # (1, n, 20, 20)
    m = v_cycle(hierarchy, basis).flatten(2)[0]  # columns of the preconditioner's matrix
    keep = removed.flatten()
    m = m[keep][:, keep]
    assert torch.allclose(m, m.T, atol=1e-12)
    assert torch.linalg.eigvalsh(m).min() > 0
