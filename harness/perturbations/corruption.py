"""Natural corruptions: the common corruptions of Hendrycks & Dietterich (ICLR 2019,
https://arxiv.org/abs/1903.12261) at severities 1–5 with the paper's parameters.

Each condition applies one corruption at one severity to the image in pixel space, ``x' = c(x)``, and the same
network explains ``x'`` (``corruption`` and ``severity`` columns; ``magnitude`` = severity; the panel of the figures
is the corruption). A corruption does not preserve the prediction: scores are read split by what the model did
(``pred_agrees``): map similarity where the prediction is kept (consistency) and map change where it flips
(responsiveness), the report's split measures (``report.split``; :mod:`harness.metrics.split`).

The operations are ports of the paper's code (``ImageNet-C/create_c/make_imagenet_c.py``), batched in torch on the
images' device (:mod:`~harness.perturbations.corruption_ops`, :mod:`~harness.perturbations.corruption_spatial`):

- noise: ``gaussian_noise``, ``shot_noise``, ``impulse_noise``;
- blur: ``defocus_blur``, ``gaussian_blur``, ``motion_blur``;
- weather: ``fog``, ``brightness``;
- digital: ``contrast``, ``saturate``, ``pixelate``, ``jpeg_compression``, ``elastic_transform``.

(``gaussian_blur`` and ``saturate`` are among the paper's four held-out corruptions.) The paper's sizes are for
224 × 224 images; blur radii, motion trails and the elastic field scale with ``min(H, W) / reference_size``
(``reference_size: 224``; set it to the image side to use the paper's pixel sizes unchanged); pixelation is a
fraction of the side and fog's fractal spans the image at any size (:mod:`~harness.perturbations.corruption_spatial`).
Random corruptions (noise, motion blur's angle, the elastic field, fog) draw from a generator seeded by (run seed,
corruption, image, sample) only: a resumed run draws the same, and every severity scales the same draws where the
corruption allows (common random numbers).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from harness.common.config_checks import as_list, check_choices
from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations import corruption_ops as ops
from harness.perturbations import corruption_spatial as spatial
from harness.perturbations.base import Batch, Condition, Perturbation
from harness.common.schema import CORRUPTION, CORRUPTION_GROUP, SEVERITY, condition_columns
from harness.common.seeding import generators_for, seed_for

_S = 244  # the paper's elastic sizes are written as multiples of 244 ("should have been 224")


@dataclass(frozen=True)
class Corruption:
    """One corruption: its group, its operation ``op(x, param, scale, gens)`` and its parameter per severity 1–5.

    Attributes:
        group: ``noise``, ``blur``, ``weather`` or ``digital`` (the paper's groups).
        op: ``(x (B, C, H, W), parameter, scale, generators or None) -> (B, C, H, W)`` in pixel space.
        params: The paper's parameter at severities 1–5.
        random: Whether it draws random numbers (then seeded per image and sample).
        rgb_only: Whether it needs three channels (saturation changes nothing on a grey image).
    """

    group: str
    op: Callable[..., torch.Tensor]
    params: tuple[Any, ...]
    random: bool = False
    rgb_only: bool = False


def _plain(fn: Callable) -> Callable:
    return lambda x, p, scale, gens: fn(x, p)


def _seeded(fn: Callable) -> Callable:
    return lambda x, p, scale, gens: fn(x, p, gens)


def _sized(fn: Callable) -> Callable:
    return lambda x, p, scale, gens: fn(x, p, scale)


#: name → corruption, with the parameters of ``make_imagenet_c.py`` (severity 1 first).
CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": Corruption("noise", _seeded(ops.gaussian_noise), (.08, .12, .18, .26, .38), True),
    "shot_noise": Corruption("noise", _seeded(ops.shot_noise), (60, 25, 12, 5, 3), True),
    "impulse_noise": Corruption("noise", _seeded(ops.impulse_noise), (.03, .06, .09, .17, .27), True),
    "defocus_blur": Corruption("blur", _sized(spatial.defocus_blur),
                               ((3, .1), (4, .5), (6, .5), (8, .5), (10, .5))),
    "gaussian_blur": Corruption("blur", _sized(spatial.gaussian_blur), (1, 2, 3, 4, 6)),
    "motion_blur": Corruption("blur", spatial.motion_blur, ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)), True),
    "fog": Corruption("weather", _seeded(spatial.fog), ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)), True),
    "brightness": Corruption("weather", _plain(ops.brightness), (.1, .2, .3, .4, .5)),
    "contrast": Corruption("digital", _plain(ops.contrast), (.4, .3, .2, .1, .05)),
    "saturate": Corruption("digital", _plain(ops.saturate), ((.3, 0), (.1, 0), (2, 0), (5, .1), (20, .2)),
                           rgb_only=True),
    "pixelate": Corruption("digital", _plain(ops.pixelate), (.6, .5, .4, .3, .25)),
    "jpeg_compression": Corruption("digital", _plain(ops.jpeg), (25, 18, 15, 10, 7)),
    "elastic_transform": Corruption("digital", spatial.elastic, tuple(
        (_S * a, _S * s, _S * j) for a, s, j in ((2, .7, .1), (2, .08, .2), (.05, .01, .02), (.07, .01, .02),
                                                  (.12, .01, .02))), True),
}
#: The family's name (the ``perturbation`` column).
FAMILY = "corruption"
SEVERITIES = (1, 2, 3, 4, 5)


def corrupt(x: torch.Tensor, name: str, severity: int, scale: float = 1.0,
            gens: list[torch.Generator] | None = None) -> torch.Tensor:
    """Pixel-space images ``x`` ``(B, C, H, W)`` in [0, 1] under corruption ``name`` at ``severity`` (1–5), sizes
    multiplied by ``scale`` (``min(H, W) / 224`` for the paper's look); ``gens``: one generator per image for a
    random corruption."""
    c = CORRUPTIONS[name]
    if c.random and (gens is None or len(gens) != x.shape[0]):
        raise ValueError(f"{name} is random: give one generator per image")
    return c.op(x, c.params[severity - 1], scale, gens)


class CorruptionCondition(Condition):
    """One corruption at one severity; ``n_samples`` seeded draws per image for a random corruption, else one.

    Args:
        name: A key of :data:`CORRUPTIONS`.
        severity: 1–5.
        scale: Sizes relative to the paper's 224-px images (``min(H, W) / reference_size``).
        n_samples: Draws per image (random corruptions only).
    """

    axis = "severity"

    def __init__(self, name: str, severity: int, scale: float, n_samples: int = 1) -> None:
        c = CORRUPTIONS[name]
        super().__init__(condition_columns(FAMILY, float(severity), name.replace("_", " "),
                                           own={CORRUPTION: name, SEVERITY: int(severity), CORRUPTION_GROUP: c.group}))
        self.name, self.severity, self.scale = name, int(severity), float(scale)
        self.n_samples = int(n_samples) if c.random else 1

    def _apply(self, x: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        gens = None
        if CORRUPTIONS[self.name].random:
            gens = generators_for(seed_for("corruption", batch.seed, self.name, int(i), sample)
                                  for i in batch.image_ids)
        return corrupt(x, self.name, self.severity, self.scale, gens)

    def transform_inputs(self, batch: Batch, sample: int, explainer=None) -> torch.Tensor:
        return batch.encoding.encode(self._apply(batch.x, batch, sample))

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        """The baseline under the same corruption and the same draws (decoded to pixels, corrupted, encoded)."""
        pixels = batch.encoding.decode(baseline).clamp(0.0, 1.0).expand_as(batch.x)
        return batch.encoding.encode(self._apply(pixels, batch, sample))


class Corruptions(Perturbation):
    """The common corruptions at their severities.

    Args:
        corruptions: Names of :data:`CORRUPTIONS` (``all`` for every one), e.g. ``[gaussian_noise, fog]``.
        severities: Among 1–5.
        n_samples: Draws per image of a random corruption (the paper draws one per image).
        reference_size: The image side the paper's pixel sizes are for (224); sizes scale by
            ``min(H, W) / reference_size``.
    """

    name = FAMILY

    def __init__(self, corruptions: Any = "all", severities: Any = SEVERITIES, n_samples: int = 1,
                 reference_size: int = 224) -> None:
        listed = list(CORRUPTIONS) if corruptions == "all" else as_list(corruptions, "perturbation.corruptions")
        self.corruptions = check_choices(listed, "perturbation.corruptions", tuple(CORRUPTIONS))
        self.severities = check_choices([int(s) if str(s).isdigit() else s for s in
                                         as_list(severities, "perturbation.severities")],
                                        "perturbation.severities", SEVERITIES)
        if int(n_samples) < 1:
            raise UserError(f"perturbation.n_samples must be >= 1, got {n_samples}")
        if float(reference_size) <= 0:
            raise UserError(f"perturbation.reference_size must be a positive image side, got {reference_size}")
        self.n_samples, self.reference_size = int(n_samples), float(reference_size)

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        channels, h, w = image_shape
        grey = [n for n in self.corruptions if CORRUPTIONS[n].rgb_only and channels != 3]
        if grey:
            raise UserError(f"perturbation.corruptions: {grey} need RGB images and these have {channels} channel(s); "
                            "drop them from the list")
        scale = min(h, w) / self.reference_size
        return [CorruptionCondition(n, s, scale, self.n_samples) for n in self.corruptions for s in self.severities]

