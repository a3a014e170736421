import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.report.tables import describe, summarise, to_markdown


def _scores():
    rows = []
    for i, v in enumerate([0.2, 0.4, 0.6, np.nan]):
        rows.append({"method": "ixg", "baseline_follows_perturbation": None, "perturbation": "brightness_shift",
                     "magnitude": 0.5, "compensated": True, "ssim": v, "spearman": 1.0, "pred_agrees": True})
        rows.append({"method": "ig_black", "baseline_follows_perturbation": True, "perturbation": "brightness_shift",
                     "magnitude": 0.5, "compensated": True, "ssim": 1.0, "spearman": 1.0, "pred_agrees": True})
    return pd.DataFrame(rows)


def test_describe_known_values():
    d = describe(pd.Series([0.2, 0.4, 0.6, np.nan]))
    assert d["mean"] == pytest.approx(0.4)
    assert d["std"] == pytest.approx(0.2)
    half = stats.t.ppf(0.975, 2) * 0.2 / np.sqrt(3)
    assert (d["ci95_low"], d["ci95_high"]) == pytest.approx((0.4 - half, 0.4 + half))
    assert (d["n"], d["n_nan"]) == (3, 1)


def test_summary_same_from_memory_and_csv(tmp_path):
    df = _scores()
    df.to_csv(tmp_path / "s.csv", index=False)
    a, b = summarise(df), summarise(pd.read_csv(tmp_path / "s.csv"))
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    ixg = a[(a.method == "ixg") & (a.metric == "ssim")].iloc[0]
    assert ixg.baseline_follows_perturbation == "" and ixg.n == 3 and ixg.n_nan == 1


def test_markdown_has_one_line_per_condition():
    md = to_markdown(summarise(_scores()))
    lines = md.strip().splitlines()
    assert len(lines) == 2 + 2
    assert "| compensated | ixg |  | +0.5 | 0.400 ±" in md
