"""The scorecard's equivariance and corruption-consistency criteria read their own rows: maps brought back, and only
samples whose prediction was kept."""
import pandas as pd
import pytest

from harness.report.scorecard import scorecard
from harness.common.schema import (ALIGNED, BASELINE_TREATMENT, CONDITION, CONTROL, IMAGE_ID, LABEL, MAGNITUDE, MAP_CONSTANT,
                            MAP_CONSTANT_CLEAN, METHOD, PERTURBATION, PRED, PRED_AGREES, REGIME, RUN, SAMPLE,
                            TRANSFORM, VARIANT)


def _row(method, image, perturbation, kept, spearman, **own):
    return {RUN: perturbation, IMAGE_ID: image, SAMPLE: 0, LABEL: 0, PRED: 0, PRED_AGREES: kept, METHOD: method,
            BASELINE_TREATMENT: "", CONTROL: False, PERTURBATION: perturbation, MAGNITUDE: 1.0, REGIME: "r",
            CONDITION: "", MAP_CONSTANT: False, MAP_CONSTANT_CLEAN: False, "spearman": spearman, **own}


def test_equivariance_and_corruption_criteria_read_kept_aligned_rows():
    rows = []
    for method, follows in (("follows", 0.9), ("stays", 0.3)):
        for i in range(4):
            rows.append(_row(method, i, "geometric", True, follows, **{TRANSFORM: "translation", ALIGNED: True}))
            rows.append(_row(method, i, "geometric", True, 0.99, **{TRANSFORM: "translation", ALIGNED: False}))
            rows.append(_row(method, i, "geometric", False, -1.0, **{TRANSFORM: "rotation", ALIGNED: True}))
            rows.append(_row(method, i, "geometric", True, -1.0, **{TRANSFORM: "flip", ALIGNED: True}))
            rows.append(_row(method, i, "corruption", True, follows / 2))
            rows.append(_row(method, i, "corruption", False, -1.0))
    card = scorecard(pd.DataFrame(rows), n_resamples=50).set_index(VARIANT)
    assert card.loc["follows", "equivariance"] == pytest.approx(0.9)
    assert card.loc["stays", "equivariance"] == pytest.approx(0.3)
    assert card.loc["follows", "corruption_consistency"] == pytest.approx(0.45)
    assert card["equivariance_rank"].to_dict() == {"follows": 1, "stays": 2}
