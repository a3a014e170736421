"""Noise-averaged maps: SmoothGrad (Smilkov et al. 2017) and VarGrad (Adebayo et al. 2018).

SmoothGrad, https://arxiv.org/abs/1706.03825: ``(1/S) Σ_s E(z + ε_s)``; VarGrad (Adebayo et al., "Local
explanation methods for deep neural networks lack sensitivity to parameter values", 2018,
https://arxiv.org/abs/1810.03307): the population variance ``(1/S) Σ_s (E(z + ε_s) − mean)²``, where ``E`` is a
base method (the gradient by default) and ``ε_s ~ N(0, σ²)`` with ``σ = noise_level`` times the range of valid
pixels, ``[0, 1]``, in model input units (Smilkov et al.'s relative noise level; 0.15 = 15% of the range; the same
pixel-space noise for every encoding). This is Captum's ``NoiseTunnel`` (which draws an absolute σ from the global
generator); the harness draws the noise itself, **seeded per image**: the
clean and every perturbed view of an image use the same draws, and so does a resumed run. Without that, the
method's own Monte-Carlo noise would be counted as instability (measured: fresh draws per call make SmoothGrad look
*more* sensitive than the gradient to small input noise), and under an exactly compensated shift (same range, same
draws, same network function) SmoothGrad is exactly invariant, as Kindermans et al. (2017) found. When a condition
moves the image's content (a translation, flip or rotation: the equivariance family), the draws move with it: the
noise of a view is the clean image's noise, moved (:attr:`~harness.attribution.methods.Method.draws_in_frame`).
"""
from __future__ import annotations

import torch

from harness.attribution.attackable import DifferentiableMap
from harness.attribution.methods import Method, Saliency
from harness.errors import UserError
from harness.seeding import generators_for, seed_for


class NoiseAveraged(DifferentiableMap, Method):
    """The mean (SmoothGrad) or variance (VarGrad) of a base method over seeded Gaussian noise draws.

    Args:
        base: The method averaged (default: the signed gradient, :class:`~harness.attribution.methods.Saliency`).
        n_samples: Noise draws per map.
        noise_level: σ as a fraction of the pixel range ``[0, 1]`` (converted to model input units by the encoding's
            per-channel scale, bound by :meth:`bind`; 1 until then).
        statistic: ``mean`` (SmoothGrad) or ``var`` (VarGrad, population variance in float64).
    """

    #: SmoothGrad of an attackable method is attackable (through the same draws)
    attackable = property(lambda self: self.base.attackable)
    draws_in_frame = True

    def __init__(self, base: Method | None = None, n_samples: int = 16, noise_level: float = 0.15,
                 statistic: str = "mean") -> None:
        if statistic not in ("mean", "var"):
            raise UserError(f"statistic must be 'mean' or 'var', got '{statistic}'")
        if n_samples < 1 or noise_level < 0:
            raise UserError(f"n_samples must be >= 1 and noise_level >= 0, got {n_samples}, {noise_level}")
        self.base = base or Saliency()
        if self.base.needs_baseline:
            raise UserError("SmoothGrad / VarGrad average a method without a baseline (e.g. the gradient)")
        self.n_samples, self.noise_level, self.statistic = int(n_samples), float(noise_level), statistic
        self.scale: torch.Tensor | None = None

    def bind(self, encoding, train_images=None) -> None:
        """Model input units per pixel unit, per channel ``(C,)``: the encoding's scale."""
        self.scale = encoding.scale.detach().clone()

    @property
    def cost(self) -> int:
        return self.n_samples * self.base.cost

    def noise(self, z: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        """Unit Gaussian draws ``(B, S, C, H, W)``: per image, from a generator seeded by its image seed."""
        image_seeds = seeds[:, 0].tolist() if seeds is not None else [0] * len(z)
        gens = generators_for(seed_for("smoothgrad", int(s)) for s in image_seeds)
        eps = torch.stack([torch.randn((self.n_samples, *z.shape[1:]), generator=g) for g in gens])
        return eps.to(device=z.device, dtype=z.dtype)

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None, move=None):
        """The noise-averaged map ``(B, C', H, W)``; ``move`` (if given) moves the clean image's draws
        ``(B, S, C, H, W)`` with the view's content (see :attr:`Method.draws_in_frame`)."""
        b, s = len(z), self.n_samples
        eps = self.noise(z, seeds)
        eps = eps if move is None else move(eps)
        noisy = (z.detach().unsqueeze(1) + self._sigma(z) * eps).flatten(0, 1)
        targets = target.repeat_interleave(s)
        step = max(1, (max_inputs or len(noisy)) // self.base.cost)
        parts = [self.base.attribute(network, noisy[i:i + step], targets[i:i + step]).detach()
                 for i in range(0, len(noisy), step)]
        return self._combine(torch.cat(parts).view(b, s, *parts[0].shape[1:]))

    def _combine(self, attr: torch.Tensor) -> torch.Tensor:
        if self.statistic == "mean":
            return attr.mean(1)
        return attr.double().var(1, unbiased=False).to(attr.dtype)

    def differentiable(self, network, z, target, baseline=None, seeds=None):
        """The same draws as :meth:`attribute`, through the base method's differentiable map."""
        b = len(z)
        noisy = z.unsqueeze(1) + self._sigma(z) * self.noise(z, seeds)
        parts = [self.base.differentiable(network, noisy[:, k], target) for k in range(self.n_samples)]
        return self._combine(torch.stack(parts, 1).view(b, self.n_samples, *parts[0].shape[1:]))

    def differentiable_parts(self, network, z, target, baseline=None, seeds=None):
        """SmoothGrad: one term per draw, ``E(z + ε_s) / S`` (VarGrad is not a sum: the whole map at once)."""
        if self.statistic != "mean":
            yield self.differentiable(network, z, target, baseline, seeds)
            return
        noisy = z.unsqueeze(1) + self._sigma(z) * self.noise(z, seeds)
        for k in range(self.n_samples):
            yield self.base.differentiable(network, noisy[:, k], target) / self.n_samples

    def _sigma(self, z: torch.Tensor) -> torch.Tensor:
        scale = torch.ones(z.shape[1]) if self.scale is None else self.scale
        return self.noise_level * scale.to(device=z.device, dtype=z.dtype).view(1, 1, -1, 1, 1)
