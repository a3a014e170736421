"""Build a run's report (tables, figures) from its saved files alone."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.common.errors import UserError
from harness.metrics.aggregate import aggregate
from harness.metrics.registry import MEASURES, measure, names
from harness.metrics.split import split_measures
from harness.report import header, scorecard_figures, scorecard_verdicts
from harness.report.cd_figure import cd_diagrams
from harness.report.figures import draw
from harness.report import meta_evaluation as meta_table
from harness.report import meta_figures
from harness.report.reliability import mark_reliability
from harness.report.scorecard import measured, scorecard_markdown
from harness.report.scorecard import scorecard as compute_scorecard
from harness.report.stats import compare_methods, ranking
from harness.report.verdicts import VerdictSettings
from harness.report.tables import (group_columns, normalise, summarise, table_metrics, to_latex, to_markdown,
                                   treatment_text)
from harness.results.read import find_runs, folder_kind, load_scores
from harness.results.write import atomic_write
from harness.common.schema import (BASELINE_TREATMENT, CFG_PREFIX, CONTROL, IMAGE_COLUMNS, METHOD, METHOD_COLUMNS, METRIC,
                            PERTURBATION, PRED_AGREES, REGIME, VARIANT, present)

log = logging.getLogger(__name__)

#: The scorecard's verdicts beside ``scorecard.csv`` (:mod:`harness.report.scorecard_verdicts`).
VERDICTS, PVALUES, STABILITY = "scorecard_verdicts.csv", "scorecard_pvalues.csv", "scorecard_stability.csv"


def _comparisons(scores: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    scores = normalise(scores)
    conditions = [c for c in group_columns(scores) if c not in METHOD_COLUMNS]
    pair_on = present(scores.columns, IMAGE_COLUMNS)
    return compare_methods(scores, conditions, VARIANT, pair_on=pair_on, metrics=metrics)


def _ranking(summary: pd.DataFrame, metric: str, prefer: str) -> list[str]:
    groups = [c for c in summary.columns if c in group_columns(summary.drop(columns=[METRIC]))]
    by = [c for c in groups if c in (REGIME, PERTURBATION) or c.startswith(CFG_PREFIX)]
    by = [c for c in by if summary[c].nunique(dropna=False) > 1 or c == REGIME]
    stable_high = measure(metric).stable != "lower"
    if CONTROL in summary.columns:
        control = summary[CONTROL].fillna(False).astype(bool)
        summary = summary.assign(**{VARIANT: summary[VARIANT].where(~control, summary[VARIANT] + " (control)")})
    return ranking(summary, by or [METRIC], VARIANT, metric=metric,
                   higher=stable_high if prefer == "stable" else not stable_high)


def report_settings(report: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """The keyword arguments of :func:`build_report` from a ``report`` config section (``harness/configs/report``)
    and the run's seed: one reading for a run, a sweep's collection and ``python -m harness.report``."""
    listed = lambda v: tuple(str(m) for m in ([v] if isinstance(v, str) else v)) if v else None  # noqa: E731
    return {"seed": seed, "n_resamples": int(report.get("bootstrap_resamples", 2000)),
            "metrics": listed(report.get("table_metrics")), "figure_metrics": listed(report.get("figure_metrics")),
            "prefer": str(report.get("prefer", "stable")),
            "kept_only_table": bool(report.get("kept_only_table", False)), "figures": bool(report.get("figures", True)),
            "scorecard": bool(report.get("scorecard", False)),
            "meta_evaluation": bool(report.get("meta_evaluation", False)), "split": listed(report.get("split")) or (),
            "verdicts": scorecard_verdicts.verdict_settings(report.get("verdicts"))}


def saved_settings(folder: str | Path, seed: int | None = None, **given: Any) -> dict[str, Any]:
    """The report settings a run or sweep folder was made with (``report.*`` and the seed in its ``run_info.json``),
    with the options ``given`` (not None) in their place: one reading for ``python -m harness.report`` and
    ``python -m harness.collect_sweep``."""
    from harness.report.header import run_info

    info = run_info(Path(folder)) if Path(folder).is_dir() else {}
    saved = info.get("config", {}).get("report", {})
    merged = {**saved, **{k: v for k, v in given.items() if v is not None}}
    return report_settings(merged, seed if seed is not None else info.get("seed", 0))


def read_scorecard(path: str | Path) -> pd.DataFrame:
    """``scorecard.csv`` as written (text columns as text, ``control`` as a flag)."""
    card = pd.read_csv(path)
    for col in (METHOD, BASELINE_TREATMENT, VARIANT):
        card[col] = card[col].map(treatment_text)
    card[CONTROL] = card[CONTROL].fillna(False).astype(bool)
    return card


def render_scorecard(out: str | Path, figures: bool = True) -> None:
    """``scorecard.md`` and (``figures``) ``figures/scorecard_*.png|pdf`` from ``out/scorecard.csv`` alone, with the
    verdicts from ``scorecard_verdicts.csv``, ``scorecard_pvalues.csv`` and ``scorecard_stability.csv`` where saved."""
    out = Path(out)
    card = read_scorecard(out / "scorecard.csv")
    text = scorecard_markdown(card)
    table = pd.read_csv(out / VERDICTS) if (out / VERDICTS).is_file() else None
    if table is not None:
        for col in ("note", "closest_a", "closest_b", "easiest_a", "easiest_b"):
            table[col] = ["" if pd.isna(x) else str(x) for x in table[col]]
        stab = pd.read_csv(out / STABILITY) if (out / STABILITY).is_file() else None
        if stab is not None:
            stab[VARIANT] = stab[VARIANT].map(treatment_text)
        bootstrap = int(table["bootstrap"].iloc[0]) if len(table) else 0
        text += scorecard_verdicts.markdown(card, table, stab, bootstrap)
    atomic_write(out / "scorecard.md", lambda p: Path(p).write_text(text))
    if figures:
        scorecard_figures.draw(card, out / "figures")
        if table is not None:
            cd_diagrams(card, table, out / "figures" / "scorecard_cd.png")


def build_scorecard(scores: pd.DataFrame, out: str | Path, seed: int = 0, n_resamples: int = 2000,
                    figures: bool = True, verdicts: VerdictSettings | None = None) -> pd.DataFrame | None:
    """The scorecard of pooled scores (:mod:`harness.report.scorecard`): ``scorecard.csv`` with its verdicts
    (``scorecard_verdicts.csv``, ``scorecard_pvalues.csv``, ``scorecard_stability.csv``:
    :mod:`harness.report.scorecard_verdicts`, with ``verdicts``' settings), then ``scorecard.md`` and the figures
    rebuilt from them (:func:`render_scorecard`), in ``out``; each criterion marked by its measures' MC where the
    scores hold a meta-evaluation of them. Returns the scorecard, or None (nothing written) when fewer than two
    criteria can be measured."""
    card = mark_reliability(compute_scorecard(scores, seed, n_resamples), scores, seed, n_resamples)
    shown = measured(card)
    if len(shown) < 2:
        log.info("no scorecard: it needs two criteria, %s measured", shown[0].label if shown else "none")
        return None
    card, table, pvalues, stab = scorecard_verdicts.judge(scores, card, verdicts or VerdictSettings(), seed)
    out = Path(out)
    atomic_write(out / VERDICTS, lambda p: table.to_csv(p, index=False))
    atomic_write(out / PVALUES, lambda p: pvalues.to_csv(p, index=False))
    atomic_write(out / STABILITY, lambda p: stab.to_csv(p, index=False))
    atomic_write(out / "scorecard.csv", lambda p: card.to_csv(p, index=False))
    render_scorecard(out, figures)
    log.info("scorecard: %d method variants on %d criteria", len(card), len(shown))
    return card


def build_meta_evaluation(scores: pd.DataFrame, out: str | Path, seed: int = 0, n_resamples: int = 2000,
                          figures: bool = True) -> pd.DataFrame | None:
    """The meta-evaluation of the measures (:mod:`harness.report.meta_evaluation`): ``meta_evaluation.csv``,
    ``meta_evaluation.md`` and (``figures``) ``figures/meta_evaluation.png|pdf``, in ``out``. Returns the table, or
    None (nothing written) when ``scores`` has no rows of its conditions with per-map measures."""
    table = meta_table.meta_evaluation(scores, seed, n_resamples)
    if table is None:
        if meta_table.tested(scores).any():
            log.info("no meta-evaluation: its rows hold no measure to meta-evaluate")
        return None
    out = Path(out)
    atomic_write(out / "meta_evaluation.csv", lambda p: table.to_csv(p, index=False))
    atomic_write(out / "meta_evaluation.md", lambda p: Path(p).write_text(meta_table.markdown(table)))
    if figures:
        meta_figures.draw(table, out / "figures")
    log.info("meta-evaluation: %d measures", table["measure"].nunique())
    return table


def build_report(root: str | Path, out: str | Path | None = None, seed: int = 0, n_resamples: int = 2000,
                 metrics: tuple[str, ...] | None = None, kept_only_table: bool = False,
                 prefer: str = "stable", figure_metrics: tuple[str, ...] | None = None,
                 figures: bool = True, scorecard: bool = False, meta_evaluation: bool = False,
                 split: tuple[str, ...] = (), verdicts: VerdictSettings | None = None) -> pd.DataFrame:
    """Tables and figures for one run or one sweep (or, with ``out``, a pool of runs), from saved files alone.

    Writes ``summary.csv``, ``summary.md`` (title, the run's essentials, stability ranking, table), ``summary.tex``,
    ``comparisons.csv``, ``aggregates.csv`` (when conditions have several samples) and ``figures/*.png|pdf`` into
    ``out`` (default: ``root``, which must then be a run or a sweep). Returns the summary.

    Args:
        metrics: The measures shown in the tables (default: the similarities, or the aggregates).
        kept_only_table: Also write ``summary_kept.md`` / ``.csv``: only images whose prediction did not change
            (the seed blog's "same prediction, different map" selection).
        figure_metrics: The measures drawn against the magnitude (default: the first two of the table).
        figures: Draw the figures (False: tables only, e.g. for the jobs of a large sweep).
        prefer: The ranking's order: ``stable`` (the maps that changed least first: input invariance, noise) or
            ``changed`` (those that changed most first: a sanity check, which a method passes by changing).
        scorecard: Also write the scorecard of every family and faithfulness (:func:`build_scorecard`), for scores
            pooled from the runs of several families on one model; with ``meta_evaluation``, its criteria are marked
            by their measures' MC.
        meta_evaluation: Also write the meta-evaluation of the measures (``meta_evaluation.csv`` / ``.md``,
            ``figures/meta_evaluation``: :mod:`harness.report.meta_evaluation`), from the rows of its conditions.
        split: Pairwise measures also summarised split by the prediction: ``consistency_<m>`` where it was kept,
            ``responsiveness_<m>`` (``1 − m``) where it flipped (:mod:`harness.metrics.split`).
        verdicts: The scorecard's tests (α, minimum images, power, bootstrap draws; ``report.verdicts``).
    """
    if prefer not in ("stable", "changed"):
        raise UserError(f"report.prefer must be 'stable' or 'changed', got '{prefer}'")
    unknown = [m for m in split if not split_measures([m])]
    if unknown:
        valid = ", ".join(dict.fromkeys(m.source for m in MEASURES.values() if m.shape == "split"))
        raise UserError(f"report.split has {unknown}; valid choices: {valid}")
    root = Path(root)
    what = folder_kind(root)
    if out is None and what == "pool":
        raise UserError(f"{root} is neither a run nor a sweep; pass --out DIR to pool the {len(find_runs(root))} "
                        "runs under it into a report written there")
    out = Path(out) if out is not None else root
    scores = load_scores(root, pool=what == "pool")
    aggregates = aggregate(scores)
    summary = summarise(scores, seed=seed, n_resamples=n_resamples, split=split)
    if aggregates is not None:
        atomic_write(out / "aggregates.csv", lambda p: aggregates.to_csv(p, index=False))
        summary = pd.concat([summary, summarise(aggregates, seed=seed, n_resamples=n_resamples)], ignore_index=True)
    shown = table_metrics(summary, metrics)
    markdown = header.markdown(root, what, scores, summary, _ranking(summary, shown[0], prefer), shown[0], prefer)
    markdown += to_markdown(summary, shown)
    atomic_write(out / "summary.csv", lambda p: summary.to_csv(p, index=False))
    atomic_write(out / "summary.md", lambda p: Path(p).write_text(markdown))
    atomic_write(out / "summary.tex", lambda p: Path(p).write_text(to_latex(summary, shown)))
    pairwise = tuple(m for m in ("ssim", "spearman") if m in scores.columns)
    if aggregates is not None:
        on = [m for m in (*shown, *names("aggregate")) if m in aggregates.columns][:1]
        compared = _comparisons(aggregates, tuple(on))
    else:
        compared = _comparisons(scores, pairwise)
    atomic_write(out / "comparisons.csv", lambda p: compared.to_csv(p, index=False))
    if kept_only_table and PRED_AGREES in scores.columns:
        kept = summarise(scores[scores[PRED_AGREES].astype(bool)], seed=seed, n_resamples=n_resamples)
        atomic_write(out / "summary_kept.csv", lambda p: kept.to_csv(p, index=False))
        atomic_write(out / "summary_kept.md", lambda p: Path(p).write_text(
            "Only images whose prediction did not change under the perturbation.\n\n" + to_markdown(kept, shown)))
    if figures:
        draw(root, out, scores, aggregates, summary, shown, figure_metrics)
    # a scorecard pooled with a meta-evaluation job (family=meta_evaluation) writes its table too
    if meta_evaluation or scorecard:
        build_meta_evaluation(scores, out, seed, n_resamples, figures)
    if scorecard:
        build_scorecard(scores, out, seed, n_resamples, figures, verdicts)
    log.info("report written to %s", out)
    return summary
