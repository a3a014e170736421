"""A perturbation condition: one magnitude in one regime."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.errors import UserError
from harness.perturbations.affine import AffineMap


@dataclass(frozen=True)
class Condition:
    """One perturbed setting of an experiment.

    Attributes:
        perturbation: Name of the perturbation family, e.g. ``brightness_shift``.
        magnitude: Its size (for a brightness shift, δ in pixel units).
        compensated: True: the network is rewritten so that ``f'(z') = f(z)``; False: the same
            network sees ``z'``.
        amap: The perturbation in model input space, ``z' = A ⊙ z + m``.
    """

    perturbation: str
    magnitude: float
    compensated: bool
    amap: AffineMap

    @property
    def key(self) -> str:
        """Short identifier, e.g. ``brightness_shift+0.5_compensated``."""
        regime = "compensated" if self.compensated else "uncompensated"
        return f"{self.perturbation}{self.magnitude:+g}_{regime}"


def as_list(value: bool | float | Iterable, name: str) -> list:
    """A scalar or list config value as a non-empty list (one clear error if empty)."""
    values = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else [value]
    if not values:
        raise UserError(f"{name} is empty; give at least one value, e.g. {name}=[0.25]")
    return values


def check_magnitudes(magnitudes: Sequence) -> list[float]:
    """Magnitudes as floats, with one clear error for an empty or non-numeric list."""
    values = as_list(magnitudes, "perturbation.magnitudes")
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise UserError(f"perturbation.magnitudes must be numbers, got {values}") from None
