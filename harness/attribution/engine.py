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


def attribute_all(
    methods: Mapping[str, Method],
    network: nn.Module,
    z: torch.Tensor,
    target: torch.Tensor,
    baselines: Mapping[str, torch.Tensor],
    amap: AffineMap | None,
    follows: Sequence[bool],
    reduction: str,
) -> dict[MapKey, torch.Tensor]:
    """Maps ``(B, H, W)`` of every method for inputs ``z`` ``(B, C, H, W)``.

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
    """
    maps: dict[MapKey, torch.Tensor] = {}
    z = z.detach().requires_grad_(True)
    for name, method in methods.items():
        if not method.needs_baseline:
            maps[(name, None)] = reduce_channels(method.attribute(network, z, target), reduction).detach()
            continue
        base = baselines[name]
        if amap is None:  # clean input: both treatments share one map
            clean = reduce_channels(method.attribute(network, z, target, base), reduction).detach()
            maps.update({(name, f): clean for f in follows})
            continue
        for f in follows:
            b = amap(base) if f else base
            maps[(name, f)] = reduce_channels(method.attribute(network, z, target, b), reduction).detach()
    return maps
