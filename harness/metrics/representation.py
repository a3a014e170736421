"""An internal representation of the network, for relative representation stability (RRS, Agarwal et al. 2022).

Agarwal et al., "Rethinking Stability for Attribution-based Explanations", 2022 (https://arxiv.org/abs/2203.06877),
measure a map's change relative to the change of ``L_x``, "the internal model representation" of the input, e.g. a
hidden layer's output. Here ``L_x`` is, by default, the input of the network's last ``nn.Linear`` (the penultimate
representation, which the classifier reads: a CNN's pooled features, an MLP's last hidden layer), or the output of
the module named by ``metrics.representation_layer`` (a name of ``network.named_modules()``, flattened per image).
Quantus 0.6 concatenates every layer's output by default; one layer, named, is easier to read.

It is read by a forward hook in one extra forward pass per view, only when a measure asks for it
(:attr:`harness.metrics.registry.Measure.needs_representation`).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from harness.common.errors import UserError


def representation_module(network: nn.Module, layer: str | None) -> tuple[nn.Module, bool]:
    """The module whose output (``False``) or input (``True``: the default, the last ``nn.Linear``) is ``L_x``."""
    modules = dict(network.named_modules())
    if layer:
        if layer not in modules:
            names = ", ".join(n for n in modules if n)[:300]
            raise UserError(f"metrics.representation_layer '{layer}' is no module of the network; its modules: {names}")
        return modules[layer], False
    linear = [m for m in modules.values() if isinstance(m, nn.Linear)]
    if not linear:
        raise UserError("the network has no nn.Linear layer: set metrics.representation_layer to a module's name")
    return linear[-1], True


@torch.no_grad()
def representation(network: nn.Module, z: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """``L_z`` ``(B, D)`` for model inputs ``z`` ``(B, C, H, W)``: the chosen module's input or output, flattened."""
    module, use_input = representation_module(network, layer)
    seen: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda m, inputs, output: seen.append(inputs[0] if use_input else output))
    try:
        network(z)
    finally:
        hook.remove()
    if not seen:
        raise UserError(f"the representation layer {layer or 'last nn.Linear'} is not called in the forward pass")
    return seen[-1].detach().flatten(1)
