"""The meta-evaluation table: which measures can be trusted on this model (Hedström et al. 2023,
https://arxiv.org/abs/2302.07265), from the rows of the ``meta_evaluation`` conditions alone.

For every per-map measure whose clean (``<name>_clean``) and perturbed (``<name>``) scores are in ``scores.csv``,
and for each test (``meta_test``: model, input): ``q`` ``(L, N)`` holds the clean scores of the ``L`` methods (the
controls left out: a map that carries no information is no method to rank) on the ``N`` images, ``q̂`` ``(K, L, N)``
the scores of the perturbed maps under the ``K`` copies of the noise and of the adversary, and the prediction-kept
flag of every (copy, image) says which images count (kept under noise, changed under the adversary). The criteria
(:mod:`harness.metrics.meta`) are computed per copy; the test ``all`` is the mean of the two tests, copy by copy. A
cell is the mean over the copies with a seeded bootstrap 95% CI over the copies.

Two synthetic measures are rows of every table, scored on the same methods, images, copies and eligible images:
``constant`` (the same score whatever it is given) and ``random`` (independent random scores). Neither can be
reliable: the constant one sits at resilience 1, reactivity 0 (MC 0.5), the random one near (0.5 + 1/(2L), 0.5).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.metrics import meta
from harness.metrics.registry import MEASURES, names
from harness.report.stats import bootstrap_ci
from harness.report.tables import normalise
from harness.schema import (CLEAN_SUFFIX, CONTROL, COPY, IMAGE_COLUMNS, META_TEST, META_TYPE, PRED_AGREES, SAMPLE,
                            VARIANT, present)
from harness.seeding import seed_for

#: The synthetic measures (the framework's own checks) and what they are.
SYNTHETIC = {"constant": "synthetic: the same score for every map", "random": "synthetic: independent random scores"}
#: Resilience and reactivity: the mean of the two criteria of each kind (the axes of the figure).
RESILIENCE, REACTIVITY = "resilience", "reactivity"
ALL = "all"
CI_LOW, CI_HIGH = "ci95_low", "ci95_high"
STATISTICS = (*meta.CRITERIA, meta.MC, RESILIENCE, REACTIVITY)


def meta_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of the meta-evaluation's conditions, without the controls, with a ``variant`` column."""
    if META_TEST not in scores.columns:
        return scores.iloc[:0]
    rows = scores[scores[META_TEST].notna() & (scores[META_TEST].astype(str) != "")]
    if CONTROL in rows.columns:
        rows = rows[~rows[CONTROL].fillna(False).astype(bool)]
    return normalise(rows)


def measured(rows: pd.DataFrame) -> list[str]:
    """The per-map measures with clean and perturbed scores in ``rows``, in the registry's order."""
    return [m for m in names("per_map") if m in rows.columns and m + CLEAN_SUFFIX in rows.columns
            and rows[m].notna().any()]


def _arrays(rows: pd.DataFrame, measures: list[str]) -> dict:
    """One test's scores as arrays: per measure ``q`` ``(L, N)`` and per type ``(K, L, N)``, and per type the
    eligible flags ``(K, N)`` (prediction kept under noise, changed under the adversary)."""
    key = present(rows.columns, IMAGE_COLUMNS)
    variants = sorted(rows[VARIANT].unique())
    images = pd.MultiIndex.from_frame(rows[key].drop_duplicates().sort_values(key))
    li = rows[VARIANT].map({v: i for i, v in enumerate(variants)}).to_numpy()
    ni = images.get_indexer(pd.MultiIndex.from_frame(rows[key]))
    shape = (len(variants), len(images))
    out: dict = {"shape": shape, "q": {}, "eligible": {}}
    for m in measures:
        q = np.full(shape, np.nan)
        q[li, ni] = rows[m + CLEAN_SUFFIX].to_numpy(float)
        out["q"][m] = q
    for kind in ("resilience", "adversary"):
        part = (rows[META_TYPE] == kind).to_numpy()
        copies = pd.MultiIndex.from_frame(rows.loc[part, [COPY, SAMPLE]].drop_duplicates().sort_values([COPY, SAMPLE]))
        ki = copies.get_indexer(pd.MultiIndex.from_frame(rows.loc[part, [COPY, SAMPLE]]))
        kept = np.zeros((len(copies), len(images)), bool)
        kept[ki, ni[part]] = rows.loc[part, PRED_AGREES].astype(bool).to_numpy()
        out["eligible"][kind] = kept if kind == "resilience" else ~kept
        for m in measures:
            q_hat = np.full((len(copies), *shape), np.nan)
            q_hat[ki, li[part], ni[part]] = rows.loc[part, m].to_numpy(float)
            out[(kind, m)] = q_hat
    return out


def _per_copy(a: dict, measure: str, synthetic: str = "", seed: int = 0) -> dict[str, np.ndarray]:
    """The criteria per copy of one test's arrays ``a`` for a measure of the registry, or a synthetic one."""
    kept, changed = a["eligible"]["resilience"], a["eligible"]["adversary"]
    k = min(len(kept), len(changed))
    if synthetic:
        q, nr, ar = meta.synthetic_scores(synthetic, (k, *a["shape"]), seed)
        return meta.consistency(q, nr, kept[:k], ar, changed[:k], lower_is_better=False)
    stable = MEASURES[measure].stable
    direction = None if not stable else stable == "lower"
    return meta.consistency(a["q"][measure], a[("resilience", measure)][:k], kept[:k],
                            a[("adversary", measure)][:k], changed[:k], direction)


def _with_axes(per_copy: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = dict(per_copy)
    out[RESILIENCE] = (out["iac_nr"] + out["iec_nr"]) / 2
    out[REACTIVITY] = (out["iac_ar"] + out["iec_ar"]) / 2
    return out


def _row(name: str, label: str, direction: str, test: str, per_copy: dict[str, np.ndarray], seed: int,
         n_resamples: int, synthetic: bool) -> dict:
    row = {"measure": name, "label": label, "direction": direction, "synthetic": synthetic, "test": test,
           "n_copies": len(per_copy[meta.MC])}
    for stat in STATISTICS:
        v = per_copy[stat]
        finite = v[np.isfinite(v)]
        row[stat] = float(finite.mean()) if len(finite) else float("nan")
        row[f"{stat}_{CI_LOW}"], row[f"{stat}_{CI_HIGH}"] = bootstrap_ci(finite, seed, n_resamples)
    return row


def meta_evaluation(scores: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame | None:
    """One row per (measure, test) with the criteria, MC, resilience, reactivity and their CIs over the copies;
    the synthetic measures included. None when ``scores`` has no meta-evaluation rows."""
    rows = meta_rows(scores)
    found = measured(rows)
    if rows.empty or not found:
        return None
    arrays = {t: _arrays(rows[rows[META_TEST] == t], found) for t in ("model", "input") if (rows[META_TEST] == t).any()}
    out = []
    entries = [(m, MEASURES[m].label, MEASURES[m].stable, "") for m in found]
    entries += [(f"{k} (synthetic)", about, "higher", k) for k, about in SYNTHETIC.items()]
    for name, label, direction, synthetic in entries:
        by_test = {t: _with_axes(_per_copy(a, name, synthetic, seed_for(seed, "meta_evaluation", synthetic, t)))
                   for t, a in arrays.items()}
        if len(by_test) > 1:
            k = min(len(v[meta.MC]) for v in by_test.values())
            by_test[ALL] = {s: np.mean([v[s][:k] for v in by_test.values()], axis=0) for s in STATISTICS}
        for test, per_copy in by_test.items():
            out.append(_row(name, label, direction or "none", test, per_copy, seed, n_resamples, bool(synthetic)))
    return pd.DataFrame(out)


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
             "whose prediction was kept, the adversary (AR) those whose prediction changed.", ""]
    head = "| measure | direction | MC | IAC_NR | IAC_AR | IEC_NR | IEC_AR | resilience | reactivity |"
    for test in [t for t in (ALL, "model", "input") if (table["test"] == t).any()]:
        part = table[table["test"] == test].sort_values(["synthetic", meta.MC], ascending=[True, False])
        lines += [f"## {'both tests (mean)' if test == ALL else test + ' perturbation test'}", "", head,
                  "|" + "---|" * 9]
        for _, r in part.iterrows():
            cells = [_cell(r, s) for s in (meta.MC, *meta.CRITERIA, RESILIENCE, REACTIVITY)]
            lines.append(f"| {r['measure']} | {r['direction']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
