"""ROAD's noisy linear imputation, batched in torch: one sparse linear system for all images and channels.

Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML 2022
(https://arxiv.org/abs/2202.00449). A removed pixel takes the weighted mean of its 8 neighbours, 1/6 for the 4
direct and 1/12 for the 4 diagonal ones; the neighbours are themselves removed (unknowns) or kept (known values),
so the removed pixels solve a sparse linear system. The reference (``NoisyLinearImputer`` of the authors'
``road_evaluation`` code, copied into ``pytorch_grad_cam.metrics.road``) solves it per image with SciPy's
``spsolve``; here it is solved by multigrid-preconditioned conjugate gradients (:mod:`harness.metrics.multigrid`)
on the images' device, all images and channels at once, in a number of iterations that does not grow with the
size of the removed regions.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import torch

from harness.metrics.multigrid import CENTRE, JACOBI_DAMPING, OFFSETS, Hierarchy, build_hierarchy, shifted, v_cycle
from harness.common.seeding import generators_for

#: Weights of the 8 neighbours (row offset −1, 0, 1 × column offset −1, 0, 1), as in the reference.
NEIGHBOUR_WEIGHTS = ((1 / 12, 1 / 6, 1 / 12),
                     (1 / 6, 0.0, 1 / 6),
                     (1 / 12, 1 / 6, 1 / 12))


def neighbour_sum(u: torch.Tensor) -> torch.Tensor:
    """``Σ_j w_ij u_j`` over the 8 neighbours of each pixel of ``u`` ``(..., H, W)`` (:data:`NEIGHBOUR_WEIGHTS`);
    outside the image counts as 0. The weights are ``([1, 2, 1]ᵀ[1, 2, 1] − 4·δ) / 12``: two passes of ``[1, 2, 1]``
    (along the rows, then the columns) on shifted views, several times faster than a ``conv2d`` on a CPU."""
    return _binomial(u).sub_(u, alpha=4).div_(12)


def _binomial(u: torch.Tensor) -> torch.Tensor:
    """``u`` ``(..., H, W)`` filtered by ``[1, 2, 1]`` along the rows and then the columns (zero outside)."""
    rows = 2 * u
    rows[..., 1:] += u[..., :-1]
    rows[..., :-1] += u[..., 1:]
    both = 2 * rows
    both[..., 1:, :] += rows[..., :-1, :]
    both[..., :-1, :] += rows[..., 1:, :]
    return both


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ a·b`` over the last two dimensions (``torch.linalg.vecdot``: no product tensor)."""
    return torch.linalg.vecdot(a.flatten(-2), b.flatten(-2))


def imputation_stencil(removed: torch.Tensor) -> torch.Tensor:
    """The system's matrix as a stencil ``(B, 9, H, W)`` (:mod:`harness.metrics.multigrid`) for ``removed``
    ``(B, H, W)``: ``s_i`` on the diagonal and ``−w_ij`` between removed neighbours, zero rows and columns on the
    kept pixels."""
    r = removed.to(torch.float64)
    diag = neighbour_sum(torch.ones_like(r[:1]))
    planes = [r * diag if k == CENTRE else -NEIGHBOUR_WEIGHTS[di + 1][dj + 1] * r * shifted(r, (di, dj))
              for k, (di, dj) in enumerate(OFFSETS)]
    return torch.stack(planes, 1)


def solve_imputation(x: torch.Tensor, removed: torch.Tensor, rtol: float = 1e-8,
                     max_iter: int = 100) -> torch.Tensor:
    """The noise-free imputation: ``x`` ``(B, C, H, W)`` with its ``removed`` ``(B, H, W)`` pixels (in every
    channel) replaced by the solution of ``s_i u_i − Σ_{j removed} w_ij u_j = Σ_{k kept} w_ik x_k``.

    ``s_i = Σ_j w_ij`` sums the weights of the neighbours *inside the image*: at a border or corner the mean is
    taken over the neighbours that exist, as the reference does (it subtracts the weights of out-of-image
    neighbours from the diagonal). The matrix is symmetric (``w_ij = w_ji``) and weakly diagonally dominant, and
    positive definite on every group of connected removed pixels that touches a kept pixel. All planes are solved
    together by conjugate gradients, each with its own step sizes, preconditioned by a multigrid V-cycle
    (:mod:`harness.metrics.multigrid`, one hierarchy per image, shared by its channels), until every residual is
    below ``rtol`` times its right-hand side (at most ``max_iter`` iterations; a warning says when that was not
    enough), in mixed precision: float32 iterations refined against float64 residuals (:func:`_solve`). The
    iterations start from the mean of the plane's kept pixels; their number does not grow with the size of the
    image or of the removed regions (6–12 for rtol 1e-8, whether the removed pixels are scattered, large regions
    reaching the border or one 200×200 hole, where Jacobi-preconditioned conjugate gradients needed some 800). An
    image with every pixel removed has nothing to interpolate from and stays at its start, 0, where the
    reference's direct solver fails.

    Args:
        x: ``(B, C, H, W)`` images, any float dtype and device.
        removed: ``(B, H, W)`` bool, True where a pixel is imputed.
        rtol: relative tolerance on the residual's norm.
        max_iter: iteration cap.

    Returns:
        ``(B, C, H, W)`` in float64: ``x`` where kept, the imputed values where removed.
    """
    solution, _ = _solve(x, removed, rtol, max_iter)
    return solution


def _masked_operator(removed: torch.Tensor, dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    """The system's matrix on planes ``(B, C, H, W)`` that are zero on the kept pixels, in ``dtype``."""
    r = removed[:, None].to(dtype)
    diag = neighbour_sum(torch.ones_like(r[:1, 0]))
    return lambda u: r * (diag * u - neighbour_sum(u))


#: Each round of the float32 conjugate gradients reduces the residual by this factor (float32 reaches ~1e-6).
INNER_RTOL = 1e-4


def _fine_jacobi(weights: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The Jacobi sweep ``u + w·(r − A u)`` of the system's matrix for weights ``w = ω / s`` ``(B, 1, H, W)`` (0 on
    the kept pixels, where ``u`` is 0), rearranged into ``a·u + w·r + (w / 12)·binomial(u)`` with
    ``a = 1 − ω − w / 3`` (``Σ_j w_ij u_j = (binomial(u) − 4u) / 12``): 9 passes over the planes instead of 14."""
    centre = (1 - JACOBI_DAMPING) * (weights > 0) - weights / 3
    twelfth = weights / 12
    return lambda u, r: torch.addcmul(centre * u, weights, r).addcmul_(twelfth, _binomial(u))


def _solve(x: torch.Tensor, removed: torch.Tensor, rtol: float, max_iter: int) -> tuple[torch.Tensor, int]:
    """:func:`solve_imputation` and its number of conjugate-gradient iterations.

    Mixed precision (iterative refinement): the residual of the float64 solution is computed in float64, and the
    correction solved in float32 by :func:`_float32_pcg` to :data:`INNER_RTOL`; two or three rounds reach 1e-8.
    """
    solvable = removed & (~removed).flatten(1).any(1)[:, None, None]  # every pixel removed: no system, stays at 0
    k_mask = (~removed)[:, None].to(torch.float64)
    x64 = x.detach().to(torch.float64)
    apply64, apply32 = _masked_operator(solvable, torch.float64), _masked_operator(solvable, torch.float32)
    hierarchy = build_hierarchy(imputation_stencil(solvable).float(), fine_apply=apply32)
    hierarchy.fine_smooth = _fine_jacobi(hierarchy.inverse_diagonals[0])
    rhs = solvable[:, None] * neighbour_sum(k_mask * x64)
    start = _dot(k_mask, x64) / k_mask.sum((-2, -1)).clamp_min(1)
    u = solvable[:, None] * start[..., None, None]
    limit = rtol * _dot(rhs, rhs).sqrt()
    iterations = 0
    while True:
        res = rhs - apply64(u)
        if bool((_dot(res, res).sqrt() <= limit).all()):
            return k_mask * x64 + u, iterations
        if iterations >= max_iter:
            warnings.warn(f"noisy linear imputation: conjugate gradients did not reach rtol={rtol} in {max_iter} "
                          "iterations", RuntimeWarning, stacklevel=3)
            return k_mask * x64 + u, iterations
        delta, steps = _float32_pcg(apply32, hierarchy, res.float(), max_iter - iterations)
        u, iterations = u + delta.double(), iterations + steps


def _float32_pcg(apply: Callable[[torch.Tensor], torch.Tensor], hierarchy: Hierarchy, rhs: torch.Tensor,
                 max_iter: int) -> tuple[torch.Tensor, int]:
    """Conjugate gradients from 0 for ``A u = rhs`` ``(B, C, H, W)`` in float32, preconditioned by a V-cycle, until
    every plane's residual is below :data:`INNER_RTOL` times ``rhs`` (at most ``max_iter`` iterations; a plane
    that is there stops moving). Each plane is solved scaled to a unit right-hand side, away from float32's
    underflow. The steps' ``β`` are Polak–Ribière's, which tolerate a preconditioner symmetric to rounding only."""
    norm = _dot(rhs, rhs).sqrt()[..., None, None]
    res = rhs / norm.clamp_min(1e-30)
    u = torch.zeros_like(res)
    p = z = v_cycle(hierarchy, res)
    rz = _dot(res, z)
    for i in range(max_iter):
        active = _dot(res, res).sqrt() > INNER_RTOL
        if not bool(active.any()):
            return u * norm, i
        ap = apply(p)
        pap = _dot(p, ap)
        alpha = torch.where(active & (pap > 0), rz / pap.clamp_min(1e-30), torch.zeros_like(pap))
        u = u.addcmul_(alpha[..., None, None], p)
        res = res - alpha[..., None, None] * ap
        z = v_cycle(hierarchy, res)
        rz_new = _dot(res, z)
        beta = torch.where(rz > 0, -alpha * _dot(ap, z) / rz.clamp_min(1e-30), torch.zeros_like(rz))
        p, rz = z + beta[..., None, None] * p, rz_new  # β = (r_new − r)·z_new / (r·z), Polak–Ribière
    return u * norm, max_iter


def noisy_linear_impute(x: torch.Tensor, removed: torch.Tensor, noise: float = 0.01,
                        seeds: torch.Tensor | Iterable[int] | None = None, rtol: float = 1e-8,
                        max_iter: int = 100) -> torch.Tensor:
    """ROAD's noisy linear imputation (Rong et al., ICML 2022, https://arxiv.org/abs/2202.00449).

    Every removed pixel becomes the weighted mean of its 8 neighbours (1/6 direct, 1/12 diagonal, renormalised
    over the neighbours inside the image), solved jointly for all removed pixels of all images and channels
    (:func:`solve_imputation`), plus Gaussian noise of std ``noise`` on the removed pixels only. With ``noise=0``
    it is ``pytorch_grad_cam.metrics.road.NoisyLinearImputer(noise=0)`` to within the solver's tolerance. The
    noise is drawn on the CPU, one generator per image (:func:`harness.common.seeding.generators_for`), so every device
    gets the same numbers.

    Args:
        x: ``(B, C, H, W)`` images.
        removed: ``(B, H, W)`` bool, True where a pixel is imputed (the same pixels in every channel).
        noise: std of the noise added to the imputed pixels (0: none).
        seeds: ``(B,)`` int seeds of the noise, one per image; None draws it from torch's global generator.
        rtol: relative tolerance of the solver.
        max_iter: iteration cap of the solver.

    Returns:
        ``(B, C, H, W)`` in ``x``'s dtype and device: ``x`` where kept, imputed (+ noise) where removed.
    """
    b, c, h, w = x.shape
    out = solve_imputation(x, removed, rtol, max_iter)
    if noise > 0:
        if seeds is None:
            draws = torch.randn(b, c, h, w, dtype=torch.float64)
        else:
            draws = torch.stack([torch.randn(c, h, w, generator=g, dtype=torch.float64)
                                 for g in generators_for(seed_list(seeds))])
        out = out + noise * removed[:, None].to(torch.float64) * draws.to(x.device)
    return out.to(x.dtype)


def seed_list(seeds: torch.Tensor | Iterable[int]) -> list[int]:
    """Seeds ``(B,)`` (a tensor or any iterable of ints) as a list of Python ints."""
    return seeds.tolist() if isinstance(seeds, torch.Tensor) else [int(s) for s in seeds]
