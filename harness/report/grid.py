"""Map figures drawn from saved example maps (``examples.npz``) and the conditions recorded in ``run_info.json``.

- :func:`grid`: the seed blog post's figure, rows = images (clean, then each chosen condition), columns = methods;
- :func:`map_change`: the mean per-pixel change of each method's map under each chosen condition (e.g. where the
  naive compensation errs: on the border).

Conditions are described by their recorded columns (never by parsing their keys); arrays are found by the keys of
:mod:`harness.common.schema`.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np

from harness.metrics.precision import is_constant_array
from harness.report import style
from harness.common.schema import (CLEAN, VIEW_IMAGE, VIEW_PRED, VIEW_PROB, ConditionRecord, absdiff_key, inputs_key,
                            map_columns, map_key, view_key)

_INFERNO = matplotlib.colormaps["inferno"]


def _label(method: str, treatment: str | None) -> str:
    return method if not treatment else f"{method}\n({treatment} baseline)"


def condition_name(condition: ConditionRecord) -> str:
    """What a reader needs to tell a condition apart: its label (or magnitude) and its regime."""
    what = condition.label or f"magnitude {condition.magnitude:+g}"
    return f"{what}\n{condition.regime or ''}".strip()


def saved(condition: ConditionRecord, examples: Mapping[str, np.ndarray]) -> bool:
    """Whether ``examples`` holds the condition's view of the images."""
    return view_key(condition.key, VIEW_IMAGE) in examples


def chosen(conditions: list[ConditionRecord], examples: Mapping[str, np.ndarray]) -> list[ConditionRecord]:
    """The conditions shown: per regime, the largest |magnitude| (positive preferred), in recorded order."""
    best: dict = {}
    for c in (c for c in conditions if saved(c, examples)):
        m = c.magnitude
        if c.regime not in best or (abs(m), m) > best[c.regime][0]:
            best[c.regime] = ((abs(m), m), c)
    return [c for _, c in best.values()]


def _row_label(i: int, name: str, scope: str, examples, classes: list[str] | None) -> str:
    pred = examples.get(view_key(scope, VIEW_PRED))
    if pred is None:
        return f"#{i} {name}"
    k = int(pred[i])
    prob = examples.get(view_key(scope, VIEW_PROB))
    conf = f" ({float(prob[i]):.2f})" if prob is not None else ""
    return f"#{i} {name}\npred: {classes[k] if classes and k < len(classes) else k}{conf}"


def _tile(m: np.ndarray) -> np.ndarray | tuple[np.ndarray, str]:
    """A map ``(H, W)`` as an RGB tile: min-max scaled, inferno colour map. A map that is constant up to its precision
    (:mod:`harness.metrics.precision`) is drawn flat grey and labelled, instead of stretching its rounding noise."""
    if is_constant_array(m):
        return np.full((*m.shape, 3), 0.5), "constant"
    lo, hi = float(np.nanmin(m)), float(np.nanmax(m))
    scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    return _INFERNO(np.nan_to_num(scaled))[..., :3]


def _split(tile) -> tuple[np.ndarray, str]:
    """A tile and its note (``""`` for none)."""
    return tile if isinstance(tile, tuple) else (tile, "")


def _image(x: np.ndarray) -> np.ndarray:
    img = x.transpose(1, 2, 0)
    return np.clip(np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img, 0, 1)


def _mosaic(tiles: list[list[np.ndarray]], gap: int) -> np.ndarray:
    h, w = tiles[0][0].shape[:2]
    out = np.ones((len(tiles) * (h + gap) - gap, len(tiles[0]) * (w + gap) - gap, 3))
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


def _draw(tiles, col_labels, row_labels, title: str, path: Path):
    """Tiles (arrays, or ``(array, note)`` pairs whose note is written on the tile) as a labelled mosaic."""
    split = [[_split(t) for t in row] for row in tiles]
    tiles = [[t for t, _ in row] for row in split]
    h, w = tiles[0][0].shape[:2]
    gap = max(1, h // 16)
    fig, ax = style.figure(figsize=(1.25 * len(col_labels) + 0.9, 1.25 * len(row_labels) * h / w + 0.7))
    ax.imshow(_mosaic(tiles, gap), interpolation="nearest")
    ax.set_axis_off()
    for r, row in enumerate(split):
        for c, (_, note) in enumerate(row):
            if note:
                ax.text(c * (w + gap) + w / 2, r * (h + gap) + h / 2, note, ha="center", va="center", fontsize=5)
    for c, text in enumerate(col_labels):
        ax.text(c * (w + gap) + w / 2, -gap, text, ha="center", va="bottom", fontsize=6)
    for r, text in enumerate(row_labels):
        ax.text(-gap, r * (h + gap) + h / 2, text, ha="right", va="center", fontsize=6)
    ax.set_title(title, fontsize=8, pad=24)
    return style.save(fig, path, dpi=100, pdf=False)


def grid(examples: Mapping[str, np.ndarray], conditions: list[ConditionRecord], path: str | Path, title: str = "",
         classes: list[str] | None = None) -> Path:
    """Rows = images (clean, then each condition), columns = the input and every method's map.

    Args:
        examples: Arrays saved by the run (:mod:`harness.common.schema`): the clean and each condition's images
            ``(N, C, H, W)``, predictions and probabilities ``(N,)`` and maps ``(N, H, W)``.
        conditions: The conditions to show (as recorded in ``run_info.json``).
        path: Output PNG (a PDF is written beside it).
        title: Figure title.
        classes: Class names for the predictions.
    """
    cols = map_columns(examples)
    rows = [(CLEAN, "clean")] + [(c.key, condition_name(c)) for c in conditions]
    tiles, labels = [], []
    for i in range(len(examples[view_key(CLEAN, VIEW_IMAGE)])):
        for scope, name in rows:
            tiles.append([_image(examples[view_key(scope, VIEW_IMAGE)][i])]
                         + [_tile(examples[map_key(scope, m, t)][i]) for m, t in cols])
            labels.append(_row_label(i, name, scope, examples, classes))
    return _draw(tiles, ["input"] + [_label(m, t) for m, t in cols], labels,
                 title or "Saliency maps of the clean input's prediction, clean vs perturbed\n"
                          "(each map min-max scaled; perturbed images shown clipped to [0, 1])", Path(path))


def map_change(examples: Mapping[str, np.ndarray], conditions: list[ConditionRecord], path: str | Path,
               methods: list[str] | None = None) -> Path | None:
    """Rows = conditions, columns = methods (all, or ``methods``): the mean over images (and samples) of
    ``|Φ' − Φ| / max|Φ|`` per pixel, on one colour scale per column (where a map changes: e.g. most on the border
    for the naive compensation)."""
    cols = [(m, t) for m, t in map_columns(examples) if absdiff_key(conditions[0].key, m, t) in examples
            and (methods is None or m in methods)]
    if not cols:
        return None
    means = {(c.key, m, t): examples[absdiff_key(c.key, m, t)].sum(0)
             / max(1, int(examples[absdiff_key(c.key, m, t, count=True)].sum())) for c in conditions for m, t in cols}
    scale = {(m, t): max(float(means[(c.key, m, t)].max()) for c in conditions) for m, t in cols}
    tiles = [[_INFERNO(means[(c.key, m, t)] / scale[(m, t)] if scale[(m, t)] > 0
                       else np.zeros_like(means[(c.key, m, t)]))[..., :3] for m, t in cols] for c in conditions]
    labels = [f"{condition_name(c)}" for c in conditions]
    col_labels = [f"{_label(m, t)}\nmax {scale[(m, t)]:.2g}" for m, t in cols]
    return _draw(tiles, col_labels, labels, "Mean per-pixel map change |Φ(x') − Φ(x)| / max|Φ(x)| over images\n"
                 "(black: no change; one colour scale per column, its maximum above it)", Path(path))


def cascade(examples: Mapping[str, np.ndarray], conditions: list[ConditionRecord], path: str | Path, image: int = 0,
            classes: list[str] | None = None) -> Path:
    """One image through a series of conditions: columns = the clean input, then each condition (in the given
    order, e.g. the cascading randomisation from the top layer down); rows = the input, then each method's map.
    Adebayo et al.'s (2018) cascade figure."""
    cols = map_columns(examples)
    scopes = [CLEAN, *(c.key for c in conditions)]
    names = ["clean", *(condition_name(c) for c in conditions)]
    tiles = [[_image(examples[view_key(s, VIEW_IMAGE)][image]) for s in scopes]]
    tiles += [[_tile(examples[map_key(s, m, t)][image]) for s in scopes] for m, t in cols]
    row_labels = [_row_label(image, "input", CLEAN, examples, classes)] + [_label(m, t) for m, t in cols]
    return _draw(tiles, names, row_labels,
                 f"Image #{image}: clean, then each condition (each map min-max scaled)", Path(path))


def per_method(examples: Mapping[str, np.ndarray], condition: ConditionRecord, path: str | Path, image: int = 0,
               amplify: float = 10.0, classes: list[str] | None = None) -> Path | None:
    """For a condition whose inputs were made for each method (an attack): rows = methods; columns = the clean image
    and map, the method's perturbed image, the perturbation (``amplify``× around grey) and the perturbed map."""
    key = condition.key
    cols = [(m, t) for m, t in map_columns(examples) if inputs_key(key, VIEW_IMAGE, [m]) in examples]
    if not cols:
        return None
    x = examples[view_key(CLEAN, VIEW_IMAGE)][image]
    clean, tiles, labels = _image(x), [], []
    for m, t in cols:
        x_p = examples[inputs_key(key, VIEW_IMAGE, [m])][image]
        delta = np.clip(0.5 + amplify * (x_p - x), 0, 1)
        tiles.append([clean, _tile(examples[map_key(CLEAN, m, t)][image]), _image(x_p), _image(delta),
                      _tile(examples[map_key(key, m, t)][image])])
        labels.append(_label(m, t))
    heads = ["clean image", "clean map", "perturbed image", f"perturbation ×{amplify:g}", "perturbed map"]
    return _draw(tiles, heads, labels, f"Image #{image}, {condition_name(condition).replace(chr(10), ', ')}: each "
                 "method against its own perturbed input (maps min-max scaled)", Path(path))
