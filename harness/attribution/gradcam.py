"""Grad-CAM and its default layer: the rectified feature maps of the last convolution.

Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391. Guided Grad-CAM (Captum's ``GuidedGradCam``) is
configured through :class:`~harness.attribution.methods.Captum` with ``layer: auto``, which uses the same layer.
"""
from __future__ import annotations

import logging
import weakref

import torch
import torch.nn as nn
from captum.attr import LayerAttribution, LayerGradCam

from harness.attribution.methods import Method
from harness.errors import UserError

log = logging.getLogger(__name__)


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

    def check(self, network, sample):
        resolve_layer(network, self.layer, sample)

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        cam = LayerGradCam(network, resolve_layer(network, self.layer, z[:1])).attribute(
            z, target=target, relu_attributions=True
        )
        return LayerAttribution.interpolate(cam, tuple(z.shape[-2:]), self.interpolate_mode)

    def differentiable(self, network, z, target, baseline=None, seeds=None):
        """``ReLU(Σ_k α_k A^k)`` upsampled, with ``α_k`` the mean gradient, differentiable in ``z``."""
        layer, store = resolve_layer(network, self.layer, z[:1].detach()), {}
        hook = layer.register_forward_hook(lambda _m, _i, out: store.setdefault("a", out))
        try:
            out = network(z).gather(1, target.unsqueeze(1)).sum()
        finally:
            hook.remove()
        a = store["a"]
        grads = torch.autograd.grad(out, a, create_graph=True)[0]
        cam = torch.relu((grads.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
        return torch.nn.functional.interpolate(cam, size=tuple(z.shape[-2:]), mode=self.interpolate_mode,
                                               align_corners=False if self.interpolate_mode == "bilinear" else None)


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
    was_training = network.training
    try:
        with torch.no_grad():
            network.eval()(sample if sample is not None else _probe(network))
    finally:
        network.train(was_training)
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
