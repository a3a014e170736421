"""Statistical figures drawn from ``scores.csv`` / ``aggregates.csv`` / ``summary.csv`` alone.

Panels and series come from the standard condition columns (``regime``: panels, ``magnitude``: the x axis) and
the measures' definitions (:mod:`harness.metrics.registry`), so every family of conditions gets the same figures.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from harness.metrics.registry import MEASURES
from harness.report import style
from harness.report.tables import display_columns, label
from harness.common.schema import (CFG_PREFIX, COMPLETENESS_ERROR, COMPLETENESS_ERROR_CLEAN, CONTROL, IMAGE_COLUMNS, MAGNITUDE,
                            METHOD, METRIC, N_STEPS, PRED_AGREES, REGIME, VARIANT, present)


def _regimes(df: pd.DataFrame) -> list:
    return list(dict.fromkeys(df[REGIME])) if REGIME in df.columns else [None]


def _in_regime(df: pd.DataFrame, regime) -> pd.DataFrame:
    return df if regime is None else df[df[REGIME] == regime]


def _is_control(df: pd.DataFrame) -> bool:
    return CONTROL in df.columns and bool(df[CONTROL].fillna(False).astype(bool).any())


def _series(summary: pd.DataFrame) -> pd.Series:
    """One label per line: the variant, tagged with the other varying columns (e.g. a swept setting), except those
    that the position on the x axis determines (e.g. the name of the layer randomised at each depth)."""
    place = present(summary.columns, (REGIME, MAGNITUDE))
    extra = [c for c in display_columns(summary) if c not in (REGIME, VARIANT, MAGNITUDE)
             and (not place or summary.groupby(place, dropna=False)[c].nunique(dropna=False).max() > 1)]
    if not extra:
        return summary[VARIANT]
    tags = summary[extra].apply(lambda r: ", ".join(f"{c.removeprefix(CFG_PREFIX)}={v}" for c, v in r.items()
                                                    if not pd.isna(v) and v != ""), axis=1)
    return summary[VARIANT] + tags.map(lambda t: f" [{t}]" if t else "")


def stability_vs_magnitude(summary: pd.DataFrame, path: str | Path, metrics: tuple[str, ...] = ("ssim", "spearman"),
                           xlabel: str = "perturbation magnitude") -> Path | None:
    """Mean of each measure against the perturbation magnitude, with 95% CI bands; one row of panels per measure,
    one column per regime, one line per method variant. Where a measure has a value for an unchanged map (SSIM 1,
    sensitivity 0) that point is drawn at magnitude 0 (controls excepted: their maps change without a perturbation).
    """
    metrics = tuple(m for m in metrics if m in set(summary[METRIC]) and m in MEASURES and m != PRED_AGREES)
    if not metrics or MAGNITUDE not in summary.columns:
        return None
    summary = summary.assign(series=_series(summary))
    regimes, n_series = _regimes(summary), summary["series"].nunique()
    per_regime = [frozenset(_in_regime(summary, g)[MAGNITUDE].dropna().unique()) for g in regimes]
    shared = len(set(per_regime)) <= 1  # regimes on different scales (pixels, degrees) get their own x axis
    dodges = [_dodge(m if not shared else frozenset().union(*per_regime), n_series) for m in per_regime]
    block, cols = style.panel_grid(len(regimes))  # a measure's regimes wrap into a block of rows
    fig, axes = style.figure(len(metrics) * block, cols, squeeze=False, sharex=shared, sharey="row",
                             figsize=(style.COLUMN_WIDTH * cols, 1.9 * len(metrics) * block + 0.9 + 0.13 * n_series))
    for r in range(len(metrics)):  # the empty cells at the end of each measure's block
        for k in range(len(regimes), block * cols):
            axes[r * block + k // cols, k % cols].set_visible(False)
    for r, metric in enumerate(metrics):
        identity = MEASURES[metric].identity
        for c, regime in enumerate(regimes):
            ax, dodge = axes[r * block + c // cols, c % cols], dodges[c]
            sel = _in_regime(summary[summary[METRIC] == metric], regime)
            for k, (name, df) in enumerate(sel.groupby("series", sort=False)):
                df = df.sort_values(MAGNITUDE)
                x, y, lo, hi = (df[col].to_numpy(dtype=float) for col in (MAGNITUDE, "mean", "ci95_low", "ci95_high"))
                if identity is not None and not _is_control(df) and 0.0 not in x:
                    at = np.searchsorted(x, 0.0)
                    x = np.insert(x, at, 0.0)
                    y, lo, hi = (np.insert(v, at, identity) for v in (y, lo, hi))
                x = x + (k - (n_series - 1) / 2) * dodge  # methods that coincide stay visible
                ax.plot(x, y, label=name, **style.line_style(name, _is_control(df)))
                ax.fill_between(x, lo, hi, color=style.color(name), alpha=0.15, lw=0)
            ax.set_title(str(regime) if (r == 0 or block > 1) and regime is not None else "")
            if c % cols == 0:
                ax.set_ylabel(label(metric))
            if identity is not None:
                ax.axhline(identity, color="0.6", lw=0.6, zorder=0)
            if r == len(metrics) - 1 and c + cols >= len(regimes):
                ax.set_xlabel(xlabel)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle("Clean vs perturbed maps against perturbation size\n(mean over images, bootstrap 95% CI; "
                 "magnitude 0: unchanged map" + ("; series offset sideways to stay visible)" if any(dodges) else ")"))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the two-line title
    fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return style.save(fig, path)


def _dodge(magnitudes: frozenset, n_series: int) -> float:
    """How far apart to draw the series of one panel: 30% of its smallest gap between magnitudes (0 included)."""
    mags = np.unique(np.append(np.array(sorted(magnitudes), dtype=float), 0.0))
    return 0.3 * float(np.diff(mags).min()) / max(n_series, 1) if len(mags) > 1 else 0.0


def distribution(scores: pd.DataFrame, path: str | Path, metric: str = "ssim") -> Path | None:
    """Per-image ``metric`` per method variant: box plots, one box per regime, one panel per magnitude."""
    if metric not in scores.columns or MAGNITUDE not in scores.columns:
        return None
    mags, regimes = sorted(scores[MAGNITUDE].dropna().unique()), _regimes(scores)
    variants = list(dict.fromkeys(scores.sort_values(CONTROL if CONTROL in scores.columns else VARIANT,
                                                     kind="stable")[VARIANT]))
    colors = {r: style.OKABE_ITO[(i * 3 + 1) % len(style.OKABE_ITO)] for i, r in enumerate(regimes)}
    fig, axes = style.figure(len(mags), 1, squeeze=False, sharex=True,
                             figsize=(2 * style.COLUMN_WIDTH, 1.5 * len(mags) + 1.0))
    width = 0.8 / len(regimes)
    for ax, mag in zip(axes[:, 0], mags):
        for k, regime in enumerate(regimes):
            sel = _in_regime(scores[scores[MAGNITUDE] == mag], regime)
            data = [sel.loc[sel[VARIANT] == v, metric].dropna().to_numpy() for v in variants]
            pos = np.arange(len(variants)) + (k - (len(regimes) - 1) / 2) * width
            keep = [i for i, d in enumerate(data) if len(d)]
            if not keep:
                continue
            box = ax.boxplot([data[i] for i in keep], positions=pos[keep], widths=width * 0.9, patch_artist=True,
                             showfliers=True, flierprops={"markersize": 2}, medianprops={"color": "black"})
            for patch in box["boxes"]:
                patch.set(facecolor=colors[regime], alpha=0.9)
        ax.set_ylabel(f"{label(metric)}\nmagnitude {mag:+g}")
        if MEASURES.get(metric) and MEASURES[metric].identity is not None:
            ax.axhline(MEASURES[metric].identity, color="0.6", lw=0.6, zorder=0)
    axes[-1, 0].set_xticks(np.arange(len(variants)), variants, rotation=30, ha="right")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[r]) for r in regimes]
    fig.suptitle(f"Per-image {label(metric)}")
    fig.tight_layout()
    if regimes != [None]:
        fig.legend(handles, [str(r) for r in regimes], loc="upper center", ncol=2, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
    return style.save(fig, path)


def baselines(scores: pd.DataFrame, path: str | Path, metric: str = "ssim") -> Path | None:
    """Methods with a completeness axiom (IG, DeepLift): stability per baseline variant and regime, and the
    completeness error of the clean maps against ``n_steps`` (a bar per baseline when only one value was run).

    Returns None when the scores hold no completeness errors.
    """
    ig = scores[scores[COMPLETENESS_ERROR].notna()] if COMPLETENESS_ERROR in scores.columns else scores[:0]
    if ig.empty or metric not in ig.columns:
        return None
    fig, (ax1, ax2) = style.figure(1, 2, figsize=(2 * style.COLUMN_WIDTH, 2.4))
    by_regime = REGIME in ig.columns
    stab = ig.groupby([VARIANT, *([REGIME] if by_regime else [])], sort=True)[metric].mean()
    (stab.unstack() if by_regime else stab.to_frame()).plot.barh(ax=ax1, color=style.OKABE_ITO[1:], alpha=0.85,
                                                                 legend=by_regime)
    ax1.set_xlabel(f"mean {label(metric)}, clean vs perturbed")
    ax1.set_title("Stability per baseline")
    if ax1.get_legend() is not None:
        ax1.legend(frameon=False, fontsize=5, loc="lower left")
    col = COMPLETENESS_ERROR_CLEAN if COMPLETENESS_ERROR_CLEAN in ig.columns else COMPLETENESS_ERROR
    keys = [*present(ig.columns, IMAGE_COLUMNS), N_STEPS]
    steps = ig[N_STEPS].dropna().unique()
    if len(steps) > 1:
        for method, df in ig.groupby(METHOD):
            err = df.drop_duplicates(keys).groupby(N_STEPS)[col].median().sort_index()
            ax2.plot(err.index, err.values, label=method, **style.line_style(method))
        ax2.set(xscale="log", yscale="log", xlabel="steps (n_steps)")
        ax2.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        err = ig.drop_duplicates(keys[:-1] + [METHOD]).groupby(METHOD)[col].median().sort_index()
        ax2.barh(err.index, err.values, color=[style.color(m) for m in err.index], alpha=0.85)
        ax2.set(xlabel=f"median over images ({int(steps[0]) if len(steps) else '?'} steps)")
    ax2.axvline(0.05, color="0.5", lw=0.8, ls=":") if len(steps) <= 1 else ax2.axhline(0.05, color="0.5", lw=0.8,
                                                                                       ls=":", label="5%")
    ax2.set_title("Completeness error |Σattr − ΔF| / |ΔF|, clean input")
    fig.tight_layout()
    return style.save(fig, path)
