"""ROAD's noisy linear imputation, batched in torch: one sparse linear system for all images and channels.

Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML 2022
(https://arxiv.org/abs/2202.00449). A removed pixel takes the weighted mean of its 8 neighbours, 1/6 for the 4
direct and 1/12 for the 4 diagonal ones; the neighbours are themselves removed (unknowns) or kept (known values),
so the removed pixels solve a sparse linear system. The reference (``NoisyLinearImputer`` of the authors'
``road_evaluation`` code, copied into ``pytorch_grad_cam.metrics.road``) solves it per image with SciPy's
``spsolve``; here it is solved by conjugate gradients on the images' device, all images and channels at once.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F

from harness.common.seeding import generators_for

#: Weights of the 8 neighbours (row offset −1, 0, 1 × column offset −1, 0, 1), as in the reference.
NEIGHBOUR_WEIGHTS = ((1 / 12, 1 / 6, 1 / 12),
                     (1 / 6, 0.0, 1 / 6),
                     (1 / 12, 1 / 6, 1 / 12))


def neighbour_sum(u: torch.Tensor) -> torch.Tensor:
    """``Σ_j w_ij u_j`` over the 8 neighbours of each pixel of ``u`` ``(N, H, W)`` (:data:`NEIGHBOUR_WEIGHTS`); outside
    the image counts as 0. Eight shifted views of the zero-padded planes: twice as fast as a float64 ``conv2d`` on a
    CPU, where this sum is most of the solver's time."""
    p = F.pad(u, (1, 1, 1, 1))
    h, w = u.shape[-2:]
    direct = p[..., :h, 1:w + 1] + p[..., 2:, 1:w + 1] + p[..., 1:h + 1, :w] + p[..., 1:h + 1, 2:]
    diagonal = p[..., :h, :w] + p[..., :h, 2:] + p[..., 2:, :w] + p[..., 2:, 2:]
    return direct * NEIGHBOUR_WEIGHTS[0][1] + diagonal * NEIGHBOUR_WEIGHTS[0][0]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum((-2, -1))


def solve_imputation(x: torch.Tensor, removed: torch.Tensor, rtol: float = 1e-6,
                     max_iter: int | None = None) -> torch.Tensor:
    """The noise-free imputation: ``x`` ``(N, H, W)`` with its ``removed`` ``(N, H, W)`` pixels replaced by the
    solution of ``s_i u_i − Σ_{j removed} w_ij u_j = Σ_{k kept} w_ik x_k`` (one system per plane ``n``).

    ``s_i = Σ_j w_ij`` sums the weights of the neighbours *inside the image*: at a border or corner the mean is
    taken over the neighbours that exist, as the reference does (it subtracts the weights of out-of-image
    neighbours from the diagonal). The matrix is symmetric (``w_ij = w_ji``) and weakly diagonally dominant, and
    positive definite on every group of connected removed pixels that touches a kept pixel; the systems are solved
    together by conjugate gradients with a Jacobi (``1 / s``) preconditioner, in float64, each plane with its own
    step sizes, until every residual is below ``rtol`` times its right-hand side (at most ``max_iter`` iterations,
    by default ``10·(H + W) + 100``; a warning says when that was not enough). The iterations start from the mean
    of the plane's kept pixels; their number grows with the width of the largest removed region (some 70 for
    90% of random pixels of a 224×224 image, 800 for a 200×200 hole). A plane with every pixel removed has
    nothing to interpolate from and stays at its start, 0, where the reference's direct solver fails.

    Args:
        x: ``(N, H, W)`` planes (one per image and channel), any float dtype and device.
        removed: ``(N, H, W)`` bool, True where a pixel is imputed.
        rtol: relative tolerance on the residual's norm.
        max_iter: iteration cap.

    Returns:
        ``(N, H, W)`` in float64: ``x`` where kept, the imputed values where removed.
    """
    h, w = x.shape[-2:]
    r_mask = removed.to(torch.float64)
    k_mask = 1.0 - r_mask
    x64 = x.detach().to(torch.float64)
    diag = neighbour_sum(torch.ones_like(x64[:1])).clamp_min(1e-12)  # s_i: the weights inside the image

    def apply(u: torch.Tensor) -> torch.Tensor:  # the system's matrix on vectors supported on the removed pixels
        return r_mask * (diag * u - neighbour_sum(u))

    rhs = r_mask * neighbour_sum(k_mask * x64)
    n_kept = k_mask.sum((-2, -1))
    start = _dot(k_mask, x64) / n_kept.clamp_min(1)
    u = r_mask * start[:, None, None]
    res = rhs - apply(u)
    z = res / diag
    p = z
    rz = _dot(res, z)
    limit = rtol * _dot(rhs, rhs).sqrt().clamp_min(1e-300)
    max_iter = 10 * (h + w) + 100 if max_iter is None else max_iter
    for i in range(max_iter + 1):
        if i % 8 == 0 and bool((_dot(res, res).sqrt() <= limit).all()):  # a host sync every 8 iterations
            break
        if i == max_iter:
            warnings.warn(f"noisy linear imputation: conjugate gradients did not reach rtol={rtol} in {max_iter} "
                          "iterations", RuntimeWarning, stacklevel=2)
            break
        ap = apply(p)
        pap = _dot(p, ap)
        alpha = torch.where(pap > 0, rz / pap.clamp_min(1e-300), torch.zeros_like(pap))
        u = u + alpha[:, None, None] * p
        res = res - alpha[:, None, None] * ap
        z = res / diag
        rz_new = _dot(res, z)
        beta = torch.where(rz > 0, rz_new / rz.clamp_min(1e-300), torch.zeros_like(rz))
        p = z + beta[:, None, None] * p
        rz = rz_new
    return k_mask * x64 + u


def noisy_linear_impute(x: torch.Tensor, removed: torch.Tensor, noise: float = 0.01,
                        seeds: torch.Tensor | Iterable[int] | None = None, rtol: float = 1e-6,
                        max_iter: int | None = None) -> torch.Tensor:
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
        max_iter: iteration cap of the solver (None: its default).

    Returns:
        ``(B, C, H, W)`` in ``x``'s dtype and device: ``x`` where kept, imputed (+ noise) where removed.
    """
    b, c, h, w = x.shape
    planes = removed[:, None].expand(b, c, h, w).reshape(b * c, h, w)
    out = solve_imputation(x.reshape(b * c, h, w), planes, rtol, max_iter).view(b, c, h, w)
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
