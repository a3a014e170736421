"""Saliency methods, as thin configurable wrappers around Captum.

Every method maps a network (model input → logits), model inputs ``z`` ``(B, C, H, W)`` and target classes
``(B,)`` to attributions ``(B, C', H, W)`` with respect to ``z`` (``C' = C``, or 1 for class-activation maps).
Methods are chosen in ``harness/configs/attribution/*.yaml`` by ``_target_``: the classes here, the
noise-averaged ones in :mod:`~harness.attribution.smoothing`, Grad-CAM in :mod:`~harness.attribution.gradcam`,
the controls in :mod:`~harness.attribution.controls`, and any Captum attribution class through :class:`Captum`.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import InputXGradient as _IxG
from captum.attr import IntegratedGradients as _IG
from captum.attr import Saliency as _Saliency

from harness.attribution.attackable import DifferentiableMap
from harness.attribution.layers import layer_info, resolve_layer
from harness.common.errors import UserError


class Method:
    """Base class: a saliency method with its configuration.

    Class attributes say what the engine must provide and may assume: :attr:`needs_baseline`, :attr:`cost`
    (network inputs per map, for sizing passes), :attr:`complete` (the completeness axiom
    ``Σ attr = F(z) − F(b)`` holds, so the engine records its error), :attr:`control` (the map carries no
    information about the network: a reference row in every table).
    """

    needs_baseline = False
    #: the baseline lives in model input space and never follows a perturbation (methods with a baseline say)
    fixed_baseline = False
    #: integration steps per map, for methods that integrate (a column of scores.csv)
    n_steps: int | None = None
    cost = 1
    complete = False
    control = False
    #: the method draws random numbers in the image's frame (noise added to the input): its :meth:`attribute` takes
    #: ``move``, a function that moves draws made for the clean image with the view's content (a translated image's
    #: noise is the clean noise translated), so that a condition that moves the image does not count the method's
    #: Monte-Carlo noise as a change of the map
    draws_in_frame = False

    @property
    def stack_key(self) -> tuple | None:
        """Methods with the same non-None key compute the same function of (input, baseline) and may be
        run in one call on their stacked inputs and baselines."""
        return None

    def attribute(
        self, network: nn.Module, z: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor | None = None,
        max_inputs: int | None = None, seeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attributions for ``z``.

        Args:
            network: Model input → logits.
            z: Model inputs ``(B, C, H, W)``.
            target: ``(B,)`` classes to explain.
            baseline: ``(B, C, H, W)`` in model input space, for methods that take one.
            max_inputs: Bound on network inputs per pass, for methods that evaluate several per map.
            seeds: ``(B, 2)`` int64 per-input seeds for methods that draw random numbers (column 0 per image,
                column 1 per image and view; see :class:`~harness.attribution.engine.View`).
        """
        raise NotImplementedError

    def check(self, network: nn.Module, sample: torch.Tensor) -> None:
        """Raise a :class:`~harness.common.errors.UserError` if this method cannot explain ``network`` (called once per
        run on a sample input ``(1, C, H, W)``, before any attribution)."""

    def info(self) -> dict:
        """What :meth:`check` decided about this run's network (e.g. Grad-CAM's layer), for ``run_info.json``."""
        return {}

    #: whether the map is a differentiable function of the input, so that it can be attacked
    #: (:class:`~harness.attribution.attackable.Attackable`)
    attackable = False

    def bind(self, encoding: Any, train_images: torch.Tensor | None = None) -> None:
        """Learn what the method needs from the model's input encoding and the training images (once per run)."""


class WithBaseline(Method):
    """A method that explains ``z`` relative to a baseline.

    Args:
        baseline: Baseline factory ``images (B, C, H, W) -> (B, C, H, W)``, see :mod:`harness.attribution.baselines`.
        baseline_space: ``pixel`` (default): the factory gets pixel-space images and its output is encoded like the
            input (so it can be carried through a perturbation, or recomputed from the perturbed input);
            ``model``: its output is the model-input baseline as is and never changes (Captum's zero baseline).
    """

    needs_baseline = True

    def __init__(self, baseline: Callable[..., torch.Tensor], baseline_space: str = "pixel") -> None:
        if baseline_space not in ("pixel", "model"):
            raise UserError(f"baseline_space must be 'pixel' or 'model', got '{baseline_space}'")
        self.baseline = baseline
        self.baseline_space = baseline_space

    @property
    def fixed_baseline(self) -> bool:
        """True when the baseline lives in model input space and never follows a perturbation."""
        return self.baseline_space == "model"

    def bind(self, encoding: Any, train_images: torch.Tensor | None = None) -> None:
        """Give a baseline that takes ``train_mean`` (:func:`~harness.attribution.baselines.training_mean`) the mean
        training image ``(C, H, W)``."""
        fn = self.baseline
        if fn is not None and train_images is not None and "train_mean" in inspect.signature(fn).parameters:
            self.baseline = functools.partial(fn, train_mean=train_images.mean(0))


def _leaf(z: torch.Tensor) -> torch.Tensor:
    """``z`` as a leaf that requires grad (what Captum's gradient methods expect)."""
    return z if z.requires_grad and z.is_leaf else z.detach().requires_grad_(True)


def gradient(network: nn.Module, z: torch.Tensor, target: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """``∂f_t/∂z`` ``(B, C, H, W)``, kept differentiable with respect to ``z`` (``z`` must require grad)."""
    out = network(z).gather(1, target.unsqueeze(1)).sum()
    return torch.autograd.grad(out, z, create_graph=create_graph)[0]


class Saliency(DifferentiableMap, Method):
    """Vanilla gradient ∂f_t/∂z, signed (Simonyan et al. 2014, https://arxiv.org/abs/1312.6034)."""

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        return _Saliency(network).attribute(_leaf(z), target=target, abs=False)

    def differentiable(self, network, z, target, baseline=None, seeds=None):
        return gradient(network, z, target)


class InputXGradient(DifferentiableMap, Method):
    """Input × Gradient, ``z ⊙ ∂f_t/∂z`` (Shrikumar et al. 2016, https://arxiv.org/abs/1605.01713)."""

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        return _IxG(network).attribute(_leaf(z), target=target)

    def differentiable(self, network, z, target, baseline=None, seeds=None):
        return z * gradient(network, z, target)


class IntegratedGradients(DifferentiableMap, WithBaseline):
    """Integrated Gradients (Sundararajan et al. 2017, https://arxiv.org/abs/1703.01365).

    ``IG_i = (z_i − b_i) ∫₀¹ ∂F(b + α(z − b))/∂z_i dα``, by ``n_steps``-point quadrature.

    Args:
        baseline, baseline_space: See :class:`WithBaseline`.
        n_steps: Quadrature points along the straight path.
        method: Captum's quadrature rule (``gausslegendre``, ``riemann_trapezoid``, ...).

    All IG methods with the same ``n_steps`` and quadrature differ only in their baselines, so the engine
    runs them in one call (:attr:`stack_key`).
    """

    complete = True

    def __init__(self, baseline: Callable[..., torch.Tensor], n_steps: int = 16, method: str = "gausslegendre",
                 baseline_space: str = "pixel") -> None:
        super().__init__(baseline, baseline_space)
        if n_steps < 1:
            raise UserError(f"n_steps must be >= 1, got {n_steps}")
        self.n_steps = n_steps
        self.method = method

    @property
    def cost(self) -> int:
        return self.n_steps

    @property
    def stack_key(self) -> tuple:
        return ("integrated_gradients", self.n_steps, self.method)

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        """IG attributions, evaluating at most ``max_inputs`` path points per pass (None: all at once)."""
        if baseline is None:
            raise ValueError("IntegratedGradients needs a baseline in model input space")
        return _IG(network).attribute(z, baselines=baseline, target=target, n_steps=self.n_steps,
                                      method=self.method, internal_batch_size=max_inputs)

    def differentiable(self, network, z, target, baseline=None, seeds=None):
        """IG through its path points: ``(z − b) ⊙ Σ_k w_k ∂F(b + α_k (z − b))``, with Captum's quadrature."""
        return sum(self.differentiable_parts(network, z, target, baseline, seeds))

    def differentiable_parts(self, network, z, target, baseline=None, seeds=None):
        """One term per path point: ``(z − b) ⊙ w_k ∂F(b + α_k (z − b))``."""
        from captum.attr._utils.approximation_methods import approximation_parameters

        step_sizes, alphas = approximation_parameters(self.method)
        b = baseline.detach()
        for w, a in zip(step_sizes(self.n_steps), alphas(self.n_steps)):
            yield (z - b) * (w * gradient(network, b + a * (z - b), target))


class Captum(WithBaseline):
    """Any Captum attribution class that is called as ``attribute(inputs, target=...[, baselines=...])``.

    Configured without new code, e.g. Guided Backprop (Springenberg et al. 2015), DeepLift (Shrikumar et al.
    2017), GradientSHAP (Lundberg & Lee 2017) or Guided Grad-CAM::

        deeplift:
          _target_: harness.attribution.methods.Captum
          attribution: {_target_: captum.attr.DeepLift, _partial_: true}
          baseline: {_target_: harness.attribution.baselines.constant, _partial_: true, value: 0.0}
          complete: true

    Args:
        attribution: The Captum class with its constructor arguments bound except the model (``_partial_``).
        baseline: Baseline factory (see :class:`WithBaseline`), for classes that take ``baselines``; None if not.
        baseline_space: See :class:`WithBaseline`.
        layer: For layer methods (``GuidedGradCam``, ``LayerGradCam``, ...): the layer name, ``auto`` for the
            rectified last convolution (:func:`~harness.attribution.layers.resolve_layer`); None for others.
        kwargs: More arguments of ``attribute`` (e.g. ``n_samples`` for GradientShap).
        complete: The method satisfies completeness (DeepLift's summation-to-delta): record its error.
        cost: Network inputs it evaluates per map (for sizing passes).
        random: It draws random numbers (GradientShap): it is run one image at a time, seeded by the image's seed,
            so that an image gets the same draws in every view and whatever the batching.

    Attributions smaller than the input (layer methods) are upsampled bilinearly to ``(H, W)``.
    """

    def __init__(self, attribution: Callable[..., Any], baseline: Callable[..., torch.Tensor] | None = None,
                 baseline_space: str = "pixel", layer: str | None = None, kwargs: Mapping[str, Any] | None = None,
                 complete: bool = False, cost: int = 1, random: bool = False) -> None:
        super().__init__(baseline, baseline_space)
        self.needs_baseline = baseline is not None
        self.attribution, self.layer, self.kwargs = attribution, layer, dict(kwargs or {})
        self._layer_info: dict = {}
        self.complete, self.cost, self.random = bool(complete) and baseline is not None, int(cost), bool(random)

    def check(self, network, sample):
        if self.layer is not None:
            self._layer_info = layer_info(network, self.layer, sample)

    def info(self) -> dict:
        return dict(self._layer_info)

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        args = (network, resolve_layer(network, self.layer, z[:1])) if self.layer is not None else (network,)
        rows = [slice(i, i + 1) for i in range(len(z))] if self.random else [slice(None)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting (forward, )?backward hooks", category=UserWarning)
            attr = torch.cat([self._call(args, z[r], target[r], None if baseline is None else baseline[r],
                                         None if seeds is None or not self.random else seeds[r]) for r in rows])
        if attr.shape[-2:] != z.shape[-2:]:
            attr = F.interpolate(attr, size=tuple(z.shape[-2:]), mode="bilinear", align_corners=False)
        return attr


    def _call(self, args, z, target, baseline, seeds) -> torch.Tensor:
        """Captum's ``attribute``; with ``seeds`` (one image), its random draws seeded by the image's seed."""
        extra = {"baselines": baseline} if self.needs_baseline else {}
        with _seeded(seeds) if seeds is not None else contextlib.nullcontext():
            return self.attribution(*args).attribute(_leaf(z), target=target, **extra, **self.kwargs)


class Occlusion(WithBaseline):
    """Occlusion (Zeiler & Fergus 2014, https://arxiv.org/abs/1311.2901): the drop of ``F_t`` when a square
    window of the input is replaced by the baseline, spread over the window's pixels (Captum's ``Occlusion``).

    Args:
        baseline: What occludes (see :class:`WithBaseline`), e.g. black.
        window: Side of the square window, pixels (all channels at once).
        stride: Step between windows, pixels.
    """

    def __init__(self, baseline: Callable[..., torch.Tensor], window: int = 8, stride: int = 4,
                 baseline_space: str = "pixel") -> None:
        super().__init__(baseline, baseline_space)
        if window < 1 or stride < 1:
            raise UserError(f"occlusion window and stride must be >= 1, got {window}, {stride}")
        self.window, self.stride = int(window), int(stride)

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        from captum.attr import Occlusion as _Occlusion

        c = z.shape[1]
        per_eval = max(1, (max_inputs or len(z)) // max(1, len(z)))
        with torch.no_grad():
            return _Occlusion(network).attribute(z, sliding_window_shapes=(c, self.window, self.window),
                                                 strides=(c, self.stride, self.stride), baselines=baseline,
                                                 target=target, perturbations_per_eval=per_eval)


@contextlib.contextmanager
def _seeded(seeds: torch.Tensor | None):
    """Seed torch's and NumPy's global generators (Captum draws from both) from one image's seed, and restore them
    afterwards: an image gets the same draws in every view and every run."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    state = np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        if seeds is not None:
            seed = int(seeds[:, 0].sum().item()) % (2 ** 62)
            torch.manual_seed(seed)
            np.random.seed(seed % (2 ** 32))
        try:
            yield
        finally:
            np.random.set_state(state)
