"""The meta-evaluation's maths (Hedström et al. 2023): known answers, the framework's own checks, parity with
MetaQuantus."""
from pathlib import Path

import numpy as np
import pytest

from harness.metrics import meta

REFERENCE = Path(__file__).parents[1] / "fixtures" / "meta_reference.npz"
K, L, N = 4, 5, 40


def _all(k=K, n=N):
    return np.ones((k, n), bool)


def _criteria(c):
    return np.array([c[name].mean() for name in (*meta.CRITERIA, meta.MC)])


def test_an_ideal_measure_scores_one_on_every_criterion():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(L, N)) + np.arange(L)[:, None] * 10  # the methods well apart: a clear ranking
    worse = q[None] - 1.0 - rng.uniform(size=(K, L, N))  # every method worse under the adversary
    c = meta.consistency(q, np.repeat(q[None], K, 0), _all(), worse, _all(), lower_is_better=False)
    assert c["iac_nr"] == pytest.approx(1.0) and c["iec_nr"] == pytest.approx(1.0)
    assert c["iec_ar"] == pytest.approx(1.0) and np.all(c["iac_ar"] > 1 - 1e-6)
    assert c[meta.MC] == pytest.approx(1.0, abs=1e-6)
    # the same numbers for a lower-is-better measure whose adversary raises the scores
    flipped = meta.consistency(-q, np.repeat(-q[None], K, 0), _all(), -worse, _all(), lower_is_better=True)
    assert flipped["iec_ar"] == pytest.approx(1.0) and flipped[meta.MC] == pytest.approx(c[meta.MC])


def test_the_constant_measure_is_resilient_and_never_reactive():
    q, nr, ar = meta.synthetic_scores("constant", (K, L, N), seed=0)
    c = meta.consistency(q, nr, _all(), ar, _all(), lower_is_better=False)
    np.testing.assert_allclose(_criteria(c), [1.0, 0.0, 1.0, 0.0, 0.5])


def test_the_random_measure_is_neither_resilient_nor_reactive():
    q, nr, ar = meta.synthetic_scores("random", (20, L, 400), seed=0)
    c = meta.consistency(q, nr, _all(20, 400), ar, _all(20, 400), lower_is_better=False)
    iac_nr, iac_ar, iec_nr, iec_ar, mc = _criteria(c)
    assert iac_nr == pytest.approx(0.5, abs=0.1) and iac_ar == pytest.approx(0.5, abs=0.1)
    assert iec_nr == pytest.approx(1 / L, abs=0.02) and iec_ar == pytest.approx(0.5, abs=0.03)
    assert mc == pytest.approx((1.5 + 1 / L) / 4, abs=0.05) and mc < 0.6


def test_the_papers_sanity_estimators_land_where_the_paper_says():
    """MetaQuantus's Estimator_Same (perturbed = unperturbed scores) and Estimator_Different (scores from another
    distribution whatever the perturbation): each meets one property only, so neither is near MC = 1."""
    rng = np.random.default_rng(1)
    q = rng.uniform(size=(L, N))
    same = meta.consistency(q, np.repeat(q[None], K, 0), _all(), np.repeat(q[None], K, 0), _all(), False)
    np.testing.assert_allclose(_criteria(same), [1.0, 0.0, 1.0, 0.0, 0.5])
    q = rng.normal(loc=-500.0, size=(L, N)) + np.arange(L)[:, None] * 50
    other = meta.consistency(q, rng.normal(size=(K, L, N)), _all(), rng.normal(size=(K, L, N)), _all(), False)
    iac_nr, iac_ar, iec_nr, iec_ar, mc = _criteria(other)
    assert iac_nr < 1e-6 and iac_ar > 1 - 1e-6 and iec_ar == 0.0 and iec_nr < 0.5 and mc < 0.5


def test_only_eligible_images_and_finite_scores_count():
    q = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    q_hat = np.array([[1.0, 2.0, 9.0], [3.0, 1.0, np.nan]])  # image 2 changed (and undefined for one method)
    assert meta.iec_resilience(q, q_hat, np.array([True, True, True])) == 1.0  # image 2 left out: a NaN score
    assert meta.iec_adversary(q, q_hat, np.array([False, False, True]), lower_is_better=True) == 1.0
    assert meta.wilcoxon_p(q[0], q_hat[0], np.array([True, True, False])) == 1.0  # the same scores
    assert np.isnan(meta.wilcoxon_p(q[0], q_hat[0], np.zeros(3, bool)))  # no eligible image
    c = meta.consistency(q, q_hat[None], np.zeros((1, 3), bool), q_hat[None], np.ones((1, 3), bool), None)
    assert np.isnan(c["iac_nr"][0]) and np.isnan(c["iec_ar"][0]) and np.isnan(c[meta.MC][0])


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_parity_with_metaquantus_stored(direction):
    """IAC / IEC per copy and MC equal MetaQuantus's on the stored arrays (tests/fixtures/make_meta_reference.py)."""
    r = np.load(REFERENCE)
    for t in range(2):
        c = meta.consistency(r["q"][t], r["q_hat_nr"][t], r["kept"][t], r["q_hat_ar"][t], r["changed"][t],
                             lower_is_better=direction == "lower")
        np.testing.assert_allclose(np.stack([c[k] for k in meta.CRITERIA]), r[f"{direction}_criteria"][t],
                                   rtol=1e-12, atol=1e-12)
        assert c[meta.MC].mean() == pytest.approx(r[f"{direction}_mc"][t], abs=1e-12)


@pytest.mark.slow
def test_parity_with_metaquantus_live():
    """The reference's own static functions on fresh arrays (only where metaquantus is installed)."""
    pytest.importorskip("quantus")
    mq = pytest.importorskip("metaquantus.meta_evaluation").MetaEvaluation
    rng = np.random.default_rng(7)
    q, q_hat = rng.normal(size=(L, N)), rng.normal(size=(L, N)) + 0.3
    idx = rng.uniform(size=N) < 0.7
    for l in range(L):
        assert meta.iac(q[l], q_hat[l], idx, False) == pytest.approx(
            mq.compute_iac_score(q[l], q_hat[l], idx, "Model Resilience Test"), abs=1e-12)
        assert meta.iac(q[l], q_hat[l], idx, True) == pytest.approx(
            mq.compute_iac_score(q[l], q_hat[l], idx, "Model Adversary Test"), abs=1e-12)
    assert meta.iec_resilience(q, q_hat, idx) == pytest.approx(mq.compute_iec_resilience(q, q_hat, idx))
    for lower in (False, True):
        assert meta.iec_adversary(q, q_hat, idx, lower) == pytest.approx(mq.compute_iec_adversary(q, q_hat, idx, lower))
