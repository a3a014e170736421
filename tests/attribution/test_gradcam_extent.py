"""Grad-CAM needs a feature map with spatial extent: a 1×1 map is one number broadcast over the image."""
import logging

import pytest
import torch

from harness.attribution.gradcam import GradCAM
from harness.attribution.layers import layer_info, resolve_layer
from harness.attribution.methods import Captum
from harness.common.errors import UserError
from harness.metrics.precision import is_constant
from harness.models.torchvision_models import build


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return build("resnet18", num_classes=10).eval()  # untrained weights are enough


def test_default_layer_of_a_resnet18_at_32x32_is_the_deepest_stage_with_extent(resnet18, caplog):
    sample = torch.zeros(1, 3, 32, 32)
    with caplog.at_level(logging.WARNING):
        info = layer_info(resnet18, None, sample)
    assert info["layer"] == "layer3" and info["feature_map"] == [2, 2]
    assert "'layer4' has a 1×1 feature map at 32×32" in info["note"]
    assert resolve_layer(resnet18, None, sample) is resnet18.layer3
    method = GradCAM()
    method.check(resnet18, sample)
    assert method.info() == info  # what run_info.json records
    x = torch.rand(4, 3, 32, 32)
    maps = method.attribute(resnet18, x, resnet18(x).argmax(1)).squeeze(1)
    assert maps.shape == (4, 32, 32) and not is_constant(maps).all()
    # at 64×64 the default stays the last stage
    assert layer_info(resnet18, None, torch.zeros(1, 3, 64, 64)) == {"layer": "layer4", "feature_map": [2, 2]}


@pytest.mark.parametrize("make", [lambda: GradCAM(layer="layer4"),
                                  lambda: Captum(attribution=__import__("captum").attr.GuidedGradCam,
                                                 layer="layer4")])
def test_a_named_1x1_layer_is_refused_with_the_layers_that_would_do(resnet18, make):
    with pytest.raises(UserError) as err:
        make().check(resnet18, torch.zeros(1, 3, 32, 32))
    text = str(err.value)
    assert "'layer4' has a 1×1 feature map at 32×32 inputs" in text and "layer3: 2×2" in text
    assert "data.image_size" in text and "\n" not in text
