"""``python -m harness.collect_sweep MULTIRUN_DIR``: merge the runs of a sweep into one table and report.

Reads every job's ``scores.csv`` (no attribution is recomputed), adds a ``run`` column and one
``cfg:<key>`` column per Hydra override of the job, and writes ``scores.csv``, ``summary.*``,
``comparisons.csv`` and ``figures/`` into the multirun folder. Every multirun of the app does this
automatically at its end (:class:`CollectCallback`). The jobs of a sharded run (:mod:`harness.entry.sharding`) merge into
the unsharded run's files (:func:`harness.results.shards.merge_shards`): its rows, example maps and report.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.common.errors import UserError, exit_code_of
from harness.report.build import build_report, report_settings, saved_settings
from harness.results.read import load_scores
from harness.results.shards import merge_shards
from harness.results.write import atomic_write
from harness.common.schema import RUN

log = logging.getLogger(__name__)


def collect(root: str | Path, **settings: Any) -> Path:
    """Merge the runs under ``root`` into ``root/scores.csv`` and build the report there (``settings``: the report's,
    see :func:`~harness.report.build.build_report`)."""
    root = Path(root)
    scores = load_scores(root)
    merge_shards(root)
    atomic_write(root / "scores.csv", lambda p: scores.to_csv(p, index=False))
    build_report(root, **settings)
    log.info("collected %d rows from %d runs into %s", len(scores), scores[RUN].nunique(), root)
    return root / "scores.csv"


class CollectCallback(Callback):
    """Hydra callback: collect a multirun's jobs when the sweep ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            collect(config.hydra.sweep.dir, **{**report_settings(config.report, config.seed), "figures": True})
        except UserError as exc:  # e.g. every job failed: nothing to collect
            log.warning("nothing collected: %s", exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.collect_sweep", description=__doc__.split("\n")[0])
    parser.add_argument("multirun", help="a Hydra multirun folder (one subfolder per job)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return exit_code_of(lambda: collect(args.multirun, **_settings(args.multirun, args.seed)))


def _settings(root: str, seed: int) -> dict[str, Any]:
    """The report settings the sweep's jobs ran with (figures drawn)."""
    return {**saved_settings(root, seed), "figures": True}


if __name__ == "__main__":
    sys.exit(main())
