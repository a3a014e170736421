"""Equivariance: transforms, their inverses and valid pixels, and the known answers through the loop."""
import pandas as pd
import pytest
import torch
import torch.nn as nn

from harness.attribution.methods import InputXGradient, Saliency
from harness.attribution.smoothing import NoiseAveraged
from harness.data.base import ImageSet
from harness.common.errors import UserError
from harness.loop.evaluation import Evaluator
from harness.metrics.aggregate import aggregate
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
    kernels, to 90° rotations; every gradient-family map brought back is the clean one (SmoothGrad too: its noise
    moves with the image), compared pixel by pixel it is not."""
    rows = _equivariance_rows(perturbation)
    aligned, raw = rows[rows.aligned], rows[~rows.aligned]
    assert (aligned.ssim > 1 - 1e-9).all() and (aligned.spearman > 1 - 1e-9).all()
    assert set(aligned.method) == {"saliency", "ixg", "smoothgrad"}
    assert (raw.spearman < 0.9).all()


def _equivariance_rows(perturbation, still_noise: bool = False) -> pd.DataFrame:
    model = _model(symmetric=True)
    data = ImageSet(torch.rand(4, 3, 16, 16, dtype=torch.float64), torch.zeros(4, dtype=torch.long))
    conditions = perturbation.conditions(model.encoding, (3, 16, 16))
    if still_noise:  # the draws made in each view's own frame, as for an input that did not move
        for c in conditions:
            c.move_draws = lambda batch, sample: None
    scorer = Scorer(pairwise=["ssim", "spearman"], per_map=[], backend="torch")
    methods = {"saliency": Saliency(), "ixg": InputXGradient(), "smoothgrad": NoiseAveraged(n_samples=4)}
    return pd.DataFrame(Evaluator(methods, scorer)(model, data, conditions).rows)


def test_smoothgrad_noise_that_stays_put_counts_as_non_equivariance():
    """The control of the test above: with the noise drawn in each view's own frame, SmoothGrad's map brought back
    is not the clean one, while the deterministic methods' maps still are."""
    shift = Geometric(translations=[5], fill="circular", flips=[], rotations90=[], rotations=[], scales=[],
                      aligned=[True])
    rows = _equivariance_rows(shift, still_noise=True)
    assert (rows[rows.method != "smoothgrad"].spearman > 1 - 1e-9).all()
    assert (rows[rows.method == "smoothgrad"].spearman < 0.99).all()


def test_draws_move_like_the_image_and_keep_their_scale():
    """Exact transforms move draws exactly; resampled ones move them by nearest neighbour, so that the noise keeps
    its σ (bilinear interpolation would average neighbouring draws)."""
    eps = torch.randn(2, 5, 3, 32, 32)
    flip = GeometricCondition("flip", 1, True).move_draws(None, 0)
    assert torch.equal(flip(eps), eps.flip(-1))
    rot = GeometricCondition("rotation", 15.0, True).move_draws(None, 0)(eps)
    assert rot.shape == eps.shape and 0.95 < float(rot.std()) < 1.05  # corners included: no zero fill
    assert set(rot.flatten().tolist()) <= set(eps.flatten().tolist())  # every value is one of the draws
    shift = GeometricCondition("translation", 3, True, "constant").move_draws(None, 0)(eps)
    assert torch.equal(shift, eps.roll((3, 3), (-2, -1)))  # the draws wrap around whatever the image's fill


def test_continuity_along_a_circular_path_is_zero_brought_back():
    """A network that commutes with circular shifts: brought back, every map along the path equals the clean map
    (continuity 0, SmoothGrad included since its noise moves with the image); pixel by pixel, it is not."""
    model = _model(symmetric=False)
    data = ImageSet(torch.rand(3, 3, 16, 16, dtype=torch.float64), torch.zeros(3, dtype=torch.long))
    family = Geometric(translations=[], flips=[], rotations90=[], rotations=[], scales=[], fill="circular",
                       translation_path=[1, 2, 3])
    conditions = family.conditions(model.encoding, (3, 16, 16))
    assert [c.n_samples for c in conditions] == [3, 3]
    scorer = Scorer(pairwise=["continuity_ratio", "spearman"], per_map=[], backend="torch")
    methods = {"saliency": Saliency(), "ixg": InputXGradient(), "smoothgrad": NoiseAveraged(n_samples=3)}
    scores = pd.DataFrame(Evaluator(methods, scorer)(model, data, conditions).rows)
    agg = aggregate(scores)
    real = agg[~agg.method.isin(["random_map", "constant_map"])]
    assert len(real) == 2 * 3 * 3  # aligned × methods × images
    assert (real[real.aligned].continuity < 1e-9).all()
    assert (real[~real.aligned].continuity > 1e-3).all()
    per_sample = scores[~scores.aligned & (scores.method == "saliency")].groupby("image_id").continuity_ratio.max()
    pd.testing.assert_series_equal(per_sample, real[~real.aligned & (real.method == "saliency")]
                                   .set_index("image_id").continuity, check_names=False)


def test_configuration_mistakes_are_one_line():
    with pytest.raises(UserError, match="fill must be one of"):
        Geometric(fill="wrap")
    with pytest.raises(UserError, match="needs square images"):
        Geometric(rotations90=[90]).conditions(Encoding.named("unit"), (3, 16, 20))
    with pytest.raises(UserError, match="90, 180 or 270"):
        Geometric(rotations90=[45])


def test_a_beta_smoothed_or_nested_smoothgrad_moves_its_draws_too():
    """A wrapper around SmoothGrad (β-smoothing, or another noise average) passes the move on: the equivariant
    network still gives the clean map back."""
    from harness.attribution.beta_smoothed import BetaSmoothed
    shift = Geometric(translations=[5], fill="circular", flips=[], rotations90=[], rotations=[], scales=[],
                      aligned=[True])
    model = _model(symmetric=True)
    data = ImageSet(torch.rand(2, 3, 16, 16, dtype=torch.float64), torch.zeros(2, dtype=torch.long))
    scorer = Scorer(pairwise=["spearman"], per_map=[], backend="torch")
    methods = {"smooth_beta": BetaSmoothed(NoiseAveraged(n_samples=3), beta=10.0),
               "nested": NoiseAveraged(NoiseAveraged(n_samples=2), n_samples=2)}  # NoiseAveraged in NoiseAveraged
    rows = pd.DataFrame(Evaluator(methods, scorer)(model, data, shift.conditions(model.encoding, (3, 16, 16))).rows)
    assert set(rows.method) == {"smooth_beta", "nested"} and (rows.spearman > 1 - 1e-9).all()
