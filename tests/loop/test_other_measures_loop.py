"""Complexity, axiomatic, consistency and RRS measures through the loop and into the meta-evaluation, chosen by
configuration alone (the registry carries them; no branch of the loop or the report names them)."""
import numpy as np
import pandas as pd
import pytest

from harness.attribution.controls import ConstantMap
from harness.attribution.methods import InputXGradient, Saliency
from harness.loop.evaluation import Evaluator
from harness.metrics.aggregate import aggregate
from harness.metrics.scorer import Scorer
from harness.perturbations.noise import NoiseCondition
from harness.report.meta_evaluation import meta_evaluation

PER_MAP = ["complexity", "effective_complexity", "completeness", "non_sensitivity", "prediction_consistency",
          "sufficiency"]


@pytest.fixture(scope="module")
def rows(trained_model, small_splits):
    methods = {"saliency": Saliency(), "ixg": InputXGradient(), "constant_map": ConstantMap()}
    scorer = Scorer(pairwise=["ris_ratio", "rrs_ratio"], per_map=PER_MAP, measure_settings={"non_sensitivity_patch": 8})
    cond = NoiseCondition("uniform", 0.02, n_samples=2, clip=True)
    return pd.DataFrame(Evaluator(methods, scorer, batch_size=8)(trained_model, small_splits.test.head(8), [cond]).rows)


def test_every_new_measure_is_a_column_with_values(rows):
    for name in PER_MAP:
        assert rows[f"{name}_clean"].notna().any(), name
    assert {"complexity", "effective_complexity"} <= set(rows.columns)  # cheap: on the perturbed maps too
    assert "completeness" not in rows.columns  # against the model: the clean maps only unless asked
    assert rows.rrs_ratio.notna().all() and (rows.rrs_ratio >= 0).all()
    const = rows[rows.method == "constant_map"]
    assert np.allclose(const.complexity_clean, np.log(32 * 32))  # a uniform map: log(H·W)
    assert (const.effective_complexity_clean == 32 * 32).all()
    agg = aggregate(rows).set_index(["method", "image_id"]).rrs
    kept = rows[rows.pred_agrees.astype(bool)]
    expected = kept.groupby(["method", "image_id"]).rrs_ratio.max()  # RRS: the max over label-preserving samples
    assert len(expected) >= 8
    pd.testing.assert_series_equal(agg.loc[expected.index], expected, check_names=False)


def test_the_meta_evaluation_reads_them_through_the_registry():
    """The copies' rows of a per-map and a pairwise measure of the new set: rows of the table like any other."""
    rng = np.random.default_rng(0)
    rows = []
    for test in ("model", "input"):
        for kind in ("resilience", "adversary"):
            for k in range(2):
                for m, level in {"a": 0.0, "b": 1.0, "c": 2.0}.items():
                    for i in range(12):
                        clean = level + 0.01 * i
                        rows.append({"image_id": i, "sample": 0, "method": m, "baseline_treatment": "",
                                     "control": False, "perturbation": "meta_evaluation", "magnitude": 0.1,
                                     "regime": f"{test} {kind}", "condition": "", "meta_test": test,
                                     "meta_type": kind, "copy": k, "pred_agrees": kind == "resilience",
                                     "complexity_clean": clean,
                                     "complexity": clean if kind == "resilience" else clean + 1 + rng.uniform(),
                                     "prediction_consistency_clean": rng.uniform(),
                                     "prediction_consistency": rng.uniform()})
    table = meta_evaluation(pd.DataFrame(rows), n_resamples=50)
    both = table[table["test"] == "all"].set_index("measure")
    assert {"complexity", "prediction_consistency"} <= set(both.index)
    assert both.loc["complexity", "mc"] > 0.9 > both.loc["prediction_consistency", "mc"]


def test_a_scorecard_criterion_can_be_made_of_a_new_measure(rows):
    """A criterion names a registry measure (an aggregate or a per-map column); the scorecard knows no measure."""
    from harness.report.criteria import ROBUSTNESS, Criterion, per_image
    from harness.report.tables import normalise

    rrs = per_image(normalise(rows), Criterion("rrs", "RRS", "minus RRS", ROBUSTNESS, "rrs", sign=-1.0))
    simple = per_image(normalise(rows), Criterion("simple", "simplicity", "minus complexity", ROBUSTNESS,
                                                  "complexity_clean", sign=-1.0))
    assert len(rrs) == len(simple) == 3 * 8 and (rrs <= 0).all() and (simple < 0).all()
