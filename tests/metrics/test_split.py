"""Scores split by the prediction: consistency (similarity where it was kept) and responsiveness (1 − similarity
where it flipped), known answers on a small table, per image over samples, in the summary, and refused names."""
import numpy as np
import pandas as pd
import pytest

from harness.common.errors import UserError
from harness.metrics.split import NOT_COUNTED, add_split, split_measures
from harness.report.build import build_report
from harness.report.tables import summarise


def _scores(samples: int = 1) -> pd.DataFrame:
    """Four images, two severities: at severity 1 images 0-2 keep their prediction, at 2 only image 0 does."""
    rows = []
    for severity, kept in ((1, (True, True, True, False)), (2, (True, False, False, False))):
        for i in range(4):
            for s in range(samples):
                ssim = 0.9 - 0.1 * severity if kept[i] else 0.5 - 0.1 * i
                rows.append({"image_id": i, "sample": s, "method": "saliency", "baseline_treatment": "",
                             "perturbation": "corruption", "magnitude": float(severity), "regime": "fog",
                             "condition": "", "corruption": "fog", "ssim": ssim, "spearman": ssim,
                             "pred_agrees": kept[i] if s == 0 else True, "nan_reason": ""})
    return pd.DataFrame(rows)


def test_split_measures_are_registered_for_similarities_only():
    assert [m.name for m in split_measures(["ssim"])] == ["consistency_ssim", "responsiveness_ssim"]
    assert split_measures(["rel_change"]) == []


def test_split_values_known_answers():
    df = add_split(_scores(), ["ssim"])
    one = df[df.magnitude == 1]
    np.testing.assert_allclose(one.consistency_ssim, [0.8, 0.8, 0.8, np.nan])
    np.testing.assert_allclose(one.responsiveness_ssim, [np.nan, np.nan, np.nan, 1 - 0.2])
    assert "consistency_spearman" not in df.columns  # only the sources asked for
    assert add_split(_scores().drop(columns="pred_agrees"), ["ssim"]).columns.tolist() == \
        _scores().drop(columns="pred_agrees").columns.tolist()


def test_summary_counts_eligible_images_and_says_why_others_are_not():
    s = summarise(_scores(), n_resamples=50, split=("ssim",)).set_index(["magnitude", "metric"])
    c1, r2 = s.loc[(1.0, "consistency_ssim")], s.loc[(2.0, "responsiveness_ssim")]
    assert (c1["mean"], c1.n, c1.n_nan) == (pytest.approx(0.8), 3, 1)
    assert c1.nan_reasons == f"{NOT_COUNTED['kept']}: 1"
    assert (r2["mean"], r2.n) == (pytest.approx(1 - np.mean([0.4, 0.3, 0.2])), 3)
    assert s.loc[(2.0, "pred_agrees"), "mean"] == pytest.approx(0.25)
    assert "consistency_ssim" not in set(summarise(_scores(), n_resamples=50).metric)  # only when asked


def test_split_over_samples_keeps_eligible_samples_per_image():
    """Image 3 flips in its first draw only: its consistency is the mean over the kept draws, and it counts."""
    s = summarise(_scores(samples=2), n_resamples=50, split=("ssim",)).set_index(["magnitude", "metric"])
    assert s.loc[(1.0, "consistency_ssim"), "n"] == 4 and s.loc[(1.0, "responsiveness_ssim"), "n"] == 1


def test_report_refuses_an_unknown_split_measure(tmp_path):
    with pytest.raises(UserError, match="report.split has \\['rel_change'\\]; valid choices: ssim"):
        build_report(tmp_path, split=("rel_change",))
