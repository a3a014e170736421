"""The grid figure of the seed blog post, drawn from saved example maps (``examples.npz``)."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np

from harness.report import style

_INFERNO = matplotlib.colormaps["inferno"]


def _columns(examples: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """(method, follows) pairs present for the clean input, in saved order."""
    cols = []
    for key in examples:
        parts = key.split("/")
        if parts[0] == "clean" and len(parts) == 3:
            cols.append((parts[1], parts[2]))
    return cols


def _label(method: str, follows: str) -> str:
    if follows == "None":
        return method
    return f"{method}\n(baseline {'shifted' if follows == 'True' else 'fixed'})"


_KEY = re.compile(r"^(?P<family>[a-z_]+?)(?:\[(?P<label>.*)\])?(?P<mag>[+-][0-9.]+(?:e[+-]?[0-9]+)?)_"
                  r"(?P<regime>(?:un)?compensated)$")


def _condition_name(cond: str) -> str:
    """``brightness_shift+0.5_compensated`` → ``δ = +0.5, compensated``; labelled conditions show the label."""
    m = _KEY.match(cond)
    if cond == "clean" or m is None:
        return cond
    what = m["label"] or f"δ = {m['mag']}"
    return f"{what}\n{m['regime']}"


def _row_label(i: int, cond: str, examples: dict[str, np.ndarray], classes: list[str] | None) -> str:
    name = _condition_name(cond)
    pred = examples.get(f"{cond}/pred")
    if pred is None:
        return f"#{i} {name}"
    k = int(pred[i])
    prob = examples.get(f"{cond}/prob")
    conf = f" ({float(prob[i]):.2f})" if prob is not None else ""
    return f"#{i} {name}\npred: {classes[k] if classes and k < len(classes) else k}{conf}"


def _tile(m: np.ndarray) -> np.ndarray:
    """A map ``(H, W)`` as an RGB tile: min-max scaled, inferno colour map (constant maps are black)."""
    lo, hi = float(np.nanmin(m)), float(np.nanmax(m))
    scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    return _INFERNO(np.nan_to_num(scaled))[..., :3]


def _mosaic(tiles: list[list[np.ndarray]], gap: int) -> np.ndarray:
    h, w = tiles[0][0].shape[:2]
    out = np.ones((len(tiles) * (h + gap) - gap, len(tiles[0]) * (w + gap) - gap, 3))
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


def grid(examples: dict[str, np.ndarray], conditions: list[str], path: str | Path, title: str = "",
         classes: list[str] | None = None) -> Path:
    """The seed blog's figure: rows = images (clean, then each condition), columns = input and methods.

    Drawn as one mosaic image (fast, and small as PDF) with the labels as text.

    Args:
        examples: Arrays saved by the run (``examples.npz``): ``<condition>/image`` ``(N, C, H, W)``,
            ``<condition>/pred`` and ``/prob``, and ``<condition>/<method>/<follows>`` ``(N, H, W)``, with
            condition ``clean`` first.
        conditions: Condition keys to show under each clean row.
        path: Output PNG (a PDF is written beside it).
        title: Figure title.
        classes: Class names for the predictions.
    """
    cols = _columns(examples)
    n = len(examples["clean/image"])
    row_keys = [(i, c) for i in range(n) for c in ["clean", *conditions]]
    tiles = []
    for i, cond in row_keys:
        img = examples[f"{cond}/image"][i].transpose(1, 2, 0)
        img = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
        tiles.append([np.clip(img, 0, 1)] + [_tile(examples[f"{cond}/{m}/{f}"][i]) for m, f in cols])
    h, w = tiles[0][0].shape[:2]
    gap = max(1, h // 16)
    mosaic = _mosaic(tiles, gap)
    fig, ax = style.figure(figsize=(1.25 * (len(cols) + 1) + 0.9, 1.25 * len(row_keys) * h / w + 0.7))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    for c, (method, follows) in enumerate([("input", "None"), *cols]):
        ax.text(c * (w + gap) + w / 2, -gap, _label(method, follows), ha="center", va="bottom", fontsize=6)
    for r, (i, cond) in enumerate(row_keys):
        ax.text(-gap, r * (h + gap) + h / 2, _row_label(i, cond, examples, classes), ha="right", va="center",
                fontsize=6)
    ax.set_title(title or "Saliency maps of the clean-input prediction, clean vs perturbed input\n"
                 "(each map min-max scaled; shifted images shown clipped to [0, 1])", fontsize=8, pad=24)
    return style.save(fig, path, dpi=100)
