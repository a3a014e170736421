"""The grid figure of the seed blog post, drawn from saved example maps (``examples.npz``)."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from harness.report import style


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


def _show_map(ax, m: np.ndarray) -> None:
    lo, hi = float(np.min(m)), float(np.max(m))
    ax.imshow((m - lo) / (hi - lo) if hi > lo else np.zeros_like(m), cmap="inferno", vmin=0, vmax=1)


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


def grid(examples: dict[str, np.ndarray], conditions: list[str], path: str | Path, title: str = "",
         classes: list[str] | None = None) -> Path:
    """The seed blog's figure: rows = images (clean, then each condition), columns = input and methods.

    Args:
        examples: Arrays saved by the run (``examples.npz``): ``<condition>/image`` ``(N, C, H, W)``
            and ``<condition>/<method>/<follows>`` ``(N, H, W)``, with condition ``clean`` first.
        conditions: Condition keys to show under each clean row.
        path: Output PNG (a PDF is written beside it).
        title: Figure title.
        classes: Class names for the predictions saved as ``<condition>/pred``.
    """
    cols = _columns(examples)
    n = len(examples["clean/image"])
    row_keys = [(i, c) for i in range(n) for c in ["clean", *conditions]]
    fig, axes = style.figure(len(row_keys), len(cols) + 1, squeeze=False,
                             figsize=(1.25 * (len(cols) + 1), 1.3 * len(row_keys)))
    for r, (i, cond) in enumerate(row_keys):
        img = examples[f"{cond}/image"][i].transpose(1, 2, 0)
        axes[r, 0].imshow(np.clip(img, 0, 1))
        axes[r, 0].set_ylabel(_row_label(i, cond, examples, classes), fontsize=6)
        for c, (method, follows) in enumerate(cols, start=1):
            _show_map(axes[r, c], examples[f"{cond}/{method}/{follows}"][i])
    for c, (method, follows) in enumerate([("input", "None"), *cols]):
        axes[0, c].set_title(_label(method, follows), fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or "Saliency maps of the clean-input prediction, clean vs perturbed input "
                 "(each map min-max scaled; shifted images shown clipped to [0, 1])", fontsize=8)
    fig.tight_layout()
    return style.save(fig, path, dpi=100)
