"""The scorecard's verdicts: per criterion, which methods differ (:mod:`harness.report.verdicts`), how stable that is
(:mod:`harness.report.stability`), and how many images a verdict needs; as saved tables and ``scorecard.md``'s text.

Files (beside ``scorecard.csv``, which gains ``<name>_mean_rank``, ``<name>_rank_low``, ``<name>_rank_high`` and
``<name>_group`` per criterion):

- ``scorecard_verdicts.csv``: one row per criterion: the tests, α, the paired images, Friedman's p, the pairs
  separated, the closest pair not separated and the images it needs, the note (too few images, methods left out);
- ``scorecard_pvalues.csv``: one row per criterion and pair of methods: ``criterion, method_a, method_b, n,
  statistic, p, p_holm, rank_biserial, mean_diff, significant, images_needed``;
- ``scorecard_stability.csv``: one row per method variant (:func:`harness.report.stability.stability`).

Everything here is computed from the pooled ``scores.csv`` (never from maps), and ``scorecard.md`` is rebuilt from
the saved tables alone (:func:`markdown`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from harness.common.errors import UserError
from harness.report.meta_evaluation import tested
from harness.report.reliability import unreliable
from harness.report import criteria
from harness.report.criteria import ROBUSTNESS, Criterion, per_image
from harness.report.scorecard import column, measured
from harness.report.stability import (KEPT, LOCO_FRONT, LOCO_HIGH, LOCO_LOW, ON_FRONT, OVERALL, OVERALL_RANK,
                                      stability)
from harness.report.tables import normalise
from harness.report.verdicts import (CORRECTION, OMNIBUS, PAIRWISE, ZERO_METHOD, Verdict, VerdictSettings,
                                     closest_unseparated, rank_text, smallest_p, verdict)
from harness.common.schema import CONTROL, VARIANT

#: The statistics a verdict adds to a criterion's column group in ``scorecard.csv``.
MEAN_RANK, RANK_LOW, RANK_HIGH, GROUP = "mean_rank", "rank_low", "rank_high", "group"


def verdict_settings(section: Mapping[str, Any] | None) -> VerdictSettings:
    """:class:`VerdictSettings` from ``report.verdicts``; a bad value is one clear line (:class:`UserError`)."""
    section = dict(section or {})
    unknown = set(section) - set(VerdictSettings.__dataclass_fields__)
    if unknown:
        raise UserError(f"report.verdicts has unknown keys {sorted(unknown)}; valid: "
                        f"{', '.join(VerdictSettings.__dataclass_fields__)}")
    s = VerdictSettings(**{**section, "ropes": {str(k): float(v) for k, v in dict(section.get("ropes") or {}).items()}})
    if not (0 < s.alpha < 1 and 0 < s.power < 1):
        raise UserError(f"report.verdicts.alpha and .power must lie in (0, 1), got {s.alpha} and {s.power}")
    if s.min_images < 2 or s.bootstrap < 0 or min([s.rope, *s.ropes.values()]) < 0:
        raise UserError("report.verdicts needs min_images ≥ 2, bootstrap ≥ 0 and ROPEs ≥ 0, got "
                        f"{s.min_images}, {s.bootstrap} and {s.rope}, {s.ropes}")
    unknown = set(s.ropes) - {c.name for c in criteria.CRITERIA}
    if unknown:
        raise UserError(f"report.verdicts.ropes names unknown criteria {sorted(unknown)}; valid: "
                        f"{', '.join(c.name for c in criteria.CRITERIA)}")
    return s


def _criterion_row(c: Criterion, v: Verdict, s: VerdictSettings) -> dict[str, Any]:
    pairs = v.pairs
    closest = closest_unseparated(v)
    open_pairs = pairs[~pairs["significant"]] if len(pairs) else pairs
    easiest = open_pairs.loc[open_pairs["images_needed"].astype(float).idxmin()] if len(open_pairs) else None
    return {"criterion": c.name, "omnibus": OMNIBUS, "pairwise": PAIRWISE, "zero_method": ZERO_METHOD,
            "correction": CORRECTION, "alpha": s.alpha, "power": s.power, "bootstrap": s.bootstrap,
            "n_images": v.n_images,
            "n_methods": len(v.methods), "friedman_statistic": v.friedman_statistic, "friedman_p": v.friedman_p,
            "smallest_p": smallest_p(v.n_images), "n_pairs": len(pairs),
            "n_separated": int(pairs["significant"].sum()) if len(pairs) else 0,
            "closest_a": closest["method_a"] if closest is not None else "",
            "closest_b": closest["method_b"] if closest is not None else "",
            "closest_needed": closest["images_needed"] if closest is not None else np.nan,
            "easiest_a": easiest["method_a"] if easiest is not None else "",
            "easiest_b": easiest["method_b"] if easiest is not None else "",
            "easiest_needed": easiest["images_needed"] if easiest is not None else np.nan, "note": v.note,
            **_bayesian_counts(c, v, s)}


def _bayesian_counts(c: Criterion, v: Verdict, s: VerdictSettings) -> dict[str, Any]:
    """The Bayesian signed-rank test's summary: its ROPE, the pairs it calls equivalent and those it decides."""
    if not s.bayesian:
        return {}
    if "p_equivalent" not in v.pairs.columns:
        return {"rope": s.ropes.get(c.name, s.rope), "n_equivalent": 0, "n_decided": 0}
    decided = np.maximum(v.pairs["p_a_better"], v.pairs["p_b_better"]) >= s.decided
    return {"rope": s.ropes.get(c.name, s.rope), "n_equivalent": int((v.pairs["p_equivalent"] >= s.decided).sum()),
            "n_decided": int(decided.sum()), "decided": s.decided}


def judge(scores: pd.DataFrame, card: pd.DataFrame, settings: VerdictSettings = VerdictSettings(),
          seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The verdicts of every measured criterion of a scorecard, from the pooled scores it was made of.

    Returns:
        The scorecard with the verdict columns, ``scorecard_verdicts.csv``, ``scorecard_pvalues.csv`` and
        ``scorecard_stability.csv`` (see the module docstring).
    """
    scores = normalise(scores[~tested(scores)])
    card = card.copy()
    values, verdicts, rows, pvalues = {}, {}, [], []
    for c in measured(card):
        values[c.name] = per_image(scores, c)
        v = verdicts[c.name] = verdict(values[c.name], settings, rope=settings.ropes.get(c.name, settings.rope))
        ranks = v.ranks.reindex(card[VARIANT]) if not v.ranks.empty else None
        for stat in (MEAN_RANK, RANK_LOW, RANK_HIGH, GROUP):
            card[column(c, stat)] = ranks[stat].to_numpy() if ranks is not None else (np.nan if stat != GROUP else "")
        rows.append(_criterion_row(c, v, settings))
        if len(v.pairs):
            pvalues.append(v.pairs.assign(criterion=c.name))
    table = pd.DataFrame(rows)
    pv = pd.concat(pvalues, ignore_index=True) if pvalues else pd.DataFrame(columns=["criterion"])
    pv = pv[["criterion", *[col for col in pv.columns if col != "criterion"]]]
    return card, table, pv, stability(card, values, verdicts, settings, seed)


def _needed(n: float) -> str:
    return "cannot be separated (no mean difference)" if not np.isfinite(n) else f"needs about {int(n):,} images"


def images_needed_lines(table: pd.DataFrame, card: pd.DataFrame) -> list[str]:
    """The "images needed" lines printed under the scorecard: per criterion, the closest pair not separated."""
    labels = {c.name: c.label for c in measured(card)}
    lines = ["**Images needed** to separate a pair (Holm's strictest level α / pairs, power as set; the paired "
             "t-test's sample size for the observed differences, over the Wilcoxon test's efficiency 3/π):", ""]
    for _, r in table.iterrows():
        if r["n_pairs"] == 0:
            lines.append(f"- {labels.get(r['criterion'], r['criterion'])}: not tested ({r['note']}).")
        elif not r["closest_a"] or pd.isna(r["closest_a"]):
            lines.append(f"- {labels.get(r['criterion'], r['criterion'])}: every pair separated with "
                         f"{int(r['n_images'])} images.")
        else:
            same = (r["closest_a"], r["closest_b"]) == (r["easiest_a"], r["easiest_b"])
            easiest = "" if same else (f"; the first a larger run would separate, {r['easiest_a']} vs "
                                       f"{r['easiest_b']}, {_needed(r['easiest_needed'])}")
            lines.append(f"- {labels.get(r['criterion'], r['criterion'])}: {int(r['n_images'])} images, α = "
                         f"{r['alpha']:g}, power {r['power']:g}; the closest pair not separated, {r['closest_a']} vs "
                         f"{r['closest_b']}, {_needed(r['closest_needed'])}{easiest}.")
    return lines


def _verdict_line(c: Criterion, r: pd.Series, card: pd.DataFrame) -> str:
    test = (f"{r['omnibus']} p = {r['friedman_p']:.3g}; " if np.isfinite(r["friedman_p"]) else "") + \
        f"{r['pairwise']} tests, zeros dropped ({r['zero_method']}), {r['correction']}-adjusted at α = {r['alpha']:g}"
    separated = f"{int(r['n_separated'])} of {int(r['n_pairs'])} pairs separated" if r["n_pairs"] else "not tested"
    line = f"- **{c.label}** ({int(r['n_images'])} paired images): {test}; {separated}."
    if isinstance(r["note"], str) and r["note"]:
        line += f" {r['note'][0].upper()}{r['note'][1:]}."
    if "rope" in r.index and np.isfinite(r["rope"]) and r["n_pairs"]:
        line += (f" Bayesian signed-rank test (Benavoli et al. 2017; ROPE ±{r['rope']:g}): {int(r['n_equivalent'])} "
                 f"pairs practically equivalent and {int(r['n_decided'])} with one method better, each at posterior "
                 f"≥ {r['decided']:g}.")
    flag = unreliable(card, c)
    if flag:
        line += f" **Its measure is unreliable on this model** ({flag}): even a separation here is not a verdict."
    return line


def _stability_table(card: pd.DataFrame, stab: pd.DataFrame) -> list[str]:
    shown = measured(card)
    stab = stab.set_index(VARIANT)
    head = ["method", "overall rank (leaving one out)", "on a front, leaving one out"] + [c.label for c in shown]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    pct = lambda x: "–" if not np.isfinite(x) else f"{100 * x:.0f}%"  # noqa: E731
    for _, row in card.iterrows():
        s = stab.loc[row[VARIANT]]
        name = f"{row[VARIANT]} (control)" if bool(row[CONTROL]) else str(row[VARIANT])
        cells = [name, f"{rank_text(s[OVERALL_RANK], s[OVERALL_RANK])} ({s[OVERALL]:.2f}; "
                 f"{rank_text(s[LOCO_LOW], s[LOCO_HIGH])})", pct(s[LOCO_FRONT])]
        for c in shown:
            kept = s.get(column(c, KEPT), np.nan)
            cell = pct(kept)
            if c.kind == ROBUSTNESS and column(c, ON_FRONT) in s.index:
                cell += f" · front {pct(s[column(c, ON_FRONT)])}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(card: pd.DataFrame, table: pd.DataFrame, stab: pd.DataFrame | None, n_bootstrap: int | None) -> str:
    """The verdicts' part of ``scorecard.md`` (below the table), from the saved tables alone."""
    by_name = {c.name: c for c in measured(card)}
    lines = ["", *images_needed_lines(table, card), "", "## Which differences are real", "",
             "Per criterion, the images are the blocks: Friedman's test of all methods alike (Friedman 1937), then "
             "every pair by the two-sided Wilcoxon signed-rank test (Wilcoxon 1945), Holm-adjusted over the pairs "
             "(Holm 1979; Benavoli, Corani & Mangili 2016). A cell's rank `lo–hi` spans the ranks the tests cannot "
             "rule out (1 + the methods significantly better, to the number of methods − those significantly "
             "worse); methods sharing a letter are not significantly different (figures/scorecard_cd: Demšar's "
             "critical-difference diagrams, at the methods' mean ranks over images). p-values: "
             "scorecard_pvalues.csv.", ""]
    lines += [_verdict_line(by_name[r["criterion"]], r, card) for _, r in table.iterrows() if r["criterion"] in by_name]
    if stab is not None and len(stab):
        boot = f"{n_bootstrap} bootstrap draws of the images" if n_bootstrap else "no bootstrap"
        lines += ["", "## How stable the verdicts are", "",
                  f"Per criterion, the share of {boot} (seeded) on which a method keeps its grouped rank, and for "
                  "robustness criteria the share on which it is on the Pareto front against the faithfulness "
                  "criterion (`–`: not ranked, or too few images to separate any pair, so that every group is kept "
                  "trivially). Overall rank: by the mean of a method's ranks over the criteria (its mean in "
                  "brackets), with its range when each criterion in turn is left out; the share of the Pareto "
                  "fronts it is on then (scorecard_stability.csv).", "", *_stability_table(card, stab)]
    return "\n".join(lines) + "\n"
