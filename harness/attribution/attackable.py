"""What an explanation attack needs of a method: its map as a differentiable function of the input.

Only the methods that implement :class:`Attackable` can be attacked (:mod:`harness.perturbations.attack_optimiser`):
the gradient, Input×Gradient, Integrated Gradients, SmoothGrad / VarGrad of one of these, Grad-CAM, and their
β-smoothed versions. :class:`DifferentiableMap` is the mixin they share.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch
import torch.nn as nn

from harness.attribution.surrogate import softplus


@runtime_checkable
class Attackable(Protocol):
    """A method whose map an attack can differentiate (double backpropagation)."""

    @property
    def attackable(self) -> bool:
        """Whether this configuration has a differentiable map (a wrapper is attackable if what it wraps is)."""

    def surrogate(self, network: nn.Module, beta: float) -> nn.Module:
        """The network an attack differentiates the map through (a softplus(β) copy of a ReLU network)."""

    def differentiable(self, network: nn.Module, z: torch.Tensor, target: torch.Tensor,
                       baseline: torch.Tensor | None = None, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """The attributions ``(B, C', H, W)`` as a differentiable function of ``z``."""

    def differentiable_parts(self, network: nn.Module, z: torch.Tensor, target: torch.Tensor,
                             baseline: torch.Tensor | None = None,
                             seeds: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        """Terms that sum to :meth:`differentiable` (IG's path points, SmoothGrad's draws)."""


def is_attackable(method: object) -> bool:
    """Whether ``method`` implements :class:`Attackable` and its configuration has a differentiable map."""
    return isinstance(method, Attackable) and bool(method.attackable)


class DifferentiableMap:
    """Mixin of the attackable methods: the softplus surrogate, and the whole map as one part."""

    attackable = True

    def surrogate(self, network: nn.Module, beta: float) -> nn.Module:
        """``network`` with its ReLUs replaced by softplus(β) (:func:`harness.attribution.surrogate.softplus`): a ReLU
        network's map has zero input gradient almost everywhere."""
        return softplus(network, beta)

    def differentiable(self, network: nn.Module, z: torch.Tensor, target: torch.Tensor,
                       baseline: torch.Tensor | None = None, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """The attributions ``(B, C', H, W)`` as a differentiable function of ``z`` (double backpropagation).
        ``network`` should be smooth (a softplus surrogate) for useful gradients."""
        raise NotImplementedError

    def differentiable_parts(self, network: nn.Module, z: torch.Tensor, target: torch.Tensor,
                             baseline: torch.Tensor | None = None,
                             seeds: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        """Terms that sum to :meth:`differentiable`, so that an attack backpropagates through one at a time and keeps
        its memory bounded; by default the whole map at once."""
        yield self.differentiable(network, z, target, baseline, seeds)
