"""The meta-evaluation table: which measures can be trusted on this model (Hedström et al. 2023,
https://arxiv.org/abs/2302.07265), from the rows of the ``meta_evaluation`` conditions alone.

For each test (``meta_test``: model, input) the copies' rows (family ``meta_evaluation``) give, per copy ``k`` and
image, the prediction-kept flag, which says which images count (kept under noise, changed under the adversary). Per
measure, ``q`` ``(L, N)`` holds the unperturbed scores of the ``L`` methods (the controls left out: a map that
carries no information is no method to rank) on the ``N`` images and ``q̂`` ``(K, L, N)`` the scores under the ``K``
copies of the noise and of the adversary:

- a **per-map** measure (faithfulness, localisation, sparseness, ...): its clean (``<name>_clean``) and perturbed
  (``<name>``) scores on the copies' rows (family column empty);
- a **pairwise** measure of a family run under the copies (``perturbation.families``, e.g. the noise of the
  sensitivity family): ``q`` is its mean over the family's conditions and samples run alone, ``q̂`` its mean over the
  same conditions run under copy ``k`` (compared with the copy's maps); an **aggregate** over a condition's samples
  (max-sensitivity, local Lipschitz, RIS, ...) likewise, computed per condition first. Aggregates that are a mean
  are the pairwise rows themselves (``rel_change`` is the average sensitivity).

The criteria (:mod:`harness.metrics.meta`) are computed per copy; the test ``all`` is the mean of the two tests, copy
by copy. A cell is the mean over the copies with a seeded bootstrap 95% CI over the copies.

Two synthetic measures are rows of every table, scored on the same methods, images, copies and eligible images:
``constant`` (the same score whatever it is given) and ``random`` (independent random scores). Neither can be
reliable: the constant one sits at resilience 1, reactivity 0 (MC 0.5), the random one near (0.5 + 1/(2L), 0.5).
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from harness.metrics import meta
from harness.metrics.aggregate import aggregate
from harness.metrics.registry import MEASURES, names
from harness.report.stats import bootstrap_ci
from harness.report.tables import normalise
from harness.common.schema import (CLEAN_SUFFIX, CONTROL, COPY, IMAGE_COLUMNS, META_TEST, META_TYPE, PERTURBATION,
                            PRED_AGREES, SAMPLE, VARIANT, present)
from harness.common.seeding import seed_for
# the family of the copies' own rows, and the ``meta_type`` of a family run alone
from harness.perturbations.meta import FAMILY, UNPERTURBED

#: The synthetic measures (the framework's own checks) and what they are.
SYNTHETIC = {"constant": "synthetic: the same score for every map", "random": "synthetic: independent random scores"}
#: Resilience and reactivity: the mean of the two criteria of each kind (the axes of the figure).
RESILIENCE, REACTIVITY = "resilience", "reactivity"
ALL = "all"
CI_LOW, CI_HIGH = "ci95_low", "ci95_high"
STATISTICS = (*meta.CRITERIA, meta.MC, RESILIENCE, REACTIVITY)
KINDS = ("resilience", "adversary")
#: A set of (measure, family) pairs to meta-evaluate, or None for all.
Only = Optional[Collection[tuple[str, str]]]


def tested(scores: pd.DataFrame) -> pd.Series:
    """Per row: whether it belongs to the meta-evaluation (a copy, a family run under a copy, or alone as their
    reference: a ``meta_type``); such rows are read by the meta-evaluation alone (the scorecard leaves them out)."""
    if META_TYPE not in scores.columns:
        return pd.Series(False, index=scores.index)
    return scores[META_TYPE].notna() & (scores[META_TYPE].astype(str) != "")


def _of_test(scores: pd.DataFrame, test: str) -> pd.Series:
    return scores[META_TEST].astype(str) == test if META_TEST in scores.columns else pd.Series(False, scores.index)


def meta_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of the meta-evaluation's copies (family ``meta_evaluation``), without the controls, with a
    ``variant`` column."""
    rows = scores[tested(scores)]
    if PERTURBATION in rows.columns:
        rows = rows[rows[PERTURBATION].astype(str) == FAMILY]
    if META_TEST not in rows.columns:
        return rows.iloc[:0]
    rows = normalise(_no_controls(rows))
    if SAMPLE in rows.columns and (rows[SAMPLE] > 0).any():
        # results saved when the input test's copies were the samples of one condition: each (copy, sample) a copy
        rows[COPY] = rows[COPY].astype(int) * (int(rows[SAMPLE].max()) + 1) + rows[SAMPLE].astype(int)
    return rows


def _no_controls(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[~rows[CONTROL].fillna(False).astype(bool)] if CONTROL in rows.columns else rows


def measured(rows: pd.DataFrame) -> list[str]:
    """The per-map measures with clean and perturbed scores in ``rows``, in the registry's order."""
    return [m for m in names("per_map") if m in rows.columns and m + CLEAN_SUFFIX in rows.columns
            and rows[m].notna().any()]


@dataclass(frozen=True)
class Index:
    """Where one test's scores go: the methods (variants), the images, the copies of each kind and, per kind, the
    eligible (copy, image) pairs ``(K, N)`` (prediction kept under noise, changed under the adversary)."""

    variants: list[str]
    images: pd.MultiIndex
    copies: dict[str, list[int]]
    eligible: dict[str, np.ndarray]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.variants), len(self.images)

    @classmethod
    def of(cls, rows: pd.DataFrame) -> Index:
        """From one test's copy rows."""
        key = present(rows.columns, IMAGE_COLUMNS)
        images = pd.MultiIndex.from_frame(rows[key].drop_duplicates().sort_values(key))
        copies, eligible = {}, {}
        for kind in KINDS:
            part = rows[rows[META_TYPE] == kind]
            copies[kind] = sorted(int(c) for c in part[COPY].unique())
            kept = np.zeros((len(copies[kind]), len(images)), bool)
            ki = part[COPY].astype(int).map({c: i for i, c in enumerate(copies[kind])}).to_numpy()
            kept[ki, images.get_indexer(pd.MultiIndex.from_frame(part[key]))] = part[PRED_AGREES].astype(bool)
            eligible[kind] = kept if kind == "resilience" else ~kept
        return cls(sorted(rows[VARIANT].unique()), images, copies, eligible)

    def fill(self, rows: pd.DataFrame, column: str, reduce: str = "mean") -> np.ndarray:
        """``(L, N)``: the mean of ``column`` per (method, image) of ``rows`` (NaN where none); ``reduce="first"``
        for a column that holds one value per (method, image) (a clean map's score, on every row of its image)."""
        out = np.full(self.shape, np.nan)
        if rows.empty:
            return out
        key = present(rows.columns, IMAGE_COLUMNS)
        mean = rows.groupby([VARIANT, *key])[column].agg(reduce)
        li = pd.Index(self.variants).get_indexer(mean.index.get_level_values(VARIANT))
        ni = self.images.get_indexer(mean.index.droplevel(VARIANT) if len(key) > 1 else
                                     pd.MultiIndex.from_arrays([mean.index.get_level_values(key[0])]))
        ok = (li >= 0) & (ni >= 0)
        out[li[ok], ni[ok]] = mean.to_numpy(float)[ok]
        return out

    def fill_copies(self, rows: pd.DataFrame, column: str, kind: str) -> np.ndarray:
        """``(K, L, N)``: :meth:`fill` of each copy of ``kind``."""
        part = rows[rows[META_TYPE] == kind]
        return np.stack([self.fill(part[part[COPY].astype(int) == c], column) for c in self.copies[kind]])


@dataclass(frozen=True)
class Source:
    """One measure to meta-evaluate: its name, the family whose runs score it (``""``: the copies' own maps), its
    unperturbed scores ``q`` ``(L, N)`` and perturbed scores ``(K, L, N)`` per kind."""

    measure: str
    family: str
    q: np.ndarray
    q_hat: dict[str, np.ndarray]


def _per_map_sources(rows: pd.DataFrame, index: Index, only: Only = None) -> list[Source]:
    return [Source(m, "", index.fill(rows, m + CLEAN_SUFFIX, "first"), {k: index.fill_copies(rows, m, k) for k in KINDS})
            for m in measured(rows) if only is None or (m, "") in only]


def _family_sources(alone: pd.DataFrame, under: pd.DataFrame, index: Index, family: str,
                    only: Only = None) -> list[Source]:
    """The pairwise measures (mean over conditions and samples) and the aggregates that are not a mean (computed
    per condition, then averaged) of one family run alone and under the copies of one test."""
    keep = lambda m: only is None or (m, family) in only  # noqa: E731
    out = [Source(m, family, index.fill(alone, m), {k: index.fill_copies(under, m, k) for k in KINDS})
           for m in names("pairwise")
           if keep(m) and m in alone.columns and alone[m].notna().any() and m in under.columns]
    wanted = [m for m in names("aggregate")
              if keep(m) and MEASURES[m].reduce != "mean" and MEASURES[m].source in alone.columns]
    if wanted:
        agg_alone, agg_under = aggregate(alone), aggregate(under)
        if agg_alone is not None and agg_under is not None:
            agg_alone, agg_under = normalise(agg_alone), normalise(agg_under)
            out += [Source(m, family, index.fill(agg_alone, m), {k: index.fill_copies(agg_under, m, k) for k in KINDS})
                    for m in wanted if m in agg_alone.columns and agg_alone[m].notna().any()]
    return out


def sources(scores: pd.DataFrame, test: str, index: Index, only: Only = None) -> list[Source]:
    """Every measure of one test (or those of ``only``): the per-map measures on the copies, then each family's
    pairwise measures and aggregates."""
    scores = _no_controls(scores)
    in_meta = tested(scores)
    copies = meta_rows(scores)
    out = _per_map_sources(copies[copies[META_TEST] == test], index, only)
    if PERTURBATION not in scores.columns:
        return out
    alone = in_meta & (scores[META_TYPE].astype(str) == UNPERTURBED)
    for family in scores.loc[alone, PERTURBATION].astype(str).unique():
        mine = scores[PERTURBATION].astype(str) == family
        out += _family_sources(normalise(scores[mine & alone]), normalise(scores[mine & _of_test(scores, test)]),
                               index, family, only)
    return out


def _per_copy(source: Source | None, index: Index, synthetic: str = "", seed: int = 0) -> dict[str, np.ndarray]:
    """The criteria per copy of one measure of one test, or of a synthetic measure (``source`` None)."""
    kept, changed = index.eligible["resilience"], index.eligible["adversary"]
    k = min(len(kept), len(changed))
    if synthetic:
        q, nr, ar = meta.synthetic_scores(synthetic, (k, *index.shape), seed)
        return meta.consistency(q, nr, kept[:k], ar, changed[:k], lower_is_better=False)
    stable = MEASURES[source.measure].stable
    direction = None if not stable else stable == "lower"
    return meta.consistency(source.q, source.q_hat["resilience"][:k], kept[:k], source.q_hat["adversary"][:k],
                            changed[:k], direction)


def _with_axes(per_copy: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = dict(per_copy)
    out[RESILIENCE] = (out["iac_nr"] + out["iec_nr"]) / 2
    out[REACTIVITY] = (out["iac_ar"] + out["iec_ar"]) / 2
    return out


def _row(name: str, family: str, label: str, direction: str, test: str, per_copy: dict[str, np.ndarray], seed: int,
         n_resamples: int, synthetic: bool) -> dict:
    row = {"measure": name, "family": family, "label": label, "direction": direction, "synthetic": synthetic,
           "test": test, "n_copies": len(per_copy[meta.MC])}
    for stat in STATISTICS:
        v = per_copy[stat]
        finite = v[np.isfinite(v)]
        row[stat] = float(finite.mean()) if len(finite) else float("nan")
        row[f"{stat}_{CI_LOW}"], row[f"{stat}_{CI_HIGH}"] = bootstrap_ci(finite, seed, n_resamples)
    return row


def meta_evaluation(scores: pd.DataFrame, seed: int = 0, n_resamples: int = 2000,
                    only: Only = None) -> pd.DataFrame | None:
    """One row per (measure, family, test) with the criteria, MC, resilience, reactivity and their CIs over the
    copies; the synthetic measures included. None when ``scores`` has no meta-evaluation rows. ``only``: the
    (measure, family) pairs to compute (default: every one found)."""
    copies = meta_rows(scores)
    if copies.empty:
        return None
    by_source: dict[tuple[str, str, str], dict[str, dict[str, np.ndarray]]] = {}
    for test in ("model", "input"):
        rows = copies[copies[META_TEST] == test]
        if rows.empty:
            continue
        index = Index.of(rows)
        for source in sources(scores, test, index, only):
            entry = (source.measure, source.family, "")
            by_source.setdefault(entry, {})[test] = _with_axes(_per_copy(source, index))
        for k in SYNTHETIC:
            synthetic_seed = seed_for(seed, "meta_evaluation", k, test)
            by_source.setdefault((f"{k} (synthetic)", "", k), {})[test] = _with_axes(
                _per_copy(None, index, k, synthetic_seed))
    if not any(not k[2] for k in by_source):
        return None
    out = []
    for (name, family, synthetic), by_test in sorted(by_source.items(), key=lambda kv: (bool(kv[0][2]), kv[0][1])):
        if len(by_test) > 1:
            k = min(len(v[meta.MC]) for v in by_test.values())
            by_test[ALL] = {s: np.mean([v[s][:k] for v in by_test.values()], axis=0) for s in STATISTICS}
        label = SYNTHETIC[synthetic] if synthetic else MEASURES[name].label
        direction = "higher" if synthetic else (MEASURES[name].stable or "none")
        for test, per_copy in by_test.items():
            out.append(_row(name, family, label, direction, test, per_copy, seed, n_resamples, bool(synthetic)))
    return pd.DataFrame(out)


def reliability(table: pd.DataFrame, measure: str, family: str = "") -> pd.Series | None:
    """The row of ``measure`` (scored on the copies' maps, or through ``family``) of a meta-evaluation table: both
    tests' mean where there are both; None if the table has no such row."""
    rows = table[(table["measure"] == measure) & (table["family"].fillna("").astype(str) == family)]
    for test in (ALL, "model", "input"):
        if (rows["test"] == test).any():
            return rows[rows["test"] == test].iloc[0]
    return None


def display_name(row: pd.Series) -> str:
    """A row's measure as the table and the figure name it: ``ssim (noise)`` for a family's measure."""
    family = row.get("family", "")
    return f"{row['measure']} ({family})" if isinstance(family, str) and family else str(row["measure"])


def _cell(row: pd.Series, stat: str) -> str:
    if not np.isfinite(row[stat]):
        return "n/a"
    low, high = row[f"{stat}_{CI_LOW}"], row[f"{stat}_{CI_HIGH}"]
    ci = f" [{low:.2f}, {high:.2f}]" if np.isfinite(low) and np.isfinite(high) else ""
    return f"{row[stat]:.3f}{ci}"


def markdown(table: pd.DataFrame) -> str:
    """``meta_evaluation.md``: per test, one line per measure (best MC first, the synthetic measures last)."""
    lines = ["# Meta-evaluation of the measures (Hedström et al. 2023)", "",
             "IAC: the Wilcoxon p-value of the clean vs perturbed scores, per method (NR: p, AR: 1 − p); IEC_NR: the "
             "ranking of the methods kept; IEC_AR: each method's score worse under the adversary; MC: the mean of the "
             "four (1 = ideal). Mean over the copies [bootstrap 95% CI over the copies]. Noise (NR) counts the images "
             "whose prediction was kept, the adversary (AR) those whose prediction changed. A per-map measure is scored on "
             "the copies' maps; `measure (family)` is a pairwise measure or aggregate of that family run alone and "
             "under every copy.", ""]
    head = "| measure | direction | MC | IAC_NR | IAC_AR | IEC_NR | IEC_AR | resilience | reactivity |"
    for test in [t for t in (ALL, "model", "input") if (table["test"] == t).any()]:
        part = table[table["test"] == test].sort_values(["synthetic", meta.MC], ascending=[True, False])
        lines += [f"## {'both tests (mean)' if test == ALL else test + ' perturbation test'}", "", head,
                  "|" + "---|" * 9]
        for _, r in part.iterrows():
            cells = [_cell(r, s) for s in (meta.MC, *meta.CRITERIA, RESILIENCE, REACTIVITY)]
            lines.append(f"| {display_name(r)} | {r['direction']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
