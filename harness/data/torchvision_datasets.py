"""torchvision's classic data sets (MNIST, FashionMNIST, CIFAR10, …) from a local folder.

Nothing is downloaded unless ``download=true`` is set (and a network is available); otherwise the
files must already be under ``root`` in torchvision's layout.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.base import ImageSet, ImageSplits
from harness.common.errors import UserError

SUPPORTED = ("MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100", "SVHN")


def _load(name: str, root: str, train: bool, download: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, name)
    kwargs = {"split": "train" if train else "test"} if name == "SVHN" else {"train": train}
    try:
        return cls(root=str(root), download=download, **kwargs)
    except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True ..."
        raise UserError(f"{name} not found under {root} ({exc}); put the files there or set data.download=true") \
            from exc


def _tensors(ds, size: tuple[int, int], limit: int | None) -> ImageSet:
    data = ds.data[:limit] if limit else ds.data
    x = torch.as_tensor(np.asarray(data), dtype=torch.float32) / 255.0
    x = x.unsqueeze(1) if x.ndim == 3 else (x if x.shape[1] in (1, 3) else x.permute(0, 3, 1, 2))
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
    labels = getattr(ds, "targets", None)
    labels = getattr(ds, "labels", None) if labels is None else labels
    y = torch.as_tensor(np.asarray(labels)[: len(x)], dtype=torch.long)
    return ImageSet(x.contiguous(), y)


def make_splits(name: str, root: str, image_size: int | Sequence[int] = 32, val_fraction: float = 0.1,
                max_train: int | None = None, max_test: int | None = None, download: bool = False,
                seed: int = 0) -> ImageSplits:
    """Train (minus a seeded validation share) and test splits of torchvision data set ``name``."""
    if name not in SUPPORTED:
        raise UserError(f"unknown torchvision data set '{name}'; valid choices: {', '.join(SUPPORTED)}")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    pool = _tensors(_load(name, root, True, download), size, max_train)
    test_ds = _load(name, root, False, download)
    test = _tensors(test_ds, size, max_test)
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(int(seed)))
    n_val = int(round(val_fraction * len(pool)))
    val = ImageSet(pool.images[order[:n_val]], pool.labels[order[:n_val]])
    train = ImageSet(pool.images[order[n_val:]], pool.labels[order[n_val:]])
    classes = tuple(str(c) for c in getattr(test_ds, "classes", range(int(pool.labels.max()) + 1)))
    return ImageSplits(train, val, test, classes)
