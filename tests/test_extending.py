"""Extending the harness from outside it: a new family, a new measure and a new scorecard criterion, each written in
this file alone (no edit of the schema, the loop or the report), reach the scores, the tables and the scorecard."""
import pandas as pd
import pytest
import torch
import torch.nn as nn

from harness.attribution.methods import Saliency
from harness.data.base import ImageSet
from harness.loop.evaluation import Evaluator
from harness.metrics import registry
from harness.metrics.registry import Measure
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.base import Condition, Perturbation
from harness.report import criteria, scorecard
from harness.report.tables import normalise

#: The toy family's name and regime (as a family module defines them).
FAMILY, REGIME = "vertical_flip", "flipped upside down"


class VerticalFlip(Condition):
    """The image upside down; the maps are flipped back into the clean frame (the map frame, ``DESIGN.md``)."""

    def __init__(self) -> None:
        super().__init__({"perturbation": FAMILY, "magnitude": 1.0, "regime": REGIME, "condition": ""})

    def transform_inputs(self, batch, sample, explainer=None):
        return batch.z.flip(-2)

    def to_clean_frame(self, maps, batch, sample):
        return maps.flip(-2), None


class VerticalFlips(Perturbation):
    """The family: one condition."""

    name = FAMILY

    def conditions(self, encoding, image_shape):
        return [VerticalFlip()]


class FlipInvariant(nn.Module):
    """``g(z) = (f(z) + f(flip z)) / 2``: its gradient at the flipped image is the flipped gradient, exactly."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.f = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))

    def forward(self, z):
        return (self.f(z) + self.f(z.flip(-2))) / 2


def l1_change(a: torch.Tensor, b: torch.Tensor, pair, settings) -> torch.Tensor:
    """``(B,)`` mean |Φ(x) − Φ(x')| over the valid pixels: the new measure."""
    valid = torch.ones_like(a, dtype=torch.bool) if pair.valid is None else pair.valid
    return ((a - b).abs() * valid).flatten(1).sum(1) / valid.flatten(1).sum(1)


@pytest.fixture
def extended(monkeypatch):
    """The new measure in the registry and the new criterion in the scorecard, for this test only."""
    monkeypatch.setitem(registry.MEASURES, "l1_change",
                        Measure("l1_change", "mean |Φ(x) − Φ(x')|", "pairwise", "lower", 0.0, compute=l1_change))
    criterion = criteria.Criterion("flip_stability", "flip stability", "minus the mean |map change| under a vertical "
                                   "flip, maps brought back; higher is better.", criteria.ROBUSTNESS, "l1_change",
                                   where=(("perturbation", (FAMILY,)),), sign=-1.0)
    monkeypatch.setattr(criteria, "CRITERIA", (*criteria.CRITERIA, criterion))
    return criterion


def test_a_family_a_measure_and_a_criterion_added_from_outside(extended):
    net = FlipInvariant().double().eval()
    model = EncodedClassifier(net, Encoding.named("unit")).eval()
    data = ImageSet(torch.rand(5, 3, 8, 8, dtype=torch.float64), torch.zeros(5, dtype=torch.long))
    evaluator = Evaluator({"saliency": Saliency()}, Scorer(pairwise=["ssim", "l1_change"], per_map=[]), batch_size=2)
    rows = pd.DataFrame(evaluator(model, data, VerticalFlips().conditions(model.encoding, (3, 8, 8))).rows)
    saliency = rows[rows.method == "saliency"]
    assert len(saliency) == 5 and set(saliency.perturbation) == {FAMILY}
    # the known answer: a flip-invariant network's gradient moves with the image, so brought back it is unchanged
    assert (saliency.l1_change < 1e-12).all() and (saliency.ssim > 1 - 1e-9).all()
    card = scorecard.scorecard(normalise(rows.assign(run="flip")))
    assert extended.name in card.columns
    assert card.set_index("variant").loc["saliency", extended.name] == pytest.approx(0.0, abs=1e-12)
