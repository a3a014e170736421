"""Scores as a table: one form for results in memory and on disk.

``scores.csv`` is the rows written as CSV text (:func:`csv_text`) and read back by :func:`read_scores`; results kept
in memory (``harness.evaluate`` without ``out=``) go through the same text (:func:`scores_table`), so that a run
returns the same DataFrame with and without its files: the on-disk results without the disk.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def csv_text(rows: Sequence[dict] | pd.DataFrame) -> str:
    """The CSV text of score rows (header, then one line per row; an empty value for None / NaN)."""
    return (rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))).to_csv(index=False)


def read_scores(source: str | Path | io.StringIO) -> pd.DataFrame:
    """A score table from CSV: an empty value is NaN, every other text is kept as written."""
    return pd.read_csv(source, keep_default_na=False, na_values=[""])


def read_text(source: str | Path) -> pd.DataFrame:
    """A score table from CSV with every value as written (strings; ``""`` for an empty value)."""
    return pd.read_csv(source, dtype=str, keep_default_na=False)


def scores_table(rows: Sequence[dict] | pd.DataFrame) -> pd.DataFrame:
    """The rows as ``scores.csv`` holds them (the same values and dtypes as :func:`read_scores` of the file)."""
    if not len(rows):
        return pd.DataFrame()
    return read_scores(io.StringIO(csv_text(rows)))
