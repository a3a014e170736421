"""Grad-CAM on its default layer: the rectified feature maps of the last convolution.

Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391. The layer is found by
:func:`~harness.attribution.layers.resolve_layer`. Guided Grad-CAM (Captum's ``GuidedGradCam``) is configured through
:class:`~harness.attribution.methods.Captum` with ``layer: auto``, which uses the same layer.
"""
from __future__ import annotations

import torch
from captum.attr import LayerAttribution, LayerGradCam

from harness.attribution.attackable import DifferentiableMap
from harness.attribution.layers import layer_info, resolve_layer
from harness.attribution.methods import Method


class GradCAM(DifferentiableMap, Method):
    """Grad-CAM on the rectified feature maps of the last convolutional layer, upsampled to the input size.

    Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391: ``ReLU(Σ_k α_k A^k)`` with
    ``α_k = mean_ij ∂f_t/∂A^k_ij``, where ``A^k`` are the feature maps *after* the layer's ReLU (their Caffe
    ReLU ran in place, so the convolution's output blob held rectified maps; pytorch-grad-cam's target layers
    are block outputs after the activation). See :func:`~harness.attribution.layers.resolve_layer` for the default
    layer.

    Args:
        layer: Module name in the network (``None``: the activation after the last convolution).
        interpolate_mode: Upsampling mode for ``torch.nn.functional.interpolate``.
    """

    def __init__(self, layer: str | None = None, interpolate_mode: str = "bilinear") -> None:
        self.layer, self._layer_info = layer, {}
        self.interpolate_mode = interpolate_mode

    def check(self, network, sample):
        self._layer_info = layer_info(network, self.layer, sample)

    def info(self) -> dict:
        return dict(self._layer_info)

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
