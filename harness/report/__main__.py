"""``python -m harness.report RUN_OR_MULTIRUN_DIR [--out DIR]``: rebuild tables and figures from saved scores."""
from __future__ import annotations

import argparse
import logging
import sys

from harness.errors import exit_code_of
from harness.report.build import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__)
    parser.add_argument("results", help="a run folder (with scores.csv) or a Hydra multirun folder")
    parser.add_argument("--out", help="where to write the report (default: the results folder)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples per CI (default 2000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return exit_code_of(lambda: build_report(args.results, args.out, seed=args.seed, n_resamples=args.resamples))


if __name__ == "__main__":
    sys.exit(main())
