"""The worst case: explanation attacks (Ghorbani et al. 2019; Dombrowski et al. 2019), and their random control.

Ghorbani, Abid & Zou, "Interpretation of Neural Networks is Fragile" (AAAI 2019, https://arxiv.org/abs/1710.10547)
and Dombrowski et al., "Explanations can be manipulated and geometry is to blame" (NeurIPS 2019,
https://arxiv.org/abs/1906.07983): a small, label-preserving change of the input can move a saliency map almost
anywhere. An attack here is a condition whose perturbed input is *optimised*, per image and per method, against
that method's own map:

- projected signed-gradient steps in pixel space (L∞; or normalised steps for L2) within a ball of radius ε around
  the image, clipped to ``[0, 1]``;
- the gradient is taken through a *surrogate*: the network with ReLU replaced by softplus(β) (a ReLU network's
  map has zero input gradient almost everywhere), and through the method's own differentiable map (double
  backpropagation; IG through its path points; SmoothGrad through its seeded draws);
- a step after which the real network predicts another class is rejected and the image's step length halved;
  every ``check_every`` steps (and at the end) the iterate is scored with the *real* network and map, and the best
  one is returned, so every attacked input is within ε and classified as before; if none improves on the clean
  image (by the real map's objective), the clean image is.

Objectives (lower is a more successful attack), with ``m`` the map (reduced over channels) and ``m₀`` the clean map:

- ``topk``: the share of ``|m|`` on the top-k pixels of ``m₀`` (Ghorbani's top-k attack);
- ``mass_centre``: minus the distance between the centres of mass of ``|m|`` and ``|m₀|`` (Ghorbani);
- ``targeted``: ``mean((m̂ − t̂)²) + γ mean((p − p₀)²)``, maps normalised to sum 1, ``p`` the softmax output
  (Dombrowski's loss); the target ``t`` is the image's own clean map rotated by 180° (an arbitrary, different
  map that depends on the image alone, not on the batch it is in; Dombrowski et al. use another image's map).

The reported maps and scores are always those of the real network on the attacked input. The control at every ε
is random-sign noise of the same L∞ norm (Ghorbani's baseline): ``x' = clip(x + ε·sign(u))``, seeded per image.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

import torch

from harness.attribution.reduce import reduce_channels
from harness.config_checks import check_choices, check_magnitudes
from harness.errors import UserError
from harness.metrics.precision import is_constant
from harness.metrics.sensitivity import centre_of_mass
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch, Condition, Explainer, Perturbation, add_in_pixels
from harness.schema import NORM, OBJECTIVE, REGIME, condition_columns
from harness.seeding import generators_for, seed_for

log = logging.getLogger(__name__)

OBJECTIVES = {"topk": "top-k attack", "mass_centre": "mass-centre attack", "targeted": "targeted attack"}
NORMS = ("linf", "l2")


def _norm_label(norm: str) -> str:
    return "L∞" if norm == "linf" else "L2"


def objective(name: str, m: torch.Tensor, clean: torch.Tensor, fraction: float, target_map: torch.Tensor | None,
              probs: torch.Tensor | None = None, probs0: torch.Tensor | None = None, gamma: float = 0.0):
    """Per image ``(B,)``, the attack's loss for maps ``m`` against clean maps ``clean`` ``(B, H, W)``."""
    mass = m.abs().flatten(1)
    if name == "topk":
        k = max(1, math.ceil(fraction * mass.shape[1]))
        top = torch.zeros_like(mass, dtype=torch.bool).scatter_(1, clean.abs().flatten(1).topk(k, 1).indices, True)
        return (mass * top).sum(1) / mass.sum(1).clamp_min(1e-30)
    if name == "mass_centre":
        return -(_centre(m) - centre_of_mass(clean).to(m.dtype)).norm(dim=1)
    share = mass / mass.sum(1, keepdim=True).clamp_min(1e-30)
    goal = target_map.abs().flatten(1)
    loss = ((share - goal / goal.sum(1, keepdim=True).clamp_min(1e-30)) ** 2).mean(1)
    if probs is not None:
        loss = loss + gamma * ((probs - probs0) ** 2).mean(1)
    return loss


def _centre(m: torch.Tensor) -> torch.Tensor:
    """Differentiable centre of mass ``(B, 2)`` of ``|m|`` (rows, columns), pixels."""
    w = m.abs()
    total = w.flatten(1).sum(1).clamp_min(1e-30)
    rows = torch.arange(m.shape[1], device=m.device, dtype=m.dtype)
    cols = torch.arange(m.shape[2], device=m.device, dtype=m.dtype)
    return torch.stack([(w.sum(2) * rows).sum(1) / total, (w.sum(1) * cols).sum(1) / total], 1)


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
        super().__init__(condition_columns("attack", float(epsilon), regime, own={OBJECTIVE: objective, NORM: norm}))
        self.objective, self.eps, self.norm = objective, float(epsilon) / 255.0, norm
        self.steps, self.step_size, self.beta = int(steps), float(step_size), float(beta)
        self.fraction, self.gamma, self.check_every = float(topk_fraction), float(gamma), max(1, int(check_every))
        self.beta_max = None if beta_max is None else float(beta_max)

    def _beta(self, step: int) -> float:
        """The surrogate's β at ``step`` (1-based): constant, or geometric from β to ``beta_max``."""
        if self.beta_max is None or self.steps == 1:
            return self.beta
        return self.beta * (self.beta_max / self.beta) ** ((step - 1) / (self.steps - 1))

    def transform_inputs(self, batch: Batch, sample: int, explainer: Explainer | None = None) -> torch.Tensor:
        if explainer is None or explainer.method.control:
            return batch.z  # nothing to attack: a control's map does not depend on the input
        start = time.perf_counter()
        with torch.enable_grad():
            attacked = self._attack(batch, explainer)
        moved = int((attacked != batch.x).flatten(1).any(1).sum())
        log.info("%s, ε = %g/255, %s, images %d-%d: %d of %d moved (%.0f s)", self.columns[REGIME], self.eps * 255,
                 explainer.name, int(batch.image_ids[0]), int(batch.image_ids[-1]), moved, len(attacked),
                 time.perf_counter() - start)
        return batch.encoding.encode(attacked)

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        """An attack's perturbation is optimised for the input alone: a carried baseline is the baseline itself."""
        return baseline

    def _real(self, batch: Batch, e: Explainer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The real network's map ``(B, H, W)`` and logits on pixel-space ``x``."""
        z = batch.encoding.encode(x)
        maps = e.method.attribute(e.network, z, batch.target, e.baseline, seeds=e.seeds).detach()
        with torch.no_grad():
            return reduce_channels(maps, e.reduction), e.network(z)

    def _attack(self, batch: Batch, e: Explainer) -> torch.Tensor:
        x0, target = batch.x.detach(), batch.target
        clean, logits0 = self._real(batch, e, x0)
        # a map that is constant up to its precision has no pattern to move: its image is not attacked (its scores
        # are NaN with the reason "constant clean map"), and nothing is computed when no image has one
        movable = ~is_constant(clean)
        if not bool(movable.any()):
            return x0
        goal = clean.flip(-1).flip(-2)
        with torch.no_grad():
            probs0 = e.method.surrogate(e.network, self.beta)(batch.z).softmax(1)
        best, best_loss = x0.clone(), objective(self.objective, clean, clean, self.fraction, goal).detach()
        x, alpha = x0.clone(), torch.full((len(x0), 1, 1, 1), self.step_size * self.eps, device=x0.device)
        for step in range(1, self.steps + 1):
            surrogate = e.method.surrogate(e.network, self._beta(step))
            grad = self._gradient(batch, e, surrogate, x.detach(), clean, goal, probs0)
            proposal = self._step(x.detach(), grad, x0, alpha)
            with torch.no_grad():
                flipped = e.network(batch.encoding.encode(proposal)).argmax(1) != target
            x = torch.where(flipped.view(-1, 1, 1, 1), x.detach(), proposal)  # a step that flips the class: rejected,
            alpha = torch.where(flipped.view(-1, 1, 1, 1), alpha / 2, alpha)  # and the next one is shorter
            if step % self.check_every == 0 or step == self.steps:
                real, logits = self._real(batch, e, x)
                real_loss = objective(self.objective, real, clean, self.fraction, goal)
                better = (logits.argmax(1) == target) & (real_loss < best_loss) & movable
                best[better], best_loss = x[better], torch.where(better, real_loss, best_loss)
        return best.detach()

    def _gradient(self, batch: Batch, e: Explainer, surrogate, x: torch.Tensor, clean, goal, probs0) -> torch.Tensor:
        """``∂loss/∂x`` through the surrogate map, one term of the map at a time (IG's path points, SmoothGrad's
        draws): the loss is linearised in the attributions ``A`` (``v = ∂loss/∂A``, from ``A`` computed without a
        graph), and ``Σ_terms ∂⟨v, term⟩/∂x`` is accumulated, so memory does not grow with the number of terms."""
        enc, target = batch.encoding, batch.target
        with torch.no_grad():
            attr = e.method.attribute(surrogate, enc.encode(x), target, e.baseline, seeds=e.seeds)
        attr = attr.detach().requires_grad_(True)
        loss = objective(self.objective, reduce_channels(attr, e.reduction), clean, self.fraction, goal)
        v = torch.autograd.grad(loss.sum(), attr)[0]
        grad = torch.zeros_like(x)
        leaf = x.requires_grad_(True)
        for part in e.method.differentiable_parts(surrogate, enc.encode(leaf), target, e.baseline, e.seeds):
            grad += torch.autograd.grad((v * part).sum(), leaf, retain_graph=True)[0]
        if self.objective == "targeted":
            probs = surrogate(enc.encode(leaf)).softmax(1)
            grad += torch.autograd.grad(self.gamma * ((probs - probs0) ** 2).mean(1).sum(), leaf)[0]
        return grad

    def _step(self, x: torch.Tensor, grad: torch.Tensor, x0: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """One projected step of length ``alpha`` ``(B, 1, 1, 1)``: signed (L∞) or normalised (L2), into the ball and
        the pixel range."""
        if self.norm == "linf":
            x = x - alpha * grad.sign()
            x = x0 + (x - x0).clamp(-self.eps, self.eps)
        else:
            g = grad.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
            d = x - alpha * grad / g - x0
            norm = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            x = x0 + d * (self.eps / norm.clamp_min(1e-30)).clamp(max=1.0)
        return x.clamp(0.0, 1.0)


class RandomSign(Condition):
    """The attack's control: ``x' = clip(x + ε·sign(u))`` (L∞) or a random direction of L2 norm ε, seeded per image
    and sample (Ghorbani et al.'s random-sign perturbation)."""

    def __init__(self, epsilon: float, norm: str = "linf", n_samples: int = 1) -> None:
        super().__init__(condition_columns("attack", float(epsilon), f"random-sign noise ({_norm_label(norm)})",
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

    name = "attack"

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
