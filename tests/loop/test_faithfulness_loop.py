"""Faithfulness through the loop: clean maps scored against the model, perturbed ones where asked, controls at the
random level (the known answer of the scorecard issue), one draw per image shared by every method."""
import pandas as pd
import pytest
from harness.attribution.controls import ConstantMap, RandomMap
from harness.attribution.methods import InputXGradient, Saliency
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.perturbations.noise import NoiseCondition

FAITHFUL = ["road_morf", "road_lerf", "deletion", "insertion", "infidelity"]


@pytest.fixture(scope="module")
def rows(trained_model, small_splits):
    methods = {"saliency": Saliency(), "ixg": InputXGradient(), "random_map": RandomMap(),
               "constant_map": ConstantMap()}
    scorer = Scorer(pairwise=["spearman"], per_map=FAITHFUL, faithfulness={"infidelity_samples": 4})
    cond = NoiseCondition("uniform", 0.02, n_samples=1, clip=True)
    data = small_splits.test.head(12)
    return pd.DataFrame(Evaluator(methods, scorer, batch_size=12)(trained_model, data, [cond]).rows)


def test_road_separates_the_gradient_from_the_controls(rows):
    gap = (rows.road_lerf_clean - rows.road_morf_clean).groupby(rows.method).mean()
    assert gap["saliency"] >= 0.3
    assert abs(gap["random_map"]) <= 0.05 and abs(gap["constant_map"]) <= 0.05
    assert (rows.insertion_clean - rows.deletion_clean).groupby(rows.method).mean()["saliency"] > 0.1


def test_clean_columns_and_shared_draws(rows):
    assert {f"{m}_clean" for m in FAITHFUL} <= set(rows.columns) and not set(FAITHFUL) & set(rows.columns)
    assert rows[[f"{m}_clean" for m in FAITHFUL]].notna().all().all()
    # the same image gets the same removal order and noise for every method: a constant map's ties are broken by
    # the image's seed, most or least relevant first alike
    const = rows[rows.method == "constant_map"].sort_values("image_id")
    assert const.road_morf_clean.to_numpy() == pytest.approx(const.road_lerf_clean.to_numpy())


def test_faithfulness_of_perturbed_maps_is_scored_when_asked(trained_model, small_splits):
    data, cond = small_splits.test.head(2), NoiseCondition("uniform", 0.02, n_samples=1)
    for asked in (False, True):
        scorer = Scorer(pairwise=["spearman"], per_map=["road_morf"], faithfulness_perturbed=asked)
        rows = pd.DataFrame(Evaluator({"saliency": Saliency()}, scorer)(trained_model, data, [cond]).rows)
        assert "road_morf_clean" in rows.columns and ("road_morf" in rows.columns) == asked
        if asked:  # the perturbed map on its own input: close to, not equal to, the clean map's
            assert rows.road_morf.notna().all() and not rows.road_morf.equals(rows.road_morf_clean)
