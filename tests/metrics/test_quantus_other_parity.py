"""Parity with Quantus 0.6 of complexity, effective complexity, the RRS objective, completeness, non-sensitivity and
consistency, on the stored outputs of tests/fixtures/make_quantus_other_reference.py (and live where Quantus is
installed)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.metrics import axiomatic, complexity, explanation_consistency as ec, sensitivity

REF = np.load(Path(__file__).parents[1] / "fixtures" / "quantus_other_reference.npz")


def _model():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(REF["weight"].shape[1], len(REF["bias"])))
    with torch.no_grad():
        model[1].weight.copy_(torch.from_numpy(REF["weight"]))
        model[1].bias.copy_(torch.from_numpy(REF["bias"]))
    return model.eval()


def _inputs():
    return torch.from_numpy(REF["x"]), torch.from_numpy(REF["y"]).long(), torch.from_numpy(REF["maps"])


def test_complexity_and_effective_complexity_match_quantus():
    maps = torch.from_numpy(REF["maps"])
    # Quantus adds 1e-12 inside its logarithm: within N · 1e-12 of the exact entropy
    np.testing.assert_allclose(complexity.fractional_entropy(maps).numpy(), REF["complexity"], atol=1e-9)
    ours = complexity.effective_complexity(maps, float(REF["effective_eps"])).numpy()
    np.testing.assert_array_equal(ours, REF["effective_complexity"])


def test_rrs_ratio_matches_quantus_objective():
    maps, maps_p = torch.from_numpy(REF["maps"]), torch.from_numpy(REF["maps_p"])
    ours = sensitivity.rrs_ratio(maps, maps_p, torch.from_numpy(REF["rep"]), torch.from_numpy(REF["rep_p"]))
    np.testing.assert_allclose(ours.numpy(), REF["rrs"], rtol=1e-12)


def test_completeness_gap_matches_quantus_output_change():
    x, y, maps = _inputs()
    ours = axiomatic.completeness_gap(_model(), x, y, maps, "black").numpy()
    np.testing.assert_allclose(ours, REF["completeness"], rtol=1e-6)  # float32 logits


def test_non_sensitivity_matches_quantus_count():
    x, y, maps = _inputs()
    ours = axiomatic.non_sensitivity(_model(), x, y, maps, patch=1, eps=1e-5, baseline="black").numpy()
    assert REF["non_sensitivity"].max() > 0 and REF["non_sensitivity"].min() == 0  # both outcomes are tested
    np.testing.assert_array_equal(ours * maps[0].numel(), REF["non_sensitivity"])


def test_consistency_matches_quantus_where_defined():
    x, y, maps = _inputs()
    pred = _model()(x).argmax(1)
    ours = ec.prediction_consistency(ec.discretise(maps, 4, 1), pred).numpy()
    defined = ~np.isnan(ours)
    assert defined.sum() >= 2 and (~defined).sum() >= 1
    np.testing.assert_allclose(ours[defined], REF["consistency"][defined], atol=1e-8)  # Quantus: n / (m + 1e-9)
    np.testing.assert_array_equal(REF["consistency"][~defined], 0.0)  # Quantus scores no partner 0, the harness NaN


def test_live_quantus_complexity_effective_complexity_and_rrs():
    quantus = pytest.importorskip("quantus")
    g = torch.Generator().manual_seed(3)
    maps = torch.rand(3, 6, 6, generator=g, dtype=torch.float64) * 2 - 1
    x = torch.rand(3, 1, 6, 6, generator=g).numpy()
    y = np.zeros(3, dtype=int)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 2))
    kw = dict(model=model, x_batch=x, y_batch=y, a_batch=maps.numpy()[:, None].copy(), channel_first=True)
    theirs = quantus.Complexity(disable_warnings=True)(**kw)
    np.testing.assert_allclose(complexity.fractional_entropy(maps).numpy(), theirs, atol=1e-9)
    for i in range(3):  # one image a call: Quantus normalises a batch by its largest value
        one = dict(kw, x_batch=x[i:i + 1], y_batch=y[i:i + 1], a_batch=maps.numpy()[i:i + 1, None].copy())
        ec_q = quantus.EffectiveComplexity(eps=0.3, disable_warnings=True)(**one)[0]
        assert complexity.effective_complexity(maps[i:i + 1], 0.3).item() == ec_q
    rep, rep_p = (torch.randn(3, 5, generator=g, dtype=torch.float64) for _ in range(2))
    maps_p = maps + 0.1
    theirs = quantus.RelativeRepresentationStability(disable_warnings=True).relative_representation_stability_objective(
        rep.numpy(), rep_p.numpy(), maps.numpy().copy(), maps_p.numpy())
    np.testing.assert_allclose(sensitivity.rrs_ratio(maps, maps_p, rep, rep_p).numpy(), theirs, rtol=1e-12)


def test_sufficiency_matches_quantus_where_defined():
    pred = _model()(torch.from_numpy(REF["xs"])).argmax(1)
    ours = ec.sufficiency(torch.from_numpy(REF["maps_s"]), pred, 0.6).numpy()
    defined = ~np.isnan(ours)
    assert defined.sum() >= 4 and (~defined).sum() >= 1 and len(set(ours[defined])) >= 2
    np.testing.assert_allclose(ours[defined], REF["sufficiency"][defined], atol=1e-12)
    np.testing.assert_array_equal(REF["sufficiency"][~defined], 0.0)  # Quantus scores no partner 0, the harness NaN
