"""Sparseness (Gini index of |map|, Chalasani et al. 2020): known answers and parity with Quantus."""
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.metrics.sparseness import gini


def test_known_answers():
    n = 16
    uniform, zero = torch.ones(1, 4, 4), torch.zeros(1, 4, 4)
    one_hot = torch.zeros(1, 4, 4)
    one_hot[0, 1, 2] = -3.0  # the sign does not count
    out = gini(torch.cat([uniform, one_hot, zero]))
    np.testing.assert_allclose(out.numpy(), [0.0, 1 - 1 / n, 0.0], atol=1e-12)
    assert gini(uniform * 7.5).item() == pytest.approx(0.0)  # scale-free


def test_parity_with_quantus_stored():
    """Quantus 0.6's ``gini_coeffiient`` on stored maps (tests/fixtures/make_sparseness_reference.py)."""
    ref = np.load(Path(__file__).parents[1] / "fixtures" / "sparseness_reference.npz")
    np.testing.assert_allclose(gini(torch.from_numpy(ref["maps"])).numpy(), ref["gini"], atol=1e-6)  # Quantus adds 1e-7


def test_parity_with_quantus_live():
    complexity = pytest.importorskip("quantus.functions.complexity_func")
    maps = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ours = gini(maps).numpy()
    theirs = [complexity.gini_coeffiient(np.abs(m.numpy()).astype(np.float64), np.zeros((1, 8, 8))) for m in maps]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)  # Quantus adds 1e-7 to every value
