"""The scorecard's random-logit and efficient-MPRT criteria read their own rows, oriented higher = better."""
import numpy as np
import pandas as pd
import pytest

from harness.report.scorecard import scorecard
from harness.common.schema import (BASELINE_TREATMENT, CONDITION, CONTROL, IMAGE_ID, LABEL, MAGNITUDE, MAP_CONSTANT,
                            MAP_CONSTANT_CLEAN, METHOD, PERTURBATION, PRED, PRED_AGREES, REGIME, RUN, SAMPLE, VARIANT)

#: per method: Spearman of |map| for another class, and the entropy rise at depths 1 and 2 (the full cascade)
METHODS = {"class_aware": (0.2, 0.9, 0.6), "class_blind": (0.95, 0.0, 0.05)}


def _row(method, image, perturbation, regime, magnitude, **measures):
    return {RUN: "sanity", IMAGE_ID: image, SAMPLE: 0, LABEL: 0, PRED: 0, PRED_AGREES: True, METHOD: method,
            BASELINE_TREATMENT: "", CONTROL: False, PERTURBATION: perturbation, MAGNITUDE: magnitude, REGIME: regime,
            CONDITION: "", MAP_CONSTANT: False, MAP_CONSTANT_CLEAN: False, **measures}


def test_random_logit_and_efficient_mprt_criteria():
    rows = []
    for method, (sp, rise_top, rise_all) in METHODS.items():
        for i in range(4):
            w = 0.01 * i
            rows.append(_row(method, i, "random_logit", "random logit", 1.0, spearman_abs=sp + w, entropy_rise=5.0))
            rows += [_row(method, i, "model_randomisation", "cascading", d, spearman_abs=0.5, entropy_rise=r + w)
                     for d, r in ((1, rise_top), (2, rise_all))]
            rows.append(_row(method, i, "model_randomisation", "independent", 2, spearman_abs=0.5, entropy_rise=9.0))
    card = scorecard(pd.DataFrame(rows), n_resamples=50).set_index(VARIANT)
    assert card.loc["class_aware", "random_logit"] == pytest.approx(1 - np.mean(0.2 + 0.01 * np.arange(4)))
    assert card.loc["class_blind", "efficient_mprt"] == pytest.approx(np.mean(0.05 + 0.01 * np.arange(4)))
    assert card.loc["class_aware", "efficient_mprt"] == pytest.approx(np.mean(0.6 + 0.01 * np.arange(4)))
    assert (card["random_logit_rank"].to_dict(), card["efficient_mprt_rank"].to_dict()) == \
        ({"class_aware": 1, "class_blind": 2}, {"class_aware": 1, "class_blind": 2})
