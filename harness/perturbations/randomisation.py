"""Sanity checks (Adebayo et al. 2018, https://arxiv.org/abs/1810.03292): perturb the model, not the input.

A method whose map hardly changes when the network's weights are random shows the image, not the model.

**Model randomisation** re-initialises *units* of the trained network with their own initialisers
(``reset_parameters``, PyTorch's defaults), each seeded from the run seed and its name, so a unit gets the same random
weights in every condition. Units, top-down (the reverse of registration order, as Quantus' MPRT): the highest
modules that are not containers and hold parameters, i.e. every layer with parameters of a plain CNN (the RPS and
digit CNNs) and the residual / dense blocks of torchvision architectures (plus their stem and head layers).

- ``cascading``: units 1…k from the top randomised together (magnitude k = 1, 2, …);
- ``independent``: unit k alone, the rest trained (magnitude k).

BatchNorm: by default its affine parameters are re-initialised and its running statistics kept (Adebayo et al. reset
trainable variables only); ``reset_batchnorm_stats: true`` also resets the statistics to mean 0 / variance 1, as
Quantus does (the layer then becomes nearly the identity). The class explained is the trained network's prediction.

**Data randomisation** trains the same architecture from scratch on a subset of the training images whose labels are
permuted by the seed, until it fits them, and explains its own prediction on the same test images.
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn

from harness.common.config_checks import check_choices
from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Condition, Context, OwnPrediction, Perturbation
from harness.common.schema import condition_columns
from harness.common.seeding import seed_for

log = logging.getLogger(__name__)

#: The families' names (the ``perturbation`` column) and their regimes: the model test randomises the layers
#: cumulatively from the top (cascading) or one at a time (independent).
MODEL_FAMILY, DATA_FAMILY = "model_randomisation", "data_randomisation"
CASCADING, INDEPENDENT, DATA_REGIME = "cascading", "independent", "data randomisation"
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def units(network: nn.Module) -> list[str]:
    """Names of the randomisation units of ``network``, top-down (see the module docstring)."""
    out: list[str] = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f"{prefix}.{name}" if prefix else name
            if not any(True for _ in child.parameters()):
                continue
            if isinstance(child, _CONTAINERS) or type(child) is nn.Module:
                visit(full, child)
            else:
                out.append(full)

    visit("", network)
    return out[::-1]


def randomise(network: nn.Module, names: Iterable[str], seed: int, reset_batchnorm_stats: bool = False) -> nn.Module:
    """A copy of ``network`` with the units ``names`` re-initialised (seeded per unit, drawn on the CPU so that every
    device gets the same weights); ``network`` is unchanged."""
    device = next(network.parameters()).device
    out = copy.deepcopy(network).cpu()
    for name in names:
        for sub, module in out.get_submodule(name).named_modules():
            if not any(True for _ in module.parameters(recurse=False)):
                continue
            if not hasattr(module, "reset_parameters"):
                raise UserError(f"cannot randomise '{name}.{sub}' ({type(module).__name__}): it has no "
                                "reset_parameters()")
            stats = {k: b.clone() for k, b in module.named_buffers(recurse=False)}
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(seed_for(seed, "randomise", f"{name}.{sub}".rstrip(".")))
                module.reset_parameters()
                if isinstance(module, nn.modules.batchnorm._NormBase) and not reset_batchnorm_stats:
                    for k, b in stats.items():
                        getattr(module, k).copy_(b)
    return out.to(device)


class RandomisedNetwork(Condition):
    """The trained network with some units re-initialised; the inputs are unchanged.

    Args:
        mode: ``cascading`` or ``independent``.
        depth: Position from the top of the (last) unit randomised, 1 = the output layer.
        names: The units to randomise.
        seed, reset_batchnorm_stats: See :func:`randomise`.
    """

    def __init__(self, mode: str, depth: int, names: list[str], seed: int, reset_batchnorm_stats: bool,
                 label: str = "") -> None:
        super().__init__(condition_columns(MODEL_FAMILY, float(depth), mode, label or names[-1]))
        self.names, self.seed, self.reset_stats = list(names), int(seed), bool(reset_batchnorm_stats)

    axis = "layers randomised from the top"

    def transform_network(self, network: nn.Module) -> nn.Module:
        return randomise(network, self.names, self.seed, self.reset_stats)


class ModelRandomisation(Perturbation):
    """Cascading and/or independent randomisation of every unit of the network (see the module docstring).

    Args:
        modes: ``cascading``, ``independent`` or both.
        seed: Seed of the random weights (with each unit's name).
        reset_batchnorm_stats: Also reset BatchNorm running statistics (Quantus) instead of keeping them (Adebayo).
        max_depth: Randomise only the top ``max_depth`` units (None: all).
    """

    name = MODEL_FAMILY

    def __init__(self, modes: Any = (CASCADING, INDEPENDENT), seed: int = 0, reset_batchnorm_stats: bool = False,
                 max_depth: int | None = None) -> None:
        self.modes = check_choices(modes, "perturbation.modes", (CASCADING, INDEPENDENT))
        self.seed, self.reset_stats, self.max_depth = int(seed), bool(reset_batchnorm_stats), max_depth
        self.network: nn.Module | None = None

    def bind(self, context: Context) -> None:
        self.network = context.network

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        if self.network is None:
            raise UserError("model randomisation needs the network: bind it first (the harness does)")
        names = units(self.network)[: self.max_depth]
        if not names:
            raise UserError("the network has no layer with parameters to randomise")
        kinds = {n: type(self.network.get_submodule(n)).__name__ for n in names}
        out = []
        for mode in self.modes:
            for k in range(1, len(names) + 1):
                chosen = names[:k] if mode == CASCADING else [names[k - 1]]
                label = f"{names[k - 1]} {kinds[names[k - 1]]}"
                out.append(RandomisedNetwork(mode, k, chosen, self.seed, self.reset_stats, label))
        return out


class RetrainedNetwork(OwnPrediction):
    """The same architecture trained on permuted labels; it explains its own prediction."""

    axis = "labels permuted"

    def __init__(self, network: nn.Module, train_accuracy: float, n_train: int) -> None:
        super().__init__(condition_columns(DATA_FAMILY, 1.0, DATA_REGIME,
                                           f"labels permuted ({n_train} training images)"))
        self.network, self.train_accuracy = network, train_accuracy

    def transform_network(self, network: nn.Module) -> nn.Module:
        return self.network

    def info(self) -> dict[str, Any]:
        return {"train_accuracy_permuted_labels": self.train_accuracy}


class DataRandomisation(Perturbation):
    """Train the architecture on ``n_train`` training images with permuted labels until it fits them.

    Args:
        n_train: Training images used (a subset keeps this to minutes on a CPU).
        target_accuracy: Stop when the training accuracy on the permuted labels reaches this.
        max_epochs: ... or after this many epochs (the reached accuracy is reported either way).
        seed: Seed of the permutation, the initialisation and the shuffling.
    """

    name = DATA_FAMILY

    def __init__(self, n_train: int = 256, target_accuracy: float = 0.95, max_epochs: int = 60, seed: int = 0) -> None:
        if n_train < 2 or not 0 < target_accuracy <= 1 or max_epochs < 1:
            raise UserError(f"data randomisation needs n_train >= 2, 0 < target_accuracy <= 1, max_epochs >= 1; got "
                            f"{n_train}, {target_accuracy}, {max_epochs}")
        self.n_train, self.target, self.max_epochs, self.seed = int(n_train), float(target_accuracy), \
            int(max_epochs), int(seed)
        self.context: Context | None = None

    def bind(self, context: Context) -> None:
        self.context = context

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        from harness.perturbations.retrain import permuted_labels_network

        c = self.context
        if c is None or c.train_images is None or c.network is None:
            raise UserError("data randomisation needs the training images and the network (given by the harness; "
                            "in Python pass train_images and train_labels)")
        network, fitted, n = permuted_labels_network(c, self.n_train, self.target, self.max_epochs, self.seed)
        return [RetrainedNetwork(network, fitted, n)]

