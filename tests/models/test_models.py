import pytest
import torch
import torch.nn as nn

from harness.common.errors import UserError
from harness.models import checkpoint
from harness.models.encoding import Encoding
from harness.models.rps_cnn import build_rps_cnn


def test_blog_architecture_at_150px():
    net = build_rps_cnn(image_size=150, width=1.0)
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert len(convs) == 6 and sum(isinstance(m, nn.MaxPool2d) for m in net) == 3
    assert [(m.in_features, m.out_features) for m in linears] == [(82944, 1024), (1024, 512), (512, 3)]


@pytest.mark.parametrize("size", [64, (48, 80)])
def test_output_shape(size):
    net = build_rps_cnn(image_size=size, width=0.25)
    h, w = (size, size) if isinstance(size, int) else size
    assert net(torch.rand(2, 3, h, w)).shape == (2, 3)


@pytest.mark.parametrize("name", ["unit", "imagenet", "symmetric", "byte"])
def test_encoding_roundtrip(name):
    enc = Encoding.named(name)
    x = torch.rand(2, 3, 4, 4)
    assert torch.allclose(enc.decode(enc.encode(x)), x, atol=1e-5)


def test_encoding_values():
    x = torch.zeros(1, 3, 1, 1)
    assert torch.allclose(Encoding.named("symmetric").encode(x), -torch.ones(1, 3, 1, 1))
    assert Encoding.named("imagenet").encode(x)[0, 0, 0, 0] == pytest.approx(-0.485 / 0.229)


def test_unknown_encoding_lists_choices():
    with pytest.raises(UserError, match="unit, imagenet, symmetric, byte"):
        Encoding.named("zscore")


def test_checkpoint_roundtrip(tmp_path):
    net = build_rps_cnn(image_size=32, width=0.25)
    path = tmp_path / "m.pt"
    checkpoint.save(path, net, "imagenet", {"note": "x"})
    payload = checkpoint.load(path)
    assert payload["encoding"] == "imagenet" and payload["meta"] == {"note": "x"}
    other = build_rps_cnn(image_size=32, width=0.25)
    checkpoint.load_weights(other, payload["state_dict"], str(path))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))


def test_checkpoint_shape_mismatch_names_both_shapes(tmp_path):
    path = tmp_path / "m.pt"
    checkpoint.save(path, build_rps_cnn(image_size=32, width=0.25), "unit", {})
    with pytest.raises(UserError, match=r"is \(8, 3, 3, 3\) in the checkpoint but \(16, 3, 3, 3\)"):
        checkpoint.load_weights(build_rps_cnn(image_size=32, width=0.5), checkpoint.load(path)["state_dict"], "m.pt")


def test_missing_or_bad_checkpoint(tmp_path):
    with pytest.raises(UserError, match="not found"):
        checkpoint.load(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        checkpoint.load(tmp_path / "bad.pt")
