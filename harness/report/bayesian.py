"""The Bayesian signed-rank test with a region of practical equivalence (Benavoli, Corani, Demšar & Zaffalon, JMLR
2017, https://jmlr.org/papers/v18/16-305.html; the test itself: Benavoli et al., ICML 2014,
https://proceedings.mlr.press/v32/benavoli14.html).

The paired differences ``d = a − b`` get a Dirichlet-process posterior with prior strength ``s = 0.5`` and its
pseudo-observation at 0: posterior weights ``w ~ Dirichlet(s, 1, …, 1)`` over ``(0, d₁, …, dₙ)``. For one draw of
``w``, the probability that a Walsh average ``(dᵢ + dⱼ) / 2`` lies right of the ROPE ``[−r, r]`` is
``θ_right = Σᵢⱼ wᵢ wⱼ [dᵢ + dⱼ > 2r]``, left of it ``θ_left = Σᵢⱼ wᵢ wⱼ [dᵢ + dⱼ < −2r]``, inside it the rest.
The test reports, over the posterior draws, how often each of the three is the largest: ``P(a better)``,
``P(equivalent)``, ``P(b better)`` (the authors' reference code, BayesianTestsML/tutorial; ties split evenly).
Unlike the Wilcoxon test it can say "equivalent", not only "not shown different". Hand-written (a few lines of
numpy, seeded) rather than the ``baycomp`` package: no new dependency; a known-answer test checks it against the
authors' double loop.
"""
from __future__ import annotations

import numpy as np

#: The prior strength of the Dirichlet process and the number of posterior draws.
PRIOR, DRAWS = 0.5, 20000


def posterior_weights(n: int, seed: int = 0, draws: int = DRAWS) -> np.ndarray:
    """``(draws, n + 1)`` Dirichlet weights of the pseudo-observation at 0 and the ``n`` differences."""
    return np.random.default_rng(seed).dirichlet(np.r_[PRIOR, np.ones(n)], draws)


def region_probabilities(diff: np.ndarray, rope: float, weights: np.ndarray) -> np.ndarray:
    """``(draws, 3)``: ``θ_left, θ_rope, θ_right`` of each posterior draw of the weights.

    Args:
        diff: ``(n,)`` paired differences ``a − b``.
        rope: Half-width of the region of practical equivalence (0: none).
        weights: ``(draws, n + 1)`` from :func:`posterior_weights`.
    """
    z = np.r_[0.0, np.asarray(diff, float)]
    sums = z[:, None] + z[None, :]
    right = (sums > 2 * rope).astype(float)
    left = (sums < -2 * rope).astype(float)
    if rope == 0:  # no ROPE: a Walsh average of exactly 0 counts half to each side
        right += 0.5 * (sums == 0)
        left += 0.5 * (sums == 0)
    theta_right = np.einsum("si,ij,sj->s", weights, right, weights)
    theta_left = np.einsum("si,ij,sj->s", weights, left, weights)
    return np.stack([theta_left, 1 - theta_left - theta_right, theta_right], axis=1)


def signed_rank_rope(diff: np.ndarray, rope: float, seed: int = 0, draws: int = DRAWS) -> dict[str, float]:
    """The Bayesian signed-rank test of ``a − b``: the posterior probabilities that ``b`` is better (left), that the
    two are practically equivalent (the ROPE) and that ``a`` is better (right), each the share of posterior draws
    in which that region is the most probable (ties split evenly)."""
    d = np.asarray(diff, float)
    d = d[np.isfinite(d)]
    theta = region_probabilities(d, rope, posterior_weights(len(d), seed, draws))
    winners = theta == theta.max(axis=1, keepdims=True)
    share = (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)
    return {"p_b_better": float(share[0]), "p_equivalent": float(share[1]), "p_a_better": float(share[2])}
