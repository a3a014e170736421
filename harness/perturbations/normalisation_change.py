"""Feed the images with another input encoding than the one the model was trained with.

A model trained with ``E1: z₁ = a₁ x + c₁`` receives ``E2: z₂ = a₂ x + c₂``. In model
input space that is the affine map ``z₂ = (a₂/a₁) z₁ + (c₂ − a₂ c₁ / a₁)``;
compensated, the difference is folded into the first layer (weights ``W a₁/a₂``,
bias map), so the model still computes ``f(z₁)``. The gradient becomes ``g a₁/a₂``.
"""
from __future__ import annotations

from collections.abc import Sequence

from harness.common.config_checks import as_list
from harness.models.encoding import ENCODINGS, Encoding
from harness.perturbations.affine import AffineMap
from harness.perturbations.invariance import AffinePerturbation


def change_map(source: Encoding, target: Encoding) -> AffineMap:
    """The model-input map that turns ``source``-encoded inputs into ``target``-encoded ones."""
    scale = target.scale / source.scale
    shift = target.offset - scale * source.offset
    return AffineMap(scale.view(-1, 1, 1), shift.view(-1, 1, 1))


#: The family's name (the ``perturbation`` column).
FAMILY = "normalisation_change"

class NormalisationChange(AffinePerturbation):
    """One condition per target encoding other than the model's own.

    Args:
        targets: Encodings to switch to (default: every known encoding); the model's own is skipped.
        **kwargs: Regimes, exactness and tolerance (see :class:`~harness.perturbations.invariance.AffinePerturbation`).

    The recorded magnitude is the largest ``|c₂ − a₂ c₁ / a₁|`` (the offset the change introduces in
    model input space, 0 for a pure rescale); the label is ``E1→E2``.
    """

    name = FAMILY

    def __init__(self, targets: Sequence[str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.targets = list(as_list(targets, "perturbation.targets")) if targets is not None else list(ENCODINGS)

    def affine_maps(self, encoding: Encoding, image_shape=(3, 1, 1)) -> list[tuple[float, str, AffineMap]]:
        out = []
        for name in self.targets:
            if name == encoding.name:
                continue
            amap = change_map(encoding, Encoding.named(name, channels=len(encoding.scale)))
            out.append((round(float(amap.shift.abs().max()), 6), f"{encoding.name}→{name}", amap))
        return out
