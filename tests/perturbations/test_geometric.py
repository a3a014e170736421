"""Equivariance: transforms, their inverses and valid pixels, and the known answers through the loop."""
import pandas as pd
import pytest
import torch
import torch.nn as nn

from harness.attribution.methods import InputXGradient, Saliency
from harness.data.base import ImageSet
from harness.errors import UserError
from harness.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.geometric import Geometric, GeometricCondition


@pytest.mark.parametrize("transform, magnitude, fill", [("translation", 3, "reflect"), ("translation", 3, "constant"),
                                                        ("translation", 3, "circular"), ("flip", 1, ""),
                                                        ("flip", 2, ""), ("rotation90", 90, ""),
                                                        ("rotation90", 270, "")])
def test_exact_transforms_come_back_on_their_valid_pixels(transform, magnitude, fill):
    cond = GeometricCondition(transform, magnitude, True, fill or "reflect")
    m = torch.rand(2, 12, 12)
    back, valid = cond.backward(cond.forward(m.unsqueeze(1)).squeeze(1))
    valid = torch.ones_like(m, dtype=torch.bool) if valid is None else valid
    assert torch.equal(back[valid], m[valid])
    expected = (12 - 3) ** 2 if transform == "translation" and fill != "circular" else 144
    assert int(valid[0].sum()) == expected


def test_small_rotations_and_scalings_come_back_inside_the_valid_region():
    smooth = torch.linspace(0, 1, 32).view(1, 1, 32).expand(2, 32, 32).clone()  # a ramp survives resampling
    for transform, magnitude in (("rotation", 10.0), ("scale", 1.1), ("scale", 0.9)):
        cond = GeometricCondition(transform, magnitude, True)
        back, valid = cond.backward(cond.forward(smooth.unsqueeze(1)).squeeze(1))
        assert 0.3 * smooth[0].numel() < int(valid[0].sum()) < smooth[0].numel()
        assert (back - smooth)[valid].abs().max() < 0.05


def _model(symmetric: bool) -> EncodedClassifier:
    torch.manual_seed(0)
    conv1 = nn.Conv2d(3, 8, 3, padding=1, padding_mode="circular")
    conv2 = nn.Conv2d(8, 8, 3, padding=1, padding_mode="circular")
    if symmetric:  # kernels invariant under 90° rotations: the network commutes with rot90
        for conv in (conv1, conv2):
            w = conv.weight.data
            conv.weight.data = sum(torch.rot90(w, k, dims=(2, 3)) for k in range(4)) / 4
    net = nn.Sequential(conv1, nn.ReLU(), conv2, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    return EncodedClassifier(net.double(), Encoding.named("unit")).eval()


@pytest.mark.parametrize("perturbation", [
    Geometric(translations=[5], fill="circular", flips=[], rotations90=[], rotations=[], scales=[]),
    Geometric(translations=[], flips=[], rotations90=[90, 180], rotations=[], scales=[]),
])
def test_equivariant_networks_give_the_clean_map_back(perturbation):
    """Circular padding and global pooling: exactly equivariant to circular shifts and, with rotation-symmetric
    kernels, to 90° rotations; every gradient-family map brought back is the clean one, compared pixel by pixel it is
    not."""
    model = _model(symmetric=True)
    data = ImageSet(torch.rand(4, 3, 16, 16, dtype=torch.float64), torch.zeros(4, dtype=torch.long))
    conditions = perturbation.conditions(model.encoding, (3, 16, 16))
    scorer = Scorer(pairwise=["ssim", "spearman"], per_map=[], backend="torch")
    rows = pd.DataFrame(Evaluator({"saliency": Saliency(), "ixg": InputXGradient()}, scorer)(model, data, conditions).rows)
    aligned, raw = rows[rows.aligned], rows[~rows.aligned]
    assert (aligned.ssim > 1 - 1e-9).all() and (aligned.spearman > 1 - 1e-9).all()
    assert (raw.spearman < 0.9).all()


def test_configuration_mistakes_are_one_line():
    with pytest.raises(UserError, match="fill must be one of"):
        Geometric(fill="wrap")
    with pytest.raises(UserError, match="needs square images"):
        Geometric(rotations90=[90]).conditions(Encoding.named("unit"), (3, 16, 20))
    with pytest.raises(UserError, match="90, 180 or 270"):
        Geometric(rotations90=[45])
