"""A non-uniform constant shift: a checkerboard of ``±δ`` added to every image."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from harness.common.config_checks import check_magnitudes
from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.affine import AffineMap
from harness.perturbations.invariance import AffinePerturbation


def checkerboard(height: int, width: int, cell: int) -> torch.Tensor:
    """``(H, W)`` pattern of ``+1`` / ``−1`` squares of ``cell`` pixels."""
    if cell < 1:
        raise UserError(f"perturbation.cell must be >= 1 pixel, got {cell}")
    rows = (torch.arange(height) // cell)[:, None]
    cols = (torch.arange(width) // cell)[None, :]
    return 1.0 - 2.0 * ((rows + cols) % 2).float()


#: The family's name (the ``perturbation`` column).
FAMILY = "pattern_shift"

class PatternShift(AffinePerturbation):
    """Add ``δ × checkerboard`` (same pattern in every channel, pixel units, no clipping).

    Unlike a uniform shift, no scalar baseline (e.g. "black = the darkest value") follows this
    perturbation; only a baseline carried through it does.

    Args:
        magnitudes: The amplitudes δ.
        cell: Side of one checkerboard square in pixels.
        **kwargs: Regimes, exactness and tolerance (see :class:`~harness.perturbations.invariance.AffinePerturbation`).
    """

    name = FAMILY

    def __init__(self, magnitudes: Sequence[float], cell: int = 8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.magnitudes = check_magnitudes(magnitudes)
        self.cell = int(cell)

    def affine_maps(self, encoding: Encoding, image_shape=(3, 1, 1)) -> list[tuple[float, str, AffineMap]]:
        c, h, w = image_shape
        board = checkerboard(h, w, self.cell)
        return [(d, "", AffineMap.translation(encoding.scale.view(-1, 1, 1) * d * board.expand(c, h, w)))
                for d in self.magnitudes]
