"""Every figure of a report, from the saved tables and example maps (never by recomputing attributions)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.report import grid, plots
from harness.report.header import run_info
from harness.report.tables import normalise
from harness.common.schema import CLEAN, PRED_AGREES, VIEW_IMAGE, read_conditions, view_key


def draw(root: Path, out: Path, scores: pd.DataFrame, aggregates: pd.DataFrame | None, summary: pd.DataFrame,
         shown: tuple[str, ...], curves: tuple[str, ...] | None = None) -> None:
    """``figures/``: measures vs magnitude (``curves``, default the first two shown), per-image distributions,
    baselines, and (for a run) the map figures."""
    figures = out / "figures"
    curves = curves or tuple(m for m in shown if m != PRED_AGREES)[:2]
    axes = {c.axis for c in read_conditions(run_info(root)) if c.axis}
    xlabel = " | ".join(sorted(axes)) or "perturbation magnitude"
    plots.stability_vs_magnitude(summary, figures / "stability_vs_magnitude.png", curves, xlabel=xlabel)
    per_image = normalise(aggregates if aggregates is not None else scores)
    plots.distribution(per_image, figures / "distribution.png", curves[0] if curves else "ssim")
    plots.baselines(normalise(scores), figures / "baselines.png")
    if (root / "examples.npz").is_file():
        _maps(root, figures)


def _maps(root: Path, figures: Path) -> None:
    with np.load(root / "examples.npz") as npz:
        examples = {k: npz[k] for k in npz.files}
    info = run_info(root)
    conditions = read_conditions(info)
    if view_key(CLEAN, VIEW_IMAGE) not in examples or not conditions:
        return
    shown, classes = grid.chosen(conditions, examples), info.get("classes")
    if not shown:
        return
    grid.grid(examples, shown, figures / "grid.png", classes=classes)
    for regime in dict.fromkeys(c.regime for c in shown):
        one = [c for c in shown if c.regime == regime]
        if len(one) < len(shown):
            grid.grid(examples, one, figures / f"grid_{_file_name(regime)}.png", classes=classes,
                      title=f"Saliency maps, clean vs perturbed input: {regime} (each map min-max scaled)")
    grid.map_change(examples, shown, figures / "map_change.png")
    for c in shown:
        grid.per_method(examples, c, figures / f"per_method_{_file_name(c.regime)}.png", classes=classes)
    for regime in dict.fromkeys(c.regime for c in conditions):
        series = sorted((c for c in conditions if c.regime == regime and grid.saved(c, examples)),
                        key=lambda c: c.magnitude)
        if len(series) > 1:
            for i in range(min(2, len(examples[view_key(CLEAN, VIEW_IMAGE)]))):
                grid.cascade(examples, series, figures / f"series_{_file_name(regime)}_{i}.png", image=i,
                             classes=classes)


def _file_name(regime) -> str:
    """A regime as an ASCII file-name part: ``uniform noise, L∞ radius`` → ``uniform_noise_Linf_radius``."""
    text = str(regime).replace("∞", "inf").replace("σ", "sigma")
    return "_".join("".join(ch if ch.isascii() and ch.isalnum() else " " for ch in text).split())
