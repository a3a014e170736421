"""How much a map changes, measured against how much its input or output changed: batched pure functions.

Maps ``(B, H, W)``, inputs ``(B, C, H, W)``, logits ``(B, K)``; every result is ``(B,)`` in float64. The per-sample
ratios here are reduced over a condition's samples into the aggregate measures of
:mod:`harness.metrics.registry` (max-sensitivity = max of :func:`rel_change`, ...).
"""
from __future__ import annotations

import torch


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.detach().flatten(1).double()


def rel_change(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``‖Φ(x) − Φ(x')‖₂ / ‖Φ(x)‖₂`` over the flattened map (Yeh et al. 2019, https://arxiv.org/abs/1901.09392).

    Its max over samples is max-sensitivity, its mean avg-sensitivity. As in ``captum.metrics.sensitivity_max``
    (``norm_ord="fro"``), an all-zero clean map is divided by 1 instead of 0.
    """
    fa, fb = _flat(a), _flat(b)
    norm = fa.norm(dim=1)
    return (fa - fb).norm(dim=1) / torch.where(norm == 0, torch.ones_like(norm), norm)


def lipschitz_ratio(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, x_p: torch.Tensor) -> torch.Tensor:
    """``‖Φ(x) − Φ(x')‖₂ / ‖x − x'‖₂`` (inputs in pixel space); its max over samples is the local Lipschitz
    estimate of Alvarez-Melis & Jaakkola 2018 (https://arxiv.org/abs/1806.08049). NaN where ``x' = x``."""
    num = (_flat(a) - _flat(b)).norm(dim=1)
    den = (_flat(x) - _flat(x_p)).norm(dim=1)
    return torch.where(den > 0, num / den, torch.full_like(num, float("nan")))


def continuity_ratio(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, x_p: torch.Tensor) -> torch.Tensor:
    """``‖Φ(x) − Φ(x')‖₁ / ‖x − x'‖₂`` (inputs in pixel space): the map change per unit of input change whose largest
    value over a path of translations is the continuity of Montavon et al. 2018 ("Methods for interpreting and
    understanding deep neural networks", Digital Signal Processing 73, eq. in §5.1); Quantus's ``lipschitz_constant``
    with its default norms. NaN where ``x' = x``."""
    num = (_flat(a) - _flat(b)).abs().sum(dim=1)
    den = (_flat(x) - _flat(x_p)).norm(dim=1)
    return torch.where(den > 0, num / den, torch.full_like(num, float("nan")))


def relative(a: torch.Tensor, b: torch.Tensor, eps_min: float) -> torch.Tensor:
    """``‖(a − b) / a‖₂`` per row, element-wise division, exact zeros of ``a`` replaced by ``eps_min`` (as Quantus)."""
    fa, fb = _flat(a), _flat(b)
    return ((fa - fb) / torch.where(fa == 0, torch.full_like(fa, eps_min), fa)).norm(dim=1)


def ris_ratio(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, x_p: torch.Tensor,
              eps_min: float = 1e-6) -> torch.Tensor:
    """Relative input stability of one sample (Agarwal et al. 2022, https://arxiv.org/abs/2203.06877):
    ``‖(Φ(x) − Φ(x')) / Φ(x)‖₂ / max(‖(x − x') / x‖₂, ε_min)``; RIS is its max over label-preserving samples."""
    return relative(a, b, eps_min) / relative(x, x_p, eps_min).clamp_min(eps_min)


def ros_ratio(a: torch.Tensor, b: torch.Tensor, logits: torch.Tensor, logits_p: torch.Tensor,
              eps_min: float = 1e-6) -> torch.Tensor:
    """Relative output stability of one sample (Agarwal et al. 2022):
    ``‖(Φ(x) − Φ(x')) / Φ(x)‖₂ / max(‖h(x) − h(x')‖₂, ε_min)`` with ``h`` the logits; ROS is its max over
    label-preserving samples."""
    return relative(a, b, eps_min) / (_flat(logits) - _flat(logits_p)).norm(dim=1).clamp_min(eps_min)


def rrs_ratio(a: torch.Tensor, b: torch.Tensor, rep: torch.Tensor, rep_p: torch.Tensor,
              eps_min: float = 1e-6) -> torch.Tensor:
    """Relative representation stability of one sample (Agarwal et al. 2022):
    ``‖(Φ(x) − Φ(x')) / Φ(x)‖₂ / max(‖(L_x − L_x') / L_x‖₂, ε_min)`` with ``L`` an internal representation
    ``(B, D)`` (:mod:`harness.metrics.representation`); RRS is its max over label-preserving samples."""
    return relative(a, b, eps_min) / relative(rep, rep_p, eps_min).clamp_min(eps_min)


def centre_of_mass(m: torch.Tensor) -> torch.Tensor:
    """``(B, 2)`` centre of mass (row, column) of ``|m|`` ``(B, H, W)``, in pixels (NaN for an all-zero map)."""
    w = m.detach().abs().double()
    total = w.flatten(1).sum(1)
    rows = torch.arange(m.shape[1], device=m.device, dtype=torch.float64)
    cols = torch.arange(m.shape[2], device=m.device, dtype=torch.float64)
    r = (w.sum(2) * rows).sum(1) / total
    c = (w.sum(1) * cols).sum(1) / total
    return torch.stack([r, c], 1)


def com_shift(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance in pixels between the centres of mass of ``|Φ(x)|`` and ``|Φ(x')|`` (Ghorbani et al. 2019,
    https://arxiv.org/abs/1710.10547)."""
    return (centre_of_mass(a) - centre_of_mass(b)).norm(dim=1)
