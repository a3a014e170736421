"""Meta-evaluation of quality measures: is a measure resilient to noise and reactive to adversaries?

Hedström et al. 2023, "The Meta-Evaluation Problem in Explainable AI: Identifying Reliable Estimators with
MetaQuantus" (TMLR, https://arxiv.org/abs/2302.07265). A measure (an "estimator") scores the maps of ``L`` methods on
``N`` images: ``q`` ``(L, N)``. A perturbation of the model or the input is applied ``K`` times (copies), the maps
are recomputed and scored again: ``q̂`` ``(K, L, N)``. A *minor* perturbation (noise, NR) keeps the model's
predictions and should leave the scores and the ranking of the methods unchanged; a *disruptive* one (adversary, AR)
changes them and should change the scores and make every method's score worse. Only the images whose prediction is
kept (NR) or changed (AR) under a copy count for that copy (``eligible`` ``(K, N)``).

Per copy ``k`` (pure functions on score arrays, NumPy / SciPy):

- intra-consistency ``IAC``: the p-value ``p_{l,k}`` of the Wilcoxon signed-rank test (two-sided, ``zsplit``) of
  ``q_l`` against ``q̂_{k,l}`` on the eligible images; ``IAC_NR = mean_l p``, ``IAC_AR = mean_l (1 − p)``;
- inter-consistency ``IEC``: ``IEC_NR`` is the share of (image, rank position) whose method is the same when the
  methods are sorted by ``q`` and by ``q̂`` (the ranking kept); ``IEC_AR`` is the share of (method, image) whose
  perturbed score is strictly worse than its unperturbed one (in the measure's direction);
- ``MC = mean(IAC_NR, IAC_AR, IEC_NR, IEC_AR)``, one value per copy; its mean over copies is the measure's MC and the
  spread over copies its uncertainty. The ideal measure has all four at 1.

These follow the paper and equal the ``metaquantus`` package on the same arrays (``tests/fixtures/make_meta_reference.py``)
with two explicit choices where its code leaves a case open: a NaN score (a measure undefined on a map) leaves its
image out of that method's test and its image out of the ranking, instead of comparing as False; a copy with no
eligible image is NaN and is left out of the means (the package returns NaN for the whole measure). Its
``score_direction`` argument is tested for truth, so the string ``"higher"`` selects the lower-is-better branch;
here the direction is a boolean (``lower_is_better``), as in the paper.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

#: The four criteria, then their mean.
CRITERIA = ("iac_nr", "iac_ar", "iec_nr", "iec_ar")
MC = "mc"


def wilcoxon_p(q: np.ndarray, q_hat: np.ndarray, eligible: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value (``zero_method="zsplit"``) of ``q`` vs ``q_hat`` ``(N,)`` on the
    eligible images with both scores finite; 1 when every difference is zero (the same scores); NaN without any
    eligible image."""
    keep = np.asarray(eligible, bool) & np.isfinite(q) & np.isfinite(q_hat)
    a, b = np.asarray(q, float)[keep], np.asarray(q_hat, float)[keep]
    if len(a) == 0:
        return float("nan")
    if np.all(a == b):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(a, b, alternative="two-sided", zero_method="zsplit").pvalue)


def iac(q: np.ndarray, q_hat: np.ndarray, eligible: np.ndarray, adversary: bool) -> float:
    """Intra-consistency of one method and copy: ``p`` under noise, ``1 − p`` under an adversary."""
    p = wilcoxon_p(q, q_hat, eligible)
    return 1.0 - p if adversary else p


def iec_resilience(q: np.ndarray, q_hat: np.ndarray, eligible: np.ndarray) -> float:
    """Share of rank positions that hold the same method before and after the noise, over the eligible images whose
    scores are all finite. ``q``, ``q_hat`` ``(L, N)``; ties keep the methods' order (a stable sort)."""
    keep = np.asarray(eligible, bool) & np.isfinite(q).all(0) & np.isfinite(q_hat).all(0)
    if not keep.any():
        return float("nan")
    r, r_hat = np.argsort(q[:, keep], axis=0, kind="stable"), np.argsort(q_hat[:, keep], axis=0, kind="stable")
    return float((r == r_hat).mean())


def iec_adversary(q: np.ndarray, q_hat: np.ndarray, eligible: np.ndarray, lower_is_better: bool) -> float:
    """Share of (method, eligible image) whose score is strictly worse under the adversary. ``q``, ``q_hat``
    ``(L, N)``; pairs with a NaN score are left out."""
    keep = np.asarray(eligible, bool)[None, :] & np.isfinite(q) & np.isfinite(q_hat)
    if not keep.any():
        return float("nan")
    worse = q_hat > q if lower_is_better else q_hat < q
    return float(worse[keep].mean())


def consistency(q: np.ndarray, q_hat_nr: np.ndarray, kept: np.ndarray, q_hat_ar: np.ndarray, changed: np.ndarray,
                lower_is_better: bool | None) -> dict[str, np.ndarray]:
    """The four criteria and MC of one measure under one test (model or input), per copy.

    Args:
        q: ``(L, N)`` the unperturbed scores of ``L`` methods on ``N`` images.
        q_hat_nr, q_hat_ar: ``(K, L, N)`` the scores under ``K`` noise / adversary copies.
        kept: ``(K, N)`` bool, the images whose prediction the noise copy kept.
        changed: ``(K, N)`` bool, the images whose prediction the adversary copy changed.
        lower_is_better: The measure's direction; None (no direction) makes ``iec_ar`` and ``mc`` NaN.

    Returns:
        ``{iac_nr, iac_ar, iec_nr, iec_ar, mc}``, each ``(K,)``.
    """
    out = {
        "iac_nr": np.array([_nanmean([iac(q[l], qk[l], e, False) for l in range(len(q))]) if _any(e) else np.nan
                            for qk, e in zip(q_hat_nr, kept)]),
        "iac_ar": np.array([_nanmean([iac(q[l], qk[l], e, True) for l in range(len(q))]) if _any(e) else np.nan
                            for qk, e in zip(q_hat_ar, changed)]),
        "iec_nr": np.array([iec_resilience(q, qk, e) for qk, e in zip(q_hat_nr, kept)]),
        "iec_ar": np.array([np.nan if lower_is_better is None else iec_adversary(q, qk, e, lower_is_better)
                            for qk, e in zip(q_hat_ar, changed)]),
    }
    out[MC] = np.mean([out[c] for c in CRITERIA], axis=0)
    return out


def _nanmean(values: list[float]) -> float:
    """The mean of the finite values; NaN (without a warning) when there is none (no method with a defined score)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _any(eligible: np.ndarray) -> bool:
    return bool(np.asarray(eligible, bool).any())


def synthetic_scores(kind: str, shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The framework's own checks: the scores of a measure that carries no information, shaped like a real one's.

    ``kind``: ``constant`` (the same score whatever it is given: resilient and never reactive, MC = 0.5) or
    ``random`` (independent uniform scores for every map: neither, MC ≈ (1.5 + 1/L) / 4). ``shape`` is ``(K, L, N)``.

    Returns:
        ``q`` ``(L, N)``, ``q̂_nr`` and ``q̂_ar`` ``(K, L, N)``.
    """
    k, n_methods, n = shape
    if kind == "constant":
        return np.zeros((n_methods, n)), np.zeros(shape), np.zeros(shape)
    if kind == "random":
        rng = np.random.default_rng(seed)
        return rng.uniform(size=(n_methods, n)), rng.uniform(size=shape), rng.uniform(size=shape)
    raise ValueError(f"unknown synthetic measure {kind!r}; valid: constant, random")
