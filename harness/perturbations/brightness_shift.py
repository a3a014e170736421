"""Constant brightness shift ``x' = x + δ`` (seed blog 004; Kindermans et al. 2017).

The shift is applied in pixel space without clipping (the network does not know
about the 0-255 range). For an encoding ``z = a ⊙ x + c`` it is the model-input
translation ``z' = z + a δ``.
"""
from __future__ import annotations

from collections.abc import Sequence

from harness.models.encoding import Encoding
from harness.perturbations.affine import AffineMap
from harness.perturbations.base import Condition, as_list, check_magnitudes


class BrightnessShift:
    """Add a constant ``δ`` to every pixel, for each magnitude and regime.

    Args:
        magnitudes: The shifts δ (pixel units, e.g. ``0.25`` = +64/255).
        compensated: Regimes to run: False (the same model sees the shifted input),
            True (a rewritten model computes the original function), or both.
        exact: Exact compensation at zero-padded borders (False: the naive scalar-bias fold).
        tolerance: A compensated model whose logits differ by more than
            ``tolerance × max|logit|`` fails the run.
    """

    name = "brightness_shift"

    def __init__(
        self, magnitudes: Sequence[float], compensated: bool | Sequence[bool] = (False, True),
        exact: bool = True, tolerance: float = 1e-4,
    ) -> None:
        self.magnitudes = check_magnitudes(magnitudes)
        self.regimes = [bool(v) for v in as_list(compensated, "perturbation.compensated")]
        self.exact = exact
        self.tolerance = tolerance

    def conditions(self, encoding: Encoding) -> list[Condition]:
        """Every (magnitude, regime) condition, in model input space of ``encoding``."""
        return [
            Condition(self.name, delta, comp, AffineMap.translation(encoding.scale * delta))
            for delta in self.magnitudes
            for comp in self.regimes
        ]
