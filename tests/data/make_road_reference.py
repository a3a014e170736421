"""Writes ``road_reference.npz``: ROAD's noise-free linear imputation by the reference implementation.

Made with::

    pip install grad-cam==1.5.7 && python tests/data/make_road_reference.py

(grad-cam is not a dependency of the project; it is only needed to rewrite this file). Three 12×12 RGB images
(random 8-bit values) with 10%, 50% and 90% of their pixels removed (random pixels), imputed by
``pytorch_grad_cam.metrics.road.NoisyLinearImputer(noise=0)`` (the authors' code, solved by SciPy's ``spsolve``).

Keys: ``images`` ``(3, 3, 12, 12)`` uint8 (the images are ``images / 255`` in float32), ``removed``
``(3, 12, 12)`` bool (True where imputed), ``imputed`` ``(3, 3, 12, 12)`` float32.
"""
from pathlib import Path

import numpy as np
import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer

FRACTIONS = (0.1, 0.5, 0.9)
SIZE = 12


def main() -> None:
    rng = np.random.default_rng(20220202)
    images = rng.integers(0, 256, size=(len(FRACTIONS), 3, SIZE, SIZE), dtype=np.uint8)
    removed = np.zeros((len(FRACTIONS), SIZE * SIZE), dtype=bool)
    for i, fraction in enumerate(FRACTIONS):
        removed[i, rng.permutation(SIZE * SIZE)[:round(fraction * SIZE * SIZE)]] = True
    removed = removed.reshape(-1, SIZE, SIZE)
    imputer = NoisyLinearImputer(noise=0)
    imputed = np.stack([
        imputer(torch.from_numpy(img.astype(np.float32) / 255), torch.from_numpy((~rem).astype(np.float32))).numpy()
        for img, rem in zip(images, removed)])  # the reference's mask is 1 where a pixel is kept
    out = Path(__file__).with_name("road_reference.npz")
    np.savez_compressed(out, images=images, removed=removed, imputed=imputed.astype(np.float32))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
