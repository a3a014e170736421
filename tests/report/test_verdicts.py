"""Known answers of the per-criterion tests (:mod:`harness.report.verdicts`): parity with scipy, Holm by hand, the
groups from the adjusted p-values, false separations at most about α, a one-sd shift separated, ties, NaN rows, too
few images, and the images-needed formula against a hand computation and a simulation."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.report.paired_tests import (friedman, images_needed, mean_ranks, paired_matrix, paired_t_images, pairwise,
                                         signed_rank, smallest_p)
from harness.report.verdicts import VerdictSettings, closest_unseparated, letters, rank_text, verdict


def long(matrix: np.ndarray, names=None) -> pd.Series:
    """``(n_images, n_methods)`` → per (method, image) values, as the scorecard's ``per_image`` gives them."""
    names = names or [f"m{j}" for j in range(matrix.shape[1])]
    frame = pd.DataFrame(matrix, columns=names)
    return pd.Series({(m, i): frame.loc[i, m] for m in names for i in frame.index})


def test_friedman_and_wilcoxon_equal_scipy_on_the_same_arrays():
    x = np.random.default_rng(1).normal(size=(12, 4)) + [0.0, 0.3, 0.6, 0.9]
    frame = pd.DataFrame(x, columns=list("abcd"))
    stat, p = friedman(frame)
    ref = stats.friedmanchisquare(*x.T)
    assert (stat, p) == (pytest.approx(ref.statistic, rel=1e-12), pytest.approx(ref.pvalue, rel=1e-12))
    pairs = pairwise(frame).set_index(["method_a", "method_b"])
    for a, b in [("a", "b"), ("a", "d"), ("c", "d")]:
        ref = stats.wilcoxon(frame[a], frame[b], zero_method="wilcox")
        assert pairs.loc[(a, b), "p"] == pytest.approx(ref.pvalue, rel=1e-12)
        assert pairs.loc[(a, b), "statistic"] == pytest.approx(ref.statistic)
    assert len(pairs) == 6


def test_holm_equals_a_hand_computation():
    x = np.random.default_rng(2).normal(size=(15, 3)) + [0.0, 0.8, 1.6]
    pairs = pairwise(pd.DataFrame(x, columns=list("abc")))
    p = pairs["p"].to_numpy()
    order = np.argsort(p)  # p(1) ≤ p(2) ≤ p(3): multiply by 3, 2, 1, keep monotone, cap at 1
    hand = np.empty(3)
    hand[order[0]] = min(1, 3 * p[order[0]])
    hand[order[1]] = min(1, max(hand[order[0]], 2 * p[order[1]]))
    hand[order[2]] = min(1, max(hand[order[1]], 1 * p[order[2]]))
    np.testing.assert_allclose(pairs["p_holm"], hand, rtol=1e-12)
    assert (pairs["significant"] == (pairs["p_holm"] <= 0.05)).all()


def test_groups_follow_from_the_adjusted_p_values():
    x = np.random.default_rng(3).normal(size=(30, 5)) + [0.0, 0.2, 0.5, 0.9, 1.5]
    v = verdict(long(x))
    assert v.pairs["significant"].any() and not v.pairs["significant"].all()  # a mixed answer: the test bites
    for _, r in v.pairs.iterrows():
        shared = set(v.ranks.loc[r["method_a"], "group"]) & set(v.ranks.loc[r["method_b"], "group"])
        assert bool(shared) == (r["p_holm"] > 0.05), (r["method_a"], r["method_b"])
    for m in v.methods:  # the grouped rank counts the methods significantly better and worse
        sig = v.pairs[v.pairs["significant"] & ((v.pairs["method_a"] == m) | (v.pairs["method_b"] == m))]
        above = sum((r["method_a"] == m) != (r["rank_biserial"] > 0) for _, r in sig.iterrows())
        assert v.ranks.loc[m, "rank_low"] == 1 + above
        assert v.ranks.loc[m, "rank_high"] == len(v.methods) - (len(sig) - above)


def test_letters_of_a_chain():
    pairs = pd.DataFrame({"method_a": ["A", "A", "B"], "method_b": ["B", "C", "C"],
                          "significant": [False, True, False]})
    assert letters(["A", "B", "C"], pairs) == {"A": "a", "B": "ab", "C": "b"}
    assert rank_text(2, 4) == "2–4" and rank_text(3, 3) == "3" and rank_text(np.nan, 2) == "–"


def test_methods_from_one_distribution_land_in_one_group_at_most_about_alpha_of_the_time():
    rng = np.random.default_rng(4)
    separated = 0
    for _ in range(100):
        v = verdict(long(rng.normal(size=(20, 4))))
        assert set(v.ranks["rank_low"]) | set(v.ranks["rank_high"]) <= {1, 2, 3, 4}
        separated += bool(v.pairs["significant"].any())
    assert separated <= 10  # Holm controls the family-wise rate at α = 0.05: ~5 of 100 expected at most


def test_a_method_shifted_by_one_sd_on_50_images_is_separated_from_the_rest():
    x = np.random.default_rng(5).normal(size=(50, 5))
    x[:, 2] += 1.0
    v = verdict(long(x))
    assert v.n_images == 50 and v.note == ""
    assert v.ranks.loc["m2", "rank_low"] == v.ranks.loc["m2", "rank_high"] == 1
    assert v.ranks.loc["m2", "group"] == "a" and "a" not in "".join(v.ranks.drop("m2")["group"])
    assert v.friedman_p < 1e-4
    rest = v.ranks.drop("m2")
    assert (rest["rank_low"] == 2).all() and (rest["rank_high"] == 5).all()


def test_ties_of_constant_maps_are_defined():
    x = np.random.default_rng(6).normal(size=(10, 3))
    x[:, 1] = x[:, 2] = 0.0  # two constant maps' exact zeros
    v = verdict(long(x, ["method", "const_a", "const_b"]))
    tie = v.pairs.set_index(["method_a", "method_b"]).loc[("const_a", "const_b")]
    assert tie["n"] == 0 and tie["p"] == 1.0 and not tie["significant"]
    assert v.ranks.loc["const_a", "group"] == v.ranks.loc["const_b", "group"]
    assert friedman(pd.DataFrame(np.zeros((6, 3)))) == (0.0, 1.0)


def test_nan_rows_use_the_images_every_method_has_and_say_how_many():
    x = np.random.default_rng(7).normal(size=(12, 3))
    x[:4, 1] = np.nan  # a method without a value on four images
    x[:, 2] = np.nan
    x[:3, 2] = 1.0  # and one with only three
    matrix, left_out = paired_matrix(long(x), min_images=5)
    assert left_out == ["m2"] and list(matrix.columns) == ["m0", "m1"] and len(matrix) == 8
    v = verdict(long(x))
    assert v.n_images == 8 and v.left_out == ["m2"] and "m2" in v.note
    assert list(v.ranks.index) == ["m0", "m1"] and np.isnan(v.friedman_p)  # Friedman needs three methods


def test_fewer_than_five_images_say_so_instead_of_ranking():
    v = verdict(long(np.random.default_rng(8).normal(size=(4, 3))))
    assert v.n_images == 4 and v.ranks.empty and v.pairs.empty and "not ranked" in v.note
    assert closest_unseparated(v) is None


def test_too_few_images_for_holm_are_named():
    assert smallest_p(8) == 2 / 256
    assert stats.wilcoxon(np.arange(1, 9) * 1.0).pvalue == pytest.approx(smallest_p(8))
    v = verdict(long(np.random.default_rng(9).normal(size=(8, 6)) + np.arange(6) * 3))
    assert "no pair can be separated with 8 images" in v.note and not v.pairs["significant"].any()
    assert (v.pairs["p"] > 0).all() and v.pairs["p"].min() == pytest.approx(2 / 256)


def test_images_needed_by_hand():
    assert math.ceil(paired_t_images(0.5)) == 34  # Cohen (1988) / G*Power: paired t, d = 0.5, α = 0.05, power 0.8
    assert math.ceil(paired_t_images(0.8)) == 15  # G*Power: 15
    d = np.random.default_rng(10).normal(size=40)
    d = (d - d.mean()) / d.std(ddof=1) * 1.0 + 0.5  # mean 0.5, sd 1: d = 0.5
    assert images_needed(d) == math.ceil(paired_t_images(0.5) * math.pi / 3) == 35
    assert images_needed(d, n_pairs=10) == math.ceil(paired_t_images(0.5, 0.005) * math.pi / 3)
    assert images_needed(np.zeros(5)) == math.inf
    assert images_needed(np.full(5, 0.3)) == 6  # no spread: the exact floor 2/2^n ≤ 0.05


def test_images_needed_reach_the_power_in_simulation():
    rng = np.random.default_rng(11)
    effect = 0.6
    n = int(images_needed(rng.normal(effect, 1.0, size=4000)))
    assert 20 <= n <= 26
    power = np.mean([stats.wilcoxon(rng.normal(effect, 1.0, size=n)).pvalue <= 0.05 for _ in range(400)])
    assert 0.75 <= power <= 0.87


def test_mean_ranks_with_ties():
    ranks = mean_ranks(pd.DataFrame({"a": [3.0, 3.0], "b": [1.0, 3.0], "c": [2.0, 0.0]}))
    assert ranks.tolist() == [1.25, 2.25, 2.5]


def test_settings_defaults():
    s = VerdictSettings()
    assert (s.alpha, s.min_images, s.power, s.bootstrap, s.bayesian) == (0.05, 5, 0.8, 200, False)


def test_signed_rank_equals_scipy_with_ties_zeros_and_without():
    rng = np.random.default_rng(12)
    cases = [rng.normal(size=9), np.round(rng.normal(size=9), 1), np.round(rng.normal(size=13), 1),
             np.round(rng.normal(size=30), 1), np.array([1.0, 1.0, 2.0, 2.0, 0.0, -1.0, 3.0]),
             np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5])]
    for d in cases + [rng.choice([-2.0, -1.0, 1.0, 2.0, 3.0], size=8) for _ in range(20)]:
        n, statistic, p, effect = signed_rank(d)
        ref = stats.wilcoxon(d, zero_method="wilcox")
        assert n == np.count_nonzero(d)
        assert p == pytest.approx(ref.pvalue, rel=1e-9) and statistic == pytest.approx(ref.statistic)
        nz = d[d != 0]
        ranks = stats.rankdata(np.abs(nz))
        plus, minus = ranks[nz > 0].sum(), ranks[nz < 0].sum()
        assert effect == pytest.approx((plus - minus) / (plus + minus))
    n, statistic, p, effect = signed_rank(np.zeros(4))
    assert (n, p, effect) == (0, 1.0, 0.0) and np.isnan(statistic)
