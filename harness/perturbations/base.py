"""Conditions: every perturbed setting of an experiment, as data with one small interface.

A :class:`Condition` says how a batch of images changes (its model inputs, per sample), which network explains
them (the original, an exactly or naively compensated copy, a randomised copy, ...), how an Integrated-Gradients
baseline is carried through the change, whether the logits must be preserved, and which plain values describe it
in ``scores.csv`` (:attr:`Condition.columns`). The evaluation loop only asks these questions and never branches on
the kind of condition; the report groups rows by the columns and never parses a key. A new family of perturbations
is one :class:`Perturbation` subclass (building its conditions) plus one config file.

Every family writes the standard columns :data:`STANDARD_COLUMNS`: ``perturbation`` (the family), ``magnitude``
(the x axis of the figures), ``regime`` (the panels of the figures) and ``condition`` (what the magnitude does not
say, e.g. ``unit→imagenet``); it may add its own (``compensated``, ``exact``, ``noise``, ...).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from harness.common.config_checks import as_list
from harness.models.encoding import Encoding
from harness.common.schema import STANDARD_COLUMNS


@dataclass(frozen=True)
class Batch:
    """A batch of test images as the conditions see it.

    Attributes:
        x: Pixel-space images ``(B, C, H, W)`` in ``[0, 1]``.
        z: Their model inputs ``encoding.encode(x)`` ``(B, C, H, W)``.
        image_ids: ``(B,)`` int64 positions of the images in the test split (seeds per image derive from them).
        target: ``(B,)`` the classes explained: the original network's prediction on the clean input.
        encoding: The model's input encoding.
        seed: The run's seed.
    """

    x: torch.Tensor
    z: torch.Tensor
    image_ids: torch.Tensor
    target: torch.Tensor
    encoding: Encoding
    seed: int = 0


@dataclass(frozen=True)
class Explainer:
    """The method a per-method condition (an attack) works against, as the evaluation loop runs it.

    Attributes:
        name: The method's configured name.
        method: The method.
        network: The network it explains (the original one).
        baseline: Its clean baseline in model input space (for methods that take one).
        seeds: ``(B, 2)`` the seeds its random draws use.
        reduction: The channel reduction of its maps.
    """

    name: str
    method: Any
    network: nn.Module
    baseline: torch.Tensor | None
    seeds: torch.Tensor
    reduction: str


class Condition:
    """One perturbed setting. The base class is the identity; families override what they change.

    Attributes:
        columns: Plain values describing the condition in ``scores.csv`` (at least :data:`STANDARD_COLUMNS`).
        n_samples: Perturbed copies of each image (1 for a deterministic condition; noise draws for a random one).
        tolerance: If set, the run checks ``f'(z') = f(z)`` within ``tolerance × max|logit|`` (the network
            transform is meant to undo the input transform).
        strict: A failed logit check stops the run (True) or is a logged warning, the difference being in
            ``max_logit_diff`` (False: e.g. the naive compensation, whose error is the point).
        per_method: The perturbed inputs are made for each method separately (an attack on its explanation): the
            loop calls :meth:`transform_inputs` once per method, with an :class:`Explainer`.
        axis: What the ``magnitude`` column measures, for the figures' x axis.
        compared_with: The condition whose view (its sample 0) this condition's maps are compared with; None (the
            default) compares them with the clean view. A condition applied under another
            (:class:`~harness.perturbations.compose.Under`) is compared with the other's view: its pairwise measures
            are then those of a run on that condition's network and inputs. That condition must be one of the run's
            conditions, with one sample.
        score_maps: Whether the per-map measures are computed for this condition's maps (False: their columns stay
            empty, e.g. where only the pairwise measures are wanted).
    """

    n_samples: int = 1
    compared_with: Condition | None = None
    score_maps: bool = True
    tolerance: float | None = None
    strict: bool = True
    per_method: bool = False
    #: what the ``magnitude`` column measures (the x axis of the figures)
    axis: str = "perturbation magnitude"

    def __init__(self, columns: Mapping[str, Any]) -> None:
        missing = [c for c in STANDARD_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"a condition's columns need {missing}")
        self.columns = dict(columns)

    @property
    def key(self) -> str:
        """A stable, unique, file-name-safe identifier built from the columns (an identifier only: never parsed)."""
        parts = [f"{k}={_text(v)}" for k, v in self.columns.items() if v is not None and v != ""]
        return ",".join(parts).replace("/", "∕")

    def transform_inputs(self, batch: Batch, sample: int, explainer: Explainer | None = None) -> torch.Tensor:
        """Model inputs ``(B, C, H, W)`` of draw ``sample`` (deterministic, or seeded per image and sample); for a
        :attr:`per_method` condition, made against ``explainer``."""
        return batch.z

    def transform_network(self, network: nn.Module) -> nn.Module:
        """The network that explains the perturbed inputs (called once per run; ``network`` is not modified)."""
        return network

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        """An IG baseline (model input space) carried through this condition's input transform."""
        return baseline

    def explained_target(self, batch: Batch, logits_p: torch.Tensor, sample: int) -> torch.Tensor:
        """``(B,)`` the classes that draw ``sample``'s maps explain, given the condition's network's logits
        ``logits_p`` ``(B, K)`` on its inputs. By default the clean input's predicted class ``batch.target``, so that
        the perturbed map explains the same decision as the clean one; a retrained network explains its own
        prediction (:class:`OwnPrediction`), the random-logit test another class of the same image."""
        return batch.target

    def to_clean_frame(self, maps: torch.Tensor, batch: Batch, sample: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The map frame: maps ``(B, H, W)`` of draw ``sample``'s inputs brought back into the clean image's frame, and
        the pixels ``(B, H, W)`` bool valid in both frames (None: all). A condition that moves the image's content
        (translation, rotation, flip, scale) undoes the move here, so that the perturbed map is compared with the
        clean one where both explain the same content; every pairwise measure then uses the valid pixels only
        (:mod:`harness.metrics.pairwise`). The identity by default."""
        return maps, None

    def move_draws(self, batch: Batch, sample: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """How draw ``sample`` moves the image's content, as a function on clean-frame tensors ``(..., C, H, W)``
        (positions only), or None if the content does not move (the default). A method that draws noise in the
        image's frame (SmoothGrad) moves the clean image's draws with it, so that its Monte-Carlo noise is not
        counted as a change of the map (:attr:`~harness.attribution.methods.Method.draws_in_frame`)."""
        return None

    def info(self) -> dict[str, Any]:
        """Facts about the condition worth recording in ``run_info.json`` (e.g. a retrained network's accuracy)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key})"


class OwnPrediction(Condition):
    """A condition whose maps explain its own network's prediction on its inputs (a network retrained on other
    labels has no reason to rank the classes like the original)."""

    def explained_target(self, batch: Batch, logits_p: torch.Tensor, sample: int) -> torch.Tensor:
        return logits_p.argmax(1)


@dataclass
class Context:
    """What a family may need beyond the encoding (the trained network, the training data, where to cache), given by
    the harness through :meth:`Perturbation.bind` before it asks for the conditions.

    Attributes:
        network: The trained network (model input → logits).
        encoding: Its input encoding.
        train_images, train_labels: The training split ``(N, C, H, W)`` in pixel space and ``(N,)``.
        train_cfg: How the network was trained (``harness/configs/train``).
        device: Where to compute.
        cache_dir: Where trained networks are cached.
        model_key: What identifies the trained network (for cache keys of networks derived from it).
    """

    network: nn.Module | None = None
    encoding: Encoding | None = None
    train_images: torch.Tensor | None = None
    train_labels: torch.Tensor | None = None
    train_cfg: Any = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    cache_dir: Any = None
    model_key: Any = None


class Perturbation:
    """A family of conditions, as configured (``harness/configs/perturbation/*.yaml``)."""

    name = "perturbation"

    def bind(self, context: Context) -> None:
        """Take what the family needs from ``context`` (most families need nothing)."""

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        """Every condition of this family for a model with ``encoding`` and inputs ``(C, H, W)``."""
        raise NotImplementedError


def add_in_pixels(encoding: Encoding, z: torch.Tensor, delta: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Model inputs ``z`` moved by ``delta`` in pixel space (optionally clipped to ``[0, 1]``) and encoded again:
    noise and random-sign perturbations of an image, and the same perturbation of a carried baseline."""
    x = encoding.decode(z) + delta
    return encoding.encode(x.clamp(0.0, 1.0) if clip else x)


def _text(v: Any) -> str:
    return f"{v:+g}" if isinstance(v, float) else str(v)


class Families(Perturbation):
    """Several families in one run (e.g. model and data randomisation): their conditions, one after the other.

    Args:
        families: The families (each a configured :class:`Perturbation`).
    """

    def __init__(self, families: Sequence[Perturbation]) -> None:
        self.families = list(as_list(families, "perturbation.families"))

    def bind(self, context: Context) -> None:
        for family in self.families:
            family.bind(context)

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        return [c for family in self.families for c in family.conditions(encoding, image_shape)]
