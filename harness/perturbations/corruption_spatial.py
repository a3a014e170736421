"""Blur, elastic and fog corruptions of Hendrycks & Dietterich (ICLR 2019, https://arxiv.org/abs/1903.12261),
batched in torch with kornia's filters and warps.

Pure functions of pixel-space images ``x`` ``(B, C, H, W)`` in ``[0, 1]``, one severity's parameters and ``scale``:
the paper's parameters are pixel sizes for 224 × 224 images, and ``scale = min(H, W) / 224`` (by default) turns
them into sizes for ``x``, so that an image and its resized copy get the same blur relative to their size:

- defocus blur: the disk's radius × scale (its anti-aliasing blur stays in pixels);
- Gaussian blur: σ × scale;
- motion blur: the trail's radius (rounded) and its Gaussian σ × scale;
- elastic transform: the affine jitter and the displacement field's smoothing σ × scale, its amplitude α × scale²
  (a Gaussian of σ smooths white noise to a standard deviation ∝ 1/σ, so the displacement, ∝ α/σ, scales with the
  image);
- fog: the plasma fractal is drawn on a square of the next power of two ≥ the longer side (``imagecorruptions``'s
  rule; the paper draws 256 × 256 for 224 × 224), so its coarse structure spans the image at every size.

The random ones take one CPU generator per image; draws are made on the CPU, the filtering on ``x``'s device.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from kornia.filters import filter2d, gaussian_blur2d
from kornia.geometry.transform import warp_affine


def disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """``(k, k)`` the paper's defocus kernel: the pixels within ``radius`` of the centre (support ±8 up to radius 8),
    normalised, then blurred by a Gaussian of σ ``alias_blur`` (3 × 3; 5 × 5 above radius 8) with reflected borders,
    as ``cv2.GaussianBlur``; cropped to its non-zero support."""
    half = 8 if radius <= 8 else int(radius)
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius ** 2).to(torch.float64)
    disk = disk / disk.sum()
    k = 3 if radius <= 8 else 5
    kernel = gaussian_blur2d(disk[None, None], (k, k), (alias_blur, alias_blur), border_type="reflect")[0, 0]
    keep = torch.nonzero(kernel.abs().sum(0) > 0).flatten()
    reach = int(max(half - keep.min(), keep.max() - half))
    return kernel[half - reach: half + reach + 1, half - reach: half + reach + 1]


def defocus_blur(x: torch.Tensor, params: tuple[float, float], scale: float) -> torch.Tensor:
    """``x`` filtered by :func:`disk_kernel` (radius, anti-aliasing σ) = (3, .1), (4, .5), (6, .5), (8, .5),
    (10, .5) at 224 px, reflected borders (``cv2.filter2D``)."""
    kernel = disk_kernel(params[0] * scale, params[1]).to(x.device, x.dtype)
    return filter2d(x, kernel[None], border_type="reflect").clamp(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, sigma: float, scale: float) -> torch.Tensor:
    """A Gaussian of σ = 1, 2, 3, 4, 6 at 224 px (truncated at 4σ, replicated borders, as
    ``skimage.filters.gaussian``)."""
    s = sigma * scale
    k = 2 * int(4 * s + 0.5) + 1
    return gaussian_blur2d(x, (k, k), (s, s), border_type="replicate").clamp(0.0, 1.0)


def motion_kernel(radius: int, sigma: float, angle: float, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``(2w − 1, 2w − 1)`` the trail of ``imagecorruptions``'s motion blur (a port of ImageMagick's
    ``MotionBlurImage``, which the paper calls): ``w = 2 radius + 1`` copies of the image shifted by ``i`` pixels
    along ``angle`` (degrees), weighted by a half Gaussian of σ in ``i``, as a correlation kernel. As in the
    reference, the trail stops (its weights not renormalised) at the first shift as long as the image ``size``
    ``(H, W)``."""
    width = 2 * radius + 1
    weights = torch.exp(-torch.arange(width, dtype=torch.float64) ** 2 / (2 * sigma ** 2))
    weights = weights / weights.sum()
    kernel = torch.zeros(2 * width - 1, 2 * width - 1, dtype=torch.float64)
    sin, cos = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    for i in range(width):
        dy, dx = -math.ceil(i * sin - 0.5), -math.ceil(i * cos - 0.5)
        if size is not None and (abs(dy) >= size[0] or abs(dx) >= size[1]):
            break
        kernel[width - 1 - dy, width - 1 - dx] += weights[i]
    return kernel


def motion_blur(x: torch.Tensor, params: tuple[float, float], scale: float,
                gens: Sequence[torch.Generator]) -> torch.Tensor:
    """A trail of (radius, σ) = (10, 3), (15, 5), (15, 8), (15, 12), (20, 15) at 224 px (:func:`motion_kernel`) at
    an angle drawn uniformly in [−45°, 45°] per image, replicated borders."""
    radius, sigma = max(round(params[0] * scale), 1), params[1] * scale
    angles = [float(torch.rand((), generator=g, dtype=torch.float64)) * 90 - 45 for g in gens]
    kernels = torch.stack([motion_kernel(radius, sigma, a, x.shape[-2:]) for a in angles]).to(x.device, x.dtype)
    return filter2d(x, kernels, border_type="replicate").clamp(0.0, 1.0)


def reflect_smoothing(n: int, sigma: float, truncate: float = 3.0) -> torch.Tensor:
    """``(n, n)`` float64: a 1-D Gaussian filter of σ truncated at ``truncate`` σ with half-sample symmetric borders
    (``scipy.ndimage.gaussian_filter1d(mode='reflect')``) as a matrix, valid for any σ (a padding-based filter
    cannot reflect more than the signal's length, and the paper's elastic fields are smoothed by σ up to 171 px)."""
    r = int(truncate * sigma + 0.5)
    offsets = torch.arange(-r, r + 1)
    weights = torch.exp(-0.5 * (offsets.to(torch.float64) / sigma) ** 2)
    weights = weights / weights.sum()
    source = (torch.arange(n)[:, None] + offsets[None, :]) % (2 * n)
    source = torch.where(source >= n, 2 * n - 1 - source, source)
    m = torch.zeros(n, n, dtype=torch.float64)
    m.scatter_add_(1, source, weights.expand(n, -1).contiguous())
    return m


def _affine_jitter(h: int, w: int, jitter: float, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """``(B, 2, 3)`` the paper's random affine map: three points about the centre (``cv2.getAffineTransform``),
    each moved by a uniform draw in ``[−jitter, jitter]`` pixels, source → destination."""
    c, s = torch.tensor([h // 2, w // 2], dtype=torch.float64), min(h, w) // 3
    src = torch.stack([c + s, torch.stack([c[0] + s, c[1] - s]), c - s])  # (3, 2), as the paper writes them
    homog = torch.cat([src, torch.ones(3, 1, dtype=torch.float64)], 1)
    maps = []
    for g in gens:
        dst = src + (torch.rand(3, 2, generator=g, dtype=torch.float64) * 2 - 1) * jitter
        maps.append(torch.linalg.solve(homog, dst).T)
    return torch.stack(maps)


def elastic(x: torch.Tensor, params: tuple[float, float, float], scale: float,
            gens: Sequence[torch.Generator]) -> torch.Tensor:
    """The paper's elastic transform: a random affine warp (:func:`_affine_jitter`, bilinear, mirrored borders as
    ``cv2.warpAffine(BORDER_REFLECT_101)``), then every pixel displaced by ``α · G_σ * u`` with ``u`` uniform in
    [−1, 1] per pixel and axis (:func:`reflect_smoothing`), bilinear with half-sample symmetric borders
    (``map_coordinates(order=1, mode='reflect')``). (α, σ, jitter) = 244 × (2, .7, .1), (2, .08, .2),
    (.05, .01, .02), (.07, .01, .02), (.12, .01, .02) at 224 px."""
    b, _, h, w = x.shape
    alpha, sigma, jitter = params[0] * scale ** 2, params[1] * scale, params[2] * scale
    affine = _affine_jitter(h, w, jitter, gens).to(x.device, x.dtype)
    warped = warp_affine(x, affine, (h, w), mode="bilinear", padding_mode="reflection", align_corners=True)
    mh, mw = reflect_smoothing(h, sigma), reflect_smoothing(w, sigma)
    u = torch.stack([torch.rand(2, h, w, generator=g, dtype=torch.float64) * 2 - 1 for g in gens])
    dy, dx = ((mh @ u @ mw.T) * alpha).to(x.device, x.dtype).unbind(1)
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype),
                            torch.arange(w, device=x.device, dtype=x.dtype), indexing="ij")
    grid = torch.stack([(2 * (xs + dx) + 1) / w - 1, (2 * (ys + dy) + 1) / h - 1], dim=-1)
    out = F.grid_sample(warped, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.clamp(0.0, 1.0)


def plasma_fractal(size: int, decay: float, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """``(B, size, size)`` float64 in [0, 1]: the paper's diamond-square height map (its ``plasma_fractal``; size a
    power of two), one per generator. Each level sets new points to the mean of their four neighbours (wrapping
    around) plus ``wibble²`` times a uniform draw in [−1, 1]; ``wibble`` starts at 100 and is divided by ``decay``
    at each level. (kornia's ``diamond_square`` is another variant: a mixing weight, not an amplitude, per level.)"""
    m = torch.zeros(len(gens), size, size, dtype=torch.float64)
    step, wibble = size, 100.0

    def noisy_mean(total: torch.Tensor) -> torch.Tensor:
        u = torch.stack([torch.rand(total.shape[1:], generator=g, dtype=torch.float64) for g in gens])
        return total / 4 + wibble * wibble * (2 * u - 1)

    while step >= 2:
        half = step // 2
        corners = m[:, ::step, ::step]
        squares = corners + corners.roll(-1, 1)
        m[:, half::step, half::step] = noisy_mean(squares + squares.roll(-1, 2))
        centres, corners = m[:, half::step, half::step], m[:, ::step, ::step]
        m[:, ::step, half::step] = noisy_mean(centres + centres.roll(1, 1) + corners + corners.roll(-1, 2))
        m[:, half::step, ::step] = noisy_mean(centres + centres.roll(1, 2) + corners + corners.roll(-1, 1))
        step, wibble = half, wibble / decay
    m = m - m.amin((1, 2), keepdim=True)
    return m / m.amax((1, 2), keepdim=True)


def fog(x: torch.Tensor, params: tuple[float, float], gens: Sequence[torch.Generator]) -> torch.Tensor:
    """``clip((x + t P) · max x / (max x + t))`` with ``P`` a :func:`plasma_fractal` of decay ``d`` and ``max x``
    each image's maximum; (t, d) = (1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)."""
    h, w = x.shape[-2:]
    size = 1 << (max(h, w) - 1).bit_length()
    plasma = plasma_fractal(size, params[1], gens)[:, None, :h, :w].to(x.device, x.dtype)
    top = x.amax((1, 2, 3), keepdim=True)
    return ((x + params[0] * plasma) * top / (top + params[0])).clamp(0.0, 1.0)
