"""A sweep's shards (:mod:`harness.entry.sharding`) merged into the files of the unsharded run.

The sweep collector (:mod:`harness.entry.sweep`) merges the jobs' ``scores.csv``; for the jobs that are shards of
one run it also writes, into the sweep folder, what the report reads besides the scores: ``run_info.json`` (the
first shard's, with the number of images explained by all shards, the largest logit difference of each condition,
and which shards were merged or are missing; with several sharded runs in one sweep, ``shards.groups`` describes
each of them) and ``examples.npz`` (the shards' example maps, in image order, for a sweep of one run). The sweep's
report then is the unsharded run's report: the same tables, comparisons and figures.
"""
from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from harness.results.read import find_runs
from harness.results.write import atomic_write, save_npz

log = logging.getLogger(__name__)

#: settings that do not change what a shard computes (where it ran, which shard it is)
_WHERE = ("device", "threads", "cache_dir")


def shard_of(info: dict[str, Any]) -> tuple[int, int] | None:
    """``(shard, shards)`` of a run from its ``run_info.json`` contents; None for a run that is not a shard."""
    attribution = info.get("config", {}).get("attribution", {})
    shards = attribution.get("shards")
    if shards is None or int(shards) <= 1:
        return None
    return int(attribution.get("shard") or 0), int(shards)


def _unsharded(info: dict[str, Any]) -> str:
    """The resolved config of a shard without its shard index (and where it ran): equal for the shards of one run."""
    config = copy.deepcopy(info.get("config", {}))
    config.get("attribution", {}).pop("shard", None)
    for key in _WHERE:
        config.pop(key, None)
    config.get("attribution", {}).pop("engine", None)
    return json.dumps(config, sort_keys=True, default=str)


def _infos(root: Path) -> dict[Path, dict[str, Any]]:
    return {run: json.loads((run / "run_info.json").read_text()) for run in find_runs(root)
            if (run / "run_info.json").is_file()}


def merge_shards(root: str | Path) -> dict[str, Any] | None:
    """Write ``run_info.json`` (and, if the sweep is the shards of one run, ``examples.npz``) into the sweep folder
    ``root`` from its shards' files; returns the merged info, or None when no job of the sweep is a shard.

    Missing shards (failed, or not run yet) are logged and listed in the info (``shards.missing``), and the
    report says so.
    """
    root = Path(root)
    infos = {run: info for run, info in _infos(root).items() if shard_of(info) is not None}
    if not infos:
        return None
    groups: dict[str, list[Path]] = {}
    for run, info in infos.items():
        groups.setdefault(_unsharded(info), []).append(run)
    first = sorted(next(iter(groups.values())), key=lambda r: shard_of(infos[r]))
    merged = copy.deepcopy(infos[first[0]])
    merged["config"]["attribution"]["shard"] = None
    merged["n_images"] = sum(int(infos[r].get("n_images", 0)) for r in first)
    merged["logit_check"] = _largest(info.get("logit_check") or {} for info in infos.values())
    merged["shards"] = {"of": shard_of(infos[first[0]])[1], "runs": [str(r.relative_to(root)) for r in first],
                        "merged": [shard_of(infos[r])[0] for r in first], "missing": _missing(groups, infos)}
    if len(groups) > 1:  # several sharded runs in one sweep (e.g. the jobs of a scorecard): each one described
        merged["shards"]["groups"] = [
            {"runs": [str(r.relative_to(root)) for r in runs], "merged": [shard_of(infos[r])[0] for r in runs],
             "of": shard_of(infos[runs[0]])[1], "n_images": sum(int(infos[r].get("n_images", 0)) for r in runs),
             "missing": _missing({"": runs}, infos),
             "perturbation": infos[runs[0]].get("config", {}).get("perturbation", {}).get("_target_", "")}
            for runs in (sorted(g, key=lambda r: shard_of(infos[r])) for g in groups.values())]
    if merged["shards"]["missing"]:
        log.warning("shards %s have no results (failed, or still running): rerun them alone into the same "
                    "hydra.sweep.dir (attribution.shard=%s) and they are merged", merged["shards"]["missing"],
                    ",".join(str(i) for i in merged["shards"]["missing"]))
    atomic_write(root / "run_info.json", lambda p: Path(p).write_text(json.dumps(merged, indent=2, default=str)))
    if len(groups) == 1:
        examples = _examples(first)
        atomic_write(root / "examples.npz", lambda p: save_npz(p, examples))
    return merged


def _largest(checks) -> dict[str, float]:
    """Per condition, the largest of the shards' max |logit difference|."""
    out: dict[str, float] = {}
    for check in checks:
        for key, value in check.items():
            out[key] = max(out.get(key, float("-inf")), float(value))
    return out


def _missing(groups: dict[str, list[Path]], infos: dict[Path, dict[str, Any]]) -> list[int]:
    """The shard indices that some run of the sweep lacks."""
    missing: set[int] = set()
    for runs in groups.values():
        shards = shard_of(infos[runs[0]])[1]
        missing |= set(range(shards)) - {shard_of(infos[r])[0] for r in runs}
    return sorted(missing)


def _examples(runs: list[Path]) -> dict[str, np.ndarray]:
    """The runs' example maps concatenated in the runs' order (the shards' image order)."""
    out: dict[str, np.ndarray] = {}
    for run in runs:
        if not (run / "examples.npz").is_file():
            continue
        with np.load(run / "examples.npz") as npz:
            for name in npz.files:
                out[name] = np.concatenate([out[name], npz[name]]) if name in out else npz[name]
    return out
