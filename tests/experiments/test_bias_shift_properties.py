"""The invariance findings of the bias-shift experiment, on a small trained model.

Kindermans et al. (2017): under an exactly compensated constant shift the
gradient and Grad-CAM are unchanged, Input×Gradient is not, and IG is
invariant iff its baseline is shifted with the input. Uncompensated, every map changes.
"""
import numpy as np
import pandas as pd
import pytest
import torch

from harness.attribution.baselines import constant, uniform
from harness.attribution.gradcam import GradCAM
from harness.attribution.methods import InputXGradient, IntegratedGradients, Saliency
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.perturbations.brightness_shift import BrightnessShift


@pytest.fixture(scope="module")
def scores(trained_model, small_splits):
    ig = dict(n_steps=16)
    methods = {
        "saliency": Saliency(), "ixg": InputXGradient(),
        "ig_black": IntegratedGradients(lambda x: constant(x, 0.0), **ig),
        "ig_white": IntegratedGradients(lambda x: constant(x, 1.0), **ig),
        "ig_random": IntegratedGradients(lambda x: uniform(x, seed=0), **ig),
        "gradcam": GradCAM(),
    }
    conditions = BrightnessShift([-0.5, 0.5]).conditions(trained_model.encoding, small_splits.image_shape)
    evaluator = Evaluator(methods, Scorer(), ["carried", "fixed"], "sum_abs", batch_size=4,
                          device=torch.device("cpu"), n_examples=2)
    result = evaluator(trained_model, small_splits.test.head(8), conditions)
    return pd.DataFrame(result.rows)


def _rows(df, method, compensated, treatment=None):
    sel = (df.method == method) & (df.compensated == compensated)
    if treatment is not None:
        sel &= df.baseline_treatment == treatment
    return df[sel]


def test_model_is_trained(trained_model):
    assert trained_model.test_accuracy > 0.6


def test_compensated_logits_identical(scores):
    assert _rows(scores, "saliency", True).max_logit_diff.max() < 1e-4
    assert (_rows(scores, "saliency", True).pred_agrees).all()


@pytest.mark.parametrize("method", ["saliency", "gradcam"])
def test_gradient_and_gradcam_invariant_when_compensated(scores, method):
    rows = _rows(scores, method, True)
    assert rows.nan_reason.eq("").all()
    assert (rows.ssim >= 0.999).all() and (rows.spearman >= 0.999).all()


def test_input_x_gradient_not_invariant(scores):
    rows = _rows(scores, "ixg", True)
    largest = rows[rows.magnitude.abs() == rows.magnitude.abs().max()]
    assert largest.ssim.mean() < 0.99 and largest.spearman.mean() < 0.99


@pytest.mark.parametrize("method", ["ig_black", "ig_white", "ig_random"])
def test_ig_invariant_iff_baseline_follows(scores, method):
    carried = _rows(scores, method, True, "carried")
    assert (carried.ssim >= 0.99).all() and (carried.spearman >= 0.99).all()
    fixed = _rows(scores, method, True, "fixed")
    assert not ((fixed.ssim >= 0.99).all() and (fixed.spearman >= 0.99).all())


@pytest.mark.parametrize("method", ["saliency", "ixg", "ig_black", "ig_white", "ig_random", "gradcam"])
def test_every_method_changes_uncompensated(scores, method):
    rows = _rows(scores, method, False)
    assert not (rows.ssim >= 0.999).all()


def test_scores_schema(scores):
    required = {"image_id", "label", "pred", "pred_perturbed", "method", "perturbation", "magnitude", "compensated",
                "ssim", "spearman", "spearman_abs", "kendall", "topk_intersection", "max_logit_diff",
                "baseline_treatment", "nan_reason", "regime", "sample"}
    assert required <= set(scores.columns)
    # a score is NaN exactly when the row says why (e.g. an all-zero Grad-CAM under a large shift)
    undefined = ~np.isfinite(scores[["ssim", "spearman", "kendall"]].to_numpy()).all(axis=1)
    assert (undefined == scores.nan_reason.fillna("").ne("").to_numpy()).all()


def test_ig_completeness_error_falls_with_steps(trained_model, small_splits):
    """Sundararajan et al.: enough steps bring |ΣIG − ΔF| / |ΔF| under 5%; more steps, smaller error."""
    from harness.attribution.engine import completeness_error

    x = small_splits.test.images[:8]
    z = trained_model.encode(x)
    target = trained_model.network(z).argmax(1)
    b = trained_model.encode(constant(x, 0.0))
    medians = []
    for steps in (2, 8, 32):
        attr = IntegratedGradients(None, n_steps=steps).attribute(trained_model.network, z, target, b)
        medians.append(completeness_error(trained_model.network, z, target, b, attr).median().item())
    assert medians[0] > medians[1] > medians[2]
    assert medians[2] < 0.05
