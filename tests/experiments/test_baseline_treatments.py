"""The three IG baseline treatments, with known outcomes under exactly compensated shifts.

Carried (``b' = T(b)``) is always invariant; recomputed (the baseline function applied to the perturbed input, what
a user who does not know about the perturbation does) is invariant exactly when the function commutes with the
shift: ``min`` and a reflect-padded blur do for a uniform shift, not for a checkerboard; recomputed black and white
are the fixed baseline.
"""
import pandas as pd
import pytest
import torch
import torch.nn as nn

from harness.attribution.baselines import blurred, constant, input_min
from harness.attribution.methods import IntegratedGradients
from harness.data.base import ImageSet
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.brightness_shift import BrightnessShift
from harness.perturbations.pattern_shift import PatternShift

CHW = (3, 16, 16)


@pytest.fixture(scope="module")
def scores():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 3))
    model = EncodedClassifier(net, Encoding.named("unit")).eval()
    x = torch.rand(4, *CHW, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    ig = dict(n_steps=16)
    methods = {"ig_black": IntegratedGradients(lambda v: constant(v, 0.0), **ig),
               "ig_white": IntegratedGradients(lambda v: constant(v, 1.0), **ig),
               "ig_min": IntegratedGradients(input_min, **ig),
               "ig_blurred": IntegratedGradients(lambda v: blurred(v, sigma=1.5), **ig)}
    conditions = [*BrightnessShift([0.3], compensated=[True]).conditions(model.encoding, CHW),
                  *PatternShift([0.3], cell=4, compensated=[True]).conditions(model.encoding, CHW)]
    ev = Evaluator(methods, Scorer(per_map=[]), ["carried", "fixed", "recomputed"], batch_size=4)
    return pd.DataFrame(ev(model, ImageSet(x, torch.zeros(4, dtype=torch.long)), conditions).rows)


def _ssim(scores, family, method, treatment):
    s = scores[(scores.perturbation == family) & (scores.method == method) & (scores.baseline_treatment == treatment)]
    assert len(s) == 4
    return s.ssim


@pytest.mark.parametrize("family", ["brightness_shift", "pattern_shift"])
@pytest.mark.parametrize("method", ["ig_black", "ig_white", "ig_min", "ig_blurred"])
def test_carried_baselines_are_always_invariant(scores, family, method):
    assert (_ssim(scores, family, method, "carried") > 0.999).all()


@pytest.mark.parametrize("method", ["ig_min", "ig_blurred"])
def test_recomputed_min_and_blur_commute_with_a_uniform_shift_only(scores, method):
    assert (_ssim(scores, "brightness_shift", method, "recomputed") > 0.999).all()
    assert _ssim(scores, "pattern_shift", method, "recomputed").mean() < 0.99


@pytest.mark.parametrize("family", ["brightness_shift", "pattern_shift"])
@pytest.mark.parametrize("method", ["ig_black", "ig_white"])
def test_recomputed_black_and_white_are_the_fixed_baseline(scores, family, method):
    fixed, recomputed = _ssim(scores, family, method, "fixed"), _ssim(scores, family, method, "recomputed")
    assert fixed.tolist() == recomputed.tolist() and fixed.mean() < 0.99
