"""One figure style: colour-blind-safe colours (Okabe–Ito), sizes readable at paper column width."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
#: Known methods get fixed colours, so a method looks the same in every figure.
METHOD_COLORS = {"saliency": "#0072B2", "ixg": "#E69F00", "ig_black": "#009E73", "ig_white": "#CC79A7",
                 "ig_random": "#56B4E9", "gradcam": "#D55E00", "ig_zero": "#000000", "ig_gaussian": "#999999",
                 "ig_blurred": "#882255", "ig_mean": "#117733", "ig_min": "#44AA99", "smoothgrad": "#332288",
                 "vargrad": "#AA4499", "guided_backprop": "#DDCC77", "guided_gradcam": "#661100",
                 "deeplift": "#88CCEE", "gradient_shap": "#6699CC", "occlusion": "#888888",
                 "random_map": "#BBBBBB", "constant_map": "#DDDDDD"}
#: Width of one paper column, inches.
COLUMN_WIDTH = 3.5

RC = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 6, "xtick.labelsize": 6,
      "ytick.labelsize": 6, "axes.spines.top": False, "axes.spines.right": False, "savefig.bbox": "tight"}


def figure(*args, **kwargs):
    """``plt.subplots`` in the harness style (applied to every figure this package draws)."""
    plt.rcParams.update(RC)
    return plt.subplots(*args, **kwargs)


#: Panels per row of a figure: more panels wrap into further rows, so a figure stays readable at page width.
MAX_COLUMNS = 4


def panel_grid(n: int, columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """``(rows, columns)`` of a grid holding ``n`` panels, at most ``columns`` in a row."""
    cols = max(1, min(n, columns))
    return -(-n // cols), cols


def panels(n: int, width: float = COLUMN_WIDTH, height: float = 2.8, extra: float = 0.0, **kwargs):
    """``n`` panels of ``width`` × ``height`` inches wrapped into a grid (:func:`panel_grid`): the figure and its
    ``n`` axes in reading order (the grid's unused cells are hidden); ``extra`` inches of height for titles and
    legends."""
    rows, cols = panel_grid(n)
    fig, axes = figure(rows, cols, squeeze=False, figsize=(width * cols, height * rows + extra), **kwargs)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def color(method: str) -> str:
    """The colour of a method (by its base name, without the baseline treatment)."""
    base = method.split(" ")[0]
    return METHOD_COLORS.get(base, OKABE_ITO[sum(map(ord, base)) % len(OKABE_ITO)])


#: line style and marker per baseline treatment (methods without a baseline: solid, circles)
TREATMENT_STYLE = {"fixed": ("--", "s"), "recomputed": (":", "^"), "carried": ("-", "o")}


def line_style(variant: str, control: bool = False) -> dict:
    """Matplotlib line kwargs for a method variant: colour by method, dashes and markers by baseline treatment,
    thin and grey for the controls."""
    style, marker = next((v for k, v in TREATMENT_STYLE.items() if f"({k} baseline)" in variant), ("-", "o"))
    return {"color": color(variant), "linestyle": ":" if control else style, "marker": marker, "markersize": 3,
            "linewidth": 0.8 if control else 1.2}


def save(fig, path: str | Path, dpi: int = 200, pdf: bool = True) -> Path:
    """Write ``path`` (PNG) and, for a paper figure (``pdf``), the same figure as PDF beside it; close the figure.
    Mosaics of maps are rasters: a PDF of them would only embed the PNG's pixels, at 2.6× its writing time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if pdf:
        fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight")
    plt.close(fig)
    return path
