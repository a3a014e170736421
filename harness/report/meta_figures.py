"""The meta-evaluation's figure, drawn from ``meta_evaluation.csv`` alone (:mod:`harness.report.meta_evaluation`).

``meta_evaluation``: one panel per test (both tests' mean first), each measure a point in the resilience–reactivity
plane (x: the mean of IAC_NR and IEC_NR, y: the mean of IAC_AR and IEC_AR, with the 95% CIs over the copies), as in
the paper's figures; the ideal corner (1, 1) is marked, the synthetic measures are grey, a measure has one colour in every panel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.report import style
from harness.report.meta_evaluation import ALL, CI_HIGH, CI_LOW, REACTIVITY, RESILIENCE, display_name

SYNTHETIC_COLOR = "#999999"


def _error(part: pd.DataFrame, stat: str) -> np.ndarray:
    value = part[stat].to_numpy(float)
    bounds = part[[f"{stat}_{CI_LOW}", f"{stat}_{CI_HIGH}"]].to_numpy(float).T
    return np.nan_to_num(np.abs(bounds - value), nan=0.0)


def _panel(ax, part: pd.DataFrame, title: str, colours: dict[str, str], first: bool) -> None:
    part = part.reset_index(drop=True)
    xs, ys = part[RESILIENCE].to_numpy(float), part[REACTIVITY].to_numpy(float)
    xerr, yerr = _error(part, RESILIENCE), _error(part, REACTIVITY)
    for i, row in part.iterrows():
        if not (np.isfinite(xs[i]) and np.isfinite(ys[i])):
            continue
        name = display_name(row)
        colour = SYNTHETIC_COLOR if bool(row["synthetic"]) else colours[name]
        ax.errorbar(xs[i], ys[i], xerr=xerr[:, [i]], yerr=yerr[:, [i]], color=colour,
                    marker="X" if bool(row["synthetic"]) else "o", markersize=4, linestyle="none", elinewidth=0.6,
                    capsize=1.5, label=name)
        ax.annotate(name, (xs[i], ys[i]), fontsize=5, xytext=(3, 2), textcoords="offset points")
    ax.scatter([1], [1], marker="*", s=80, color="black", zorder=4, label="ideal")
    ax.set(xlim=(-0.02, 1.05), ylim=(-0.02, 1.05), xlabel="resilience to noise (IAC_NR + IEC_NR) / 2",
           ylabel="reactivity to adversary (IAC_AR + IEC_AR) / 2" if first else "", title=title)
    ax.set_aspect("equal")
    ax.grid(True, linewidth=0.3, alpha=0.5)


def draw(table: pd.DataFrame, folder: str | Path) -> Path:
    """``folder/meta_evaluation.png`` (+ ``.pdf``)."""
    tests = [t for t in (ALL, "model", "input") if (table["test"] == t).any()]
    measures = list(dict.fromkeys(display_name(r) for _, r in table[~table["synthetic"].astype(bool)].iterrows()))
    colours = {m: style.OKABE_ITO[i % len(style.OKABE_ITO)] for i, m in enumerate(measures)}
    fig, axes = style.figure(1, len(tests), figsize=(style.COLUMN_WIDTH * len(tests), style.COLUMN_WIDTH * 1.05))
    axes = np.atleast_1d(axes)
    for i, (ax, test) in enumerate(zip(axes, tests)):
        _panel(ax, table[table["test"] == test], "both tests (mean)" if test == ALL else f"{test} perturbation test",
               colours, i == 0)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), bbox_to_anchor=(0.5, -0.12),
               frameon=False)
    return style.save(fig, Path(folder) / "meta_evaluation.png")
