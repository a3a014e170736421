"""Finding and replacing layers of a network (used to adapt, compensate and randomise networks)."""
from __future__ import annotations

import torch.nn as nn

from harness.common.errors import UserError


def first_layer(network: nn.Module) -> tuple[str, nn.Module]:
    """Name and module of the first layer with parameters (the one that sees the input)."""
    for name, module in network.named_modules():
        if module is not network and any(True for _ in module.parameters(recurse=False)):
            return name, module
    raise UserError("the network has no layer with parameters")


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule called ``name`` (dotted path) of ``root`` by ``module``."""
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)
