"""Softplus surrogates of ReLU networks (Dombrowski et al. 2019).

A ReLU network's gradient is piecewise constant, so an explanation built from it has zero (or undefined) gradient
with respect to the input almost everywhere: an attack on the explanation differentiates a *surrogate*, the same
network with every ``nn.ReLU`` replaced by ``softplus_β(x) = log(1 + exp(βx)) / β`` (→ ReLU as β → ∞).
Dombrowski et al. ("Explanations can be manipulated and geometry is to blame", NeurIPS 2019,
https://arxiv.org/abs/1906.07983) also use it as a defence: the *β-smoothed* explanation
(:class:`~harness.attribution.beta_smoothed.BetaSmoothed`).
"""
from __future__ import annotations

import copy
import weakref

import torch.nn as nn

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
