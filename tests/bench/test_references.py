"""The bench's side-by-side rows (harness/bench/references.py): the harness and each reference on the same work give
the same numbers; a missing reference is a row that says so."""
import importlib.util
import time

import numpy as np
import pytest
import torch

from harness.bench import reference_robustness, references
from harness.models.rps_cnn import build_rps_cnn


def _timer(fn, repeats):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def work():
    torch.manual_seed(0)
    net = build_rps_cnn(32, 0.25).eval().requires_grad_(False)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        target = net(x).argmax(1)
    return net, x, target


def test_a_missing_reference_is_a_row_that_says_so(work, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    rows = references.reference_rows(*work, {"image_size": 32}, _timer)
    assert len(rows) == len(references.COMPARISONS)
    assert all("not installed" in r["note"] and "quantus==0.6.0" in r["note"] for r in rows)


def test_the_replayed_draws_are_the_harness_s(work):
    net, x, target = work
    w = references.Work(net, x, target, references.gradient_maps(net, x, target), torch.arange(3) + 1)
    draws = reference_robustness.noise_draws(w)
    assert draws.shape == (reference_robustness.NOISE_SAMPLES, 3, 3, 32, 32)
    assert draws.abs().max() <= reference_robustness.NOISE_RADIUS
    torch.testing.assert_close(reference_robustness.noise_draws(w), draws)  # seeded per image


@pytest.mark.parametrize("package", ["quantus", "captum", "pytorch_grad_cam"])
def test_the_harness_and_the_reference_agree_on_the_same_work(work, package):
    pytest.importorskip(package)
    rows = [r for r in references.reference_rows(*work, {"image_size": 32}, _timer)
            if next(c for c in references.COMPARISONS if c.reference == r["reference"]).package == package]
    assert rows
    for r in rows:
        if r["reference"] == "Quantus ROAD":  # Quantus 0.6's ROAD indexes pixels with channel-flat indices
            assert "reference fails: IndexError" in r["note"]
            continue
        assert r["note"] == "", r
        assert np.isfinite(r["harness_s_per_image"]) and np.isfinite(r["reference_s_per_image"])
        assert r["max_abs_diff"] < 1e-5, r
