import gzip
import struct

import numpy as np
import pytest

from harness.data.digits import make_splits as digits
from harness.data.torchvision_datasets import make_splits as tv
from harness.common.errors import UserError


def test_digits_real_offline_data():
    s = digits(image_size=16, seed=0)
    assert s.classes == tuple(str(d) for d in range(10))
    assert s.train.images.shape[1:] == (1, 16, 16) and len(s.train) + len(s.val) + len(s.test) == 1797
    assert s.test.masks is not None and s.test.masks.any()


def _idx(path, arr):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape))
        f.write(arr.astype(np.uint8).tobytes())


def test_torchvision_mnist_from_a_local_folder(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("t10k", 10)):
        _idx(raw / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _idx(raw / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
        for suffix in ("images-idx3-ubyte", "labels-idx1-ubyte"):  # torchvision reads the unpacked files
            with gzip.open(raw / f"{split}-{suffix}.gz") as f:
                (raw / f"{split}-{suffix}").write_bytes(f.read())
    s = tv("MNIST", str(tmp_path), image_size=16, val_fraction=0.25)
    assert (len(s.train), len(s.val), len(s.test)) == (15, 5, 10)
    assert s.train.images.shape[1:] == (1, 16, 16)


def test_torchvision_missing_files_and_unknown_name(tmp_path):
    with pytest.raises(UserError, match="not found"):
        tv("MNIST", str(tmp_path))
    with pytest.raises(UserError, match="valid choices: MNIST"):
        tv("ImageNet", str(tmp_path))
