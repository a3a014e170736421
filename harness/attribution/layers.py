"""Which layer a layer method (Grad-CAM, Guided Grad-CAM, Captum's layer methods) explains: a named module, or by
default the rectified feature maps of the last convolution.

Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391, take the feature maps *after* the layer's ReLU (see
:class:`~harness.attribution.gradcam.GradCAM`); :func:`resolve_layer` finds that module in any network.
"""
from __future__ import annotations

import logging
import weakref

import torch
import torch.nn as nn

from harness.errors import UserError

log = logging.getLogger(__name__)

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
