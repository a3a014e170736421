"""Statistical figures drawn from ``scores.csv`` / ``summary.csv`` alone."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from harness.report import style

_LABELS = {"ssim": "SSIM", "spearman": "Spearman ρ", "spearman_abs": "Spearman ρ of |map|",
           "kendall": "Kendall τ-b", "topk_intersection": "top-k overlap", "completeness_error": "completeness error"}
_REGIME_COLORS = {False: style.OKABE_ITO[1], True: style.OKABE_ITO[4]}
_REGIMES = [(False, "uncompensated: same model, shifted input"), (True, "compensated: f'(x') = f(x)")]


def _regimes(df: pd.DataFrame) -> list[tuple[bool, str]]:
    present = set(df["compensated"].astype(bool))
    return [(c, t) for c, t in _REGIMES if c in present]


def _series_label(summary: pd.DataFrame) -> pd.Series:
    extra = [c for c in summary.columns if c.startswith("cfg:") or c in ("condition", "encoding", "n_steps",
                                                                          "reduction")]
    if not extra:
        return summary["variant"]
    tags = summary[extra].apply(lambda r: ", ".join(f"{c.removeprefix('cfg:')}={v}" for c, v in r.items()
                                                    if not pd.isna(v)), axis=1)
    return summary["variant"] + tags.map(lambda t: f" [{t}]" if t else "")


def stability_vs_magnitude(summary: pd.DataFrame, path: str | Path,
                           metrics: tuple[str, ...] = ("ssim", "spearman")) -> Path:
    """Mean similarity (clean vs perturbed map) against perturbation magnitude, with 95% CI bands.

    One row of panels per metric, one column per regime; one line per method variant.
    """
    summary = summary.assign(series=_series_label(summary))
    regimes = _regimes(summary)
    n_series = summary["series"].nunique()
    mags = np.sort(summary["magnitude"].unique())
    # series are shifted sideways by a fraction of the smallest gap between magnitudes (x stays readable)
    dodge = 0.3 * float(np.diff(mags).min()) / max(n_series, 1) if len(mags) > 1 else 0.0
    fig, axes = style.figure(len(metrics), len(regimes), squeeze=False, sharex=True, sharey="row",
                             figsize=(style.COLUMN_WIDTH * len(regimes), 1.9 * len(metrics) + 0.9 + 0.13 * n_series))
    for r, metric in enumerate(metrics):
        for c, (comp, title) in enumerate(regimes):
            ax = axes[r, c]
            sel = summary[(summary.metric == metric) & (summary.compensated.astype(bool) == comp)]
            for k, (name, df) in enumerate(sel.groupby("series", sort=False)):
                df = df.sort_values("magnitude")
                x = df.magnitude + (k - (n_series - 1) / 2) * dodge  # invariant methods all sit at 1: keep them apart
                ax.plot(x, df["mean"], label=name, **style.line_style(name))
                ax.fill_between(x, df.ci95_low, df.ci95_high, color=style.color(name), alpha=0.15, lw=0)
            ax.set_title(title if r == 0 else "")
            if c == 0:
                ax.set_ylabel(_LABELS.get(metric, metric))
            ax.axhline(1.0, color="0.6", lw=0.6, zorder=0)
            if r == len(metrics) - 1:
                ax.set_xlabel("magnitude δ (series offset to stay visible)" if dodge
                              else "perturbation magnitude δ")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle("Similarity of clean and perturbed maps vs perturbation size\n(mean over images, bootstrap 95% CI)")
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return style.save(fig, path)


def distribution(scores: pd.DataFrame, path: str | Path, metric: str = "ssim") -> Path:
    """Per-image ``metric`` per method variant: box plots, uncompensated vs compensated, one panel per δ."""
    mags = sorted(scores["magnitude"].unique())
    variants = sorted(scores["variant"].unique(), key=lambda v: (style.METHOD_ORDER.index(v.split(" ")[0])
                                                                 if v.split(" ")[0] in style.METHOD_ORDER else 99, v))
    fig, axes = style.figure(len(mags), 1, squeeze=False, sharex=True,
                             figsize=(2 * style.COLUMN_WIDTH, 1.5 * len(mags) + 1.0))
    width = 0.38
    for ax, mag in zip(axes[:, 0], mags):
        for k, (comp, _title) in enumerate(_REGIMES):
            sel = scores[(scores.magnitude == mag) & (scores.compensated.astype(bool) == comp)]
            data = [sel.loc[sel.variant == v, metric].dropna().to_numpy() for v in variants]
            pos = np.arange(len(variants)) + (k - 0.5) * width
            keep = [i for i, d in enumerate(data) if len(d)]
            if not keep:
                continue
            box = ax.boxplot([data[i] for i in keep], positions=pos[keep], widths=width * 0.9, patch_artist=True,
                             showfliers=True, flierprops={"markersize": 2}, medianprops={"color": "black"})
            for patch in box["boxes"]:
                patch.set(facecolor=_REGIME_COLORS[comp], alpha=0.9)
        ax.set_ylabel(f"{_LABELS.get(metric, metric)}\nδ = {mag:+g}")
        ax.axhline(1.0, color="0.6", lw=0.6, zorder=0)
    axes[-1, 0].set_xticks(np.arange(len(variants)), variants, rotation=30, ha="right")
    handles = [plt.Rectangle((0, 0), 1, 1, color=_REGIME_COLORS[c]) for c, _ in _REGIMES]
    fig.suptitle(f"Per-image {_LABELS.get(metric, metric)} of clean vs perturbed maps")
    fig.tight_layout()
    fig.legend(handles, [t for _, t in _REGIMES], loc="upper center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    return style.save(fig, path)


def baselines(scores: pd.DataFrame, path: str | Path) -> Path | None:
    """IG baselines: stability per baseline (compensated regime) and completeness error vs ``n_steps``.

    Returns None when the scores hold no IG rows with ``completeness_error``.
    """
    ig = scores[scores["completeness_error"].notna()] if "completeness_error" in scores.columns else scores[:0]
    if ig.empty:
        return None
    fig, (ax1, ax2) = style.figure(1, 2, figsize=(2 * style.COLUMN_WIDTH, 2.4))
    comp = ig[ig.compensated.astype(bool)]
    stab = comp.groupby("variant")["ssim"].agg(["mean", "sem"]).sort_index()
    ax1.barh(stab.index, stab["mean"], xerr=1.96 * stab["sem"].fillna(0), color=[style.color(v) for v in stab.index],
             alpha=0.85)
    ax1.set_xlabel("mean SSIM, clean vs perturbed (compensated)")
    ax1.set_title("Stability per IG baseline")
    col = "completeness_error_clean" if "completeness_error_clean" in ig.columns else "completeness_error"
    for method, df in ig.groupby("method"):
        err = df.drop_duplicates(["run", "image_id", "n_steps"] if "run" in df.columns else ["image_id", "n_steps"])
        err = err.groupby("n_steps")[col].median().sort_index()
        ax2.plot(err.index, err.values, label=method, **style.line_style(method))
    ax2.axhline(0.05, color="0.5", lw=0.8, ls=":", label="5%")
    ax2.set(xscale="log", yscale="log", xlabel="IG steps (n_steps)", ylabel="median over images",
            title="Completeness error |ΣIG − ΔF| / |ΔF|, clean input")
    ax2.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return style.save(fig, path)
