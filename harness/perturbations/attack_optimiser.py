"""The explanation-attack optimiser (Ghorbani et al. 2019; Dombrowski et al. 2019): projected steps against one
method's own map, through a softplus surrogate of the network.

:class:`~harness.perturbations.attack.AttackCondition` describes an attack as a condition (its columns, radius and
objective); :class:`ExplanationAttack` runs it for a batch of images and one method (an
:class:`~harness.perturbations.base.Explainer` whose method is attackable:
:class:`~harness.attribution.attackable.Attackable`):

- projected signed-gradient steps in pixel space (L∞; or normalised steps for L2) within a ball of radius ε around
  the image, clipped to ``[0, 1]``;
- the gradient is taken through a *surrogate*: the network with ReLU replaced by softplus(β) (a ReLU network's
  map has zero input gradient almost everywhere), and through the method's own differentiable map (double
  backpropagation; IG through its path points; SmoothGrad through its seeded draws);
- a step after which the real network predicts another class is rejected and the image's step length halved;
  every ``check_every`` steps (and at the end) the iterate is scored with the *real* network and map, and the best
  one is returned; an image whose clean map is constant up to precision is not attacked (nothing to move).

Objectives (lower is a more successful attack), with ``m`` the map (reduced over channels) and ``m₀`` the clean map:
``topk`` (the share of ``|m|`` on the top-k pixels of ``m₀``), ``mass_centre`` (minus the distance between the
centres of mass of ``|m|`` and ``|m₀|``), ``targeted`` (``mean((m̂ − t̂)²) + γ mean((p − p₀)²)``, maps normalised to
sum 1, ``p`` the softmax output, ``t`` the clean map rotated by 180°).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harness.attribution.reduce import reduce_channels
from harness.metrics.precision import is_constant
from harness.metrics.sensitivity import centre_of_mass
from harness.perturbations.base import Batch, Explainer


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


@dataclass(frozen=True)
class ExplanationAttack:
    """The optimiser's settings.

    Attributes:
        objective: ``topk``, ``mass_centre`` or ``targeted``.
        eps: Radius of the ball in pixel units (``[0, 1]`` scale).
        norm: ``linf`` or ``l2``.
        steps: Gradient steps.
        step_size: Step length as a fraction of ε.
        beta: Softplus β of the surrogate network.
        beta_max: If set, β grows geometrically from ``beta`` to ``beta_max`` over the steps (Dombrowski et al.).
        fraction: k of the top-k objective, as a fraction of the pixels.
        gamma: Weight of the output term of the targeted objective.
        check_every: Steps between checks of the iterate with the real network.
    """

    objective: str
    eps: float
    norm: str = "linf"
    steps: int = 40
    step_size: float = 0.125
    beta: float = 10.0
    beta_max: float | None = None
    fraction: float = 0.1
    gamma: float = 1e-3
    check_every: int = 5

    def _beta(self, step: int) -> float:
        """The surrogate's β at ``step`` (1-based): constant, or geometric from β to ``beta_max``."""
        if self.beta_max is None or self.steps == 1:
            return self.beta
        return self.beta * (self.beta_max / self.beta) ** ((step - 1) / (self.steps - 1))

    def _real(self, batch: Batch, e: Explainer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The real network's map ``(B, H, W)`` and logits on pixel-space ``x``."""
        z = batch.encoding.encode(x)
        maps = e.method.attribute(e.network, z, batch.target, e.baseline, seeds=e.seeds).detach()
        with torch.no_grad():
            return reduce_channels(maps, e.reduction), e.network(z)

    def run(self, batch: Batch, e: Explainer) -> torch.Tensor:
        """The attacked pixel-space images ``(B, C, H, W)`` of ``batch`` against ``e``'s map (module docstring): within
        ε of the images, classified as before, the best iterate by the real map's objective (the clean image if none
        improves on it)."""
        x0, target = batch.x.detach(), batch.target
        clean, _ = self._real(batch, e, x0)
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
        graph), and ``Σ_terms ∂⟨v, term⟩/∂x`` is accumulated, so memory does not grow with the number of terms. A map
        of one term is its own value: its forward and backward are made once, with the graph kept."""
        enc, target = batch.encoding, batch.target
        leaf = x.requires_grad_(True)
        parts = iter(e.method.differentiable_parts(surrogate, enc.encode(leaf), target, e.baseline, e.seeds))
        first = next(parts)
        second = next(parts, None)
        if second is None:  # one term (the gradient, Input×Gradient, Grad-CAM): it is the map, no second pass
            attr = first.detach()
        else:
            with torch.no_grad():
                attr = e.method.attribute(surrogate, enc.encode(x.detach()), target, e.baseline, seeds=e.seeds)
        attr = attr.detach().requires_grad_(True)
        loss = objective(self.objective, reduce_channels(attr, e.reduction), clean, self.fraction, goal)
        v = torch.autograd.grad(loss.sum(), attr)[0]
        grad = torch.zeros_like(x)
        for part in (first, *(() if second is None else (second,)), *parts):
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
