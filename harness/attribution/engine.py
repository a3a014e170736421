"""Compute every configured map for one batch, clean or under one perturbation."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from harness.attribution.methods import Method
from harness.attribution.reduce import reduce_channels
from harness.perturbations.affine import AffineMap

#: (method name, baseline_follows_perturbation or None for methods without a baseline)
MapKey = tuple[str, "bool | None"]


@torch.no_grad()
def target_logit(network: nn.Module, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``F_t(z)`` per image ``(B,)``."""
    return network(z).gather(1, target.unsqueeze(1)).squeeze(1)


@torch.no_grad()
def completeness_error(network: nn.Module, z: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor,
                       attr: torch.Tensor, f_z: torch.Tensor | None = None) -> torch.Tensor:
    """``|Σ attr − (F(z) − F(b))| / |F(z) − F(b)|`` per image ``(B,)``: IG's completeness axiom.

    Sundararajan et al. (2017) recommend enough steps to bring this under 5%. NaN when ``F(z) = F(b)``.
    ``f_z`` (``F_t(z)``, if already known) saves a forward pass.
    """
    f_z = target_logit(network, z, target) if f_z is None else f_z
    gap = f_z - target_logit(network, baseline, target)
    err = (attr.flatten(1).sum(1) - gap).abs() / gap.abs()
    return torch.where(torch.isfinite(err), err, torch.full_like(err, float("nan")))


def attribute_all(
    methods: Mapping[str, Method],
    network: nn.Module,
    z: torch.Tensor,
    *,
    target: torch.Tensor,
    baselines: Mapping[str, torch.Tensor],
    amap: AffineMap | None,
    follows: Sequence[bool],
    reduction: str,
) -> tuple[dict[MapKey, torch.Tensor], dict[MapKey, torch.Tensor]]:
    """Maps ``(B, H, W)`` of every method for inputs ``z`` ``(B, C, H, W)``, and IG completeness errors.

    Args:
        methods: Name → method.
        network: The network that sees ``z`` (the original, or a compensated copy).
        z: Model inputs, already perturbed when ``amap`` is given.
        target: ``(B,)`` classes to explain.
        baselines: For each method that needs one, its baseline for the *clean* input in model
            input space ``(B, C, H, W)``.
        amap: The perturbation applied to ``z`` (None for the clean input). Baselines pass through
            it for ``follows=True`` and stay as they are for ``False``.
        follows: Which baseline treatments to compute.
        reduction: Channel reduction rule (see :mod:`harness.attribution.reduce`).

    Returns:
        ``maps`` keyed by (method, baseline treatment), and ``errors``: the completeness error
        ``(B,)`` of every map that has a baseline.
    """
    maps: dict[MapKey, torch.Tensor] = {}
    errors: dict[MapKey, torch.Tensor] = {}
    z = z.detach().requires_grad_(True)
    f_z = target_logit(network, z.detach(), target) if any(m.needs_baseline for m in methods.values()) else None
    for name, method in methods.items():
        if not method.needs_baseline:
            maps[(name, None)] = reduce_channels(method.attribute(network, z, target), reduction).detach()
            continue
        # the clean input has one baseline, shared by both treatments; a model-space baseline never follows
        fixed = getattr(method, "fixed_baseline", False)
        if amap is None:
            treatments = [([False] if fixed else list(follows), baselines[name])]
        elif fixed:
            treatments = [([False], baselines[name])]
        else:
            treatments = [([f], amap(baselines[name]) if f else baselines[name]) for f in follows]
        for keys, b in treatments:
            attr = method.attribute(network, z, target, b).detach()
            err = completeness_error(network, z.detach(), target, b, attr, f_z=f_z)
            for f in keys:
                maps[(name, f)], errors[(name, f)] = reduce_channels(attr, reduction), err
    return maps, errors
