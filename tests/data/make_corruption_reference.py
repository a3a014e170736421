"""Writes ``corruption_reference.npz``: the common corruptions by the reference implementation.

Made with::

    pip install --no-deps imagecorruptions==1.1.2 && python tests/data/make_corruption_reference.py

(``imagecorruptions``, bethgelab/imagecorruptions, repackages the paper's ``make_imagenet_c.py`` in NumPy / OpenCV /
scikit-image; it is not a dependency of the project and is only needed to rewrite this file). Its code predates
NumPy 2 and scikit-image 0.25: ``np.float_``, ``gaussian(multichannel=True)`` and ``pkg_resources`` are supplied here
(the same computations under their current names). Two 32×32 RGB test images (smooth gradients, a disk and a bar,
8-bit). Parameters are the reference's pixel sizes (the harness's ``scale = 1``).

Keys:

- ``images`` ``(2, 32, 32, 3)`` uint8;
- ``<corruption>`` ``(5, 2, 32, 32, 3)`` uint8 (rounded, as the paper saves them): the deterministic corruptions at
  severities 1–5
  (``contrast``, ``brightness``, ``saturate``, ``defocus_blur``, ``gaussian_blur``, ``pixelate``,
  ``jpeg_compression``);
- ``motion_blur`` ``(3, 2, 32, 32, 3)`` uint8: ``_motion_blur`` at severities 1, 3, 5 with the angles ``motion_angles``;
- ``<random corruption>_stats`` ``(5, 2, 2)``: for ``gaussian_noise``, ``shot_noise``, ``impulse_noise`` and ``fog``,
  per severity and image the mean and the standard deviation (over pixels and ``N_DRAWS`` draws) of
  ``(corrupted − image) / 255``, to compare in distribution.
"""
import sys
import types
from pathlib import Path

import numpy as np

np.float_ = np.float64  # removed in NumPy 2; plasma_fractal asks for it
sys.modules.setdefault("pkg_resources", types.SimpleNamespace(resource_filename=lambda *a: ""))  # frost only

import imagecorruptions.corruptions as ref  # noqa: E402
from PIL import Image  # noqa: E402
from skimage.filters import gaussian as _gaussian  # noqa: E402

ref.gaussian = lambda x, sigma, multichannel=False, **kw: _gaussian(x, sigma=sigma, channel_axis=-1 if multichannel
                                                                    else None, **kw)
SIZE, N_DRAWS = 32, 100
DETERMINISTIC = ("contrast", "brightness", "saturate", "defocus_blur", "gaussian_blur", "pixelate", "jpeg_compression")
RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "fog")
MOTION = ((1, -40.0), (3, 10.0), (5, 30.0))  # (severity, angle)


def images() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    disk = ((yy - 0.4) ** 2 + (xx - 0.6) ** 2) < 0.06
    a = np.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.8 - 0.6 * xx * yy], -1)
    a[disk] = (0.9, 0.2, 0.1)
    b = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.4 + 0.3 * np.cos(4 * yy), 0.3 + 0.0 * xx], -1)
    b[18:30, 6:42] = (0.1, 0.1, 0.7)
    return np.round(np.stack([a, b]) * 255).astype(np.uint8)


def _bytes(image) -> np.ndarray:
    return np.round(np.clip(np.asarray(image, dtype=np.float64), 0, 255)).astype(np.uint8)


def main() -> None:
    imgs = images()
    out = {"images": imgs, "motion_angles": np.array([a for _, a in MOTION])}
    for name in DETERMINISTIC:
        fn = getattr(ref, name)
        out[name] = np.stack([np.stack([_bytes(fn(Image.fromarray(im), s)) for im in imgs])
                              for s in range(1, 6)])
    out["motion_blur"] = np.stack([np.stack([
        _bytes(ref._motion_blur(im, radius=c[0], sigma=c[1], angle=a)) for im in imgs])
        for s, a in MOTION for c in [[(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][s - 1]]])
    np.random.seed(19031226)
    for name in RANDOM:
        fn = getattr(ref, name)
        stats = np.zeros((5, len(imgs), 2), dtype=np.float64)
        for s in range(1, 6):
            for i, im in enumerate(imgs):
                d = np.stack([np.asarray(fn(Image.fromarray(im), s), dtype=np.float64) - im for _ in range(N_DRAWS)])
                stats[s - 1, i] = (d.mean() / 255, d.std() / 255)
        out[f"{name}_stats"] = stats
    path = Path(__file__).with_name("corruption_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
