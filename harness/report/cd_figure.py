"""``figures/scorecard_cd``: one critical-difference diagram per criterion (Demšar, JMLR 2006,
https://jmlr.org/papers/v7/demsar06a.html), drawn from the saved scorecard and its verdicts alone.

Each panel is an axis of mean rank over the images (1 = best, on the left); every ranked method hangs from its mean
rank by an elbow to its name (the better half on the left, the rest on the right), and a thick bar joins each set of
methods that share a letter of the compact letter display (no two of them significantly different:
:func:`harness.report.verdicts.letters`, Wilcoxon signed-rank tests with Holm's correction — Demšar's bars join
methods within the Nemenyi critical difference instead; Benavoli et al. 2016 explain the change). Since the tests
are paired, not on mean ranks, a bar spans its members' mean ranks and may pass over a method that is not in its
group: the letters of ``scorecard.md`` are exact. Criteria are wrapped into a grid of panels; a criterion not ranked
says why in its panel.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.report import style
from harness.report.criteria import Criterion
from harness.report.scorecard import column, measured
from harness.common.schema import CONTROL, VARIANT

#: Panels per row of the grid; where the rank axis lies in a panel (fractions of its width: the names beside it).
COLUMNS, AXIS = 3, (0.37, 0.63)
CONTROL_COLOR = "#888888"


def _bars(groups: pd.Series, ranks: pd.Series) -> list[tuple[float, float]]:
    """``(low, high)`` mean ranks of every letter's set of two or more methods."""
    spans = []
    for letter in sorted(set("".join(groups))):
        members = ranks[groups.str.contains(letter, regex=False)]
        if len(members) > 1:
            spans.append((float(members.min()), float(members.max())))
    return spans


def _panel(ax, card: pd.DataFrame, c: Criterion, info: pd.Series | None) -> None:
    ranked = card[np.isfinite(card[column(c, "mean_rank")].astype(float))]
    ax.set_axis_off()
    title = c.label + (f" ({int(info['n_images'])} images" + (
        f", Friedman p = {info['friedman_p']:.2g})" if np.isfinite(info["friedman_p"]) else ")")
        if info is not None else "")
    ax.set_title(title)
    if ranked.empty:
        note = info["note"] if info is not None and isinstance(info["note"], str) else "not ranked"
        ax.text(0.5, 0.5, "\n".join(note[i:i + 45] for i in range(0, min(len(note), 135), 45)), ha="center",
                va="center", fontsize=6, transform=ax.transAxes)
        return
    ranks = ranked.set_index(VARIANT)[column(c, "mean_rank")].astype(float).sort_values(kind="stable")
    k = max(len(card), 2)
    at = lambda r: AXIS[0] + (r - 1) / (k - 1) * (AXIS[1] - AXIS[0])  # noqa: E731  (the x axis spans 0..1)
    ax.set_xlim(0, 1)
    ax.plot([at(1), at(k)], [0, 0], color="black", linewidth=0.8)
    for r in range(1, k + 1):
        ax.plot([at(r)] * 2, [0, 0.12], color="black", linewidth=0.6)
        ax.text(at(r), 0.2, str(r), ha="center", va="bottom", fontsize=5.5)
    control = ranked.set_index(VARIANT)[CONTROL].astype(bool)
    half = math.ceil(len(ranks) / 2)
    for i, (name, r) in enumerate(ranks.items()):
        left = i < half
        depth = -0.45 * ((i + 1) if left else (len(ranks) - i))
        end = AXIS[0] - 0.03 if left else AXIS[1] + 0.03
        colour = CONTROL_COLOR if control[name] else "black"
        ax.plot([at(r), at(r), end], [0, depth, depth], color=colour, linewidth=0.6)
        ax.text(end, depth, f"{name} ({r:.2f})", ha="right" if left else "left", va="center", fontsize=5.5,
                color=colour)
    groups = ranked.set_index(VARIANT)[column(c, "group")].fillna("").astype(str).reindex(ranks.index)
    for j, (low, high) in enumerate(_bars(groups, ranks)):
        y = -0.15 - 0.1 * j
        ax.plot([at(low) - 0.005, at(high) + 0.005], [y, y], color="black", linewidth=2.2, solid_capstyle="round")
    ax.set_ylim(-0.45 * (half + 1) - 0.2, 0.6)


def cd_diagrams(card: pd.DataFrame, table: pd.DataFrame, path: str | Path) -> Path | None:
    """``scorecard_cd``: a grid of critical-difference diagrams, one per measured criterion; None if the scorecard
    holds no verdicts (no ``<name>_mean_rank`` column)."""
    shown = [c for c in measured(card) if column(c, "mean_rank") in card.columns]
    if not shown:
        return None
    info = table.set_index("criterion") if len(table) else pd.DataFrame()
    cols = min(COLUMNS, len(shown))
    rows = math.ceil(len(shown) / cols)
    height = 0.18 * len(card) + 0.8
    fig, axes = style.figure(rows, cols, squeeze=False, figsize=(4.2 * cols, height * rows))
    for ax, c in zip(axes.ravel(), shown):
        _panel(ax, card, c, info.loc[c.name] if c.name in info.index else None)
    for ax in axes.ravel()[len(shown):]:
        ax.set_axis_off()
    fig.suptitle("Mean rank over images per criterion (1 = best); a bar joins methods not significantly different "
                 "(Wilcoxon signed-rank, Holm)", fontsize=7)
    fig.tight_layout()
    return style.save(fig, path)
