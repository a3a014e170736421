"""The random-logit test (Sixt et al. 2020): another class of the same image, on the trained network."""
import pandas as pd
import torch
import torch.nn as nn

from harness.attribution.methods import Method, Saliency
from harness.data.base import ImageSet
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.random_logit import RandomLogit, other_class


def test_the_other_class_is_never_the_target_uniform_and_seeded_per_image():
    target = torch.tensor([0, 1, 2, 3, 4] * 400)
    seeds = list(range(len(target)))
    drawn = other_class(target, 5, seeds)
    assert (drawn != target).all() and drawn.min() >= 0 and drawn.max() <= 4
    counts = torch.bincount(drawn[target == 2], minlength=5).float()
    assert counts[2] == 0 and (counts[[0, 1, 3, 4]] / counts.sum() - 0.25).abs().max() < 0.08
    assert torch.equal(other_class(target[3:9], 5, seeds[3:9]), drawn[3:9])  # per image, whatever the batch
    assert (other_class(torch.tensor([0, 1]), 2, [5, 6]) == torch.tensor([1, 0])).all()  # two classes: the other


class _ImageOnly(Method):
    """A "method" that shows the image whatever the class (what the random-logit test catches)."""

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        return z.clone()


def test_a_map_that_ignores_the_class_scores_one_and_a_linear_model_its_other_row():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).eval()
    model = EncodedClassifier(net, Encoding.named("unit"))
    data = ImageSet(torch.rand(6, 3, 8, 8), torch.zeros(6, dtype=torch.long))
    cond = RandomLogit(seed=3).conditions(model.encoding, (3, 8, 8))
    ev = Evaluator({"image": _ImageOnly(), "saliency": Saliency()}, Scorer(pairwise=["ssim", "spearman"], per_map=[]),
                   reduction="sum", batch_size=4, seed=3)
    rows = pd.DataFrame(ev(model, data, cond).rows)
    assert (rows.explained != rows.pred).all() and (rows.regime == "random logit").all()
    image = rows[rows.method == "image"]
    assert (image.ssim > 1 - 1e-9).all() and (image.spearman > 1 - 1e-9).all()
    # the gradient of a linear model is its weight row: the map of the other class is that class's row
    from harness.metrics.similarity import spearman

    w = net[1].weight.detach().view(4, 3, 8, 8).sum(1).double().numpy()
    grad = rows[rows.method == "saliency"]
    expected = [spearman(w[p], w[e]) for p, e in zip(grad.pred, grad.explained)]
    assert max(abs(grad.spearman.to_numpy() - expected)) < 1e-9 and grad.spearman.max() < 0.5
