"""The meta-evaluation's figure, drawn from ``meta_evaluation.csv`` alone (:mod:`harness.report.meta_evaluation`).

``meta_evaluation``: one panel per test (both tests' mean first), each measure a point in the resilience–reactivity
plane (x: the mean of IAC_NR and IEC_NR, y: the mean of IAC_AR and IEC_AR, with the 95% CIs over the copies), as in
the paper's figures; the ideal corner (1, 1) is marked, the synthetic measures are grey crosses, a measure has one
colour in every panel, and the marker says how it is scored (circle: a per-map measure on the copies' maps; square:
a family's pairwise measure; triangle: an aggregate over the family's draws). Points are named in the panels when
there are few of them, else by the legend alone.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.metrics.registry import MEASURES
from harness.report import style
from harness.report.meta_evaluation import ALL, CI_HIGH, CI_LOW, REACTIVITY, RESILIENCE, display_name

SYNTHETIC_COLOR = "#999999"
#: Marker per shape of measure (:mod:`harness.metrics.registry`); the synthetic measures are crosses.
MARKERS = {"per_map": "o", "pairwise": "s", "aggregate": "^"}
#: Above this many measures the points are named by the legend only.
MAX_NAMED = 10


def _error(part: pd.DataFrame, stat: str) -> np.ndarray:
    value = part[stat].to_numpy(float)
    bounds = part[[f"{stat}_{CI_LOW}", f"{stat}_{CI_HIGH}"]].to_numpy(float).T
    return np.nan_to_num(np.abs(bounds - value), nan=0.0)


def _marker(row: pd.Series) -> str:
    if bool(row["synthetic"]):
        return "X"
    m = MEASURES.get(str(row["measure"]))
    return MARKERS.get(m.shape if m is not None else "", "o")


def _colours(names: list[str]) -> dict[str, str]:
    """One colour per measure: the project's palette, or a 20-colour one when it would repeat."""
    if len(names) <= len(style.OKABE_ITO):
        return {m: style.OKABE_ITO[i] for i, m in enumerate(names)}
    from matplotlib import colormaps

    palette = [colormaps["tab20"](i) for i in range(20) if i not in (14, 15)]  # its greys are the synthetic ones'
    return {m: palette[i % len(palette)] for i, m in enumerate(names)}


def _panel(ax, part: pd.DataFrame, title: str, colours: dict[str, str], first: bool) -> None:
    part = part.reset_index(drop=True)
    xs, ys = part[RESILIENCE].to_numpy(float), part[REACTIVITY].to_numpy(float)
    xerr, yerr = _error(part, RESILIENCE), _error(part, REACTIVITY)
    for i, row in part.iterrows():
        if not (np.isfinite(xs[i]) and np.isfinite(ys[i])):
            continue
        name = display_name(row)
        colour = SYNTHETIC_COLOR if bool(row["synthetic"]) else colours[name]
        ax.errorbar(xs[i], ys[i], xerr=xerr[:, [i]], yerr=yerr[:, [i]], color=colour, marker=_marker(row),
                    markersize=4, linestyle="none", elinewidth=0.6, capsize=1.5, label=name)
        if len(colours) <= MAX_NAMED or bool(row["synthetic"]):
            right = xs[i] > 0.8  # named on the left near the right edge
            ax.annotate(name, (xs[i], ys[i]), fontsize=5, xytext=(-3 if right else 3, 2), textcoords="offset points",
                        ha="right" if right else "left")
    ax.scatter([1], [1], marker="*", s=80, color="black", zorder=4, label="ideal")
    ax.set(xlim=(-0.02, 1.05), ylim=(-0.02, 1.05), xlabel="resilience to noise (IAC_NR + IEC_NR) / 2",
           ylabel="reactivity to adversary (IAC_AR + IEC_AR) / 2" if first else "", title=title)
    ax.set_aspect("equal")
    ax.grid(True, linewidth=0.3, alpha=0.5)


def draw(table: pd.DataFrame, folder: str | Path) -> Path:
    """``folder/meta_evaluation.png`` (+ ``.pdf``)."""
    tests = [t for t in (ALL, "model", "input") if (table["test"] == t).any()]
    measures = list(dict.fromkeys(display_name(r) for _, r in table[~table["synthetic"].astype(bool)].iterrows()))
    colours = _colours(measures)
    fig, axes = style.figure(1, len(tests), figsize=(style.COLUMN_WIDTH * len(tests), style.COLUMN_WIDTH * 1.05))
    axes = np.atleast_1d(axes)
    for i, (ax, test) in enumerate(zip(axes, tests)):
        _panel(ax, table[table["test"] == test], "both tests (mean)" if test == ALL else f"{test} perturbation test",
               colours, i == 0)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), bbox_to_anchor=(0.5, -0.12),
               frameon=False)
    return style.save(fig, Path(folder) / "meta_evaluation.png")
