"""Maps that must move with the image: translations, flips, rotations and scalings (equivariance).

A saliency map explains where the evidence is; when the image's content moves, the map should move with it. Each
condition transforms the image in pixel space, ``x' = T(x)``, the same network explains ``x'``, and the perturbed map
is brought back into the clean image's frame, ``T⁻¹(Φ(x'))``, and compared with ``Φ(x)`` on the pixels valid in
both frames (:meth:`~harness.perturbations.base.Condition.to_clean_frame`). Every transform is run twice: brought
back (``aligned = True``) and compared pixel by pixel without bringing it back (``aligned = False``), which is what a
continuity measure that ignores the move computes (Quantus's ``Continuity``, Montavon et al. 2018): a reader sees
why alignment matters.

Transforms (``transform`` column; ``magnitude`` in pixels, degrees or scale):

- ``translation``: by ``d`` pixels down and right; the uncovered border is filled by ``fill`` (``reflect``,
  ``constant`` black, or ``circular``: the image wraps around, and nothing is lost); the pixels that leave the image
  are not valid in the clean frame;
- ``flip``: horizontal (magnitude 1) or vertical (magnitude 2); exact, every pixel valid;
- ``rotation90``: by 90°, 180° or 270° (square images); exact, every pixel valid;
- ``rotation`` (degrees) and ``scale`` (factor): bilinear resampling about the centre (``torch.nn.functional.
  grid_sample``, zeros outside); the map is brought back by the inverse transform on the same sampling grid, and the
  pixels whose content left the image (or came from outside it) are not valid;
- ``translation_path``: the shifts of ``translation_path`` as the samples of one condition, so that the aggregate
  ``continuity`` (Montavon et al. 2018: the largest ``‖Φ(x) − Φ(x')‖₁ / ‖x − x'‖₂`` along the path) is one value per
  image, brought back and pixel by pixel.

SmoothGrad's noise moves with the image (:meth:`GeometricCondition.move_draws`): the noise of a transformed image is
the clean image's noise under the same transform, so its Monte-Carlo noise is not counted as non-equivariance. For
the resampled transforms the noise is moved by nearest-neighbour sampling, reflected at the border, and a
translation's noise wraps around, so that every pixel keeps noise of the configured σ (bilinear interpolation would
average neighbouring draws and shrink it; a zero fill would leave the border without noise).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from harness.common.config_checks import as_list, check_choices
from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch, Condition, Perturbation
from harness.common.schema import ALIGNED, TRANSFORM, condition_columns

#: The family's name (the ``perturbation`` column).
FAMILY = "geometric"
#: The transforms (the ``transform`` column).
TRANSLATION, FLIP, ROTATION90, ROTATION, SCALE = "translation", "flip", "rotation90", "rotation", "scale"
FILLS = ("reflect", "constant", "circular")
FLIPS = {"horizontal": 1, "vertical": 2}  # name → magnitude code


class GeometricCondition(Condition):
    """One transform of the image, its maps brought back into the clean frame (``aligned``) or not.

    Args:
        transform: ``translation``, ``flip``, ``rotation90``, ``rotation`` or ``scale``.
        magnitude: Pixels, flip code (1 horizontal, 2 vertical), degrees, or the scale factor.
        aligned: Bring the perturbed maps back into the clean frame.
        fill: For translations: ``reflect``, ``constant`` or ``circular``.
    """

    axis = "pixels, degrees or scale"

    def __init__(self, transform: str, magnitude: float, aligned: bool, fill: str = "reflect") -> None:
        how = "brought back" if aligned else "pixel by pixel"
        regime = f"{transform}, {how}" if transform != TRANSLATION else f"translation ({fill} fill), {how}"
        super().__init__(condition_columns(FAMILY, float(magnitude), regime,
                                           own={TRANSFORM: transform, ALIGNED: bool(aligned)}))
        self.transform, self.magnitude, self.aligned, self.fill = transform, float(magnitude), bool(aligned), fill

    def forward(self, x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """The transformed images ``(B, C, H, W)`` (pixel space; also maps ``(B, H, W)`` via a channel axis);
        ``mode`` is the resampled transforms' interpolation."""
        if self.transform == TRANSLATION:
            return _translate(x, int(self.magnitude), self.fill)
        if self.transform == FLIP:
            return x.flip(-1 if self.magnitude == 1 else -2)
        if self.transform == ROTATION90:
            return torch.rot90(x, int(self.magnitude) // 90, dims=(-2, -1))
        return _resample(x, self._matrix(inverse=False, like=x), mode)

    def move_draws(self, batch: Batch, sample: int):
        """The transform on draws ``(..., C, H, W)``, so that every pixel keeps draws of the configured σ: a
        translation wraps around (no zero-filled border whatever ``fill`` does to the image), the resampled
        transforms take the nearest draw and reflect at the border."""
        def move(t: torch.Tensor) -> torch.Tensor:
            x = t.flatten(0, -4)
            if self.transform == TRANSLATION:
                return _translate(x, int(self.magnitude), "circular").view(t.shape)
            if self.transform in (ROTATION, SCALE):
                return _resample(x, self._matrix(inverse=False, like=x), "nearest", "reflection").view(t.shape)
            return self.forward(x).view(t.shape)
        return move

    def backward(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Maps ``(B, H, W)`` of transformed images brought back into the clean frame, and the valid pixels."""
        if self.transform == TRANSLATION:
            d = int(self.magnitude)
            back = m.roll((-d, -d), (-2, -1))
            if self.fill == "circular" or d == 0:
                return back, None
            valid = torch.ones_like(m, dtype=torch.bool)
            valid[..., m.shape[-2] - d:, :] = False
            valid[..., :, m.shape[-1] - d:] = False
            return back, valid
        if self.transform == FLIP:
            return m.flip(-1 if self.magnitude == 1 else -2), None
        if self.transform == ROTATION90:
            return torch.rot90(m, -(int(self.magnitude) // 90), dims=(-2, -1)), None
        inverse = self._matrix(inverse=True, like=m)
        back = _resample(m.unsqueeze(1), inverse).squeeze(1)
        inside = _resample(torch.ones_like(m).unsqueeze(1), self._matrix(inverse=False, like=m))
        valid = _resample(inside, inverse).squeeze(1) > 1 - 1e-6  # content that stayed in the image both ways
        return back, valid

    def _matrix(self, inverse: bool, like: torch.Tensor) -> torch.Tensor:
        """The ``(2, 3)`` affine map from output to input coordinates (normalised, about the centre)."""
        if self.transform == ROTATION:
            a = math.radians(self.magnitude) * (-1 if inverse else 1)
            lin = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        else:
            s = self.magnitude if inverse else 1 / self.magnitude
            lin = torch.eye(2) * s
        return torch.cat([lin, torch.zeros(2, 1)], 1).to(device=like.device, dtype=like.dtype)

    def transform_inputs(self, batch: Batch, sample: int, explainer=None) -> torch.Tensor:
        return batch.encoding.encode(self.forward(batch.x))

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        """The baseline moved like the image."""
        return batch.encoding.encode(self.forward(batch.encoding.decode(baseline)))

    def to_clean_frame(self, maps: torch.Tensor, batch: Batch, sample: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.backward(maps) if self.aligned else (maps, None)


class TranslationPath(Condition):
    """Translations by each shift of ``path`` as the samples of one condition: Montavon et al.'s continuity (2018),
    the largest map change per unit of input change along the path (the aggregate ``continuity`` of the pairwise
    ``continuity_ratio``, ``‖Φ(x) − Φ(x')‖₁ / ‖x − x'‖₂``), with the map brought back (``aligned``) or not (as
    Quantus's ``Continuity``). ``magnitude`` is the longest shift.

    Args:
        path: Shifts in pixels (down and right), one sample each.
        aligned: Bring the perturbed maps back into the clean frame.
        fill: How the uncovered border is filled (see :class:`GeometricCondition`).
    """

    axis = "pixels"

    def __init__(self, path: list[int], aligned: bool, fill: str = "reflect") -> None:
        how = "brought back" if aligned else "pixel by pixel"
        super().__init__(condition_columns(FAMILY, float(max(path)), f"translation path ({fill} fill), {how}",
                                           own={TRANSFORM: "translation_path", ALIGNED: bool(aligned)}))
        self.steps = [GeometricCondition(TRANSLATION, d, aligned, fill) for d in path]
        self.n_samples = len(self.steps)

    def transform_inputs(self, batch: Batch, sample: int, explainer=None) -> torch.Tensor:
        return self.steps[sample].transform_inputs(batch, sample)

    def carry_baseline(self, baseline: torch.Tensor, batch: Batch, sample: int) -> torch.Tensor:
        return self.steps[sample].carry_baseline(baseline, batch, sample)

    def to_clean_frame(self, maps: torch.Tensor, batch: Batch, sample: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.steps[sample].to_clean_frame(maps, batch, sample)

    def move_draws(self, batch: Batch, sample: int):
        return self.steps[sample].move_draws(batch, sample)


def _optional(value: Any, name: str) -> list:
    """A list setting that may be empty (``[]`` or null): that transform is not run."""
    return [] if value is None or (not isinstance(value, (str, int, float)) and len(value) == 0) else \
        as_list(value, name)


def _translate(x: torch.Tensor, d: int, fill: str) -> torch.Tensor:
    """``x`` moved ``d`` pixels down and right, the uncovered border filled."""
    if d == 0 or fill == "circular":
        return x.roll((d, d), (-2, -1))
    squeeze = x.dim() == 3
    x4 = x.unsqueeze(1) if squeeze else x
    padded = F.pad(x4, (d, 0, d, 0), mode="reflect" if fill == "reflect" else "constant")
    out = padded[..., : x4.shape[-2], : x4.shape[-1]]
    return out.squeeze(1) if squeeze else out


def _resample(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear", outside: str = "zeros") -> torch.Tensor:
    """``x`` ``(B, C, H, W)`` resampled (``bilinear`` or ``nearest``) on the affine grid ``theta`` ``(2, 3)``
    (``outside``: ``zeros``, or ``reflection`` at the border)."""
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode=outside, align_corners=False)


class Geometric(Perturbation):
    """The equivariance family: every transform of the config, each brought back and not.

    Args:
        translations: Shifts in pixels (down and right).
        fill: How a translation fills the uncovered border: ``reflect``, ``constant`` or ``circular``.
        flips: ``horizontal`` and/or ``vertical``.
        rotations90: Multiples of 90° (square images).
        rotations: Small rotations in degrees (bilinear).
        scales: Scale factors (bilinear).
        aligned: Which comparisons to run: ``true`` (brought back), ``false`` (pixel by pixel), or both.
        translation_path: Shifts in pixels run as the samples of one condition, for the aggregate ``continuity``
            (Montavon et al. 2018; :class:`TranslationPath`); empty: none.
    """

    name = FAMILY

    def __init__(self, translations: Any = (2, 4, 8), fill: str = "reflect", flips: Any = ("horizontal",),
                 rotations90: Any = (90, 180), rotations: Any = (5, 15), scales: Any = (0.9, 1.1),
                 aligned: Any = (True, False), translation_path: Any = ()) -> None:
        if fill not in FILLS:
            raise UserError(f"perturbation.fill must be one of {', '.join(FILLS)}, got '{fill}'")
        self.fill = fill
        self.translations = [int(t) for t in _optional(translations, "perturbation.translations")]
        self.flips = check_choices(flips, "perturbation.flips", tuple(FLIPS)) if _optional(flips, "") else []
        self.rotations90 = [int(r) for r in _optional(rotations90, "perturbation.rotations90")]
        if any(r % 90 or not 0 < r < 360 for r in self.rotations90):
            raise UserError(f"perturbation.rotations90 takes 90, 180 or 270, got {self.rotations90}")
        self.rotations = [float(r) for r in _optional(rotations, "perturbation.rotations")]
        self.scales = [float(s) for s in _optional(scales, "perturbation.scales")]
        self.path = [int(t) for t in _optional(translation_path, "perturbation.translation_path")]
        if any(s <= 0 for s in self.scales) or any(t < 0 for t in self.translations):
            raise UserError("perturbation.scales must be positive and perturbation.translations non-negative")
        if any(t <= 0 for t in self.path):
            raise UserError(f"perturbation.translation_path takes positive shifts in pixels, got {self.path}")
        if not (self.translations or self.flips or self.rotations90 or self.rotations or self.scales or self.path):
            raise UserError("perturbation=geometric has no transform; give e.g. perturbation.translations=[4]")
        self.aligned = [bool(a) for a in as_list(aligned, "perturbation.aligned")]

    def conditions(self, encoding: Encoding, image_shape: tuple[int, int, int]) -> list[Condition]:
        _, h, w = image_shape
        if self.rotations90 and h != w:
            raise UserError(f"perturbation.rotations90 needs square images, the data has {h}×{w}; set it to []")
        if any(t >= min(h, w) for t in self.translations + self.path):
            raise UserError(f"perturbation.translations must be smaller than the image ({h}×{w})")
        specs = [(TRANSLATION, t) for t in self.translations] + [(FLIP, FLIPS[f]) for f in self.flips]
        specs += [(ROTATION90, r) for r in self.rotations90] + [(ROTATION, r) for r in self.rotations]
        specs += [(SCALE, s) for s in self.scales]
        paths = [TranslationPath(self.path, a, self.fill) for a in self.aligned] if self.path else []
        return [GeometricCondition(t, m, a, self.fill) for t, m in specs for a in self.aligned] + paths
