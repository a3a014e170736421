"""Partial results of a run, written atomically as each (batch of images, condition) completes.

A killed run leaves complete files only; rerunning the same command into the same folder resumes,
computing only the missing pieces. The final ``scores.csv`` and ``examples.npz`` are always assembled
from these pieces, so an interrupted-and-resumed run writes the same bytes as an uninterrupted one.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.common.errors import UserError
from harness.results.table import csv_text, read_text
from harness.results.write import atomic_write, save_npz


class PartialStore:
    """``<run_dir>/partial/<batch start>/<condition>.csv`` (+ ``.npz`` with example maps).

    Args:
        run_dir: The run's output folder.
        fingerprint: What the results depend on (the resolved config); a folder holding partial results
            of another configuration is refused rather than mixed in.
    """

    def __init__(self, run_dir: str | Path, fingerprint: dict[str, Any]) -> None:
        self.root = Path(run_dir) / "partial"
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = self.root / "config.json"
        text = json.dumps(fingerprint, sort_keys=True, default=str)
        if stamp.is_file() and stamp.read_text() != text:
            raise UserError(f"{self.root.parent} holds partial results of a different configuration; use another "
                            f"hydra.run.dir or delete {self.root}")
        if not stamp.is_file():
            atomic_write(stamp, lambda p: Path(p).write_text(text))

    def _path(self, start: int, key: str, suffix: str) -> Path:
        return self.root / f"{start:07d}" / f"{key}{suffix}"

    def done(self, start: int, key: str) -> bool:
        """Whether the piece for the batch starting at image ``start`` and condition ``key`` is saved."""
        return self._path(start, key, ".csv").is_file()

    def n_done(self) -> int:
        """How many pieces are saved."""
        return sum(1 for _ in self.root.glob("*/*.csv"))

    def save(self, start: int, key: str, rows: list[dict], examples: dict[str, np.ndarray]) -> None:
        """Write one piece (examples first, so that a saved CSV always has its examples)."""
        if examples:
            atomic_write(self._path(start, key, ".npz"), lambda p: save_npz(p, examples))
        atomic_write(self._path(start, key, ".csv"), lambda p: Path(p).write_text(csv_text(rows)))

    def assemble(self, order: list[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """All scores (batches in order, conditions in ``order``) as the text the pieces hold (every value a string,
        ``""`` for none: types are inferred once, for the whole table, by
        :func:`harness.results.table.scores_table`, not piece by piece), and the concatenated example arrays."""
        frames, examples = [], {}
        for batch in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for key in order:
                csv = batch / f"{key}.csv"
                if csv.is_file() and csv.stat().st_size > 1:
                    frames.append(read_text(csv))
                if (batch / f"{key}.npz").is_file():
                    with np.load(batch / f"{key}.npz") as npz:
                        for name in npz.files:
                            examples[name] = np.concatenate([examples[name], npz[name]]) \
                                if name in examples else npz[name]
        return pd.concat(frames, ignore_index=True).fillna(""), examples

    def remove(self) -> None:
        """Delete the pieces once the final files are written."""
        shutil.rmtree(self.root, ignore_errors=True)

