"""Write a run's raw results, and build its report (tables, figures) from those files alone."""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.report import grid, plots
from harness.report.collect import load_scores
from harness.report.stats import compare_methods, ranking
from harness.report.tables import group_columns, normalise, summarise, to_latex, to_markdown

log = logging.getLogger(__name__)
_UMASK = os.umask(0)
os.umask(_UMASK)

#: condition keys look like ``brightness_shift+0.5_compensated`` (see ``Condition.key``)
_MAGNITUDE = re.compile(r"([+-][0-9.]+(?:e[+-]?[0-9]+)?)_(?:un)?compensated$")


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename into ``path``, so no reader sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; use the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_raw(run_dir: str | Path, rows: list[dict], examples: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Write ``scores.csv``, ``examples.npz`` and ``run_info.json`` into ``run_dir``."""
    run_dir = Path(run_dir)
    atomic_write(run_dir / "scores.csv", lambda p: pd.DataFrame(rows).to_csv(p, index=False))
    atomic_write(run_dir / "examples.npz", lambda p: _savez(p, examples))
    atomic_write(run_dir / "run_info.json", lambda p: Path(p).write_text(json.dumps(info, indent=2, default=str)))


def _savez(path: str, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def grid_conditions(keys: list[str]) -> list[str]:
    """The conditions shown in the grid figure: the largest positive magnitude (else largest |δ|), every regime."""
    conds = sorted({k.split("/")[0] for k in keys} - {"clean"})
    mags = {c: float(m.group(1)) for c in conds if (m := _MAGNITUDE.search(c))}
    if not mags:
        return conds
    best = max(mags.values(), key=lambda m: (abs(m), m))
    return sorted((c for c in mags if mags[c] == best), key=lambda c: c.endswith("_compensated"))


def _run_info(run_dir: Path) -> dict:
    info = run_dir / "run_info.json"
    return json.loads(info.read_text()) if info.is_file() else {}


def _classes(run_dir: Path) -> list[str] | None:
    return _run_info(run_dir).get("classes")


def _grids(run_dir: Path, out: Path) -> None:
    with np.load(run_dir / "examples.npz") as npz:
        examples = {k: npz[k] for k in npz.files}
    if "clean/image" not in examples:
        return
    conds, classes = grid_conditions(list(examples)), _classes(run_dir)
    figures_dir = out / "figures"
    grid.grid(examples, conds, figures_dir / "grid.png", classes=classes)
    for regime in ("uncompensated", "compensated"):
        chosen = [c for c in conds if c.endswith(f"_{regime}") and not c.endswith(f"_un{regime}")]
        if chosen:
            grid.grid(examples, chosen, figures_dir / f"grid_{regime}.png", classes=classes,
                      title=f"Saliency maps, clean vs perturbed input, {regime} (each map min-max scaled)")


def _comparisons(scores: pd.DataFrame) -> pd.DataFrame:
    scores = normalise(scores)
    conditions = [c for c in group_columns(scores) if c not in ("method", "baseline_follows_perturbation")]
    return compare_methods(scores, conditions, "variant", pair_on=["run", "image_id"])


def _ranking(summary: pd.DataFrame) -> list[str]:
    by = [c for c in group_columns(summary) if c not in ("method", "baseline_follows_perturbation", "magnitude")]
    lines = ranking(summary, by, "variant", metric="ssim")
    return [line.replace("compensated=True", "compensated").replace("compensated=False", "uncompensated")
            for line in lines]


def build_report(root: str | Path, out: str | Path | None = None, seed: int = 0,
                 n_resamples: int = 2000) -> pd.DataFrame:
    """Tables and figures for one run or a multirun folder, from its saved files alone.

    Writes ``summary.csv``, ``summary.md`` (stability ranking + table), ``summary.tex``, ``comparisons.csv``
    and ``figures/*.png|pdf`` into ``out`` (default: ``root``). Returns the summary.
    """
    root = Path(root)
    out = Path(out) if out is not None else root
    scores = load_scores(root)
    summary = summarise(scores, seed=seed, n_resamples=n_resamples)
    rank = _ranking(summary)
    markdown = "Stability ranking (mean SSIM over magnitudes):\n\n" + "".join(f"- {r}\n" for r in rank)
    skipped = _run_info(root).get("data", {}).get("n_skipped", 0)
    if skipped:
        markdown += f"\nData: {skipped} unreadable image file(s) were skipped (listed in run_info.json).\n"
    markdown += "\nCells: mean ± half-width of the bootstrap 95% CI over images; n = images scored (SSIM), " \
                "n_nan = undefined scores (reasons in summary.csv).\n\n" + to_markdown(summary)
    atomic_write(out / "summary.csv", lambda p: summary.to_csv(p, index=False))
    atomic_write(out / "summary.md", lambda p: Path(p).write_text(markdown))
    atomic_write(out / "summary.tex", lambda p: Path(p).write_text(to_latex(summary)))
    atomic_write(out / "comparisons.csv", lambda p: _comparisons(scores).to_csv(p, index=False))
    figures_dir = out / "figures"
    plots.stability_vs_magnitude(summary, figures_dir / "stability_vs_magnitude.png")
    plots.distribution(normalise(scores), figures_dir / "distribution.png")
    plots.baselines(normalise(scores), figures_dir / "baselines.png")
    if (root / "examples.npz").is_file():
        _grids(root, out)
    log.info("report written to %s", out)
    return summary
