"""The map frame through the loop: a condition that moves the image brings its maps back (known answers)."""
import pandas as pd
import torch
import torch.nn as nn

from harness.attribution.methods import InputXGradient, Saliency
from harness.data.base import ImageSet
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.base import Condition


class CircularShift(Condition):
    """Rolls the image by ``k`` pixels (both axes); ``aligned`` rolls the maps back."""

    def __init__(self, k: int, aligned: bool) -> None:
        super().__init__({"perturbation": "shift", "magnitude": float(k), "regime": f"aligned={aligned}",
                          "condition": ""})
        self.k, self.aligned = k, aligned

    def transform_inputs(self, batch, sample, explainer=None):
        return batch.z.roll((self.k, self.k), (-2, -1))

    def to_clean_frame(self, maps, batch, sample):
        return (maps.roll((-self.k, -self.k), (-2, -1)), None) if self.aligned else (maps, None)


def _equivariant_network() -> nn.Module:
    """Circular padding and global average pooling: exactly equivariant to circular shifts (up to float summation
    order in the pooling)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, padding_mode="circular"), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, padding_mode="circular"), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).double()


def test_a_circular_shift_brought_back_gives_the_clean_map():
    net = _equivariant_network()
    model = EncodedClassifier(net, Encoding.named("unit")).eval()
    data = ImageSet(torch.rand(4, 3, 16, 16, dtype=torch.float64), torch.zeros(4, dtype=torch.long))
    scorer = Scorer(pairwise=["ssim", "spearman", "rel_change"], per_map=[], backend="torch")
    ev = Evaluator({"saliency": Saliency(), "ixg": InputXGradient()}, scorer, batch_size=4)
    rows = pd.DataFrame(ev(model, data, [CircularShift(5, True), CircularShift(5, False)]).rows)
    aligned, raw = rows[rows.regime == "aligned=True"], rows[rows.regime == "aligned=False"]
    assert (aligned.ssim > 1 - 1e-9).all() and (aligned.spearman > 1 - 1e-9).all()
    assert (aligned.rel_change < 1e-9).all()
    assert (raw.ssim < 0.9).all() and (raw.spearman < 0.9).all()  # compared pixel by pixel, the map "moved"
