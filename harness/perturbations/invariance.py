"""Input invariance (Kindermans et al. 2017): affine input changes, uncompensated and compensated.

The affine families (brightness, channel and pattern shifts, normalisation changes) differ only in the maps
``z' = A ⊙ z + m`` they build; each map is run with the same network (uncompensated) and with a network rewritten
so that it computes exactly the original function (compensated: exact, or the naive fold for comparison).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from harness.common.config_checks import check_choices
from harness.models.encoding import Encoding
from harness.perturbations.affine import AffineMap
from harness.perturbations.base import Batch, Condition, Perturbation
from harness.perturbations.compensate import compensate
from harness.common.schema import COMPENSATED, EXACT, condition_columns


#: The affine families' regimes (the ``regime`` column): the network sees the shifted input as it is, or is
#: rewritten to undo it exactly, or by the naive bias fold (inexact at zero-padded borders).
UNCOMPENSATED, EXACT_FOLD, NAIVE_FOLD = "uncompensated", "compensated", "compensated, naive fold"


class AffineCondition(Condition):
    """``z' = A ⊙ z + m`` seen by the same network (uncompensated), or by a network rewritten so that
    ``f'(z') = f(z)`` (compensated: exactly, or with the naive scalar-bias fold for comparison).

    Args:
        family: The perturbation's name (``perturbation`` column).
        magnitude: Its size (``magnitude`` column).
        label: What the magnitude does not say (``condition`` column), e.g. ``unit→imagenet``.
        amap: The map in model input space.
        input_chw: Shape of one model input (the compensated first layer is built for it).
        compensated: Rewrite the network (True) or not.
        exact: Exact compensation (a position-dependent bias, exact at zero-padded borders) or the naive fold
            ``b' = b − W m`` (inexact there; Quantus issue #303). Ignored when not compensated.
        tolerance: A compensated network must reproduce the logits within ``tolerance × max|logit|``; with the
            naive fold a larger difference is a warning (its error is what it is run for), otherwise an error.
    """

    def __init__(self, family: str, magnitude: float, label: str, amap: AffineMap, input_chw: tuple[int, int, int],
                 compensated: bool, exact: bool = True, tolerance: float = 1e-4) -> None:
        regime = UNCOMPENSATED if not compensated else EXACT_FOLD if exact else NAIVE_FOLD
        super().__init__(condition_columns(family, magnitude, regime, label, own={
            COMPENSATED: compensated, EXACT: bool(exact) if compensated else None}))
        self.amap, self.input_chw, self.compensated, self.exact = amap, tuple(input_chw), compensated, exact
        self.tolerance = tolerance if compensated else None
        self.strict = bool(exact)

    axis = "δ (pixel units)"

    def transform_inputs(self, batch: Batch, sample: int, explainer=None) -> torch.Tensor:
        return self.amap(batch.z)

    def transform_network(self, network: nn.Module) -> nn.Module:
        return compensate(network, self.amap, self.input_chw, exact=self.exact) if self.compensated else network

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        return self.amap(baseline)


class AffinePerturbation(Perturbation):
    """Base of the affine families: settings × regimes (× exact / naive compensation) → conditions.

    Args:
        compensated: Regimes to run: False (the same network sees the perturbed input), True (a rewritten
            network computes the original function), or both.
        exact: Compensation by the exact fold (True), the naive scalar-bias fold (False), or both.
        tolerance: Allowed logit change of a compensated network, relative to max |logit|.
    """

    def __init__(self, compensated: Any = (False, True), exact: Any = True, tolerance: float = 1e-4) -> None:
        self.regimes = [bool(v) for v in check_choices(compensated, "perturbation.compensated", (False, True))]
        self.exact = [bool(v) for v in check_choices(exact, "perturbation.exact", (False, True))]
        self.tolerance = float(tolerance)

    def affine_maps(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[tuple[float, str, AffineMap]]:
        """``(magnitude, label, map in model input space)`` for every setting of this family."""
        raise NotImplementedError

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        out = []
        for magnitude, label, amap in self.affine_maps(encoding, image_shape):
            for comp in self.regimes:
                for exact in (self.exact if comp else [True]):
                    out.append(AffineCondition(self.name, magnitude, label, amap, image_shape, comp, exact,
                                               self.tolerance))
        return out
