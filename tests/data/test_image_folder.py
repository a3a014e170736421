"""ImageFolder layouts and bad input: each mistake is one clear error, unreadable files are skipped."""
import numpy as np
import pytest
import torch
from PIL import Image

from harness.data.image_folder import make_splits
from harness.common.errors import UserError

CLASSES = ("rock", "paper", "scissors")


def _write(folder, n=6, size=(30, 20), mode="RGB"):
    rng = np.random.default_rng(0)
    for k, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = (rng.random((size[1], size[0], 3)) * 80 + 60 * k).astype(np.uint8)
            Image.fromarray(arr).convert(mode).save(folder / name / f"{name}{i:02d}.png")


def test_kaggle_layout_split_by_fractions(tmp_path):
    _write(tmp_path)
    s = make_splits(str(tmp_path), image_size=16, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert s.classes == ("paper", "rock", "scissors")  # sorted, like torchvision's ImageFolder
    assert (len(s.train), len(s.val), len(s.test)) == (10, 4, 4)
    assert s.train.images.shape[1:] == (3, 16, 16) and 0 <= s.train.images.min() and s.train.images.max() <= 1
    again = make_splits(str(tmp_path), image_size=16, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert torch.equal(s.test.images, again.test.images)


def test_tfds_layout_uses_the_test_folder(tmp_path):
    _write(tmp_path / "rps", n=5)
    _write(tmp_path / "rps-test-set", n=2)
    s = make_splits(str(tmp_path), image_size=(12, 18))
    assert len(s.test) == 6 and len(s.train) + len(s.val) == 15
    assert s.test.images.shape[-2:] == (12, 18)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_grayscale_rgba_palette_are_converted(tmp_path, mode):
    _write(tmp_path, n=4, mode=mode)
    assert make_splits(str(tmp_path), image_size=8).train.images.shape[1] == 3


def test_corrupt_file_is_skipped_and_reported(tmp_path):
    _write(tmp_path, n=4)
    (tmp_path / "rock" / "broken.png").write_bytes(b"\x89PNG not really")
    s = make_splits(str(tmp_path), image_size=8)
    assert len(s.skipped) == 1 and "broken.png" in s.skipped[0]
    assert len(s.train) + len(s.val) + len(s.test) == 12


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "data folder not found"),
    (lambda p: p.mkdir(), "no class folders"),
    (lambda p: (p / "rock").mkdir(parents=True), "has no images"),
])
def test_bad_folders_are_one_clear_error(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(UserError, match=message):
        make_splits(str(root))
