"""Write a run's files atomically: no reader (a resumed run, the report, a sweep's collection) sees a partial file.

The final files of a run are ``scores.csv``, ``examples.npz`` and ``run_info.json`` (:func:`save_raw`); the store
writes its pieces and the report its tables with :func:`atomic_write` too.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness.results.table import csv_text

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
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


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as one compressed ``.npz`` (``path`` is used as given: no suffix is added)."""
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def save_raw(run_dir: str | Path, rows: list[dict], examples: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Write ``scores.csv``, ``examples.npz`` and ``run_info.json`` into ``run_dir``."""
    run_dir = Path(run_dir)
    atomic_write(run_dir / "scores.csv", lambda p: Path(p).write_text(csv_text(rows)))
    atomic_write(run_dir / "examples.npz", lambda p: save_npz(p, examples))
    atomic_write(run_dir / "run_info.json", lambda p: Path(p).write_text(json.dumps(info, indent=2, default=str)))
