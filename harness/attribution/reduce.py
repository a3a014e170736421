"""Reduce attributions ``(B, C, H, W)`` over channels to maps ``(B, H, W)``."""
from __future__ import annotations

import torch

from harness.common.errors import UserError

#: rule name -> reduction over the channel dimension.
REDUCTIONS = {
    "sum_abs": lambda a: a.abs().sum(1),
    "sum": lambda a: a.sum(1),
    "max_abs": lambda a: a.abs().amax(1),
    "l2": lambda a: a.pow(2).sum(1).sqrt(),
}


def reduce_channels(attr: torch.Tensor, rule: str = "sum_abs") -> torch.Tensor:
    """Collapse the channel axis of ``attr`` ``(B, C, H, W)`` with ``rule``; returns ``(B, H, W)``."""
    if rule not in REDUCTIONS:
        raise UserError(f"unknown attribution.reduction '{rule}'; valid choices: {', '.join(REDUCTIONS)}")
    return REDUCTIONS[rule](attr)
