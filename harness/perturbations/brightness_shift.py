"""Constant brightness shift ``x' = x + δ`` (seed blog 004; Kindermans et al. 2017).

The shift is applied in pixel space without clipping (the network does not know
about the 0-255 range). For an encoding ``z = a ⊙ x + c`` it is the model-input
translation ``z' = z + a δ``.
"""
from __future__ import annotations

from collections.abc import Sequence

from harness.common.config_checks import check_magnitudes
from harness.models.encoding import Encoding
from harness.perturbations.affine import AffineMap
from harness.perturbations.invariance import AffinePerturbation


#: The family's name (the ``perturbation`` column).
FAMILY = "brightness_shift"

class BrightnessShift(AffinePerturbation):
    """Add a constant ``δ`` to every pixel, for each magnitude and regime.

    Args:
        magnitudes: The shifts δ (pixel units, e.g. ``0.25`` = +64/255).
        **kwargs: Regimes, exactness and tolerance (see :class:`~harness.perturbations.invariance.AffinePerturbation`).
    """

    name = FAMILY

    def __init__(self, magnitudes: Sequence[float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.magnitudes = check_magnitudes(magnitudes)

    def affine_maps(self, encoding: Encoding, image_shape=(3, 1, 1)) -> list[tuple[float, str, AffineMap]]:
        return [(d, "", AffineMap.translation(encoding.scale * d)) for d in self.magnitudes]
