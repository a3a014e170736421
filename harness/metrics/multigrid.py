"""Geometric multigrid for 9-point stencils on image grids: the preconditioner of ROAD's imputation solve.

A linear operator on ``(h, w)`` planes is held as its stencil, ``(B, 9, h, w)`` coefficients: ``c[:, k, a]`` is the
matrix entry between pixel ``a`` and its neighbour ``a + OFFSETS[k]`` (zero where that neighbour is outside the
grid). The coarse operators are Galerkin products ``Pᵀ A P`` with ``P`` the bilinear interpolation from the grid of
even pixels (Trottenberg, Oosterlee & Schüller, *Multigrid*, Academic Press 2001, §2.3 and §7.2.1), with one more
coarse row and column past the edge of an even grid, so that ``P`` keeps constants up to the image border, a free
edge of the imputation system: for a 9-point ``A`` they are again 9-point stencils, computed for all pixels at once
by one strided convolution (:func:`galerkin_coarsen`). The V-cycle (:func:`v_cycle`) smooths with Jacobi sweeps
(damped on a diagonally dominant level, enough for convergence on the Galerkin ones: :func:`jacobi_weights`),
before and after the coarse correction as many, so that it is a symmetric positive definite preconditioner for
conjugate gradients (multigrid as a preconditioner: Trottenberg et al., §7.8; Tatebe, Copper Mountain Conference on
Multigrid Methods 1993). Its cost per iteration is a few stencil sweeps, and the number of iterations does not grow
with the size of the grid or of the holes in a masked operator (6–12 for ROAD's holes at 224 px), where
Jacobi-preconditioned CG needs iterations in proportion to the width of the largest hole.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: The 9 stencil offsets ``(row, column)``, in the order of the coefficient planes; index 4 is the pixel itself.
OFFSETS = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))
CENTRE = 4
#: Damping of the Jacobi smoother, and sweeps before and after each coarse correction.
JACOBI_DAMPING, SWEEPS = 0.8, 1
#: Grids with at most this many pixels are solved directly (a dense pseudo-inverse).
COARSEST = 64


def shifted(u: torch.Tensor, offset: tuple[int, int]) -> torch.Tensor:
    """``u`` ``(..., h, w)`` read at ``pixel + offset`` (zero outside the grid)."""
    h, w = u.shape[-2:]
    p = F.pad(u, (1, 1, 1, 1))
    return p[..., 1 + offset[0]:1 + offset[0] + h, 1 + offset[1]:1 + offset[1] + w]


def stencil_apply(c: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``A u`` for the stencil ``c`` ``(B, 9, h, w)`` and planes ``u`` ``(B, C, h, w)`` (the same operator for the
    ``C`` planes of an item)."""
    h, w = u.shape[-2:]
    p = F.pad(u, (1, 1, 1, 1))
    out = c[:, CENTRE:CENTRE + 1] * u
    for k, (di, dj) in enumerate(OFFSETS):
        if k != CENTRE:
            out.addcmul_(c[:, k:k + 1], p[..., 1 + di:1 + di + h, 1 + dj:1 + dj + w])
    return out


def _bilinear_1d(t: int) -> float:
    return {-1: 0.5, 0: 1.0, 1: 0.5}.get(t, 0.0)


@functools.lru_cache(maxsize=None)
def _galerkin_kernel(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(9, 9, 3, 3)``: ``K[o, e, t] = p(t) p(t + e − 2o)``, ``p`` the bilinear weights, ``t`` in ``{−1, 0, 1}²``
    (made once per dtype and device)."""
    k = torch.zeros(9, 9, 3, 3, dtype=dtype)
    for o, (oi, oj) in enumerate(OFFSETS):
        for e, (ei, ej) in enumerate(OFFSETS):
            for ti in (-1, 0, 1):
                for tj in (-1, 0, 1):
                    k[o, e, ti + 1, tj + 1] = (_bilinear_1d(ti) * _bilinear_1d(tj) * _bilinear_1d(ti + ei - 2 * oi)
                                               * _bilinear_1d(tj + ej - 2 * oj))
    return k.to(device)


def _coarse_size(n: int) -> int:
    """Coarse pixels of a line of ``n``: coarse pixel ``I`` sits on fine pixel ``2I``, and an even line gets one
    more, on the pixel one past its end, so that the interpolation keeps constants up to the last pixel."""
    return n // 2 + 1


def _pad_odd(c: torch.Tensor) -> torch.Tensor:
    """``c`` ``(..., h, w)`` with a zero row (column) appended if ``h`` (``w``) is even: on a line of odd length
    ``n'`` the coarse pixels ``0 … (n' − 1) / 2`` are the even pixels, the last one included."""
    pad = (0, 1 - c.shape[-1] % 2, 0, 1 - c.shape[-2] % 2)
    return F.pad(c, pad) if any(pad) else c


def galerkin_coarsen(c: torch.Tensor) -> torch.Tensor:
    """The Galerkin coarse stencil ``(B, 9, h', w')`` of ``c`` ``(B, 9, h, w)``, ``h' = ⌊h / 2⌋ + 1``.

    Coarse pixel ``I`` sits on fine pixel ``2I`` (on an even grid the last row and column of coarse pixels sit one
    past the edge: :func:`_coarse_size`); ``P`` interpolates bilinearly (weights 1, 1/2, 1/4), so
    ``(PᵀAP)[I, I + o] = Σ_t Σ_e p(t) p(t + e − 2o) c_e[2I + t]``: a stride-2 convolution. A coarse pixel whose
    fine neighbourhood has no unknown has an all-zero row and column.
    """
    return F.conv2d(_pad_odd(c), _galerkin_kernel(c.dtype, c.device), stride=2, padding=1)


def _restrict_columns(r: torch.Tensor) -> torch.Tensor:
    """``r[..., 2I] + (r[..., 2I − 1] + r[..., 2I + 1]) / 2`` (zero outside): ``(..., n)`` → ``(..., m)``,
    ``m = ⌊n / 2⌋ + 1``."""
    n = r.shape[-1]
    half = n // 2  # odd pixels; pixel 2k + 1 lies between coarse pixels k and k + 1
    out = r.new_zeros(*r.shape[:-1], _coarse_size(n))
    out[..., :(n + 1) // 2] = r[..., 0::2]
    odd = r[..., 1::2] * 0.5
    out[..., :half] += odd
    out[..., 1:half + 1] += odd
    return out


def _prolong_columns(e: torch.Tensor, n: int) -> torch.Tensor:
    """The adjoint of :func:`_restrict_columns`: ``(..., m)`` → ``(..., n)``, linear interpolation."""
    half = n // 2
    out = e.new_empty(*e.shape[:-1], n)
    out[..., 0::2] = e[..., :(n + 1) // 2]
    out[..., 1::2] = torch.add(e[..., :half], e[..., 1:half + 1]).mul_(0.5)
    return out


def restrict(r: torch.Tensor) -> torch.Tensor:
    """``Pᵀ r``: ``(B, C, h, w)`` → ``(B, C, h', w')`` (full weighting ``[1/2, 1, 1/2]`` in each direction, not
    normalised), by strided views: several times faster than a strided ``conv2d`` on a CPU."""
    return _restrict_columns(_restrict_columns(r).transpose(-1, -2)).transpose(-1, -2)


def prolong(e: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``P e``: ``(B, C, h', w')`` → ``(B, C, h, w)`` (bilinear interpolation), the adjoint of :func:`restrict`."""
    return _prolong_columns(_prolong_columns(e, shape[1]).transpose(-1, -2), shape[0]).transpose(-1, -2)


def dense_matrix(c: torch.Tensor) -> torch.Tensor:
    """The ``(B, h·w, h·w)`` matrix of the stencil ``c`` ``(B, 9, h, w)``."""
    b, _, h, w = c.shape
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    m = torch.zeros(b, h * w, h * w, dtype=c.dtype, device=c.device)
    for k, (di, dj) in enumerate(OFFSETS):
        inside = (rows + di >= 0) & (rows + di < h) & (cols + dj >= 0) & (cols + dj < w)
        a = (rows * w + cols)[inside].to(c.device)
        nb = ((rows + di) * w + cols + dj)[inside].to(c.device)
        m[:, a, nb] = c[:, k][:, inside.to(c.device)]
    return m


@dataclass
class Hierarchy:
    """The stencils of every level, finest first, their Jacobi weights ``damping / diagonal`` (0 where a pixel is
    not an unknown: a zero diagonal), and the pseudo-inverse ``(B, n, n)`` of the coarsest level's matrix."""

    stencils: list[torch.Tensor]
    inverse_diagonals: list[torch.Tensor]
    coarsest_inverse: torch.Tensor
    #: a faster equivalent of ``stencil_apply(stencils[0], ·)``, if any
    fine_apply: Callable[[torch.Tensor], torch.Tensor] | None = None
    #: a faster equivalent of a Jacobi sweep on level 0, ``(u, r) ↦ u + w·(r − A u)``, if any
    fine_smooth: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def apply(self, level: int, u: torch.Tensor) -> torch.Tensor:
        """The operator of ``level`` on ``u`` ``(B, C, h, w)``."""
        if level == 0 and self.fine_apply is not None:
            return self.fine_apply(u)
        return stencil_apply(self.stencils[level], u)

    def smooth(self, level: int, u: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """One Jacobi sweep for ``A u = r`` on ``level``."""
        if level == 0 and self.fine_smooth is not None:
            return self.fine_smooth(u, r)
        return u + self.inverse_diagonals[level] * (r - self.apply(level, u))


def build_hierarchy(c: torch.Tensor, coarsest: int = COARSEST,
                    fine_apply: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Hierarchy:
    """Galerkin coarsening of the SPD stencil ``c`` ``(B, 9, h, w)`` down to a grid of at most ``coarsest`` pixels
    (pixels that are not unknowns, with a zero diagonal, are left at 0), in ``c``'s dtype. ``fine_apply``: a
    faster equivalent of ``c``'s operator, if any."""
    stencils = [c]
    while stencils[-1].shape[-2] * stencils[-1].shape[-1] > coarsest:
        stencils.append(galerkin_coarsen(stencils[-1]))
    inverse = [jacobi_weights(s) for s in stencils]
    return Hierarchy(stencils, inverse, pseudo_inverse(dense_matrix(stencils[-1].double())).to(c.dtype),
                     fine_apply)


def jacobi_weights(c: torch.Tensor) -> torch.Tensor:
    """``(B, 1, h, w)`` weights ``1 / dᵢ`` of the Jacobi smoother of the stencil ``c`` ``(B, 9, h, w)``, 0 where the
    diagonal is: ``dᵢ = max(aᵢᵢ / ω, (1 + 10⁻⁴)·(aᵢᵢ + Σ_{j≠i} |aᵢⱼ|) / 2)``. On a weakly diagonally dominant row
    (the fine level's) the first term wins: Jacobi damped by ``ω``. The second makes ``2D − A`` strictly
    diagonally dominant (Gershgorin), hence positive definite, which is what a Jacobi smoother needs to converge on
    an SPD matrix: the Galerkin coarse operators need not be diagonally dominant. It is half of the ℓ1-Jacobi
    smoother of Baker, Falgout, Kolev & Yang (SIAM J. Sci. Comput. 2011, https://doi.org/10.1137/100798806), which
    damps twice as much as needed."""
    diag = c[:, CENTRE:CENTRE + 1]
    scale = torch.maximum(diag / JACOBI_DAMPING, (1 + 1e-4) / 2 * c.abs().sum(1, keepdim=True))
    return torch.where(diag > 0, 1 / scale.clamp_min(1e-30), torch.zeros_like(diag))


def pseudo_inverse(m: torch.Tensor, rcond: float = 1e-10) -> torch.Tensor:
    """The pseudo-inverse of symmetric positive semi-definite matrices ``m`` ``(B, n, n)`` (eigenvalues below
    ``rcond`` times the largest count as 0). A Galerkin coarse matrix of a masked operator may be singular: two
    coarse pixels whose interpolations meet the unknowns only on the same fine pixel have proportional columns."""
    values, vectors = torch.linalg.eigh(m)
    keep = values > rcond * values.amax(-1, keepdim=True).clamp_min(1e-300)
    inverse = torch.where(keep, 1 / torch.where(keep, values, torch.ones_like(values)), torch.zeros_like(values))
    return (vectors * inverse[:, None, :]) @ vectors.transpose(1, 2)


def v_cycle(hierarchy: Hierarchy, r: torch.Tensor, level: int = 0) -> torch.Tensor:
    """One V-cycle from ``level``: an approximation of ``A⁻¹ r`` for residuals ``r`` ``(B, C, h, w)``, symmetric
    in ``r`` (as many Jacobi sweeps after the coarse correction as before)."""
    inv = hierarchy.inverse_diagonals[level]
    if level == len(hierarchy.stencils) - 1:
        b, ch, h, w = r.shape
        return (r.reshape(b, ch, h * w) @ hierarchy.coarsest_inverse).view(b, ch, h, w)  # the inverse is symmetric
    u = inv * r
    for _ in range(SWEEPS - 1):
        u = hierarchy.smooth(level, u, r)
    coarse = v_cycle(hierarchy, restrict(r - hierarchy.apply(level, u)), level + 1)
    u = u + (inv > 0) * prolong(coarse, r.shape[-2:])  # corrections on the unknowns only
    for _ in range(SWEEPS):
        u = hierarchy.smooth(level, u, r)
    return u
