"""Exact compensation: rewrite a network so that ``f'(A ⊙ z + m) = f(z)``.

Kindermans et al. (2017), "The (Un)reliability of Saliency Methods",
https://arxiv.org/abs/1711.00867, fold an input shift into the first layer's
bias, ``b' = b − W m``. With zero padding that fold is only exact away from the
borders: a padded zero is not shifted, so border outputs receive a partial
``W m`` (Quantus issue #303). Here the first convolution gets a *bias map*
``B' = b − conv_{W'}(pad(m))``, computed with the layer's own padding, which is
exact at every output position for per-channel or per-pixel ``m``; a rescale
``A`` is folded into the weights, ``W' = W / A``. The naive scalar fold is kept
(``exact=False``) so that the difference can be measured.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from harness.common.errors import UserError
from harness.models.layers import first_layer, set_submodule
from harness.perturbations.affine import AffineMap


class CompensatedConv2d(nn.Conv2d):
    """A convolution whose bias may vary with output position: ``conv_{W'}(z) + B'``."""

    def __init__(self, conv: nn.Conv2d, amap: AffineMap, input_hw: tuple[int, int], exact: bool = True) -> None:
        super().__init__(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            conv.dilation, conv.groups, bias=False, padding_mode=conv.padding_mode,
            device=conv.weight.device, dtype=conv.weight.dtype,
        )
        with torch.no_grad():
            self.weight.copy_(conv.weight / _per_weight_scale(conv, amap.scale))
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        bias = bias.to(conv.weight).view(-1, 1, 1)
        shift = amap.shift.to(conv.weight).expand(conv.in_channels, *input_hw).unsqueeze(0)
        with torch.no_grad():
            if exact:
                fold = self._conv_forward(shift, self.weight, None)[0]
            else:
                per_channel = amap.shift.to(conv.weight).mean(dim=(1, 2))
                fold = (self.weight.sum(dim=(2, 3)) * _grouped(per_channel, conv)).sum(1).view(-1, 1, 1)
        self.register_buffer("bias_map", bias - fold)
        self.input_hw = tuple(input_hw)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if tuple(z.shape[-2:]) != self.input_hw:
            raise ValueError(f"compensated for inputs of size {self.input_hw}, got {tuple(z.shape[-2:])}")
        return self._conv_forward(z, self.weight, None) + self.bias_map


def _grouped(per_in_channel: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``(C_in,)`` → ``(C_out, C_in / groups)``: the input-channel value seen by each weight."""
    g = conv.groups
    return per_in_channel.reshape(g, -1).repeat_interleave(conv.out_channels // g, dim=0)


def _per_weight_scale(conv: nn.Conv2d, scale: torch.Tensor) -> torch.Tensor:
    return _grouped(scale.reshape(-1).to(conv.weight), conv)[:, :, None, None]


def _compensated_linear(lin: nn.Linear, amap: AffineMap, input_chw: tuple[int, int, int]) -> nn.Linear:
    scale = amap.scale.expand(*input_chw).reshape(-1).to(lin.weight)
    shift = amap.shift.expand(*input_chw).reshape(-1).to(lin.weight)
    new = copy.deepcopy(lin)
    with torch.no_grad():
        new.weight.copy_(lin.weight / scale)
        bias = lin.bias if lin.bias is not None else torch.zeros_like(new.weight[:, 0])
        new.bias = nn.Parameter(bias - new.weight @ shift)
    return new


def compensate(
    network: nn.Module, amap: AffineMap, input_chw: tuple[int, int, int], exact: bool = True
) -> nn.Module:
    """A copy of ``network`` with ``f'(amap(z)) = f(z)`` for inputs ``z`` of shape ``(B, *input_chw)``.

    Args:
        network: Maps model input ``(B, C, H, W)`` to logits; its first parametrised layer must be
            ``nn.Conv2d`` or ``nn.Linear`` (after a ``Flatten``).
        amap: The perturbation ``z' = A ⊙ z + m``.
        input_chw: Shape of one model input.
        exact: False reproduces the naive scalar-bias fold (inexact at zero-padded borders).

    Returns:
        The rewritten copy; ``network`` itself is not modified.
    """
    name, layer = first_layer(network)
    if isinstance(layer, nn.Conv2d):
        new = CompensatedConv2d(layer, amap, input_chw[1:], exact=exact)
        if layer.weight.is_contiguous(memory_format=torch.channels_last):
            new = new.to(memory_format=torch.channels_last)
    elif isinstance(layer, nn.Linear):
        new = _compensated_linear(layer, amap, input_chw)
    else:
        raise UserError(
            f"cannot compensate a first layer of type {type(layer).__name__} ('{name}'); "
            "supported: Conv2d, Linear"
        )
    out = copy.deepcopy(network)
    set_submodule(out, name, new.train(layer.training))
    return out
