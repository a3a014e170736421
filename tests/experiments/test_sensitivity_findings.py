"""The noise-sensitivity findings on a small trained model (Yeh et al. 2019): SmoothGrad, whose own draws are seeded
per image, is less sensitive than the vanilla gradient at every radius; the controls show what a metric says about a
map without information (a constant map never changes)."""
import pandas as pd
import pytest

from harness.attribution.controls import ConstantMap, RandomMap
from harness.attribution.methods import Saliency
from harness.attribution.smoothing import NoiseAveraged
from harness.loop.evaluation import Evaluator
from harness.metrics.aggregate import aggregate
from harness.metrics.scorer import Scorer
from harness.perturbations.noise import Noise

RADII = [0.02, 0.1]


@pytest.fixture(scope="module")
def aggregates(trained_model, small_splits):
    smooth = NoiseAveraged(n_samples=16, noise_level=0.15)
    smooth.bind(trained_model.encoding)
    methods = {"saliency": Saliency(), "smoothgrad": smooth, "random_map": RandomMap(), "constant_map": ConstantMap()}
    conditions = Noise(kinds=["uniform"], radii=RADII, n_samples=8).conditions(trained_model.encoding, (3, 32, 32))
    scorer = Scorer(pairwise=["ssim", "rel_change", "lipschitz_ratio", "ris_ratio", "ros_ratio"], per_map=[])
    rows = Evaluator(methods, scorer, batch_size=8)(trained_model, small_splits.test.head(8), conditions).rows
    return aggregate(pd.DataFrame(rows))


@pytest.mark.parametrize("radius", RADII)
def test_smoothgrad_is_less_sensitive_than_the_gradient(aggregates, radius):
    mean = aggregates[aggregates.magnitude == radius].groupby("method")[["max_sensitivity", "avg_sensitivity"]].mean()
    assert mean.loc["smoothgrad", "max_sensitivity"] < mean.loc["saliency", "max_sensitivity"]
    assert mean.loc["smoothgrad", "avg_sensitivity"] < mean.loc["saliency", "avg_sensitivity"]


def test_sensitivity_grows_with_the_radius_and_the_controls_bracket_it(aggregates):
    mean = aggregates.groupby(["method", "magnitude"])["max_sensitivity"].mean()
    assert mean["saliency", RADII[0]] < mean["saliency", RADII[1]]
    assert (aggregates[aggregates.method == "constant_map"].max_sensitivity == 0).all()  # "perfectly stable"
    assert mean["random_map"].min() > 0.5  # an independent random map changes completely
    assert aggregates[["max_sensitivity", "local_lipschitz"]].notna().all().all()  # every sample counts
    kept = aggregates.n_kept > 0  # RIS / ROS: only samples that keep the prediction (Agarwal et al.)
    assert aggregates.loc[kept, ["ris", "ros"]].notna().all().all() and aggregates.loc[~kept, "ris"].isna().all()
