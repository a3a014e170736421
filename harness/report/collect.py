"""Find and load the results of one run or of every run of a Hydra multirun folder."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from harness.errors import UserError

#: overrides that name where or how a run is written, not what it computes
_IGNORED_OVERRIDES = ("hydra.", "experiment=", "device=", "cache_dir=")


def find_runs(root: str | Path) -> list[Path]:
    """Folders under ``root`` that hold a ``scores.csv``, sorted.

    ``root``'s own ``scores.csv`` counts only when no folder below it has one: in a multirun folder it is
    the merged table written by ``python -m harness.collect``, not a run.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"results folder not found: {root}")
    runs = sorted({p.parent for p in root.rglob("scores.csv")}, key=lambda p: str(p.relative_to(root)))
    if len(runs) > 1 and root in runs:
        runs.remove(root)
    if not runs:
        raise UserError(f"no scores.csv under {root}; point to a folder written by 'python -m harness' (one run "
                        "or a multirun folder)")
    return runs


def _overrides(run: Path) -> dict[str, str]:
    path = run / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    items = yaml.safe_load(path.read_text()) or []
    pairs = (str(o).split("=", 1) for o in items if "=" in str(o) and not str(o).startswith(_IGNORED_OVERRIDES))
    return {f"cfg:{k.lstrip('+~')}": v for k, v in pairs}


def load_scores(root: str | Path) -> pd.DataFrame:
    """All scores under ``root``, with a ``run`` column (path relative to ``root``) and the runs' overrides.

    Each Hydra override of a run (``key=value`` in ``.hydra/overrides.yaml``, except output and device
    settings) becomes a column ``cfg:key``, so that the parameters of a sweep separate its conditions.
    """
    root = Path(root)
    frames = []
    for run in find_runs(root):
        df = pd.read_csv(run / "scores.csv")
        df.insert(0, "run", str(run.relative_to(root)))
        for key, value in _overrides(run).items():
            df[key] = value
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
