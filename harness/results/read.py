"""Find and load the results of one run, of the jobs of one sweep, or (asked for explicitly) of several runs.

What may be pooled is strict, because a pooled table that counts an image twice or mixes two configurations under
one label is silently wrong:

- a **run** (a folder with its own ``scores.csv``) is read alone;
- a **sweep** (a Hydra multirun folder, with ``multirun.yaml``) pools its jobs; each job's Hydra overrides become
  ``cfg:<key>`` columns;
- any other folder pools every run below it only when the caller says so (``pool=True``: ``--out`` given); then
  every setting in which the runs' resolved configs differ (defaults included) becomes a ``cfg:<key>`` column.

In every case, two rows for the same (image, sample, method, condition, settings) are refused with one line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from harness.common.errors import UserError
from harness.metrics.registry import is_grouping
from harness.results.table import read_scores
from harness.common.schema import CFG_PREFIX, IMAGE_ID, RUN, SAMPLE, present

#: overrides that name where or how a run is written, not what it computes (a shard's images are named by their
#: ``image_id``: the shards of a sweep pool into the rows of the unsharded run)
_IGNORED = ("hydra.", "hydra/", "experiment", "device", "cache_dir", "threads", "attribution.engine.",
            "attribution.shard")


def find_runs(root: str | Path) -> list[Path]:
    """Folders under ``root`` that hold a ``scores.csv``, sorted.

    ``root``'s own ``scores.csv`` counts only when no folder below it has one: in a sweep folder it is the merged
    table written by ``python -m harness.collect_sweep``, not a run.
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


def folder_kind(root: str | Path) -> str:
    """``run``, ``sweep`` or ``pool`` (a folder holding unrelated runs)."""
    root, runs = Path(root), find_runs(root)
    if (root / "multirun.yaml").is_file():
        return "sweep"
    return "run" if runs == [root] else "pool"


def _overrides(run: Path) -> dict[str, str]:
    path = run / ".hydra" / "overrides.yaml"
    items = (yaml.safe_load(path.read_text()) or []) if path.is_file() else []
    pairs = (str(o).split("=", 1) for o in items if "=" in str(o))
    return {f"{CFG_PREFIX}{k.lstrip('+~')}": v for k, v in pairs if not k.lstrip("+~").startswith(_IGNORED)}


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: json.dumps(d, sort_keys=True) if isinstance(d, (list, dict)) else d}
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _config_differences(runs: list[Path]) -> list[dict[str, Any]]:
    """Per run, the resolved settings in which the runs differ, as ``cfg:<key>`` columns."""
    configs = []
    for run in runs:
        info = run / "run_info.json"
        configs.append(_flat(json.loads(info.read_text()).get("config", {})) if info.is_file() else {})
    keys = sorted({k for c in configs for k in c})
    varying = [k for k in keys if not k.startswith(_IGNORED) and len({str(c.get(k)) for c in configs}) > 1]
    return [{f"{CFG_PREFIX}{k}": str(c.get(k)) for k in varying} for c in configs]


def load_scores(root: str | Path, pool: bool = False, table: str = "scores.csv") -> pd.DataFrame:
    """All rows of ``table`` under ``root``, with a ``run`` column (path relative to ``root``) and ``cfg:`` columns.

    Args:
        root: A run, a sweep, or (with ``pool``) any folder of runs.
        pool: Allow pooling runs that are not the jobs of one sweep.
        table: The per-run file to read.
    """
    root = Path(root)
    runs, what = find_runs(root), folder_kind(root)
    if what == "pool" and not pool:
        raise UserError(f"{root} holds {len(runs)} runs that are not one sweep; point to one run or one multirun "
                        f"folder, or pool them on purpose with --out DIR (their differing settings become columns)")
    extra = _config_differences(runs) if what == "pool" else [_overrides(r) for r in runs]
    frames = []
    for run, columns in zip(runs, extra):
        df = read_scores(run / table)
        df.insert(0, RUN, str(run.relative_to(root)))
        for key, value in columns.items():
            df[key] = value
        frames.append(df)
    scores = pd.concat(frames, ignore_index=True)
    _refuse_duplicates(scores, root)
    return scores


def _refuse_duplicates(scores: pd.DataFrame, root: Path) -> None:
    keys = [c for c in scores.columns if is_grouping(c)] + present(scores.columns, (IMAGE_ID, SAMPLE))
    dup = scores.duplicated(keys, keep=False)
    if dup.any():
        runs = sorted(scores.loc[dup, RUN].unique())
        raise UserError(f"{int(dup.sum())} rows under {root} score the same image, method and condition more than "
                        f"once (runs {', '.join(runs[:4])}{', …' if len(runs) > 4 else ''}) and no setting tells "
                        "them apart; report one run or one sweep")
