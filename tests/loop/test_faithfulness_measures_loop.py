"""The faithfulness measures of Quantus / LATEC through the loop, on the trained test model: every clean map scored,
the correlations NaN for a constant map only (the shared draws: ``tests/metrics/test_faithfulness_measures.py``)."""
import pandas as pd
import pytest

from harness.attribution.controls import ConstantMap, RandomMap
from harness.attribution.methods import InputXGradient, Saliency
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.perturbations.noise import NoiseCondition

CURVES = ["pixel_flipping", "region_perturbation", "selectivity", "irof"]
CORRELATIONS = ["faithfulness_correlation", "faithfulness_estimate", "monotonicity_correlation", "sensitivity_n"]
CHEAP = {"correlation_runs": 8, "estimate_groups": 16, "monotonicity_groups": 8, "monotonicity_samples": 2,
         "pixel_flipping_steps": 16, "region_steps": 16, "region_patch": 8, "irof_segments": 30,
         "sensitivity_n_fractions": [0.05, 0.5]}


@pytest.fixture(scope="module")
def rows(trained_model, small_splits):
    methods = {"saliency": Saliency(), "ixg": InputXGradient(), "random_map": RandomMap(),
               "constant_map": ConstantMap()}
    scorer = Scorer(pairwise=["spearman"], per_map=CURVES + CORRELATIONS, faithfulness=CHEAP)
    data = small_splits.test.head(6)
    cond = NoiseCondition("uniform", 0.02, n_samples=1, clip=True)
    return pd.DataFrame(Evaluator(methods, scorer, batch_size=6)(trained_model, data, [cond]).rows)


def test_every_clean_map_is_scored(rows):
    cols = [f"{m}_clean" for m in CURVES + CORRELATIONS]
    assert set(cols) <= set(rows.columns) and not set(CURVES + CORRELATIONS) & set(rows.columns)
    methods = rows[rows.method != "constant_map"]
    assert methods[cols].notna().all().all()
    const = rows[rows.method == "constant_map"]
    assert const[[f"{m}_clean" for m in CORRELATIONS]].isna().all().all()  # a constant map ranks nothing
    assert const[[f"{m}_clean" for m in CURVES]].notna().all().all()  # removed in the image's seeded order
    assert methods[[f"{m}_clean" for m in CORRELATIONS]].abs().le(1).all().all()

