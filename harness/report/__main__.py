"""``python -m harness.report RUN_OR_MULTIRUN_DIR [--out DIR]``: rebuild tables and figures from saved scores."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from harness.errors import UserError
from harness.report.build import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__)
    parser.add_argument("results", help="a run folder (with scores.csv) or a Hydra multirun folder")
    parser.add_argument("--out", help="where to write the report (default: the results folder)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples per CI (default 2000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = build_report(args.results, args.out, seed=args.seed, n_resamples=args.resamples)
    except UserError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(summary)} summary rows written to {args.out or args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
