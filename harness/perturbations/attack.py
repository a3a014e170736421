"""The worst case: explanation attacks (Ghorbani et al. 2019; Dombrowski et al. 2019), and their random control.

Ghorbani, Abid & Zou, "Interpretation of Neural Networks is Fragile" (AAAI 2019, https://arxiv.org/abs/1710.10547)
and Dombrowski et al., "Explanations can be manipulated and geometry is to blame" (NeurIPS 2019,
https://arxiv.org/abs/1906.07983): a small, label-preserving change of the input can move a saliency map almost
anywhere. An attack here is a condition whose perturbed input is *optimised*, per image and per method, against
that method's own map, by :class:`~harness.perturbations.attack_optimiser.ExplanationAttack` (projected steps through a
softplus surrogate of the network and the method's own differentiable map; a step that flips the class is rejected;
the best label-preserving iterate by the real map's objective is kept, so every attacked input is within ε and
classified as before).

Objectives (lower is a more successful attack), with ``m`` the map (reduced over channels) and ``m₀`` the clean map:

- ``topk``: the share of ``|m|`` on the top-k pixels of ``m₀`` (Ghorbani's top-k attack);
- ``mass_centre``: minus the distance between the centres of mass of ``|m|`` and ``|m₀|`` (Ghorbani);
- ``targeted``: ``mean((m̂ − t̂)²) + γ mean((p − p₀)²)``, maps normalised to sum 1, ``p`` the softmax output
  (Dombrowski's loss); the target ``t`` is the image's own clean map rotated by 180° (an arbitrary, different
  map that depends on the image alone, not on the batch it is in; Dombrowski et al. use another image's map).

This module describes the attacks as conditions. The reported maps and scores are always those of the real network
on the attacked input. The control at every ε is random-sign noise of the same L∞ norm (Ghorbani's baseline): ``x' = clip(x + ε·sign(u))``,
seeded per image.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import torch

from harness.attribution.attackable import is_attackable
from harness.common.config_checks import check_choices, check_magnitudes
from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch, Condition, Explainer, Perturbation, add_in_pixels
from harness.perturbations.attack_optimiser import ExplanationAttack
from harness.common.schema import NORM, OBJECTIVE, REGIME, condition_columns
from harness.common.seeding import generators_for, seed_for

log = logging.getLogger(__name__)

#: The family's name (the ``perturbation`` column).
FAMILY = "attack"
OBJECTIVES = {"topk": "top-k attack", "mass_centre": "mass-centre attack", "targeted": "targeted attack"}
NORMS = ("linf", "l2")


def _norm_label(norm: str) -> str:
    return "L∞" if norm == "linf" else "L2"


class AttackCondition(Condition):
    """One objective at one radius, optimised per image against each method's own map (see the module docstring).

    Args:
        objective: ``topk``, ``mass_centre`` or ``targeted``.
        epsilon: Radius of the ball, in 1/255 pixel units (the ``magnitude`` column).
        norm: ``linf`` or ``l2``.
        steps: Gradient steps.
        step_size: Step length as a fraction of ε.
        beta: Softplus β of the surrogate network.
        beta_max: If set, β grows geometrically from ``beta`` to ``beta_max`` over the steps (Dombrowski et al.'s
            schedule, 10 → 100): a surrogate ever closer to the ReLU network.
        topk_fraction: k of the top-k objective, as a fraction of the pixels.
        gamma: Weight of the output term of the targeted objective.
        check_every: Steps between checks of the iterate with the real network.
    """

    per_method = True
    axis = "radius ε (1/255 pixel units)"

    def __init__(self, objective: str, epsilon: float, norm: str = "linf", steps: int = 40, step_size: float = 0.125,
                 beta: float = 10.0, topk_fraction: float = 0.1, gamma: float = 1e-3, check_every: int = 5,
                 beta_max: float | None = None) -> None:
        regime = f"{OBJECTIVES[objective]} ({_norm_label(norm)})"
        super().__init__(condition_columns(FAMILY, float(epsilon), regime, own={OBJECTIVE: objective, NORM: norm}))
        self.optimiser = ExplanationAttack(objective, float(epsilon) / 255.0, norm, int(steps), float(step_size),
                                           float(beta), None if beta_max is None else float(beta_max),
                                           float(topk_fraction), float(gamma), max(1, int(check_every)))

    def transform_inputs(self, batch: Batch, sample: int, explainer: Explainer | None = None) -> torch.Tensor:
        if explainer is None or explainer.method.control:
            return batch.z  # nothing to attack: a control's map does not depend on the input
        if not is_attackable(explainer.method):
            raise UserError(f"{type(explainer.method).__name__} ({explainer.name}) has no differentiable map, so it "
                            "cannot be attacked; attack saliency, ixg, IG, SmoothGrad or Grad-CAM")
        start = time.perf_counter()
        with torch.enable_grad():
            attacked = self.optimiser.run(batch, explainer)
        moved = int((attacked != batch.x).flatten(1).any(1).sum())
        log.info("%s, ε = %g/255, %s, images %d-%d: %d of %d moved (%.0f s)", self.columns[REGIME],
                 self.optimiser.eps * 255,
                 explainer.name, int(batch.image_ids[0]), int(batch.image_ids[-1]), moved, len(attacked),
                 time.perf_counter() - start)
        return batch.encoding.encode(attacked)

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        """An attack's perturbation is optimised for the input alone: a carried baseline is the baseline itself."""
        return baseline

class RandomSign(Condition):
    """The attack's control: ``x' = clip(x + ε·sign(u))`` (L∞) or a random direction of L2 norm ε, seeded per image
    and sample (Ghorbani et al.'s random-sign perturbation)."""

    def __init__(self, epsilon: float, norm: str = "linf", n_samples: int = 1) -> None:
        super().__init__(condition_columns(FAMILY, float(epsilon), f"random-sign noise ({_norm_label(norm)})",
                                           own={OBJECTIVE: "", NORM: norm}))
        self.eps, self.norm, self.n_samples = float(epsilon) / 255.0, norm, int(n_samples)

    axis = "radius ε (1/255 pixel units)"

    def _delta(self, batch: Batch, sample: int) -> torch.Tensor:
        gens = generators_for(seed_for("random_sign", batch.seed, int(i), sample) for i in batch.image_ids)
        u = torch.stack([torch.randn(batch.x.shape[1:], generator=g) for g in gens]).to(batch.x)
        if self.norm == "linf":
            return self.eps * u.sign()
        return self.eps * u / u.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)

    def transform_inputs(self, batch: Batch, sample: int, explainer: Explainer | None = None) -> torch.Tensor:
        return batch.encoding.encode((batch.x + self._delta(batch, sample)).clamp(0.0, 1.0))

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        """The baseline with the same random-sign perturbation (clipped like the image)."""
        return add_in_pixels(batch.encoding, baseline, self._delta(batch, sample))


class Attack(Perturbation):
    """Explanation attacks at several radii, each with its random-sign control.

    Args:
        objectives: ``topk``, ``mass_centre``, ``targeted`` (one or several).
        epsilons: Radii in 1/255 pixel units, e.g. ``[2, 4, 8]``.
        norm: ``linf`` or ``l2``.
        control: Also run the random-sign control at every radius.
        **kwargs: Settings of :class:`AttackCondition` (steps, step_size, beta, topk_fraction, gamma, check_every).
    """

    name = FAMILY

    def __init__(self, objectives: Any = ("topk",), epsilons: Any = (2, 4, 8), norm: str = "linf",
                 control: bool = True, **kwargs: Any) -> None:
        self.objectives = check_choices(objectives, "perturbation.objectives", tuple(OBJECTIVES))
        self.epsilons = check_magnitudes(epsilons, "perturbation.epsilons")
        if norm not in NORMS or any(e <= 0 for e in self.epsilons):
            raise UserError(f"perturbation.norm must be one of {', '.join(NORMS)} and the epsilons positive")
        if kwargs.get("steps", 1) < 1 or not 0 < kwargs.get("step_size", 0.1) <= 1:
            raise UserError("perturbation.steps must be >= 1 and perturbation.step_size in (0, 1]")
        self.norm, self.control, self.kwargs = norm, bool(control), kwargs

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        out: list[Condition] = [RandomSign(e, self.norm) for e in self.epsilons] if self.control else []
        out += [AttackCondition(o, e, self.norm, **self.kwargs) for o in self.objectives for e in self.epsilons]
        return out
