import torch

from harness.attribution.gradcam import GradCAM
from harness.attribution.layers import resolve_layer
from harness.common.errors import UserError
from harness.models import checkpoint
from harness.models.torchvision_models import build
from harness.perturbations.affine import AffineMap
from harness.perturbations.compensate import compensate

import pytest


@pytest.mark.parametrize("name, layer", [("resnet18", "layer4"), ("vgg11", "features")])
def test_torchvision_models_compensate_exactly_and_pick_a_gradcam_layer(name, layer):
    torch.manual_seed(0)
    net = build(name, num_classes=3).eval()
    assert resolve_layer(net, None, torch.zeros(1, 3, 64, 64)) is net.get_submodule(layer)  # 2×2 at 64×64
    z = torch.randn(2, 3, 64, 64)
    amap = AffineMap(torch.tensor([2.0, 0.5, 1.0]).view(3, 1, 1), torch.tensor([0.3, -0.1, 0.2]).view(3, 1, 1))
    f, f2 = net(z), compensate(net, amap, (3, 64, 64))(amap(z))
    assert ((f - f2).abs().max() / f.abs().max()).item() < 1e-4
    assert GradCAM().attribute(net, z, torch.tensor([0, 1])).shape == (2, 1, 64, 64)


def test_torchvision_weights_file(tmp_path):
    net = build("resnet18", num_classes=3)
    torch.save(net.state_dict(), tmp_path / "w.pth")
    other = build("resnet18", num_classes=3, weights_path=str(tmp_path / "w.pth"))
    assert torch.equal(other.fc.weight, net.fc.weight)
    with pytest.raises(UserError, match=r"was trained on 3 classes but the data has 10"):
        build("resnet18", num_classes=10, weights_path=str(tmp_path / "w.pth"))
    with pytest.raises(UserError, match="weights file not found"):
        build("resnet18", weights_path=str(tmp_path / "nope.pth"))
    with pytest.raises(UserError, match="unknown torchvision model"):
        build("resnet1800")


def test_corrupted_cache_file_is_detected(tmp_path):
    path = tmp_path / "c.pt"
    checkpoint.save(path, build("resnet18", num_classes=3), "imagenet", {})
    assert checkpoint.verified(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not checkpoint.verified(path)
