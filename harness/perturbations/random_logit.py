"""The random-logit test (Sixt et al., "When Explanations Lie: Why Many Modified BP Attributions Fail", ICML 2020,
https://arxiv.org/abs/1912.09818): explain another class of the same image with the trained network.

The network and the input are unchanged; only the class explained changes: for every image a class other than the
one the network predicts, drawn uniformly and seeded per image and sample (the same class whatever the batch size
or device, and in a resumed run). A method whose map for that other class is nearly the same as for the predicted
class ignores the class: it shows the image, not the decision (Sixt et al. found this for modified back-propagation
rules such as Guided Backprop, LRP-αβ and DeepTaylor). Every pairwise measure compares the clean map (the predicted
class) with the random class's map; ``explained`` records the class drawn.

Quantus's ``RandomLogit`` (0.6) draws the other class the same way (the k-th of the classes other than the explained
one, k uniform) but from one NumPy seed per batch, so its draw depends on the batch's composition.
"""
from __future__ import annotations

import torch

from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch, Condition, Perturbation
from harness.common.schema import condition_columns
from harness.common.seeding import generators_for, seed_for


#: The family's name (the ``perturbation`` column) and its one regime.
FAMILY, REGIME = "random_logit", "random logit"


def other_class(target: torch.Tensor, n_classes: int, seeds: list[int]) -> torch.Tensor:
    """A class ``≠ target[i]`` per image, uniform over the ``n_classes − 1`` others, drawn by a generator seeded by
    ``seeds[i]`` ``(B,)``: the ``k``-th class other than the target, ``k ~ U{0, …, K − 2}`` (Quantus's mapping)."""
    if n_classes < 2:
        raise UserError(f"the random-logit test needs at least 2 classes; the network has {n_classes}")
    k = torch.stack([torch.randint(n_classes - 1, (), generator=g) for g in generators_for(seeds)])
    k = k.to(target.device)
    return k + (k >= target).long()


class RandomClass(Condition):
    """The trained network and the clean input; each draw explains a random class other than the predicted one.

    Args:
        n_samples: Draws per image (each a class drawn anew; with few classes, draws repeat).
        seed: The run's seed (with the image and the draw, it seeds the class).
    """

    axis = "random class explained"

    def __init__(self, n_samples: int = 1, seed: int = 0) -> None:
        super().__init__(condition_columns(FAMILY, 1.0, REGIME, "another class explained"))
        self.n_samples, self.seed = int(n_samples), int(seed)

    def explained_target(self, batch: Batch, logits_p: torch.Tensor, sample: int) -> torch.Tensor:
        seeds = [seed_for(self.seed, "random_logit", int(i), sample) for i in batch.image_ids.tolist()]
        return other_class(batch.target, logits_p.shape[1], seeds)


class RandomLogit(Perturbation):
    """The random-logit test as a family of one condition (see the module docstring).

    Args:
        n_samples: Random classes drawn per image (1: one, as Sixt et al. and Quantus).
        seed: Seed of the draws.
    """

    name = FAMILY

    def __init__(self, n_samples: int = 1, seed: int = 0) -> None:
        if int(n_samples) < 1:
            raise UserError(f"perturbation.n_samples must be >= 1, got {n_samples}")
        self.n_samples, self.seed = int(n_samples), int(seed)

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        return [RandomClass(self.n_samples, self.seed)]
