"""End to end on the CIFAR-sized setting: a torchvision ResNet-18 at 32×32, whose last stage is 1×1 there."""
import json

import pandas as pd
import pytest

from harness.common.errors import UserError

RESNET_32 = ["model=torchvision", "model.name=resnet18", "model.train=false", "data.image_size=32", "data.n_train=30",
             "data.n_val=10", "data.n_test=6", "attribution.n_images=4", "attribution.include=[saliency,gradcam]",
             "perturbation.magnitudes=[0.5]", "report.figures=false"]


def test_resnet18_at_32x32_explains_with_a_layer_that_has_extent(run_app):
    out = run_app(RESNET_32)
    info = json.loads((out / "run_info.json").read_text())
    assert info["methods"]["gradcam"]["layer"] == "layer3" and info["methods"]["gradcam"]["feature_map"] == [2, 2]
    scores = pd.read_csv(out / "scores.csv")
    cam = scores[scores.method == "gradcam"]
    # no Grad-CAM score comes from a map that is constant up to precision: such rows are NaN with the reason
    defined = cam.dropna(subset=["ssim"])
    assert not defined.map_constant.any() and not defined.map_constant_clean.any()
    flagged = cam[cam.map_constant | cam.map_constant_clean]
    assert flagged.ssim.isna().all() and flagged.nan_reason.str.contains("constant").all()


def test_resnet18_at_32x32_with_layer4_named_is_refused(run_app):
    with pytest.raises(UserError, match=r"'layer4' has a 1×1 feature map at 32×32 inputs.*layer3: 2×2"):
        run_app([*RESNET_32, "attribution.methods.gradcam.layer=layer4"])
