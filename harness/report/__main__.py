"""``python -m harness.report RUN_OR_SWEEP_DIR [--out DIR]``: rebuild tables and figures from saved scores.

The report settings of the run (``report.*`` in its ``run_info.json``: table and figure measures, ranking order,
the kept-predictions table, the split by the prediction, the scorecard and its verdicts, the meta-evaluation, the
bootstrap) are used unless an option says otherwise.
"""
from __future__ import annotations

import argparse
import logging
import sys

from harness.common.errors import exit_code_of
from harness.report.build import build_report, saved_settings


def _settings(args: argparse.Namespace) -> dict:
    given = {"table_metrics": args.metrics, "figure_metrics": args.figure_metrics, "prefer": args.prefer,
             "bootstrap_resamples": args.resamples, "kept_only_table": args.kept_only or None,
             "scorecard": args.scorecard or None, "meta_evaluation": args.meta_evaluation or None,
             "split": args.split}
    return {**saved_settings(args.results, args.seed, **given), "out": args.out, "figures": not args.no_figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__.split("\n")[0])
    parser.add_argument("results", help="a run folder (with scores.csv) or a Hydra multirun folder")
    parser.add_argument("--out", help="where to write the report (default: the results folder; required to pool "
                                      "runs that are not one sweep)")
    parser.add_argument("--seed", type=int, help="bootstrap seed (default: the run's)")
    parser.add_argument("--resamples", type=int, help="bootstrap resamples per CI (default: the run's, or 2000)")
    parser.add_argument("--metrics", nargs="+", help="measures shown in the tables")
    parser.add_argument("--figure-metrics", nargs="+", help="measures drawn against the magnitude")
    parser.add_argument("--prefer", choices=("stable", "changed"), help="ranking order")
    parser.add_argument("--kept-only", action="store_true", help="also write the table of images whose prediction "
                                                                  "did not change (summary_kept.md)")
    parser.add_argument("--scorecard", action="store_true", help="also write the scorecard of every family and "
                                                                  "faithfulness (scorecard.md; runs of one model)")
    parser.add_argument("--meta-evaluation", action="store_true", help="also write the meta-evaluation of the "
                        "measures (meta_evaluation.md; runs of experiment=meta_evaluation)")
    parser.add_argument("--split", nargs="+", help="similarities also summarised split by the prediction: "
                                                   "consistency (kept) and responsiveness (flipped)")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return exit_code_of(lambda: build_report(args.results, **_settings(args)))


if __name__ == "__main__":
    sys.exit(main())
