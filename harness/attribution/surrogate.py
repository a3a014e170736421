"""Softplus surrogates of ReLU networks, and β-smoothed explanations (Dombrowski et al. 2019).

A ReLU network's gradient is piecewise constant, so an explanation built from it has zero (or undefined) gradient
with respect to the input almost everywhere: an attack on the explanation differentiates a *surrogate*, the same
network with every ``nn.ReLU`` replaced by ``softplus_β(x) = log(1 + exp(βx)) / β`` (→ ReLU as β → ∞).
Dombrowski et al. ("Explanations can be manipulated and geometry is to blame", NeurIPS 2019,
https://arxiv.org/abs/1906.07983) also use it as a defence: the *β-smoothed* explanation, computed on the softplus
network, has bounded curvature, so small input changes move it less.
"""
from __future__ import annotations

import copy
import weakref

import torch.nn as nn

from harness.attribution.methods import Method

_cache: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, nn.Module]]" = weakref.WeakKeyDictionary()


def _state(network: nn.Module) -> tuple:
    """What identifies the network's current weights (storage and in-place version of every tensor)."""
    return tuple((t.data_ptr(), t._version) for t in (*network.parameters(), *network.buffers()))


def softplus(network: nn.Module, beta: float) -> nn.Module:
    """``network`` with every ``nn.ReLU`` module replaced by ``nn.Softplus(beta)``: one copy per network (made again
    when its weights change; ``network`` itself is unchanged), whose β is set on each call, so that an attack may
    change β at every step without a copy per β. ReLUs applied functionally are not replaced."""
    state = _state(network)
    if network not in _cache or _cache[network][0] != state:
        out = copy.deepcopy(network)
        for module in list(out.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.ReLU):
                    smooth = nn.Softplus(beta=float(beta))
                    smooth.surrogate = True
                    setattr(module, child_name, smooth)
        _cache[network] = (state, out.eval().requires_grad_(False))
    out = _cache[network][1]
    for module in out.modules():
        if getattr(module, "surrogate", False):
            module.beta = float(beta)
    return out


class BetaSmoothed(Method):
    """Any method computed on the softplus(β) copy of the network: a β-smoothed explanation (Dombrowski et al.).

    Args:
        base: The method smoothed (e.g. the gradient).
        beta: Softplus β (larger: closer to the ReLU network's map, less smoothing).
    """

    def __init__(self, base: Method, beta: float = 10.0) -> None:
        self.base, self.beta = base, float(beta)
        self.needs_baseline, self.complete = base.needs_baseline, False
        for attr in ("baseline", "baseline_space", "n_steps"):
            if hasattr(base, attr):
                setattr(self, attr, getattr(base, attr))

    @property
    def cost(self) -> int:
        return self.base.cost

    @property
    def attackable(self) -> bool:
        return self.base.attackable

    @property
    def fixed_baseline(self) -> bool:
        return getattr(self.base, "fixed_baseline", False)

    def check(self, network, sample) -> None:
        self.base.check(network, sample)

    def info(self) -> dict:
        return self.base.info()

    def bind(self, encoding, train_images=None) -> None:
        self.base.bind(encoding, train_images)
        if hasattr(self.base, "baseline"):
            self.baseline = self.base.baseline

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        return self.base.attribute(softplus(network, self.beta), z, target, baseline, max_inputs, seeds)

    def surrogate(self, network, beta):
        """The β-smoothed map is differentiable as it is: an attack differentiates the defended map itself."""
        return network

    def differentiable(self, network, z, target, baseline=None, seeds=None):
        return self.base.differentiable(softplus(network, self.beta), z, target, baseline, seeds)

    def differentiable_parts(self, network, z, target, baseline=None, seeds=None):
        return self.base.differentiable_parts(softplus(network, self.beta), z, target, baseline, seeds)
