"""Config values read one way: a scalar or a list as a non-empty list, numbers, choices (one clear error each).

Constructors that Hydra instantiates from ``harness/configs`` (perturbation families, the scorer) and the run's own
settings check their values here, so that a mistake on the command line is one :class:`~harness.common.errors.UserError`
line naming the setting and its fix.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from harness.common.errors import UserError


def as_list(value: Any, name: str, example: str = "") -> list:
    """A scalar or list config value as a non-empty list (a single string is one item; one clear error if empty,
    with ``example`` as the fix)."""
    values = list(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else [value]
    if not values:
        raise UserError(f"{name} is empty; give at least one value, e.g. {name}={example or '[...]'}")
    return values


def check_magnitudes(magnitudes: Any, name: str = "perturbation.magnitudes") -> list[float]:
    """Magnitudes as floats, with one clear error for an empty or non-numeric list."""
    values = as_list(magnitudes, name, "[0.25]")
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise UserError(f"{name} must be numbers, got {values}") from None


def check_choices(values: Any, name: str, choices: Sequence[Any]) -> list:
    """``values`` as a non-empty list of items from ``choices`` (one clear error otherwise)."""
    items = as_list(values, name)
    bad = [v for v in items if v not in choices]
    if bad:
        raise UserError(f"{name} has {bad}; valid choices: {', '.join(map(str, choices))}")
    return items
