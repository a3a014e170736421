import numpy as np
import pandas as pd
import pytest

from harness.report.tables import group_columns, normalise, summarise, to_latex, to_markdown


def _scores():
    rows = []
    for i, v in enumerate([0.2, 0.4, 0.6, np.nan]):
        rows.append({"image_id": i, "method": "ixg", "baseline_treatment": None, "regime": "compensated",
                     "perturbation": "brightness_shift", "magnitude": 0.5, "compensated": True, "ssim": v,
                     "spearman": 1.0, "pred_agrees": True, "nan_reason": "" if v == v else "constant clean map",
                     "n_steps": None, "completeness_error": None})
        rows.append({"image_id": i, "method": "ig_black", "baseline_treatment": "carried", "regime": "compensated",
                     "perturbation": "brightness_shift", "magnitude": 0.5, "compensated": True, "ssim": 1.0,
                     "spearman": 1.0, "pred_agrees": True, "nan_reason": "", "n_steps": 16,
                     "completeness_error": 0.01 * i})
    return pd.DataFrame(rows)


def test_summary_same_from_memory_and_csv(tmp_path):
    df = _scores()
    df.to_csv(tmp_path / "s.csv", index=False)
    a, b = summarise(df), summarise(pd.read_csv(tmp_path / "s.csv"))
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_summary_values_and_applicability():
    s = summarise(_scores())
    ixg = s[(s.method == "ixg") & (s.metric == "ssim")].iloc[0]
    assert ixg.baseline_treatment == "" and ixg.variant == "ixg"
    assert (ixg.n, ixg.n_nan, ixg.nan_reasons) == (3, 1, "constant clean map: 1")
    assert ixg["mean"] == pytest.approx(0.4) and ixg["std"] == pytest.approx(0.2)
    assert "completeness_error" not in set(s[s.method == "ixg"].metric)  # not applicable, not "NaN"
    ig = s[(s.method == "ig_black") & (s.metric == "completeness_error")].iloc[0]
    assert ig["mean"] == pytest.approx(0.015) and ig.variant == "ig_black (carried baseline)"


def test_group_columns_ignore_missing_values_but_keep_varying_ones():
    df = normalise(_scores())
    assert "n_steps" not in group_columns(df)  # 16 for IG, missing elsewhere: one value
    df.loc[df.method == "ig_black", "n_steps"] = [8, 16, 8, 16]
    assert "n_steps" in group_columns(df)


def test_markdown_and_latex_have_one_line_per_condition():
    s = summarise(_scores())
    md = to_markdown(s).strip().splitlines()
    assert len(md) == 2 + 2 and "| compensated | ixg | 0.5 | 0.400 ±" in "\n".join(md)
    tex = to_latex(s)
    assert tex.startswith(r"\begin{tabular}") and tex.count(r"\\") == 3 and r"ig\_black" in tex
