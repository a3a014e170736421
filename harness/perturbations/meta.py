"""The meta-evaluation's perturbations (Hedström et al. 2023, https://arxiv.org/abs/2302.07265): four tests, each
``K`` seeded copies, as ordinary conditions.

- **model noise resilience / model adversarial reactivity** (the paper's model perturbation test): every parameter
  of the network multiplied by its own draw of ``N(1, σ²)`` (MetaQuantus and Quantus' ``sample``: weights and biases,
  not BatchNorm's running statistics), a small ``σ`` that keeps the predictions and a large one that changes them;
  one condition per copy (``copy`` column), each with its own network;
- **input noise resilience / input adversarial reactivity** (the input perturbation test): uniform noise in the L∞
  ball of radius ``r`` added to the pixels and clipped to ``[0, 1]``, a tiny and a large radius; one condition per
  copy (``copy`` column), each with its own seeded draw per image.

The maps are recomputed under every copy by the engine and every per-map measure is scored on the perturbed map
against the perturbed input and the perturbed network (``metrics.faithfulness_perturbed``), beside its clean score.

The pairwise (robustness) measures compare two maps, so they are meta-evaluated through the families that use
them (``families``, e.g. the noise of the sensitivity family): each family's conditions run as usual (their scores
are the unperturbed ones) and once more under every copy (:class:`~harness.perturbations.compose.Under`), on the
copy's network and inputs and compared with the copy's maps, which is the family's measure as a run on the
perturbed model or input computes it. The report (:mod:`harness.report.meta_evaluation`) reads the prediction-kept
flag of every copy and computes the criteria. Draws are seeded by the run's seed, the test and the copy (and the
image, for the input noise); a family under a copy draws the same noise as the family alone.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from harness.common.config_checks import as_list
from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch, Condition, Context, Perturbation, add_in_pixels
from harness.perturbations.compose import Tagged, Under
from harness.common.schema import COPY, META_TEST, META_TYPE, condition_columns
from harness.common.seeding import generators_for, seed_for

#: The two kinds of perturbation of each test: noise (minor, NR) and adversary (disruptive, AR); a family run alone
#: (the unperturbed scores of its measures) is tagged ``unperturbed``.
RESILIENCE, ADVERSARY, UNPERTURBED = "resilience", "adversary", "unperturbed"
FAMILY = "meta_evaluation"


def weight_noise(network: nn.Module, sigma: float, seed: int) -> nn.Module:
    """A copy of ``network`` with every parameter ``w`` replaced by ``w ⊙ ε``, ``ε ~ N(1, σ²)`` elementwise, drawn
    on the CPU from ``seed`` in parameter order (every device gets the same network); ``network`` is unchanged."""
    out = copy.deepcopy(network)
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for p in out.parameters():
            p.mul_((1.0 + sigma * torch.randn(p.shape, generator=g, dtype=torch.float64)).to(p))
    return out


def _columns(test: str, kind: str, magnitude: float, copy_index: int) -> dict[str, Any]:
    return condition_columns(FAMILY, float(magnitude), f"{test} {kind}", "",
                             own={META_TEST: test, META_TYPE: kind, COPY: int(copy_index)})


class WeightNoise(Condition):
    """One copy of the model perturbation test: the network's parameters times ``N(1, σ²)``, inputs unchanged.

    Args:
        kind: :data:`RESILIENCE` or :data:`ADVERSARY` (a column; what ``σ`` is meant to do).
        sigma: The standard deviation (``magnitude`` column).
        copy_index: Which copy (``copy`` column, and the seed with ``seed``).
        seed: The run's seed.
    """

    axis = "σ of the multiplicative weight noise"

    def __init__(self, kind: str, sigma: float, copy_index: int, seed: int) -> None:
        super().__init__(_columns("model", kind, sigma, copy_index))
        self.sigma, self.seed = float(sigma), seed_for(seed, FAMILY, "model", kind, int(copy_index))
        self._made: tuple[nn.Module, nn.Module] | None = None

    def transform_network(self, network: nn.Module) -> nn.Module:
        # one network per copy, also for the conditions run under it (their views are then stacked with its own)
        if self._made is None or self._made[0] is not network:
            self._made = (network, weight_noise(network, self.sigma, self.seed))
        return self._made[1]


class InputNoise(Condition):
    """One copy of the input perturbation test: one draw of uniform noise of L∞ radius ``radius`` per image (pixel
    space, clipped to ``[0, 1]``), seeded by the run's seed, the kind, the image and the copy; the network is
    unchanged."""

    axis = "L∞ radius of the uniform input noise, pixel units"

    def __init__(self, kind: str, radius: float, copy_index: int) -> None:
        super().__init__(_columns("input", kind, radius, copy_index))
        self.kind, self.radius, self.copy = kind, float(radius), int(copy_index)

    def noise(self, batch: Batch) -> torch.Tensor:
        """The pixel-space noise ``(B, C, H, W)`` of this copy, seeded per image."""
        gens = generators_for(seed_for(FAMILY, batch.seed, self.kind, int(i), self.copy) for i in batch.image_ids)
        u = torch.stack([torch.rand(batch.x.shape[1:], generator=g) * 2 - 1 for g in gens])
        return (self.radius * u).to(device=batch.x.device, dtype=batch.x.dtype)

    def transform_inputs(self, batch: Batch, sample: int, explainer=None) -> torch.Tensor:
        return add_in_pixels(batch.encoding, batch.z, self.noise(batch))

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        return add_in_pixels(batch.encoding, baseline, self.noise(batch))


class MetaEvaluation(Perturbation):
    """The four tests of the meta-evaluation, ``copies`` copies each (see the module docstring).

    Args:
        tests: ``model``, ``input`` or both.
        model_sigma_resilience, model_sigma_adversary: ``σ`` of the multiplicative weight noise.
        input_radius_resilience, input_radius_adversary: L∞ radius of the uniform input noise (pixel units).
        copies: ``K``, the perturbed copies of each test.
        seed: Seed of the weight noise (the input noise uses the run's seed, per image).
        families: Families whose pairwise measures are meta-evaluated: their conditions run alone and under every
            copy (:class:`~harness.perturbations.compose.Under`); none by default.
    """

    name = FAMILY

    def __init__(self, tests: Any = ("model", "input"), model_sigma_resilience: float = 0.001,
                 model_sigma_adversary: float = 2.0, input_radius_resilience: float = 0.001,
                 input_radius_adversary: float = 0.5, copies: int = 3, seed: int = 0,
                 families: Sequence[Perturbation] = ()) -> None:
        self.tests = [str(t) for t in ([tests] if isinstance(tests, str) else tests)]
        bad = [t for t in self.tests if t not in ("model", "input")]
        if bad or not self.tests:
            raise UserError(f"perturbation.tests has {bad or 'nothing'}; valid choices: model, input")
        sizes = (model_sigma_resilience, model_sigma_adversary, input_radius_resilience, input_radius_adversary)
        if any(float(s) <= 0 for s in sizes) or int(copies) < 1:
            raise UserError(f"the meta-evaluation needs positive σ and radii and copies >= 1; got {sizes}, {copies}")
        self.sigma = {RESILIENCE: float(model_sigma_resilience), ADVERSARY: float(model_sigma_adversary)}
        self.radius = {RESILIENCE: float(input_radius_resilience), ADVERSARY: float(input_radius_adversary)}
        self.copies, self.seed = int(copies), int(seed)
        self.families = list(as_list(families, "perturbation.families")) if families else []
        bad = [f for f in self.families if not isinstance(f, Perturbation) or isinstance(f, MetaEvaluation)]
        if bad:
            raise UserError(f"perturbation.families must be perturbation families (configs with a _target_), not "
                            f"{bad}")

    def bind(self, context: Context) -> None:
        for family in self.families:
            family.bind(context)

    def copies_of(self) -> list[Condition]:
        """The ``K`` copies of every test and kind: the conditions of the per-map measures."""
        out: list[Condition] = []
        for kind in (RESILIENCE, ADVERSARY):
            if "model" in self.tests:
                out += [WeightNoise(kind, self.sigma[kind], k, self.seed) for k in range(self.copies)]
            if "input" in self.tests:
                out += [InputNoise(kind, self.radius[kind], k) for k in range(self.copies)]
        return out

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        copies = self.copies_of()
        inner = [c for family in self.families for c in family.conditions(encoding, image_shape)]
        alone = [Tagged(c, {META_TYPE: UNPERTURBED}) for c in inner]
        return [*copies, *alone, *(Under(outer, c) for outer in copies for c in inner)]
