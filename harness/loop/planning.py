"""Plan the views of a batch: which inputs each network explains, with which baselines and seeds.

The first step of the loop (:mod:`harness.loop.evaluation`): for one sample index, the clean view (at sample 0) and every
condition's view(s), grouped by the network that explains them, so that the engine
(:func:`harness.attribution.engine.attribute_views`) computes each group as one stacked batch. The rules for IG
baselines under a condition (:class:`BaselineRules`) and the per-image seeds (:func:`view_seeds`) live here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from harness.attribution.engine import Baselines, View
from harness.attribution.methods import Method
from harness.common.errors import UserError
from harness.models.classifier import predict
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch, Condition, Explainer
from harness.common.schema import CLEAN
from harness.common.seeding import seed_for

#: How an IG baseline is treated under a condition: carried through its input transform (``b' = T(b)``, the same
#: draw), fixed (unchanged in model input space), or recomputed from the perturbed input (``b' = B(x')``).
TREATMENTS = ("carried", "fixed", "recomputed")


def check_treatments(treatments: Sequence[str]) -> None:
    """One clear error for an unknown (or no) baseline treatment."""
    bad = [t for t in treatments if t not in TREATMENTS]
    if bad or not treatments:
        raise UserError(f"attribution.baseline_treatments has {bad or 'nothing'}; valid choices: "
                        f"{', '.join(TREATMENTS)}")


def view_seeds(seed: int, batch: Batch, view: str, sample: int = 0) -> torch.Tensor:
    """``(B, 2)`` int64 seeds of a view's images: per image (column 0) and per image and view (column 1)."""
    rows = [(seed_for(seed, "image", i), seed_for(seed, "view", i, view, sample)) for i in batch.image_ids.tolist()]
    return torch.tensor(rows, dtype=torch.int64, device=batch.z.device)


@dataclass(frozen=True)
class BaselineRules:
    """The baselines of the methods that take one, clean and under a condition.

    Attributes:
        methods: Name → method.
        treatments: The treatments run (:data:`TREATMENTS`); a model-space baseline is only ever ``fixed``.
        encoding: The model's input encoding (pixel-space baselines are encoded like the input).
    """

    methods: Mapping[str, Method]
    treatments: Sequence[str]
    encoding: Encoding

    def __post_init__(self) -> None:
        check_treatments(self.treatments)

    def treatments_of(self, name: str) -> tuple[str, ...]:
        """The treatments method ``name`` is run with."""
        return ("fixed",) if self.methods[name].fixed_baseline else tuple(self.treatments)

    def baseline(self, method: Method, x: torch.Tensor) -> torch.Tensor:
        """``method``'s baseline for pixel-space images ``x``, in model input space."""
        b = method.baseline(x)
        return b if method.fixed_baseline else self.encoding.encode(b)

    def clean(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each baseline method's baseline for the clean images ``x`` ``(B, C, H, W)``."""
        return {n: self.baseline(m, x) for n, m in self.methods.items() if m.needs_baseline}

    def under(self, cond: Condition, batch: Batch, sample: int, z_p: torch.Tensor,
              clean: Mapping[str, torch.Tensor]) -> dict[str, Baselines]:
        """Per method of ``clean``, its baseline under each treatment for the perturbed inputs ``z_p``; treatments
        that give the same tensor share one map."""
        out = {}
        for name, b in clean.items():
            groups: list[tuple[list[str], torch.Tensor]] = []
            for t in self.treatments_of(name):
                if t == "carried":
                    bt = cond.carry_baseline(b, batch, sample)
                elif t == "fixed":
                    bt = b
                else:
                    bt = self.baseline(self.methods[name], self.encoding.decode(z_p))
                same = next((g for g in groups if torch.equal(g[1], bt)), None)
                if same is not None:
                    same[0].append(t)
                else:
                    groups.append(([t], bt))
            out[name] = [(tuple(ts), bt) for ts, bt in groups]
        return out


@dataclass
class SamplePlan:
    """The views of one sample index: per network (by identity) the network and its views, and the condition views
    in the order they were planned (view key → condition and view)."""

    stacks: dict[int, tuple[nn.Module, list[View]]] = field(default_factory=dict)
    owners: dict[str, tuple[Condition, View]] = field(default_factory=dict)

    def add(self, network: nn.Module, view: View, owner: Condition | None = None) -> None:
        self.stacks.setdefault(id(network), (network, []))[1].append(view)
        if owner is not None:
            self.owners[view.key] = (owner, view)


@dataclass(frozen=True)
class ViewPlanner:
    """Builds the views of a batch.

    Attributes:
        methods: Name → method.
        rules: The baseline rules.
        reduction: The maps' channel reduction (an attack works against the reduced map).
        seed: The run's seed.
    """

    methods: Mapping[str, Method]
    rules: BaselineRules
    reduction: str = "sum_abs"
    seed: int = 0

    def clean_view(self, batch: Batch, logits: torch.Tensor, base: Mapping[str, torch.Tensor]) -> View:
        """The clean inputs, every method with its clean baseline under all its treatments."""
        baselines = {n: [(self.rules.treatments_of(n), b)] for n, b in base.items()}
        return View(CLEAN, batch.z, batch.target, view_seeds(self.seed, batch, CLEAN), baselines, logits)

    def plan(self, sample: int, batch: Batch, logits: torch.Tensor, base: Mapping[str, torch.Tensor],
             conditions: Sequence[Condition], networks: Mapping[str, nn.Module], network: nn.Module) -> SamplePlan:
        """The views of sample index ``sample``: the clean view on ``network`` (at sample 0) and the views of every
        condition that has this sample, each on its own network (``networks`` by condition key)."""
        plan = SamplePlan()
        if sample == 0:
            plan.add(network, self.clean_view(batch, logits, base))
        for cond in conditions:
            if sample < cond.n_samples:
                for view in self.condition_views(cond, batch, sample, base, networks[cond.key], network):
                    plan.add(networks[cond.key], view, cond)
        return plan

    def condition_views(self, cond: Condition, batch: Batch, sample: int, base: Mapping[str, torch.Tensor],
                        net: nn.Module, original: nn.Module) -> list[View]:
        """Sample ``sample`` of ``cond`` as ``net`` sees it: one view, or one per method for a per-method condition
        (an attack, made against each method's map on the ``original`` network)."""
        seeds = view_seeds(self.seed, batch, cond.key, sample)
        if not cond.per_method:
            return [self._view(cond, batch, sample, base, net, cond.transform_inputs(batch, sample), seeds, None)]
        views = []
        for name, method in self.methods.items():
            explainer = Explainer(name, method, original, base.get(name), seeds, self.reduction)
            z_p = cond.transform_inputs(batch, sample, explainer)
            views.append(self._view(cond, batch, sample, base, net, z_p, seeds, name))
        return views

    def _view(self, cond: Condition, batch: Batch, sample: int, base: Mapping[str, torch.Tensor], net: nn.Module,
              z_p: torch.Tensor, seeds: torch.Tensor, only: str | None) -> View:
        """``z_p`` as ``net`` sees it, explained by every method (or by ``only``)."""
        logits_p = predict(net, z_p)
        target = cond.explained_target(batch, logits_p, sample)
        key = f"{cond.key}#{sample}" if only is None else f"{cond.key}#{sample}#{only}"
        mine = base if only is None else {k: v for k, v in base.items() if k == only}
        return View(key, z_p, target, seeds, self.rules.under(cond, batch, sample, z_p, mine), logits_p,
                    None if only is None else frozenset({only}), cond.move_draws(batch, sample))
