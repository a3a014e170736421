"""What the harness and a reference implementation are both given in a side-by-side comparison of the bench
(:mod:`harness.bench.references`): the network, images, classes, maps and seeds, and the helpers both sides use (the
gradient maps, Quantus's ``explain_func`` and call arguments).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Work:
    """What both sides get: ``net`` (images → logits, eval mode), images ``x`` ``(N, C, H, W)`` in ``[0, 1]``, the
    explained classes ``target`` ``(N,)``, the maps ``(N, H, W)`` and a seed per image."""

    net: torch.nn.Module
    x: torch.Tensor
    target: torch.Tensor
    maps: torch.Tensor
    seeds: torch.Tensor



def gradient_maps(net: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``|∂f_t/∂x|`` summed over the channels ``(N, H, W)``: the maps every comparison uses."""
    xi = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = net(xi).gather(1, target.view(-1, 1)).sum()
        return torch.autograd.grad(out, xi)[0].abs().sum(1).detach()


def explain(model, inputs, targets, **kwargs) -> np.ndarray:
    """Quantus's ``explain_func``: the same gradient maps, ``(N, 1, H, W)`` NumPy."""
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
    t = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    return gradient_maps(model, x, t)[:, None].numpy()


def load_quantus():
    import quantus

    if not hasattr(np, "trapz"):  # Quantus 0.6 calls np.trapz, removed in NumPy 2.4: the same function renamed
        np.trapz = np.trapezoid
    return quantus


def quantus_call(w: Work, every_channel: bool = False) -> dict:
    """Quantus's arguments; the map ``(N, 1, H, W)``, or repeated in every channel (``every_channel``)."""
    maps = w.maps[:, None].expand_as(w.x) if every_channel else w.maps[:, None]
    return dict(model=w.net, x_batch=w.x.numpy(), y_batch=w.target.numpy(), a_batch=maps.contiguous().numpy(),
                channel_first=True, device="cpu", batch_size=len(w.x))


QUIET = dict(disable_warnings=True, display_progressbar=False)


