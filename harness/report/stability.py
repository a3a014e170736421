"""How stable the scorecard's verdicts are: the images bootstrapped, one criterion left out at a time.

- **Bootstrap of the images** (seeded; ``report.verdicts.bootstrap`` resamples): the images are drawn with replacement,
  the same draw for every criterion (so that the Pareto fronts pair the same images), and on each draw every
  criterion's tests are run again (:func:`harness.report.verdicts.verdict`). A method **keeps its group** on a draw
  when its grouped rank ``lo–hi`` is the one of all the images; it is **on the front** of a robustness criterion when
  the draw's means put it on the Pareto front of that criterion against the faithfulness reference
  (:func:`harness.report.scorecard.front`, the scorecard's one definition).
- **Leave one criterion out**: a method's overall position is its mean rank over the criteria (the scorecard's
  ``<name>_rank``; Demšar 2006 averages ranks over data sets the same way, https://jmlr.org/papers/v7/demsar06a.html),
  ranked (1 = best); leaving out each criterion in turn gives the range of that overall rank, and the share of the
  Pareto fronts (every robustness criterion against the first faithfulness criterion left) the method is on. LATEC's
  reviewers asked how stable findings are on subsets of the metrics; this is that answer for the scorecard.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from harness.report.criteria import ROBUSTNESS, Criterion
from harness.report.scorecard import RANK, column, faithfulness_axis, front, measured
from harness.report.stats import tier_ranks
from harness.report.paired_tests import smallest_p
from harness.report.verdicts import Verdict, VerdictSettings, verdict
from harness.common.schema import CONTROL, VARIANT

#: The columns of ``scorecard_stability.csv`` besides ``<criterion>_kept`` and ``<criterion>_front``.
OVERALL, OVERALL_RANK, LOCO_LOW, LOCO_HIGH, LOCO_FRONT = ("overall_mean_rank", "overall_rank", "loco_rank_low",
                                                          "loco_rank_high", "loco_front")
KEPT, ON_FRONT = "kept", "front"


def overall(card: pd.DataFrame, criteria: list[Criterion]) -> tuple[pd.Series, pd.Series]:
    """Each variant's mean rank over ``criteria`` (unranked criteria skipped) and its rank by it (1 = best)."""
    ranks = card[[column(c, RANK) for c in criteria]].astype(float)
    mean = ranks.mean(axis=1, skipna=True)
    return mean, tier_ranks(mean, higher=False, decimals=6)


def _fronts(card: pd.DataFrame, criteria: list[Criterion]) -> list[np.ndarray]:
    """The Pareto fronts of every robustness criterion in ``criteria`` against the first faithfulness one."""
    names = {c.name for c in criteria}
    faithful = faithfulness_axis(card[[col for col in card.columns if col in names or col in (VARIANT, CONTROL)]])
    if faithful is None:
        return []
    return [front(card, c, faithful) for c in criteria if c.kind == ROBUSTNESS]


def leave_one_out(card: pd.DataFrame) -> pd.DataFrame:
    """Per variant (rows as in ``card``): its overall mean rank and rank over every measured criterion, the range of
    its overall rank when each criterion in turn is left out, and the share of the fronts it is on then."""
    shown = measured(card)
    mean, rank = overall(card, shown)
    out = pd.DataFrame({VARIANT: card[VARIANT].to_numpy(), OVERALL: mean.to_numpy(), OVERALL_RANK: rank.to_numpy()})
    ranks, fronts = [], []
    for left in shown:
        rest = [c for c in shown if c is not left]
        ranks.append(overall(card, rest)[1].to_numpy())
        fronts += _fronts(card, rest)
    ranks = np.array(ranks) if ranks else np.full((1, len(card)), np.nan)
    out[LOCO_LOW], out[LOCO_HIGH] = np.nanmin(ranks, axis=0), np.nanmax(ranks, axis=0)
    out[LOCO_FRONT] = np.mean(fronts, axis=0) if fronts else np.nan
    return out


def _resample(values: pd.Series, draw: np.ndarray) -> pd.Series:
    """A criterion's per (method, image) values on the drawn images (a repeated image becomes a new one)."""
    wide = values.astype(float).unstack(0).reindex(draw)
    wide = wide[list(dict.fromkeys(values.index.get_level_values(0)))]
    return pd.Series(wide.to_numpy().T.ravel(), index=pd.MultiIndex.from_product([wide.columns, range(len(draw))]))


def separable(v: Verdict, alpha: float) -> bool:
    """Whether a ranked verdict could separate a pair at all: ``2 / 2ⁿ`` times the pairs at most ``alpha`` (on fewer
    images every draw keeps every group, trivially)."""
    return not v.ranks.empty and smallest_p(v.n_images) * len(v.pairs) <= alpha


def _kept(full: Verdict, draw: Verdict) -> pd.Series:
    """Whether each method of the full verdict has the same grouped rank on the draw."""
    if full.ranks.empty:
        return pd.Series(np.nan, index=full.methods, dtype=float)
    if draw.ranks.empty:
        return pd.Series(0.0, index=full.ranks.index)
    same = full.ranks[["rank_low", "rank_high"]].eq(draw.ranks[["rank_low", "rank_high"]].reindex(full.ranks.index))
    return same.all(axis=1).astype(float)


def bootstrap(card: pd.DataFrame, values: dict[str, pd.Series], verdicts: dict[str, Verdict],
              settings: VerdictSettings = VerdictSettings(), seed: int = 0) -> pd.DataFrame:
    """Per variant (rows as in ``card``) and measured criterion: the share of bootstrap draws of the images on which
    it keeps its group (``<criterion>_kept``; NaN where the criterion is not ranked or no pair is
    :func:`separable`) and, for robustness criteria, is on the Pareto front (``<criterion>_front``).

    Args:
        card: The scorecard (:func:`harness.report.scorecard.scorecard`).
        values: Per criterion name, its per (variant, image) values.
        verdicts: Per criterion name, its verdict on all the images.
    """
    shown = [c for c in measured(card) if c.name in values]
    images = np.unique(np.concatenate([v.index.get_level_values(1).to_numpy() for v in values.values()]))
    rng = np.random.default_rng(seed)
    quick = replace(settings, bayesian=False)  # a draw's groups are the frequentist tests'
    kept = {c.name: pd.Series(0.0, index=card[VARIANT]) for c in shown}
    on_front = {c.name: np.zeros(len(card)) for c in shown if c.kind == ROBUSTNESS}
    for _ in range(settings.bootstrap):
        draw = rng.choice(images, size=len(images), replace=True)
        means = card[[VARIANT, CONTROL]].copy()
        for c in shown:
            sample = _resample(values[c.name], draw)
            means[c.name] = sample.groupby(level=0).mean().reindex(card[VARIANT]).to_numpy()
            if separable(verdicts[c.name], settings.alpha):
                again = verdict(sample, quick, needed=False)
                kept[c.name] = kept[c.name].add(_kept(verdicts[c.name], again), fill_value=0.0)
        faithful = faithfulness_axis(means)
        for name in on_front:
            on_front[name] += front(means, next(c for c in shown if c.name == name), faithful) if faithful else 0
    out = pd.DataFrame({VARIANT: card[VARIANT].to_numpy()})
    for c in shown:
        ranked = verdicts[c.name].ranks.index if separable(verdicts[c.name], settings.alpha) else []
        share = kept[c.name] / max(settings.bootstrap, 1)
        out[column(c, KEPT)] = [share.get(v, np.nan) if v in ranked else np.nan for v in card[VARIANT]]
        if c.name in on_front:
            out[column(c, ON_FRONT)] = on_front[c.name] / max(settings.bootstrap, 1) if faithfulness_axis(card) else np.nan
    return out


def stability(card: pd.DataFrame, values: dict[str, pd.Series], verdicts: dict[str, Verdict],
              settings: VerdictSettings = VerdictSettings(), seed: int = 0) -> pd.DataFrame:
    """``scorecard_stability.csv``: :func:`leave_one_out` and (``settings.bootstrap`` > 0) :func:`bootstrap`, one
    row per variant."""
    table = leave_one_out(card)
    if settings.bootstrap > 0 and values:
        table = table.merge(bootstrap(card, values, verdicts, settings, seed), on=VARIANT, how="left")
    return table
