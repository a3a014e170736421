import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.report.stats import bootstrap_ci, compare_methods, describe, holm, paired_test, ranking, tier_ranks


def test_bootstrap_ci_is_scipy_bootstrap_seeded():
    v = np.array([0.2, 0.4, 0.6, 0.5, 0.9, 0.1])
    ref = stats.bootstrap((v,), np.mean, n_resamples=500, method="BCa", rng=np.random.default_rng(3))
    assert bootstrap_ci(v, seed=3, n_resamples=500) == (ref.confidence_interval.low, ref.confidence_interval.high)
    assert bootstrap_ci(v, seed=3, n_resamples=500) == bootstrap_ci(v, seed=3, n_resamples=500)


def test_bootstrap_degenerate_cases():
    assert bootstrap_ci(np.array([0.7, 0.7, 0.7])) == (0.7, 0.7)
    assert all(np.isnan(bootstrap_ci(np.array([0.7]))))


def test_describe_known_values_and_nan_reasons():
    d = describe(pd.Series([0.2, 0.4, 0.6, np.nan, np.nan]),
                 pd.Series(["", "", "", "constant clean map", "constant clean map"]))
    assert d["mean"] == pytest.approx(0.4) and d["median"] == pytest.approx(0.4)
    assert d["std"] == pytest.approx(0.2)
    assert (d["n"], d["n_nan"]) == (3, 2)
    assert d["nan_reasons"] == "constant clean map: 2"
    assert 0.2 <= d["ci95_low"] <= 0.4 <= d["ci95_high"] <= 0.6


def test_holm_known_values():
    assert np.allclose(holm(np.array([0.01, 0.04, 0.03, np.nan])), [0.03, 0.06, 0.06, np.nan], equal_nan=True)


def test_paired_test_matches_scipy_and_effect_size():
    a = np.array([0.9, 0.8, 0.95, 0.7, 0.85, 0.99, 0.6])
    b = np.array([0.5, 0.6, 0.9, 0.75, 0.4, 0.3, 0.2])
    res = paired_test(a, b)
    assert res["p_value"] == stats.wilcoxon(a - b).pvalue
    # ranks of |d| = [.4,.2,.05,.05,.45,.69,.4] -> R- is the rank of the single negative difference
    ranks = stats.rankdata(np.abs(a - b))
    assert res["rank_biserial"] == pytest.approx((ranks.sum() - 2 * ranks[3]) / ranks.sum())
    assert paired_test(a, a)["rank_biserial"] == 0.0 and np.isnan(paired_test(a, a)["p_value"])


def test_compare_methods_pairs_images():
    rows = [{"run": ".", "image_id": i, "magnitude": 0.5, "variant": v, "ssim": s, "spearman": s}
            for i in range(6) for v, s in (("a", 1.0 - 0.01 * i), ("b", 0.5 + 0.01 * i))]
    out = compare_methods(pd.DataFrame(rows), ["magnitude"], "variant", ["run", "image_id"])
    assert len(out) == 2  # one pair × two metrics
    assert (out.rank_biserial == 1.0).all() and (out.n_pairs == 6).all()


def test_ranking_orders_by_mean():
    summary = pd.DataFrame({"metric": ["ssim"] * 3, "perturbation": ["p"] * 3, "variant": ["x", "y", "z"],
                            "mean": [0.5, 0.9, 0.7]})
    assert ranking(summary, ["perturbation"], "variant") == ["perturbation=p: y (0.900) > z (0.700) > x (0.500)"]


def test_ranking_groups_ties_and_puts_undefined_last():
    summary = pd.DataFrame({
        "regime": ["r"] * 4, "variant": ["a", "b", "c", "d"], "metric": ["ssim"] * 4,
        "mean": [1.0, 0.99999, 0.5, np.nan]})
    (line,) = ranking(summary, ["regime"], "variant")
    assert line == "regime=r: a = b (1.000) > c (0.500) > d (undefined)"
    (low,) = ranking(summary, ["regime"], "variant", higher=False)
    assert low.startswith("regime=r: c (0.500) > a = b (1.000)")


def test_tier_ranks_share_a_rank_at_the_printed_precision():
    means = pd.Series([1.0, 0.99999, 0.5, np.nan], index=list("abcd"))
    assert tier_ranks(means).tolist()[:3] == [1, 1, 3] and np.isnan(tier_ranks(means)["d"])
    assert tier_ranks(means, higher=False).tolist()[:3] == [2, 2, 1]
    assert tier_ranks(means, decimals=6).tolist()[:3] == [1, 2, 3]
