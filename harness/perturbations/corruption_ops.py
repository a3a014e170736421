"""Pixel-wise, colour and compression corruptions of Hendrycks & Dietterich (ICLR 2019,
https://arxiv.org/abs/1903.12261), batched in torch.

Pure functions of pixel-space images ``x`` ``(B, C, H, W)`` in ``[0, 1]`` and one severity's parameter, each a port
of the paper's code (``ImageNet-C/create_c/make_imagenet_c.py`` in hendrycks/robustness; the ``imagecorruptions``
package, bethgelab/imagecorruptions, repackages it). The random ones take one CPU generator per image
(:func:`harness.common.seeding.generators_for`): the draws are made on the CPU, image by image, and the arithmetic is done
on ``x``'s device. None of these depends on the image size, except through its pixels (noise is per pixel;
pixelation is a fraction of the side).
"""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from kornia.color import hsv_to_rgb, rgb_to_hsv


def _draw(gens: Sequence[torch.Generator], like: torch.Tensor, kind: str) -> torch.Tensor:
    """One draw of ``like``'s per-image shape per generator (``rand`` or ``randn``), on ``like``'s device."""
    fn = torch.rand if kind == "rand" else torch.randn
    return torch.stack([fn(like.shape[1:], generator=g) for g in gens]).to(like.device, like.dtype)


def gaussian_noise(x: torch.Tensor, sigma: float, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """``clip(x + σ ε)``, ε ~ N(0, 1) per pixel and channel (severities σ = .08, .12, .18, .26, .38)."""
    return (x + sigma * _draw(gens, x, "randn")).clamp(0.0, 1.0)


def shot_noise(x: torch.Tensor, photons: float, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """``clip(Poisson(λ x) / λ)``: photon noise with ``λ`` photons at full intensity (λ = 60, 25, 12, 5, 3)."""
    rate = (x * photons).detach().cpu()
    counts = torch.stack([torch.poisson(r, generator=g) for r, g in zip(rate, gens)])
    return (counts.to(x.device, x.dtype) / photons).clamp(0.0, 1.0)


def impulse_noise(x: torch.Tensor, amount: float, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """Salt-and-pepper noise (``skimage.util.random_noise(mode='s&p')``): each pixel and channel is replaced with
    probability ``amount`` (.03, .06, .09, .17, .27), by 1 or 0 with equal chance."""
    u = _draw(gens, x.unsqueeze(1).expand(-1, 2, *x.shape[1:]), "rand")
    flipped, salted = u[:, 0] <= amount, u[:, 1] <= 0.5
    return torch.where(flipped, salted.to(x.dtype), x)


def contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``clip((x − μ) c + μ)`` with ``μ`` each channel's mean over the image (c = .4, .3, .2, .1, .05)."""
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0.0, 1.0)


def _hsv_channel(x: torch.Tensor, channel: int, scale: float, shift: float) -> torch.Tensor:
    """RGB images with one HSV channel (1 saturation, 2 value) set to ``clip(v scale + shift)``."""
    hsv = rgb_to_hsv(x)
    changed = (hsv[:, channel] * scale + shift).clamp(0.0, 1.0)
    hsv = torch.cat([hsv[:, :channel], changed.unsqueeze(1), hsv[:, channel + 1:]], dim=1)
    return hsv_to_rgb(hsv).clamp(0.0, 1.0)


def brightness(x: torch.Tensor, delta: float) -> torch.Tensor:
    """HSV value ``V + δ`` clipped (δ = .1, .2, .3, .4, .5); a single-channel image: ``clip(x + δ)``."""
    if x.shape[1] != 3:
        return (x + delta).clamp(0.0, 1.0)
    return _hsv_channel(x, 2, 1.0, delta)


def saturate(x: torch.Tensor, params: tuple[float, float]) -> torch.Tensor:
    """HSV saturation ``S a + b`` clipped ((a, b) = (.3, 0), (.1, 0), (2, 0), (5, .1), (20, .2)); RGB only."""
    return _hsv_channel(x, 1, params[0], params[1])


def pil_box_weights(n_in: int, n_out: int) -> torch.Tensor:
    """``(n_out, n_in)`` the resampling weights of PIL's ``Image.BOX`` filter along one axis (Pillow's
    ``precompute_coeffs``): each output pixel averages the input pixels whose centres fall in its box, so that
    ``W_h @ x @ W_wᵀ`` is ``Image.resize(..., Image.BOX)`` without PIL's rounding to 8 bits after each axis."""
    scale = n_in / n_out
    support = 0.5 * max(scale, 1.0)
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    for o in range(n_out):
        center = (o + 0.5) * scale
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
        for i in range(lo, hi):
            t = (i - center + 0.5) / max(scale, 1.0)
            w[o, i] = 1.0 if -0.5 < t <= 0.5 else 0.0
    return w / w.sum(1, keepdim=True)


def resize_box(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Images ``(B, C, H, W)`` resized to ``(B, C, height, width)`` with PIL's box filter (:func:`pil_box_weights`)."""
    wh = pil_box_weights(x.shape[-2], height).to(x.device, x.dtype)
    ww = pil_box_weights(x.shape[-1], width).to(x.device, x.dtype)
    return wh @ x @ ww.T


def pixelate(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Box-downsampled to ``int(side · f)`` and box-upsampled back (f = .6, .5, .4, .3, .25 of the side; an
    upsampling box is the nearest neighbour, as ``imagecorruptions`` uses)."""
    h, w = x.shape[-2:]
    small = resize_box(x, max(int(h * fraction), 1), max(int(w * fraction), 1))
    return resize_box(small, h, w)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Saved and read back as a JPEG of ``quality`` (25, 18, 15, 10, 7) by PIL, as the paper does (libjpeg, 4:2:0
    chroma subsampling), after rounding to 8 bits as the paper's PIL images are; 1 or 3 channels. Encoded image by
    image on the CPU (the codec has no batched form)."""
    as_bytes = (x.detach() * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for image in as_bytes:
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, "JPEG", quality=int(quality))
        out.append(np.asarray(Image.open(buffer)).reshape(image.shape))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255.0
