"""Saliency methods, as thin configurable wrappers around Captum.

Every method maps a network (model input → logits), model inputs ``z``
``(B, C, H, W)`` and target classes ``(B,)`` to attributions ``(B, C', H, W)``
with respect to ``z`` (``C' = C``, or 1 for Grad-CAM). Methods are chosen in
``harness/configs/attribution/*.yaml`` by ``_target_``.
"""
from __future__ import annotations

import logging
import weakref
from collections.abc import Callable

import torch
import torch.nn as nn
from captum.attr import InputXGradient as _IxG
from captum.attr import IntegratedGradients as _IG
from captum.attr import LayerAttribution, LayerGradCam
from captum.attr import Saliency as _Saliency

from harness.errors import UserError

log = logging.getLogger(__name__)


class Method:
    """Base class: a saliency method with its configuration."""

    #: Whether :meth:`attribute` takes a baseline (in model input space).
    needs_baseline = False
    #: Network inputs evaluated per map (IG: ``n_steps``), for sizing passes.
    cost = 1

    @property
    def stack_key(self) -> tuple | None:
        """Methods with the same non-None key compute the same function of (input, baseline) and may be
        run in one call on their stacked inputs and baselines."""
        return None

    def attribute(
        self, network: nn.Module, z: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor | None = None,
        max_inputs: int | None = None,
    ) -> torch.Tensor:
        """Attributions for ``z``; ``max_inputs`` bounds the network inputs per pass where a method
        evaluates several per map (None: no bound)."""
        raise NotImplementedError


def _leaf(z: torch.Tensor) -> torch.Tensor:
    """``z`` as a leaf that requires grad (what Captum's gradient methods expect)."""
    return z if z.requires_grad and z.is_leaf else z.detach().requires_grad_(True)


class Saliency(Method):
    """Vanilla gradient ∂f_t/∂z, signed (Simonyan et al. 2014, https://arxiv.org/abs/1312.6034)."""

    def attribute(self, network, z, target, baseline=None, max_inputs=None):
        return _Saliency(network).attribute(_leaf(z), target=target, abs=False)


class InputXGradient(Method):
    """Input × Gradient, ``z ⊙ ∂f_t/∂z`` (Shrikumar et al. 2016, https://arxiv.org/abs/1605.01713)."""

    def attribute(self, network, z, target, baseline=None, max_inputs=None):
        return _IxG(network).attribute(_leaf(z), target=target)


class IntegratedGradients(Method):
    """Integrated Gradients (Sundararajan et al. 2017, https://arxiv.org/abs/1703.01365).

    Args:
        baseline: Pixel-space baseline factory ``images (B, C, H, W) -> (B, C, H, W)``,
            see :mod:`harness.attribution.baselines`.
        n_steps: Quadrature points along the straight path.
        method: Captum's quadrature rule (``gausslegendre``, ``riemann_trapezoid``, ...).
        baseline_space: ``pixel`` (default): the baseline is a pixel-space image, encoded like the
            input, and may follow the perturbation; ``model``: it is used as the model input baseline
            as is and never follows (e.g. Captum's zero baseline).

    All IG methods with the same ``n_steps`` and quadrature differ only in their baselines, so the engine
    runs them in one call (:attr:`stack_key`).
    """

    needs_baseline = True

    def __init__(
        self, baseline: Callable[[torch.Tensor], torch.Tensor], n_steps: int = 16,
        method: str = "gausslegendre", baseline_space: str = "pixel",
    ) -> None:
        if n_steps < 1:
            raise UserError(f"n_steps must be >= 1, got {n_steps}")
        if baseline_space not in ("pixel", "model"):
            raise UserError(f"baseline_space must be 'pixel' or 'model', got '{baseline_space}'")
        self.baseline = baseline
        self.baseline_space = baseline_space
        self.n_steps = n_steps
        self.method = method

    @property
    def cost(self) -> int:
        return self.n_steps

    @property
    def stack_key(self) -> tuple:
        return ("integrated_gradients", self.n_steps, self.method)

    @property
    def fixed_baseline(self) -> bool:
        """True when the baseline lives in model input space and never follows a perturbation."""
        return self.baseline_space == "model"

    def attribute(self, network, z, target, baseline=None, max_inputs=None):
        """IG attributions, evaluating at most ``max_inputs`` path points per pass (None: all at once)."""
        if baseline is None:
            raise ValueError("IntegratedGradients needs a baseline in model input space")
        return _IG(network).attribute(z, baselines=baseline, target=target, n_steps=self.n_steps,
                                      method=self.method, internal_batch_size=max_inputs)


class GradCAM(Method):
    """Grad-CAM on the rectified feature maps of the last convolutional layer, upsampled to the input size.

    Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391: ``ReLU(Σ_k α_k A^k)`` with
    ``α_k = mean_ij ∂f_t/∂A^k_ij``, where ``A^k`` are the feature maps *after* the layer's ReLU (their Caffe
    ReLU ran in place, so the convolution's output blob held rectified maps; pytorch-grad-cam's target layers
    are block outputs after the activation). See :func:`resolve_layer` for the default layer.

    Args:
        layer: Module name in the network (``None``: the activation after the last convolution).
        interpolate_mode: Upsampling mode for ``torch.nn.functional.interpolate``.
    """

    def __init__(self, layer: str | None = None, interpolate_mode: str = "bilinear") -> None:
        self.layer = layer
        self.interpolate_mode = interpolate_mode

    def attribute(self, network, z, target, baseline=None, max_inputs=None):
        cam = LayerGradCam(network, resolve_layer(network, self.layer, z[:1])).attribute(
            z, target=target, relu_attributions=True
        )
        return LayerAttribution.interpolate(cam, tuple(z.shape[-2:]), self.interpolate_mode)


#: Modules that rectify (or smoothly gate) feature maps: Grad-CAM's default layer is one of these.
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Hardswish, nn.Softplus)
#: Modules allowed between a convolution and its activation (conv → norm → ReLU).
_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
_default_layers: "weakref.WeakKeyDictionary[nn.Module, str]" = weakref.WeakKeyDictionary()
_logged: set[str] = set()


def resolve_layer(network: nn.Module, name: str | None, sample: torch.Tensor | None = None) -> nn.Module:
    """The module called ``name``; ``None`` / ``"auto"``: the network's default Grad-CAM layer.

    The default is the network's ``gradcam_layer`` if it names one (torchvision architectures: the last
    stage, whose output is already rectified), else the activation module that follows the last
    convolution in the forward pass (normalisation layers in between are skipped), found by running
    ``sample`` ``(1, C, H, W)`` through the network once. If the network applies its activation
    functionally (or reuses the module), the convolution itself is used and the log says so once.
    """
    convs = [n for n, m in network.named_modules() if isinstance(m, nn.Conv2d)]
    if name in (None, "auto"):
        name = getattr(network, "gradcam_layer", None)
    if name in (None, "auto"):
        if not convs:
            raise UserError("Grad-CAM needs a convolutional layer, and the network has none")
        if network not in _default_layers:
            _default_layers[network] = _activation_after_last_conv(network, sample) or convs[-1]
        name = _default_layers[network]
    modules = dict(network.named_modules())
    if name not in modules:
        raise UserError(f"no layer '{name}' for Grad-CAM; convolutional layers: {', '.join(convs)}")
    return modules[name]


def _activation_after_last_conv(network: nn.Module, sample: torch.Tensor | None) -> str | None:
    """Name of the activation module run right after the last convolution (None, logged, if there is none)."""
    names = {m: n for n, m in network.named_modules()}
    calls: list[nn.Module] = []
    leaves = [m for m in network.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(lambda mod, _i, _o: calls.append(mod)) for m in leaves]
    try:
        with torch.no_grad():
            network(sample if sample is not None else _probe(network))
    finally:
        for h in hooks:
            h.remove()
    last = max(i for i, m in enumerate(calls) if isinstance(m, nn.Conv2d))
    following = [m for m in calls[last + 1:] if not isinstance(m, _NORMS)]
    if following and isinstance(following[0], ACTIVATIONS) and calls.count(following[0]) == 1:
        return names[following[0]]
    message = (f"Grad-CAM: no activation module follows the last convolution '{names[calls[last]]}' (applied "
               "functionally?); using the convolution's output, which is not rectified")
    if message not in _logged:
        _logged.add(message)
        log.warning(message)
    return None


def _probe(network: nn.Module) -> torch.Tensor:
    """A zero input ``(1, C, 32, 32)`` for a network whose first convolution takes ``C`` channels."""
    first = next(m for m in network.modules() if isinstance(m, nn.Conv2d))
    p = next(network.parameters())
    return torch.zeros(1, first.in_channels, 32, 32, device=p.device, dtype=p.dtype)
