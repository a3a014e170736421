"""torchvision architectures (ResNet, VGG, DenseNet, MobileNet, …) with weights from a local file.

Nothing is downloaded: ``weights_path`` is a ``state_dict`` saved with ``torch.save`` (for instance the
file torchvision caches under ``~/.cache/torch/hub/checkpoints/``), loaded with ``weights_only=True``.
Without it the network is randomly initialised (and trained by the harness unless ``model.train=false``).
"""
from __future__ import annotations

import torch.nn as nn

from harness.errors import UserError
from harness.models import checkpoint

#: Grad-CAM layer by architecture family: the last convolutional stage, as in the Grad-CAM literature.
GRADCAM_LAYERS = {"resnet": "layer4", "resnext": "layer4", "wide_resnet": "layer4", "vgg": "features",
                  "densenet": "features", "mobilenet": "features", "efficientnet": "features",
                  "convnext": "features", "squeezenet": "features", "alexnet": "features"}


def build(name: str, num_classes: int = 1000, weights_path: str | None = None) -> nn.Module:
    """A torchvision classification model ``name``; the Grad-CAM default layer is set as ``gradcam_layer``."""
    import torchvision.models as tvm

    known = tvm.list_models(module=tvm)
    if name not in known:
        raise UserError(f"unknown torchvision model '{name}'; valid choices include: "
                        f"{', '.join(m for m in known if m.startswith(('resnet', 'vgg', 'densenet', 'mobilenet')))}")
    net = tvm.get_model(name, weights=None, num_classes=int(num_classes))
    if weights_path:
        state = checkpoint.read(str(weights_path), "weights file", "set model.weights_path to a saved state_dict")
        checkpoint.load_weights(net, state.get("state_dict", state), str(weights_path))
    family = next((f for f in sorted(GRADCAM_LAYERS, key=len, reverse=True) if name.startswith(f)), None)
    net.gradcam_layer = GRADCAM_LAYERS.get(family)
    return net
