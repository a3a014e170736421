"""Known answers of the Bayesian signed-rank test (:mod:`harness.report.bayesian`): the authors' double loop,
clear wins, equivalence inside the ROPE, symmetry, seeding."""
import numpy as np
import pytest

from harness.report.bayesian import posterior_weights, region_probabilities, signed_rank_rope


def loop(diff, rope_min, rope_max, weights):
    """BayesianTestsML/tutorial's ``BayesianSignedRank`` (R), line by line: the pseudo-observation at 0, then every
    pair of points weighted by the product of their weights, its sum against twice the ROPE's bounds."""
    z = np.r_[0.0, diff]
    out = []
    for w in weights:
        left = rope = right = 0.0
        for i in range(len(z)):
            for j in range(len(z)):
                product = w[i] * w[j]
                if z[i] + z[j] > 2 * rope_max:
                    right += product
                elif z[i] + z[j] > 2 * rope_min:
                    rope += product
                else:
                    left += product
        out.append((left, rope, right))
    return np.array(out)


def test_equals_the_authors_double_loop():
    diff = np.random.default_rng(0).normal(0.02, 0.05, size=7)
    weights = posterior_weights(len(diff), seed=1, draws=200)
    np.testing.assert_allclose(region_probabilities(diff, 0.01, weights), loop(diff, -0.01, 0.01, weights),
                               atol=1e-12)


def test_clear_win_equivalence_and_symmetry():
    rng = np.random.default_rng(2)
    better = signed_rank_rope(rng.normal(1.0, 0.2, size=20), rope=0.1)
    assert better["p_a_better"] > 0.99 and better["p_b_better"] < 0.01
    same = signed_rank_rope(rng.uniform(-0.02, 0.02, size=30), rope=0.1)
    assert same["p_equivalent"] > 0.99
    d = rng.normal(0.3, 1.0, size=15)
    up, down = signed_rank_rope(d, 0.05, seed=3), signed_rank_rope(-d, 0.05, seed=3)
    assert up["p_a_better"] == pytest.approx(down["p_b_better"]) and up["p_equivalent"] == pytest.approx(
        down["p_equivalent"])
    assert sum(up.values()) == pytest.approx(1.0)
    assert signed_rank_rope(d, 0.05, seed=3) == up  # seeded: same seed, same answer


def test_few_mixed_images_stay_undecided():
    few = signed_rank_rope(np.array([0.3, -0.5, 0.2]), rope=0.1)
    assert max(few.values()) < 0.6  # three images that disagree: no region is clearly the most probable
