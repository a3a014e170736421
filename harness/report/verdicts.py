"""Which differences between methods are real, per criterion: tests paired by image (the images are the blocks).

For one criterion, every method variant is scored on the same images, so the per-image scores form a matrix
``(n_images, n_methods)`` (:func:`harness.report.paired_tests.paired_matrix`; a method with fewer than
``min_images`` finite values is left out, then only the images where every remaining method has a value are used,
and their number is reported). On it (the tests: :mod:`harness.report.paired_tests`):

- the omnibus **Friedman** test (Friedman 1937, https://doi.org/10.1080/01621459.1937.10503522;
  ``scipy.stats.friedmanchisquare``) of "all methods alike", with the methods' mean ranks over images (1 = best);
- pairwise two-sided **Wilcoxon signed-rank** tests (Wilcoxon 1945, https://doi.org/10.2307/3001968;
  ``scipy.stats.wilcoxon``, :func:`harness.report.paired_tests.signed_rank`; zero differences dropped,
  ``zero_method="wilcox"``; a pair whose differences are all zero gets p = 1), adjusted by **Holm**'s step-down
  procedure (Holm 1979, https://www.jstor.org/stable/4615733; :func:`harness.report.stats.holm`) — Benavoli, Corani &
  Mangili (JMLR 2016, https://jmlr.org/papers/v17/benavoli16a.html) explain why pairwise tests rather than the
  mean-rank post-hoc tests (Nemenyi) whose outcome depends on the other methods compared;
- **groups**: a method's grouped rank ``lo–hi`` runs from 1 + the number of methods significantly better than it to
  the number of methods minus those significantly worse (the ranks the tests cannot rule out), and the compact letter
  display gives every maximal set of methods no two of which differ one letter (two methods share a letter exactly
  when their Holm-adjusted p exceeds α), as in Demšar's critical-difference diagrams (JMLR 2006,
  https://jmlr.org/papers/v7/demsar06a.html);
- **images needed** (:func:`harness.report.paired_tests.images_needed`) for a pair not separated.

With ``n`` paired images the smallest two-sided exact Wilcoxon p-value is ``2 / 2ⁿ``, and Holm over ``m`` pairs asks
``m · p ≤ α`` of the smallest: below that no pair can be separated, and :func:`verdict` says so; under
``min_images`` paired images a criterion is not ranked at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.report.bayesian import signed_rank_rope
from harness.report.paired_tests import friedman, images_needed, mean_ranks, paired_matrix, pairwise, smallest_p

#: The tests, as the scorecard names them.
OMNIBUS, PAIRWISE, CORRECTION, ZERO_METHOD = "Friedman", "Wilcoxon signed-rank (two-sided)", "Holm", "wilcox"


@dataclass(frozen=True)
class VerdictSettings:
    """The settings of the tests (``report.verdicts`` in ``harness/configs/report/default.yaml``).

    Attributes:
        alpha: The family-wise error rate per criterion (Holm over its pairs).
        min_images: Fewer paired images than this: the criterion is not ranked.
        power: The power :func:`harness.report.paired_tests.images_needed` asks for.
        bootstrap: Bootstrap resamples of the images for the stability table (:mod:`harness.report.stability`).
        bayesian: Also run the Bayesian signed-rank test (:mod:`harness.report.bayesian`) on every pair.
        rope: Its region of practical equivalence (half-width), in a criterion's units.
        ropes: Per criterion name, its own ``rope``.
        decided: The posterior probability at which the Bayesian test's answer is reported as a verdict.
    """

    alpha: float = 0.05
    min_images: int = 5
    power: float = 0.8
    bootstrap: int = 200
    bayesian: bool = False
    rope: float = 0.01
    ropes: dict[str, float] = field(default_factory=dict)
    decided: float = 0.95


@dataclass
class Verdict:
    """The tests of one criterion (:func:`verdict`).

    Attributes:
        n_images: Paired images used (complete rows).
        methods: The methods tested, in the order given.
        left_out: Methods with fewer than ``min_images`` finite values (not ranked).
        friedman_statistic, friedman_p: The omnibus test (NaN with fewer than three methods or too few images).
        pairs: One row per pair: ``method_a, method_b, n, statistic, p, p_holm, rank_biserial, mean_diff,
            significant, images_needed``.
        ranks: Indexed by method: ``mean_rank, rank_low, rank_high, group`` (letters).
        note: Why the verdict is weak or absent ("" when the tests can separate).
    """

    n_images: int
    methods: list[str]
    left_out: list[str]
    friedman_statistic: float = np.nan
    friedman_p: float = np.nan
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    ranks: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""

def grouped_ranks(methods: list[str], pairs: pd.DataFrame) -> pd.DataFrame:
    """``rank_low`` = 1 + the methods significantly better, ``rank_high`` = the number of methods − those
    significantly worse (the direction of a significant pair: the sign of its rank-biserial correlation)."""
    better = dict.fromkeys(methods, 0)
    worse = dict.fromkeys(methods, 0)
    sig = pairs[pairs["significant"]]
    for a, b, effect in zip(sig["method_a"], sig["method_b"], sig["rank_biserial"]):
        high, low = (a, b) if effect > 0 else (b, a)
        better[low] += 1
        worse[high] += 1
    return pd.DataFrame({"rank_low": [1 + better[m] for m in methods],
                         "rank_high": [len(methods) - worse[m] for m in methods]}, index=methods)


def _cliques(alike: dict[str, set[str]], r: set, p: set, x: set, out: list) -> None:
    """Bron–Kerbosch: every maximal clique of the graph ``alike`` (method → methods not shown different)."""
    if not p and not x:
        out.append(r)
        return
    for v in list(p):
        _cliques(alike, r | {v}, p & alike[v], x & alike[v], out)
        p = p - {v}
        x = x | {v}


def letters(order: list[str], pairs: pd.DataFrame) -> dict[str, str]:
    """The compact letter display: one letter per maximal set of methods no two of which are significantly
    different, lettered by its best member in ``order`` (best first); two methods share a letter exactly when their
    pair is not significant."""
    alike = {m: set() for m in order}
    alike_pairs = pairs[~pairs["significant"]]
    for a, b in zip(alike_pairs["method_a"], alike_pairs["method_b"]):
        alike[a].add(b)
        alike[b].add(a)
    found: list[set] = []
    _cliques(alike, set(), set(order), set(), found)
    position = {m: i for i, m in enumerate(order)}
    found.sort(key=lambda c: sorted(position[m] for m in c))
    out = dict.fromkeys(order, "")
    for i, clique in enumerate(found):
        for m in clique:
            out[m] += _letter(i)
    return out


def _letter(i: int) -> str:
    return chr(ord("a") + i) if i < 26 else f"{chr(ord('a') + i // 26 - 1)}{chr(ord('a') + i % 26)}"


def rank_text(low: float, high: float) -> str:
    """``"3"``, ``"2–4"``, or ``"–"`` when not ranked."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "–"
    return f"{int(low)}" if low == high else f"{int(low)}–{int(high)}"

def _note(n: int, n_methods: int, left_out: list[str], settings: VerdictSettings) -> str:
    parts = [f"left out (fewer than {settings.min_images} images with a value): {', '.join(left_out)}"] if left_out \
        else []
    n_pairs = n_methods * (n_methods - 1) // 2
    if n < settings.min_images or n_methods < 2:
        parts.insert(0, f"not ranked: {n} paired images of {n_methods} methods (fewer than {settings.min_images} "
                        "images or two methods)")
    elif smallest_p(n) * n_pairs > settings.alpha:
        parts.insert(0, f"no pair can be separated with {n} images: the smallest two-sided Wilcoxon p is 2/2^{n} = "
                        f"{smallest_p(n):.3g}, and Holm over {n_pairs} pairs asks {settings.alpha:g}/{n_pairs} = "
                        f"{settings.alpha / n_pairs:.3g} of the smallest")
    return "; ".join(parts)


def verdict(values: pd.Series, settings: VerdictSettings = VerdictSettings(), needed: bool = True,
            rope: float | None = None) -> Verdict:
    """The tests of one criterion from its per (method, image) values (see the module docstring).

    Args:
        values: Per (method, image) values, higher = better (:func:`harness.report.scorecard.per_image`).
        needed: Also estimate the images each pair not separated needs (``pairs["images_needed"]``).
        rope: With ``settings.bayesian``, the ROPE of the Bayesian signed-rank test (default ``settings.rope``):
            ``pairs`` gains ``p_a_better, p_equivalent, p_b_better`` (:mod:`harness.report.bayesian`).

    Returns:
        The :class:`Verdict`; with fewer than ``min_images`` paired images or two methods, only the note and the
        counts (no ranks).
    """
    matrix, left_out = paired_matrix(values, settings.min_images)
    n, methods = len(matrix), list(matrix.columns)
    out = Verdict(n, methods, left_out, note=_note(n, len(methods), left_out, settings))
    if n < settings.min_images or len(methods) < 2:
        return out
    out.friedman_statistic, out.friedman_p = friedman(matrix)
    out.pairs = pairwise(matrix, settings.alpha)
    if needed:
        out.pairs["images_needed"] = [
            np.nan if sig else images_needed(matrix[a] - matrix[b], settings.alpha, settings.power, len(out.pairs))
            for a, b, sig in zip(out.pairs["method_a"], out.pairs["method_b"], out.pairs["significant"])]
    if settings.bayesian:
        bayes = [signed_rank_rope(matrix[a] - matrix[b], settings.rope if rope is None else rope, seed=i)
                 for i, (a, b) in enumerate(zip(out.pairs["method_a"], out.pairs["method_b"]))]
        out.pairs = out.pairs.join(pd.DataFrame(bayes, index=out.pairs.index))
    ranks = mean_ranks(matrix).rename("mean_rank").to_frame().join(grouped_ranks(methods, out.pairs))
    order = list(ranks.sort_values("mean_rank", kind="stable").index)
    ranks["group"] = pd.Series(letters(order, out.pairs))
    out.ranks = ranks
    return out


def closest_unseparated(v: Verdict) -> pd.Series | None:
    """The pair not separated whose separation needs the most images (the closest by standardised difference) among
    those with a mean difference (any pair when none has), or None when every pair is separated or none was tested."""
    if v.pairs.empty or v.pairs["significant"].all():
        return None
    open_pairs = v.pairs[~v.pairs["significant"]]
    needed = open_pairs["images_needed"].astype(float)
    finite = needed[np.isfinite(needed)]
    return open_pairs.loc[finite.idxmax() if len(finite) else needed.index[0]]
