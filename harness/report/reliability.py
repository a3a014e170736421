"""How far to trust each criterion of the scorecard on this model: its measures meta-evaluated on the rows it reads.

When the pooled runs hold a meta-evaluation (a ``family=meta_evaluation`` job, :mod:`harness.perturbations.meta`),
each criterion of :mod:`harness.report.scorecard` whose measures it covers is marked by their MC score (Hedström et
al. 2023, https://arxiv.org/abs/2302.07265; 1 = resilient to minor noise and reactive to adversaries): the copies'
own rows as they are (the per-map measures), and the rows of a family run alone and under the copies filtered as
the criterion filters its own (the pairwise measures and their aggregates), so that the MC is the reliability of the
criterion's number. The least reliable measure of a gap (two measures) marks it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.metrics.registry import MEASURES
from harness.perturbations.meta import FAMILY as META_FAMILY
from harness.report.meta_evaluation import meta_evaluation, reliability, tested
from harness.report.criteria import Criterion, criterion_rows, unchanged_constant
from harness.report.scorecard import CI_HIGH, CI_LOW, MC, column, measured
from harness.common.schema import CLEAN_SUFFIX, PERTURBATION


def measures_of(criterion: Criterion) -> list[tuple[str, str]]:
    """The (measure, family) pairs a criterion reads, as a meta-evaluation names them: a per-map measure of the
    clean map by its name with the family ``""``, a pairwise measure or aggregate with the family of its rows (a
    combined criterion: its parts')."""
    if criterion.parts:
        return list(dict.fromkeys(m for part in criterion.parts for m in measures_of(part)))
    families = dict(criterion.where).get(PERTURBATION, ("",))
    out = []
    for m in (criterion.measure, criterion.minus):
        if m:
            name = m[:-len(CLEAN_SUFFIX)] if m.endswith(CLEAN_SUFFIX) else m
            out += [(name, "")] if MEASURES[name].shape == "per_map" else [(name, f) for f in families]
    return out


def criterion_reliability(scores: pd.DataFrame, criterion: Criterion, seed: int = 0,
                          n_resamples: int = 2000) -> tuple[str, pd.Series] | None:
    """The meta-evaluation (:mod:`harness.report.meta_evaluation`) of a criterion's measures on the rows it reads:
    the copies' rows as they are, and the rows of a family run alone and under the copies filtered as the criterion
    filters its own (its ``where``, ``unless`` and ``largest``; a constant map's undefined pattern measures counted
    as unchanged). Returns the least reliable measure's name and its row (both tests' mean where there are both),
    or None when the scores do not meta-evaluate every measure of the criterion."""
    wanted = measures_of(criterion)
    meta_rows = tested(scores)
    if not meta_rows.any():
        return None
    copies = scores[meta_rows & (scores[PERTURBATION].astype(str) == META_FAMILY)]
    parts = [copies]
    if any(family for _, family in wanted):
        family_rows = scores[meta_rows & (scores[PERTURBATION].astype(str) != META_FAMILY)]
        parts.append(unchanged_constant(criterion_rows(family_rows, criterion)))
    table = meta_evaluation(pd.concat(parts), seed, n_resamples, only=set(wanted))
    if table is None:
        return None
    found = [(m, f, reliability(table, m, f)) for m, f in wanted]
    if any(r is None for _, _, r in found):
        return None
    measure, family, row = min(found, key=lambda t: t[2][MC] if np.isfinite(t[2][MC]) else np.inf)
    return (f"{measure} ({family})" if family else measure), row


def mark_reliability(card: pd.DataFrame, scores: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """The scorecard with, for each criterion whose measures the pooled ``scores`` meta-evaluate (a
    ``family=meta_evaluation`` job), ``<name>_mc`` and its CI: the MC score of its least reliable measure on the
    rows the criterion reads (Hedström et al. 2023; 1 = resilient to noise and reactive to adversaries,
    :func:`criterion_reliability`), and ``<name>_mc_of``: which."""
    card = card.copy()
    for criterion in measured(card):
        found = criterion_reliability(scores, criterion, seed, n_resamples)
        if found is None:
            continue
        name, row = found
        card[column(criterion, MC)] = row[MC]
        for stat in (CI_LOW, CI_HIGH):
            card[column(criterion, f"{MC}_{stat}")] = row[f"{MC}_{stat}"]
        card[column(criterion, f"{MC}_of")] = name
    return card


#: A measure whose MC falls below this, or whose MC's 95% CI reaches the constant measure's 0.5, is unreliable on the
#: model: it is not told apart from a measure that returns one score whatever it is given (Hedström et al. 2023).
UNRELIABLE_MC, CONSTANT_MC = 0.6, 0.5


def unreliable(card: pd.DataFrame, criterion: Criterion) -> str:
    """Why a criterion's measure is unreliable on this model (its MC near the constant measure's 0.5: below
    :data:`UNRELIABLE_MC` or its CI reaching :data:`CONSTANT_MC`), or ``""`` when it is not or was not
    meta-evaluated (:func:`mark_reliability`)."""
    if column(criterion, MC) not in card.columns or not np.isfinite(card[column(criterion, MC)].iloc[0]):
        return ""
    row = card.iloc[0]
    mc, low = float(row[column(criterion, MC)]), float(row.get(column(criterion, f"{MC}_{CI_LOW}"), np.nan))
    if mc >= UNRELIABLE_MC and not (np.isfinite(low) and low <= CONSTANT_MC):
        return ""
    ci = f", 95% CI from {low:.2f}" if np.isfinite(low) else ""
    return f"MC {mc:.2f}{ci}; the constant measure scores {CONSTANT_MC}"
