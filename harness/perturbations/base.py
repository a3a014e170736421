"""A perturbation condition: one magnitude in one regime."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.errors import UserError
from harness.models.encoding import Encoding
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
        label: What the magnitude does not say (e.g. ``unit→imagenet``, or the per-channel shifts);
            empty when the magnitude says it all.
    """

    perturbation: str
    magnitude: float
    compensated: bool
    amap: AffineMap
    label: str = ""

    @property
    def key(self) -> str:
        """Unique identifier, e.g. ``brightness_shift+0.5_compensated``."""
        regime = "compensated" if self.compensated else "uncompensated"
        label = f"[{self.label}]" if self.label else ""
        return f"{self.perturbation}{label}{self.magnitude:+g}_{regime}"


class Perturbation:
    """Base of the perturbation families: magnitudes × regimes → :class:`Condition` list.

    Args:
        compensated: Regimes to run: False (the same model sees the perturbed input), True (a
            rewritten model computes the original function), or both.
        exact: Exact compensation at zero-padded borders (False: the naive scalar-bias fold).
        tolerance: A compensated model whose logits differ by more than ``tolerance × max|logit|``
            fails the run.
    """

    name = "perturbation"

    def __init__(self, compensated: bool | Sequence[bool] = (False, True), exact: bool = True,
                 tolerance: float = 1e-4) -> None:
        self.regimes = [bool(v) for v in as_list(compensated, "perturbation.compensated")]
        self.exact = exact
        self.tolerance = tolerance

    def maps(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[tuple[float, str, AffineMap]]:
        """``(magnitude, label, map in model input space)`` for every setting of this perturbation."""
        raise NotImplementedError

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int] = (3, 1, 1)) -> list[Condition]:
        """Every (setting, regime) condition for a model with ``encoding`` and inputs ``(C, H, W)``."""
        return [Condition(self.name, mag, comp, amap, label)
                for mag, label, amap in self.maps(encoding, image_shape) for comp in self.regimes]


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
