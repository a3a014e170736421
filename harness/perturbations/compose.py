"""One condition applied under another: the inner family's perturbation of the outer condition's model and inputs.

``Under(outer, inner)`` is the setting "run ``inner`` on the network and the inputs of ``outer``": its network is
``inner``'s transform of ``outer``'s network, its inputs are ``inner``'s transform of ``outer``'s inputs (sample 0 of
``outer``, a deterministic or seeded condition), its IG baselines are carried through both, and its maps are
compared with ``outer``'s maps (:attr:`~harness.perturbations.base.Condition.compared_with`), not with the clean ones.
Its pairwise measures are therefore the inner family's measures as a run on the perturbed model and inputs would
compute them. The meta-evaluation (:mod:`harness.perturbations.meta`) uses it to perturb the model or the input
under every robustness measure (Hedström et al. 2023, https://arxiv.org/abs/2302.07265).

Its columns are the inner condition's (the family, magnitude, ... of the measure) plus the outer condition's own
columns (e.g. ``meta_test``, ``meta_type``, ``copy``), so that the report can group by both.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
import torch.nn as nn

from harness.common.errors import UserError
from harness.perturbations.base import Batch, Condition, Explainer
from harness.common.schema import STANDARD_COLUMNS


class Under(Condition):
    """``inner`` applied under ``outer`` (see the module docstring).

    Args:
        outer: A condition with one sample whose view the maps are compared with (it must also be one of the run's
            conditions; the loop computes its view first).
        inner: The condition applied to ``outer``'s network and inputs (any number of samples; not per method).
        score_maps: Whether the per-map measures are computed for its maps too (the meta-evaluation scores them on
            the outer conditions only).
    """

    def __init__(self, outer: Condition, inner: Condition, score_maps: bool = False) -> None:
        if outer.n_samples != 1:
            raise ValueError(f"{outer!r}: a condition applied under another needs an outer condition of one sample")
        if inner.per_method:
            raise UserError(f"{inner!r} makes its inputs per method (an attack); it cannot run under another "
                            "condition yet: leave it out of perturbation.families")
        own = {k: v for k, v in outer.columns.items() if k not in STANDARD_COLUMNS}
        clash = sorted(set(own) & set(inner.columns))
        if clash:
            raise ValueError(f"{inner!r} and {outer!r} both have the columns {clash}")
        super().__init__({**inner.columns, **own})
        self.outer, self.inner, self.compared_with = outer, inner, outer
        self.n_samples, self.axis, self.score_maps = inner.n_samples, inner.axis, bool(score_maps)
        # the inner network transform need not preserve the outer network's logits on the clean ones: no check
        self.tolerance, self.strict = None, False

    def outer_batch(self, batch: Batch) -> Batch:
        """``batch`` as the outer condition leaves it: its inputs (sample 0), the same images, ids and target."""
        z = self.outer.transform_inputs(batch, 0)
        return replace(batch, z=z, x=batch.encoding.decode(z))

    def transform_inputs(self, batch: Batch, sample: int, explainer: Explainer | None = None) -> torch.Tensor:
        return self.inner.transform_inputs(self.outer_batch(batch), sample)

    def transform_network(self, network: nn.Module) -> nn.Module:
        outer = self.outer.transform_network(network)
        out = self.inner.transform_network(outer)
        if outer is not network and out is self.inner.transform_network(network):
            raise UserError(f"{self.inner!r} replaces the network instead of transforming the one it is given (e.g. a "
                            "network retrained on other labels), so it cannot run under a copy of the model: leave "
                            "its family out of perturbation.families, or run the input test alone "
                            "(perturbation.tests=[input])")
        return out

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        return self.inner.carry_baseline(self.outer.carry_baseline(baseline, batch, 0), self.outer_batch(batch), sample)

    def explained_target(self, batch: Batch, logits_p: torch.Tensor, sample: int) -> torch.Tensor:
        return self.inner.explained_target(self.outer_batch(batch), logits_p, sample)

    def to_clean_frame(self, maps: torch.Tensor, batch: Batch, sample: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        # into the outer view's frame, the frame of the maps it is compared with; ``batch`` is that view's batch
        # (its inputs are already the outer condition's: the loop scores against the outer view)
        return self.inner.to_clean_frame(maps, batch, sample)

    def move_draws(self, batch: Batch, sample: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        return self.inner.move_draws(self.outer_batch(batch), sample)

    def info(self) -> dict[str, Any]:
        return self.inner.info()


class Tagged(Condition):
    """``inner`` unchanged, with more columns (``tags``): e.g. a family's conditions run alone as the unperturbed
    reference of a meta-evaluation, told apart from the same family's runs elsewhere in a pooled study.

    Every attribute and method of the :class:`Condition` interface but the columns (and the key made from them) is
    ``inner``'s, looked up when asked: an attribute added to the interface is passed on without a change here.
    """

    #: What the wrapper answers itself; everything else of the interface is the inner condition's.
    OWN = frozenset({"columns", "key", "inner"})

    def __init__(self, inner: Condition, tags: dict[str, Any]) -> None:
        clash = sorted(set(tags) & set(inner.columns))
        if clash:
            raise ValueError(f"{inner!r} already has the columns {clash}")
        super().__init__({**inner.columns, **tags})
        self.inner = inner

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and name not in Tagged.OWN and name in vars(Condition):
            return getattr(object.__getattribute__(self, "inner"), name)
        return object.__getattribute__(self, name)
