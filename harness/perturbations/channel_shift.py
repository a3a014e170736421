"""A different constant per channel, ``x'_c = x_c + δ_c``: a colour cast."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from harness.common.config_checks import as_list
from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.affine import AffineMap
from harness.perturbations.invariance import AffinePerturbation


#: The family's name (the ``perturbation`` column).
FAMILY = "channel_shift"

class ChannelShift(AffinePerturbation):
    """Shift each channel by its own constant (pixel units, no clipping).

    Args:
        shifts: One list of per-channel shifts per setting, e.g. ``[[0.2, 0, -0.2], [0, 0.3, 0]]``.
            The recorded magnitude is the largest ``|δ_c|``; the label lists all of them.
        **kwargs: Regimes, exactness and tolerance (see :class:`~harness.perturbations.invariance.AffinePerturbation`).
    """

    name = FAMILY

    def __init__(self, shifts: Sequence[Sequence[float]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.shifts = [[float(v) for v in s] for s in as_list(shifts, "perturbation.shifts")]

    def affine_maps(self, encoding: Encoding, image_shape=(3, 1, 1)) -> list[tuple[float, str, AffineMap]]:
        out = []
        for s in self.shifts:
            if len(s) != len(encoding.scale):
                raise UserError(f"perturbation.shifts entry {s} has {len(s)} values; images have "
                                f"{len(encoding.scale)} channels")
            delta = torch.tensor(s)
            label = "(" + ",".join(f"{v:+g}" for v in s) + ")"
            out.append((float(delta.abs().max()), label, AffineMap.translation(encoding.scale * delta)))
        return out
