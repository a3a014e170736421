"""Noise-averaged maps: SmoothGrad (Smilkov et al. 2017), VarGrad (Adebayo et al. 2018), and any method averaged over
noisy copies of its input (smooth MPRT, Hedström et al. 2023).

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

**Any method, smoothed.** The base may be any configured method (with a baseline too: every noisy copy is explained
against the same baseline). Smooth MPRT (Hedström et al., "Sanity Checks Revisited", 2023,
https://arxiv.org/abs/2401.06465) averages each map over ``N`` noisy copies for the trained *and* the randomised
network before comparing them, so that the gradient's own noise does not pass for a change of the model: the model
randomisation family run with wrapped methods (``experiment=smooth_mprt``). Because the draws are seeded per image,
the trained and every randomised network see the same noisy copies. Quantus's ``SmoothMPRT`` (0.6) conventions are
options: ``include_input`` (the last of the ``N`` copies is the input itself, so ``N = 1`` gives the base method)
and ``noise_range: image`` (σ = ``noise_level`` times the image's own range, max − min over all its values in model
input units, instead of the range of valid pixels).
"""
from __future__ import annotations

import torch

from harness.attribution.attackable import DifferentiableMap
from harness.attribution.methods import Method, Saliency
from harness.common.errors import UserError
from harness.common.seeding import generators_for, seed_for


class NoiseAveraged(DifferentiableMap, Method):
    """The mean (SmoothGrad) or variance (VarGrad) of a base method over seeded Gaussian noise draws.

    Args:
        base: The method averaged (default: the signed gradient, :class:`~harness.attribution.methods.Saliency`);
            any method, a baseline method explained against its baseline for every copy.
        n_samples: Copies of the input per map ``N``.
        noise_level: σ as a fraction of the pixel range ``[0, 1]`` (converted to model input units by the encoding's
            per-channel scale, bound by :meth:`bind`; 1 until then), or of the image's range (``noise_range``).
        statistic: ``mean`` (SmoothGrad) or ``var`` (VarGrad, population variance in float64).
        include_input: The last copy is the input itself, without noise (Quantus's ``SmoothMPRT``); otherwise all
            ``N`` copies are noisy (SmoothGrad).
        noise_range: ``valid``: σ relative to the range of valid pixels ``[0, 1]``; ``image``: relative to each
            image's own range (max − min over its channels and pixels, model input units; Quantus's ``SmoothMPRT``).
    """

    #: SmoothGrad of an attackable method is attackable (through the same draws)
    attackable = property(lambda self: self.base.attackable)
    draws_in_frame = True

    def __init__(self, base: Method | None = None, n_samples: int = 16, noise_level: float = 0.15,
                 statistic: str = "mean", include_input: bool = False, noise_range: str = "valid") -> None:
        if statistic not in ("mean", "var"):
            raise UserError(f"statistic must be 'mean' or 'var', got '{statistic}'")
        if n_samples < 1 or noise_level < 0:
            raise UserError(f"n_samples must be >= 1 and noise_level >= 0, got {n_samples}, {noise_level}")
        if noise_range not in ("valid", "image"):
            raise UserError(f"noise_range must be 'valid' or 'image', got '{noise_range}'")
        self.base = base or Saliency()
        self.n_samples, self.noise_level, self.statistic = int(n_samples), float(noise_level), statistic
        self.include_input, self.noise_range = bool(include_input), noise_range
        self.scale: torch.Tensor | None = None

    # what the engine asks of a method: the base's answers (its baseline, its checks, whether it is a control)
    needs_baseline = property(lambda self: self.base.needs_baseline)
    fixed_baseline = property(lambda self: self.base.fixed_baseline)
    baseline = property(lambda self: self.base.baseline)
    control = property(lambda self: self.base.control)
    n_steps = property(lambda self: self.base.n_steps)

    def bind(self, encoding, train_images=None) -> None:
        """Model input units per pixel unit, per channel ``(C,)``: the encoding's scale (and the base's binding)."""
        self.scale = encoding.scale.detach().clone()
        self.base.bind(encoding, train_images)

    def check(self, network, sample) -> None:
        self.base.check(network, sample)

    def info(self) -> dict:
        return self.base.info()

    @property
    def cost(self) -> int:
        return self.n_samples * self.base.cost

    def noise(self, z: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        """Unit Gaussian draws ``(B, S, C, H, W)``: per image, from a generator seeded by its image seed (with
        ``include_input``, ``S − 1`` draws and a last copy of zeros)."""
        image_seeds = seeds[:, 0].tolist() if seeds is not None else [0] * len(z)
        gens = generators_for(seed_for("smoothgrad", int(s)) for s in image_seeds)
        drawn = self.n_samples - int(self.include_input)
        eps = torch.stack([torch.randn((drawn, *z.shape[1:]), generator=g) for g in gens])
        if self.include_input:
            eps = torch.cat([eps, torch.zeros((len(z), 1, *z.shape[1:]))], 1)
        return eps.to(device=z.device, dtype=z.dtype)

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None, move=None):
        """The noise-averaged map ``(B, C', H, W)``; ``move`` (if given) moves the clean image's draws
        ``(B, S, C, H, W)`` with the view's content (see :attr:`Method.draws_in_frame`)."""
        b, s = len(z), self.n_samples
        eps = self.noise(z, seeds)
        eps = eps if move is None else move(eps)
        noisy = (z.detach().unsqueeze(1) + self._sigma(z) * eps).flatten(0, 1)
        targets = target.repeat_interleave(s)
        bases = None if baseline is None else baseline.repeat_interleave(s, 0)
        rows = None if seeds is None else seeds.repeat_interleave(s, 0)
        step = max(1, (max_inputs or len(noisy)) // self.base.cost)
        # a base that draws noise of its own (a nested NoiseAveraged) moves its draws with the content too
        inner = {"move": move} if move is not None and self.base.draws_in_frame else {}
        parts = [self.base.attribute(network, noisy[i:i + step], targets[i:i + step],
                                     None if bases is None else bases[i:i + step], max_inputs,
                                     None if rows is None else rows[i:i + step], **inner).detach()
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
        parts = [self.base.differentiable(network, noisy[:, k], target, baseline) for k in range(self.n_samples)]
        return self._combine(torch.stack(parts, 1).view(b, self.n_samples, *parts[0].shape[1:]))

    def differentiable_parts(self, network, z, target, baseline=None, seeds=None):
        """SmoothGrad: one term per draw, ``E(z + ε_s) / S`` (VarGrad is not a sum: the whole map at once)."""
        if self.statistic != "mean":
            yield self.differentiable(network, z, target, baseline, seeds)
            return
        noisy = z.unsqueeze(1) + self._sigma(z) * self.noise(z, seeds)
        for k in range(self.n_samples):
            yield self.base.differentiable(network, noisy[:, k], target, baseline) / self.n_samples

    def _sigma(self, z: torch.Tensor) -> torch.Tensor:
        """σ ``(1 or B, 1, C or 1, 1, 1)`` in model input units (broadcast over the draws ``(B, S, C, H, W)``)."""
        if self.noise_range == "image":
            flat = z.detach().flatten(1)
            return self.noise_level * (flat.amax(1) - flat.amin(1)).view(-1, 1, 1, 1, 1)
        scale = torch.ones(z.shape[1]) if self.scale is None else self.scale
        return self.noise_level * scale.to(device=z.device, dtype=z.dtype).view(1, 1, -1, 1, 1)
