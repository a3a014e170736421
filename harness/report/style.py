"""One figure style: colour-blind-safe colours (Okabe–Ito), sizes readable at paper column width."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
#: Known methods get fixed colours, so a method looks the same in every figure.
METHOD_COLORS = {"saliency": "#0072B2", "ixg": "#E69F00", "ig_black": "#009E73", "ig_white": "#CC79A7",
                 "ig_random": "#56B4E9", "gradcam": "#D55E00", "ig_zero": "#000000", "ig_gaussian": "#999999",
                 "ig_blurred": "#882255", "ig_mean": "#117733"}
METHOD_ORDER = list(METHOD_COLORS)
#: Width of one paper column, inches.
COLUMN_WIDTH = 3.5

RC = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 6, "xtick.labelsize": 6,
      "ytick.labelsize": 6, "axes.spines.top": False, "axes.spines.right": False, "savefig.bbox": "tight"}


def figure(*args, **kwargs):
    """``plt.subplots`` in the harness style (applied to every figure this package draws)."""
    plt.rcParams.update(RC)
    return plt.subplots(*args, **kwargs)


def color(method: str) -> str:
    """The colour of a method (by its base name, without the baseline treatment)."""
    base = method.split(" ")[0]
    return METHOD_COLORS.get(base, OKABE_ITO[sum(map(ord, base)) % len(OKABE_ITO)])


def line_style(variant: str) -> dict:
    """Matplotlib line kwargs for a method variant: colour by method, dashed for a fixed IG baseline."""
    return {"color": color(variant), "linestyle": "--" if "fixed baseline" in variant else "-",
            "marker": "o" if "fixed baseline" not in variant else "s", "markersize": 3, "linewidth": 1.2}


def save(fig, path: str | Path, dpi: int = 200) -> Path:
    """Write ``path`` (PNG) and the same figure as PDF beside it; close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight")
    plt.close(fig)
    return path
