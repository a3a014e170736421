"""experiment=corruptions end to end on a tiny config: the corruption columns in scores.csv, and the split of the
summary (consistency where the prediction was kept, responsiveness where it flipped) counting the right images."""
import pandas as pd
import pytest


@pytest.mark.slow
def test_corruptions_run_writes_columns_and_the_split(run_app, tiny):
    overrides = ["experiment=corruptions", *[o for o in tiny if not o.startswith("perturbation.")],
                 "perturbation.corruptions=[gaussian_noise,contrast]", "perturbation.severities=[1,5]",
                 "attribution.include=[saliency]"]
    run_dir = run_app(overrides)
    scores, summary = pd.read_csv(run_dir / "scores.csv"), pd.read_csv(run_dir / "summary.csv")
    assert set(scores.corruption) == {"gaussian_noise", "contrast"} and set(scores.severity) == {1, 5}
    assert (scores.magnitude == scores.severity).all() and set(scores.corruption_group) == {"noise", "digital"}
    saliency = scores[scores.method == "saliency"]
    for (corruption, severity), rows in saliency.groupby(["corruption", "severity"]):
        got = summary[(summary.method == "saliency") & (summary.corruption == corruption)
                      & (summary.magnitude == severity)].set_index("metric")
        kept = rows[rows.pred_agrees.astype(bool)]
        assert got.loc["consistency_ssim", "n"] == kept.ssim.notna().sum()
        assert got.loc["responsiveness_ssim", "n"] == (~rows.pred_agrees.astype(bool) & rows.ssim.notna()).sum()
        if len(kept):
            assert abs(got.loc["consistency_ssim", "mean"] - kept.ssim.mean()) < 1e-9
        else:
            assert pd.isna(got.loc["consistency_ssim", "mean"])
    assert saliency.pred_agrees.astype(bool).any(), "no kept prediction: the consistency means were not checked"
