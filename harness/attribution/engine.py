"""Compute every configured map for a batch of images under several views that share one network.

A *view* is the clean input or one sample of one condition: model inputs, the classes to explain, per-input
seeds, and for every method that takes a baseline the baselines of its treatments. Views evaluated with the same
network are stacked into one batch, and IG methods that differ only in their baseline are stacked too, so one
call covers images × views × baselines; the :class:`~harness.attribution.batching.Batcher` cuts that into passes
that fit the device. The engine knows nothing about perturbations: the caller builds the views.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from harness.attribution.batching import Batcher
from harness.attribution.methods import Method
from harness.attribution.reduce import reduce_channels

#: (method name, baseline treatment — ``carried`` / ``fixed`` / ``recomputed`` — or None without a baseline)
MapKey = tuple[str, "str | None"]
#: For one method: ``(treatments, baseline (B, C, H, W))`` pairs; treatments sharing a baseline share one map.
Baselines = Sequence[tuple[tuple[str, ...], torch.Tensor]]


@dataclass(frozen=True)
class View:
    """Model inputs ``z`` ``(B, C, H, W)`` as one network sees them.

    Attributes:
        key: ``clean``, or a condition's key and sample.
        z: The inputs, already perturbed for a condition.
        target: ``(B,)`` classes to explain.
        seeds: ``(B, 2)`` int64 seeds for methods that draw random numbers: column 0 depends on the image only
            (SmoothGrad's noise is the same in every view of an image), column 1 on the image and the view
            (an independent random map per view).
        baselines: Method name → its baselines (model input space), for methods that take one.
        logits: The network's logits on ``z`` ``(B, K)`` if already computed (saves IG's completeness check a
            forward pass).
        methods: The methods explained on this view (None: all); e.g. an attack's inputs are made for one method.
        move: How the view's content moved from the clean image, as a function on clean-frame tensors
            ``(..., C, H, W)`` (None: it did not move); methods that draw noise in the image's frame move their clean
            draws with it (:attr:`~harness.attribution.methods.Method.draws_in_frame`).
    """

    key: str
    z: torch.Tensor
    target: torch.Tensor
    seeds: torch.Tensor
    baselines: Mapping[str, Baselines] = field(default_factory=dict)
    logits: torch.Tensor | None = None
    methods: frozenset[str] | None = None
    move: Callable[[torch.Tensor], torch.Tensor] | None = None

    def explains(self, name: str) -> bool:
        """Whether the method ``name`` is computed on this view."""
        return self.methods is None or name in self.methods


@dataclass
class ViewMaps:
    """The maps ``(B, H, W)`` of one view, and the completeness error ``(B,)`` of each map whose method has one."""

    maps: dict[MapKey, torch.Tensor]
    errors: dict[MapKey, torch.Tensor]


@torch.no_grad()
def target_logit(network: nn.Module, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``F_t(z)`` per image ``(B,)``."""
    return network(z).gather(1, target.unsqueeze(1)).squeeze(1)


def completeness_error(network: nn.Module, z: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor,
                       attr: torch.Tensor, f_z: torch.Tensor | None = None,
                       f_b: torch.Tensor | None = None) -> torch.Tensor:
    """``|Σ attr − (F(z) − F(b))| / |F(z) − F(b)|`` per image ``(B,)``: the completeness axiom (IG, DeepLift).

    Sundararajan et al. (2017) recommend enough IG steps to bring this under 5%. NaN when ``F(z) = F(b)``.
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
    reduction: str,
    batcher: Batcher | None = None,
) -> dict[str, ViewMaps]:
    """Maps of every method for every view, all evaluated with ``network``.

    Args:
        methods: Name → method.
        network: The network that sees every view.
        views: The same images under different conditions (see :class:`View`).
        reduction: Channel reduction rule (see :mod:`harness.attribution.reduce`).
        batcher: Sizes the passes (default: fitted to the device, see :class:`Batcher`).

    Returns:
        View key → its maps keyed by (method, baseline treatment), in the configured method order, and
        completeness errors.
    """
    batcher = batcher or Batcher()
    batcher.fit(network, views[0].z[0])
    out = {v.key: ViewMaps({}, {}) for v in views}
    for name, method in methods.items():
        chosen = [v for v in views if v.explains(name)]
        if method.needs_baseline or not chosen:
            continue
        for group, move in _by_move(chosen, method.draws_in_frame):
            z = torch.cat([v.z for v in group]).detach()
            t, seeds = torch.cat([v.target for v in group]), torch.cat([v.seeds for v in group])
            extra = {"move": move} if method.draws_in_frame else {}
            attr = batcher.map(lambda zi, ti, si, lim, m=method, kw=extra: m.attribute(network, zi, ti, max_inputs=lim,
                                                                                       seeds=si, **kw),
                               z, t, seeds, cost=method.cost)
            for v, maps in zip(group, reduce_channels(attr.detach(), reduction).split([len(v.z) for v in group])):
                out[v.key].maps[(name, None)] = maps
    # methods with a baseline: one entry per (method, baseline, view); entries of the same stack key run in one call
    entries: dict[tuple, list[tuple[str, tuple[str, ...], View, torch.Tensor]]] = defaultdict(list)
    for name, method in methods.items():
        for v in views:
            if not v.explains(name):
                continue
            for treatments, base in (v.baselines.get(name, ()) if method.needs_baseline else ()):
                moved = (id(v.move),) if method.draws_in_frame else ()  # one call per move of the draws
                entries[(*(method.stack_key or (name,)), *moved)].append((name, treatments, v, base))
    for group in entries.values():
        _with_baselines(methods, network, group, reduction, batcher, out)
    order = {name: i for i, name in enumerate(methods)}
    for vm in out.values():  # methods in their configured order, whatever order they were computed in
        vm.maps = dict(sorted(vm.maps.items(), key=lambda kv: order[kv[0][0]]))
    return out


def _by_move(views: Sequence[View], moves: bool) -> list[tuple[list[View], Callable | None]]:
    """The views in one call, or, for a method that moves its draws with the image, one call per distinct move
    (the views whose content did not move together)."""
    if not moves:
        return [(list(views), None)]
    groups: dict[int, tuple[list[View], Callable | None]] = {}
    for v in views:
        groups.setdefault(id(v.move), ([], v.move))[0].append(v)
    return list(groups.values())


def _with_baselines(methods, network, group, reduction, batcher, out) -> None:
    """Run one stack of (method, treatments, view, baseline) entries in one batched call; fill ``out``."""
    method = methods[group[0][0]]
    zs = torch.cat([v.z for _, _, v, _ in group]).detach()
    bs = torch.cat([base for _, _, _, base in group])
    ts = torch.cat([v.target for _, _, v, _ in group])
    seeds = torch.cat([v.seeds for _, _, v, _ in group])
    extra = {"move": group[0][2].move} if method.draws_in_frame else {}
    attr = batcher.map(lambda zi, bi, ti, si, lim: method.attribute(network, zi, ti, bi, max_inputs=lim, seeds=si,
                                                                    **extra),
                       zs, bs, ts, seeds, cost=method.cost)
    maps = reduce_channels(attr.detach(), reduction)
    f_b = batcher.map(lambda bi, ti, lim: target_logit(network, bi, ti), bs, ts) if method.complete else None
    start = 0
    for name, treatments, v, _ in group:
        sl = slice(start, start + len(v.z))
        start = sl.stop
        err = None
        if methods[name].complete:
            f_z = v.logits.gather(1, v.target.unsqueeze(1)).squeeze(1) if v.logits is not None else None
            err = completeness_error(network, v.z, v.target, bs[sl], attr[sl], f_z=f_z, f_b=f_b[sl])
        view_maps = maps[sl]
        for treatment in treatments:
            out[v.key].maps[(name, treatment)] = view_maps
            if err is not None:
                out[v.key].errors[(name, treatment)] = err
