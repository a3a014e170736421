"""The scorecard's figures, drawn from a scorecard (``scorecard.csv``) alone (:mod:`harness.report.scorecard`).

- ``scorecard_pareto``: each robustness criterion against the faithfulness criterion (the ROAD gap, or the first one
  measured), one point per method variant with its bootstrap 95% CIs on both axes; the Pareto front (the variants no
  other is at least as good as on both, and better on one) is connected and its points outlined; controls in grey.
- ``scorecard_ranks``: the rank of every method variant on every criterion (1 = best), a heat map.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from harness.report import style
from harness.report.scorecard import (CI_HIGH, CI_LOW, PARETO, RANK, ROBUSTNESS, Criterion, column, front,
                                      measured, faithfulness_axis)
from harness.report.verdicts import rank_text
from harness.common.schema import CONTROL, VARIANT

#: How the controls are drawn (they carry no information about the model): grey, a marker each.
CONTROL_COLOR, CONTROL_MARKERS = "#999999", ("D", "X", "P", "v", "*")


def _name(row: pd.Series) -> str:
    return f"{row[VARIANT]} (control)" if bool(row[CONTROL]) else str(row[VARIANT])


def _error(card: pd.DataFrame, criterion: Criterion) -> np.ndarray:
    """``(2, N)`` distances from the value to the CI bounds (0 where a bound is undefined)."""
    value = card[criterion.name].to_numpy(float)
    bounds = card[[column(criterion, CI_LOW), column(criterion, CI_HIGH)]].to_numpy(float).T
    return np.nan_to_num(np.abs(bounds - value), nan=0.0)


def _front(card: pd.DataFrame, x: Criterion, y: Criterion) -> np.ndarray:
    saved = column(y, PARETO)
    if saved in card.columns:
        return card[saved].fillna(False).astype(bool).to_numpy()
    return front(card, y, x)


def _panel(ax, card: pd.DataFrame, x: Criterion, y: Criterion) -> None:
    xs, ys = card[x.name].to_numpy(float), card[y.name].to_numpy(float)
    xerr, yerr, front = _error(card, x), _error(card, y), _front(card, x, y)
    controls = list(card.loc[card[CONTROL].astype(bool), VARIANT])
    for i, row in card.reset_index(drop=True).iterrows():
        if not (np.isfinite(xs[i]) and np.isfinite(ys[i])):
            continue
        look = style.line_style(str(row[VARIANT]))
        if bool(row[CONTROL]):
            look = {"color": CONTROL_COLOR,
                    "marker": CONTROL_MARKERS[controls.index(row[VARIANT]) % len(CONTROL_MARKERS)]}
        colour = look["color"]
        ax.errorbar(xs[i], ys[i], xerr=xerr[:, [i]], yerr=yerr[:, [i]], color=colour, marker=look["marker"],
                    markersize=5 if front[i] else 3.5, markeredgecolor="black" if front[i] else colour,
                    markeredgewidth=0.9 if front[i] else 0.5, linestyle="none", elinewidth=0.6, capsize=1.5,
                    label=_name(row), zorder=3 if front[i] else 2)
    order = np.argsort(xs[front])
    ax.plot(xs[front][order], ys[front][order], color="black", linewidth=0.8, linestyle="--", zorder=1,
            label="Pareto front")
    ax.set_xlabel(f"{x.label} (higher = more faithful)")
    ax.set_ylabel(f"{y.label} (higher = more robust)")
    ax.set_title(f"{y.label} vs {x.label}")


def pareto(card: pd.DataFrame, path: str | Path) -> Path | None:
    """``scorecard_pareto``: one panel per robustness criterion against the faithfulness criterion; None if either
    is not measured."""
    x, robust = faithfulness_axis(card), measured(card, ROBUSTNESS)
    if x is None or not robust:
        return None
    fig, axes = style.panels(len(robust))
    for ax, y in zip(axes, robust):
        _panel(ax, card, x, y)
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    labels = list(handles)
    fig.legend([handles[k] for k in labels], labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(4, len(labels)), frameon=False)
    fig.suptitle("Robustness against faithfulness, per method (bootstrap 95% CIs; outlined: the Pareto front)")
    fig.tight_layout()
    return style.save(fig, path)


def _ranks(card: pd.DataFrame, shown: list[Criterion]) -> tuple[np.ndarray, list[list[str]]]:
    """``(N, K)`` ranks to colour by and their labels: the grouped ranks ``lo–hi`` (coloured by their middle) where
    the scorecard holds verdicts (:mod:`harness.report.scorecard_verdicts`), the strict ranks otherwise."""
    if column(shown[0], "rank_low") in card.columns:
        low = card[[column(c, "rank_low") for c in shown]].to_numpy(float)
        high = card[[column(c, "rank_high") for c in shown]].to_numpy(float)
        text = [[rank_text(lo, hi) if np.isfinite(lo) else "n/a" for lo, hi in zip(a, b)] for a, b in zip(low, high)]
        return (low + high) / 2, text
    rank = card[[column(c, RANK) for c in shown]].to_numpy(float)
    return rank, [["n/a" if not np.isfinite(r) else f"{int(r)}" for r in row] for row in rank]


def ranks(card: pd.DataFrame, path: str | Path) -> Path | None:
    """``scorecard_ranks``: method variants × criteria, coloured and annotated by rank (1 = best; blank: not
    measured for that variant); None without a criterion."""
    shown = measured(card)
    if not shown or card.empty:
        return None
    rank, text = _ranks(card, shown)
    worst = max(float(np.nanmax(rank)) if np.isfinite(rank).any() else 1.0, 2.0)
    fig, ax = style.figure(figsize=(max(style.COLUMN_WIDTH, 0.6 * len(shown) + 1.6), 0.22 * len(card) + 1.2))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#f2f2f2")
    image = ax.imshow(np.ma.masked_invalid(rank), cmap=cmap, vmin=1, vmax=worst, aspect="auto")
    for (i, j), r in np.ndenumerate(rank):
        dark = np.isfinite(r) and (r - 1) / (worst - 1) < 0.6
        ax.text(j, i, text[i][j], ha="center", va="center", fontsize=6, color="white" if dark else "black")
    ax.set_xticks(range(len(shown)), [c.label for c in shown], rotation=30, ha="right")
    ax.set_yticks(range(len(card)), [_name(r) for _, r in card.iterrows()])
    for tick, control in zip(ax.get_yticklabels(), card[CONTROL].astype(bool)):
        tick.set_color(CONTROL_COLOR if control else "black")
    for side in ax.spines.values():
        side.set_visible(False)
    grouped = column(shown[0], "rank_low") in card.columns
    fig.colorbar(image, ax=ax, label="rank (1 = best" + ("; colour: the grouped rank's middle)" if grouped else ")"),
                 fraction=0.05)
    ax.set_title("Rank of each method on each criterion" + (", grouped by paired tests (lo–hi: not separated)"
                                                            if grouped else " (higher is better on every criterion)"))
    return style.save(fig, path)


def draw(card: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Both figures (PNG and PDF) into ``folder``; the paths written."""
    folder = Path(folder)
    drawn = [pareto(card, folder / "scorecard_pareto.png"), ranks(card, folder / "scorecard_ranks.png")]
    return [p for p in drawn if p is not None]
