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

from harness.errors import UserError
from harness.report import figures
from harness.report.tables import summarise, to_markdown

log = logging.getLogger(__name__)

#: condition keys look like ``brightness_shift+0.5_compensated`` (see ``Condition.key``)
_MAGNITUDE = re.compile(r"([+-][0-9.]+(?:e[+-]?[0-9]+)?)_(?:un)?compensated$")


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename into ``path``, so no reader sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_raw(run_dir: str | Path, rows: list[dict], examples: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Write ``scores.csv``, ``examples.npz`` and ``run_info.json`` into ``run_dir``."""
    run_dir = Path(run_dir)
    _atomic_write(run_dir / "scores.csv", lambda p: pd.DataFrame(rows).to_csv(p, index=False))
    _atomic_write(run_dir / "examples.npz", lambda p: _savez(p, examples))
    _atomic_write(run_dir / "run_info.json", lambda p: Path(p).write_text(json.dumps(info, indent=2, default=str)))


def _savez(path: str, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def grid_conditions(keys: list[str]) -> list[str]:
    """The conditions shown in the grid figure: the largest positive magnitude (else largest |δ|), every regime."""
    conds = sorted({k.split("/")[0] for k in keys} - {"clean"})
    if not conds:
        return []
    mags = {c: float(m.group(1)) for c in conds if (m := _MAGNITUDE.search(c))}
    if not mags:
        return conds
    best = max(mags.values(), key=lambda m: (abs(m), m))
    return sorted((c for c in mags if mags[c] == best), key=lambda c: c.endswith("_compensated"))


def _classes(run_dir: Path) -> list[str] | None:
    info = run_dir / "run_info.json"
    return json.loads(info.read_text()).get("classes") if info.is_file() else None


def build_report(run_dir: str | Path) -> pd.DataFrame:
    """Rebuild ``summary.csv``, ``summary.md`` and ``figures/`` from a run's saved files; returns the summary."""
    run_dir = Path(run_dir)
    scores_path = run_dir / "scores.csv"
    if not scores_path.is_file():
        raise UserError(f"no scores.csv in {run_dir}; point to a results folder written by 'python -m harness'")
    summary = summarise(pd.read_csv(scores_path))
    _atomic_write(run_dir / "summary.csv", lambda p: summary.to_csv(p, index=False))
    _atomic_write(run_dir / "summary.md", lambda p: Path(p).write_text(to_markdown(summary)))
    examples_path = run_dir / "examples.npz"
    if examples_path.is_file():
        with np.load(examples_path) as npz:
            examples = {k: npz[k] for k in npz.files}
        if "clean/image" in examples:
            figures.grid(examples, grid_conditions(list(examples)), run_dir / "figures" / "grid.png",
                         classes=_classes(run_dir))
    return summary
