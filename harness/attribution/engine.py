"""Compute every configured map for a batch of images under several views that share one network.

A *view* is the clean input or one perturbation condition. Views evaluated with the same network (the
clean input and every uncompensated condition) are stacked into one batch, and IG methods that differ only
in their baseline are stacked too, so one call covers images × views × baselines; the
:class:`~harness.attribution.batching.Batcher` cuts that into passes that fit the device. A compensated
condition has its own network and is a view of its own.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from harness.attribution.batching import Batcher
from harness.attribution.methods import Method
from harness.attribution.reduce import reduce_channels
from harness.perturbations.affine import AffineMap

#: (method name, baseline_follows_perturbation or None for methods without a baseline)
MapKey = tuple[str, "bool | None"]


@dataclass(frozen=True)
class View:
    """Model inputs ``z`` ``(B, C, H, W)`` as one network sees them.

    Attributes:
        key: ``clean`` or the condition's key.
        z: The inputs, already perturbed for a condition.
        amap: The perturbation applied (None for the clean input); baselines pass through it when they
            follow the perturbation.
        logits: The network's logits on ``z`` ``(B, K)`` if already computed (saves IG's completeness check
            a forward pass).
    """

    key: str
    z: torch.Tensor
    amap: AffineMap | None = None
    logits: torch.Tensor | None = None


@dataclass
class ViewMaps:
    """The maps ``(B, H, W)`` of one view, and the IG completeness error ``(B,)`` of each map that has one."""

    maps: dict[MapKey, torch.Tensor]
    errors: dict[MapKey, torch.Tensor]


@torch.no_grad()
def target_logit(network: nn.Module, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``F_t(z)`` per image ``(B,)``."""
    return network(z).gather(1, target.unsqueeze(1)).squeeze(1)


def completeness_error(network: nn.Module, z: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor,
                       attr: torch.Tensor, f_z: torch.Tensor | None = None,
                       f_b: torch.Tensor | None = None) -> torch.Tensor:
    """``|Σ attr − (F(z) − F(b))| / |F(z) − F(b)|`` per image ``(B,)``: IG's completeness axiom.

    Sundararajan et al. (2017) recommend enough steps to bring this under 5%. NaN when ``F(z) = F(b)``.
    ``f_z`` and ``f_b`` (``F_t(z)``, ``F_t(b)``, if already known) save forward passes.
    """
    f_z = target_logit(network, z, target) if f_z is None else f_z
    f_b = target_logit(network, baseline, target) if f_b is None else f_b
    gap = f_z - f_b
    err = (attr.detach().flatten(1).sum(1) - gap).abs() / gap.abs()
    return torch.where(torch.isfinite(err), err, torch.full_like(err, float("nan")))


def attribute_views(
    methods: Mapping[str, Method],
    network: nn.Module,
    views: Sequence[View],
    *,
    target: torch.Tensor,
    baselines: Mapping[str, torch.Tensor],
    follows: Sequence[bool],
    reduction: str,
    batcher: Batcher | None = None,
) -> dict[str, ViewMaps]:
    """Maps of every method for every view, all evaluated with ``network``.

    Args:
        methods: Name → method.
        network: The network that sees every view (the original, or a compensated copy).
        views: Inputs ``(B, C, H, W)`` each, the same images under different perturbations.
        target: ``(B,)`` classes to explain (the same for every view).
        baselines: For each method that needs one, its baseline for the *clean* input in model input
            space ``(B, C, H, W)``.
        follows: Which baseline treatments to compute: True, the baseline passes through the view's
            perturbation; False, it stays as it is. A clean view computes one map shared by both, and a
            method with a model-space baseline (``fixed_baseline``) computes only False.
        reduction: Channel reduction rule (see :mod:`harness.attribution.reduce`).
        batcher: Sizes the passes (default: fitted to the device, see :class:`Batcher`).

    Returns:
        View key → its maps keyed by (method, baseline treatment), and completeness errors.
    """
    batcher = batcher or Batcher()
    batcher.fit(network, views[0].z[0])
    b, n = len(target), len(views)
    z = torch.cat([v.z for v in views]).detach()
    t = target.repeat(n)
    out = {v.key: ViewMaps({}, {}) for v in views}

    for name, method in methods.items():
        if not method.needs_baseline:
            attr = batcher.map(lambda zi, ti, lim, m=method: m.attribute(network, zi, ti, max_inputs=lim), z, t)
            maps = reduce_channels(attr.detach(), reduction)
            for i, v in enumerate(views):
                out[v.key].maps[(name, None)] = maps[i * b:(i + 1) * b]

    # IG: one entry per (method, treatment, view); entries of the same stack_key run in one call
    entries: dict[tuple, list[tuple[MapKey, list[bool], View, torch.Tensor]]] = defaultdict(list)
    for name, method in methods.items():
        if not method.needs_baseline:
            continue
        fixed = getattr(method, "fixed_baseline", False)
        for v in views:
            if v.amap is None:  # the clean input has one baseline, shared by both treatments
                treatments = [([False] if fixed else list(follows), baselines[name])]
            elif fixed:
                treatments = [([False], baselines[name])]
            else:
                treatments = [([f], v.amap(baselines[name]) if f else baselines[name]) for f in follows]
            for keys, base in treatments:
                entries[method.stack_key or (name,)].append(((name, keys[0]), keys, v, base))
    if entries:
        _integrated(methods, network, views, entries, target, reduction, batcher, out)
    order = {name: i for i, name in enumerate(methods)}
    treatment = {f: i for i, f in enumerate(follows)}
    for vm in out.values():  # methods in their configured order, whatever order they were computed in
        vm.maps = dict(sorted(vm.maps.items(), key=lambda kv: (order[kv[0][0]], treatment.get(kv[0][1], 0))))
    return out


def _integrated(methods, network, views, entries, target, reduction, batcher, out) -> None:
    """Run each stack of IG entries in one batched call; fill ``out`` with maps and completeness errors."""
    b, idx = len(target), target.unsqueeze(1)
    f_z = {v.key: v.logits.gather(1, idx).squeeze(1) for v in views if v.logits is not None}
    if missing := [v for v in views if v.logits is None]:
        f = batcher.map(lambda zi, ti, lim: target_logit(network, zi, ti), torch.cat([v.z for v in missing]),
                        target.repeat(len(missing)))
        f_z.update({v.key: f[i * b:(i + 1) * b] for i, v in enumerate(missing)})
    for group in entries.values():
        method = methods[group[0][0][0]]
        zs = torch.cat([v.z for _, _, v, _ in group]).detach()
        bs = torch.cat([base for _, _, _, base in group])
        ts = target.repeat(len(group))
        attr = batcher.map(lambda zi, bi, ti, lim: method.attribute(network, zi, ti, bi, max_inputs=lim),
                           zs, bs, ts, cost=method.cost)
        f_b = batcher.map(lambda bi, ti, lim: target_logit(network, bi, ti), bs, ts)
        maps = reduce_channels(attr.detach(), reduction)
        for i, ((name, _), keys, v, _) in enumerate(group):
            sl = slice(i * b, (i + 1) * b)
            err = completeness_error(network, v.z, target, bs[sl], attr[sl], f_z=f_z[v.key], f_b=f_b[sl])
            for f in keys:
                out[v.key].maps[(name, f)], out[v.key].errors[(name, f)] = maps[sl], err


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
    batcher: Batcher | None = None,
) -> tuple[dict[MapKey, torch.Tensor], dict[MapKey, torch.Tensor]]:
    """Maps and completeness errors of one view (see :func:`attribute_views`)."""
    result = attribute_views(methods, network, [View("view", z, amap)], target=target, baselines=baselines,
                             follows=follows, reduction=reduction, batcher=batcher)["view"]
    return result.maps, result.errors
