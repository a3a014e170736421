"""Images from a folder per class (the torchvision ``ImageFolder`` layout), in pixel space ``[0, 1]``.

Layouts understood, e.g. for rock-paper-scissors:

- Kaggle: ``root/rock/*.png, root/paper/*.png, root/scissors/*.png`` — split into train / val / test by
  the configured fractions;
- TFDS: ``root/rps/<class>/…`` and ``root/rps-test-set/<class>/…`` — or any ``train_dir`` / ``test_dir``
  pair (``train`` / ``test`` are found too); the validation split is taken from the training folder.

Images are converted to RGB (grayscale, palette and RGBA included) and resized to ``image_size``. A file
that cannot be decoded is skipped, counted and reported, and the rest is loaded.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from harness.data.base import ImageSet, ImageSplits
from harness.common.errors import UserError

log = logging.getLogger(__name__)

#: File endings read as images (the same as torchvision's ``ImageFolder``).
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: (train, test) folder names tried when none are configured.
KNOWN_SPLITS = (("rps", "rps-test-set"), ("train", "test"))


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    return (int(image_size), int(image_size)) if isinstance(image_size, int) else tuple(int(v) for v in image_size)


def scan(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted subfolders) and ``(file, class index)`` pairs of one ImageFolder-style folder."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(f"no class folders in {folder}; expected one subfolder per class (e.g. rock/ paper/ scissors/)")
    files = []
    for k, name in enumerate(classes):
        found = sorted(p for p in (folder / name).rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
        if not found:
            raise UserError(f"class folder {folder / name} has no images ({', '.join(EXTENSIONS)}); add images "
                            f"or remove the folder")
        files += [(p, k) for p in found]
    return classes, files


def load_images(files: list[tuple[Path, int]], image_size: tuple[int, int]) -> tuple[ImageSet, list[str]]:
    """Decode, convert to RGB and resize; returns the images and the files that could not be read."""
    images, labels, skipped = [], [], []
    for path, label in files:
        try:
            with Image.open(path) as im:
                im = im.convert("RGB").resize((image_size[1], image_size[0]), Image.BILINEAR)
                images.append(np.asarray(im, dtype=np.float32) / 255.0)
                labels.append(label)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            skipped.append(f"{path}: {exc.__class__.__name__}")
    if skipped:
        log.warning("skipped %d unreadable image file(s), e.g. %s", len(skipped), skipped[0])
    if not images:
        raise UserError(f"none of the {len(files)} image files could be read")
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(x, torch.tensor(labels, dtype=torch.long)), skipped


def _split_dirs(root: Path, train_dir: str | None, test_dir: str | None) -> tuple[Path, Path | None]:
    if train_dir or test_dir:
        return root / (train_dir or ""), (root / test_dir) if test_dir else None
    for train, test in KNOWN_SPLITS:
        if (root / train).is_dir() and (root / test).is_dir():
            return root / train, root / test
    return root, None


def _take(data: ImageSet, idx: torch.Tensor) -> ImageSet:
    return ImageSet(data.images[idx], data.labels[idx])


def make_splits(root: str, image_size: int | Sequence[int] = 64, val_fraction: float = 0.2,
                test_fraction: float = 0.1, seed: int = 0, train_dir: str | None = None,
                test_dir: str | None = None) -> ImageSplits:
    """Load an ImageFolder-style data set and split it (see the module docstring).

    Args:
        root: Folder with one subfolder per class, or with train / test folders that have them.
        image_size: Output height and width (an int for square images).
        val_fraction: Share of the (training) images held out for validation.
        test_fraction: Share held out for testing when there is no test folder.
        seed: Seed of the random split.
        train_dir, test_dir: Names of the training / test folders under ``root`` (optional).
    """
    base = Path(str(root)).expanduser()
    if not base.is_dir():
        raise UserError(f"data folder not found: {base} (set data.root to a folder with one subfolder per class)")
    train_path, test_path = _split_dirs(base, train_dir, test_dir)
    size = _size(image_size)
    classes, files = scan(train_path)
    pool, skipped = load_images(files, size)
    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(pool), generator=gen)
    n_val = int(round(val_fraction * len(pool)))
    n_test = 0 if test_path is not None else int(round(test_fraction * len(pool)))
    if test_path is not None:
        test_classes, test_files = scan(test_path)
        if test_classes != classes:
            raise UserError(f"test folder classes {test_classes} differ from training classes {classes}")
        test, more = load_images(test_files, size)
        skipped += more
    else:
        test = _take(pool, order[:n_test])
    val, train = _take(pool, order[n_test:n_test + n_val]), _take(pool, order[n_test + n_val:])
    if min(len(train), len(test)) == 0:
        raise UserError(f"{base} has too few images for a train / test split ({len(pool)} readable)")
    return ImageSplits(train, val, test, tuple(classes), skipped=tuple(skipped))
