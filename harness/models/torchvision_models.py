"""torchvision architectures (ResNet, VGG, DenseNet, MobileNet, …) with weights from a local file.

Nothing is downloaded: ``weights_path`` is a ``state_dict`` saved with ``torch.save`` (for instance the
file torchvision caches under ``~/.cache/torch/hub/checkpoints/``), loaded with ``weights_only=True``.
Without it the network is randomly initialised (and trained by the harness unless ``model.train=false``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from harness.common.errors import UserError
from harness.models import checkpoint
from harness.models.layers import first_layer, set_submodule

#: Grad-CAM layer by architecture family: the last convolutional stage, as in the Grad-CAM literature.
GRADCAM_LAYERS = {"resnet": "layer4", "resnext": "layer4", "wide_resnet": "layer4", "vgg": "features",
                  "densenet": "features", "mobilenet": "features", "efficientnet": "features",
                  "convnext": "features", "squeezenet": "features", "alexnet": "features"}


def build(name: str, num_classes: int = 1000, weights_path: str | None = None, in_channels: int = 3) -> nn.Module:
    """A torchvision classification model ``name``; the Grad-CAM default layer is set as ``gradcam_layer``.

    Args:
        name: Architecture, e.g. ``resnet18``.
        num_classes: Output logits.
        weights_path: A local ``state_dict`` for the 3-channel architecture (optional).
        in_channels: Image channels. torchvision architectures take 3; for 1-channel images the first
            convolution gets one input channel, with the loaded weights summed over their three (exactly the
            same outputs as the 3-channel network on the gray image repeated in each channel).
    """
    import torchvision.models as tvm

    known = tvm.list_models(module=tvm)
    if name not in known:
        raise UserError(f"unknown torchvision model '{name}'; valid choices include: "
                        f"{', '.join(m for m in known if m.startswith(('resnet', 'vgg', 'densenet', 'mobilenet')))}")
    if in_channels not in (1, 3):
        raise UserError(f"torchvision architectures take 1- or 3-channel images, the data has {in_channels}")
    net = tvm.get_model(name, weights=None, num_classes=int(num_classes))
    if weights_path:
        state = checkpoint.read(str(weights_path), "weights file", "set model.weights_path to a saved state_dict")
        checkpoint.load_weights(net, state.get("state_dict", state), str(weights_path))
    if in_channels == 1:
        _gray_first_conv(net)
    family = next((f for f in sorted(GRADCAM_LAYERS, key=len, reverse=True) if name.startswith(f)), None)
    net.gradcam_layer = GRADCAM_LAYERS.get(family)
    return net


def _gray_first_conv(net: nn.Module) -> None:
    """Give the first convolution one input channel: weights summed over the three colour channels."""
    name, conv = first_layer(net)
    if not isinstance(conv, nn.Conv2d) or conv.in_channels != 3:
        raise UserError(f"cannot adapt the first layer '{name}' ({type(conv).__name__}) to 1-channel images")
    gray = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                     bias=conv.bias is not None, padding_mode=conv.padding_mode)
    with torch.no_grad():
        gray.weight.copy_(conv.weight.sum(1, keepdim=True))
        if conv.bias is not None:
            gray.bias.copy_(conv.bias)
    set_submodule(net, name, gray)
