"""Continuity (Montavon et al. 2018): the ratio and its parity with Quantus (the loop: tests/perturbations/test_geometric.py)."""
from pathlib import Path

import numpy as np
import torch

from harness.metrics.sensitivity import continuity_ratio

REFERENCE = Path(__file__).parents[1] / "fixtures" / "continuity_reference.npz"


def test_the_ratio_is_l1_over_l2():
    a, b = torch.zeros(1, 2, 2), torch.tensor([[[1.0, -1.0], [0.0, 2.0]]])
    x, x_p = torch.zeros(1, 1, 2, 2), torch.tensor([[[[3.0, 0.0], [4.0, 0.0]]]])
    assert continuity_ratio(a, b, x, x_p).item() == 4.0 / 5.0
    assert continuity_ratio(a, b, x, x).isnan().all()  # no input change: undefined


def test_the_ratio_equals_quantus_lipschitz_constant():
    """Quantus 0.6 ``lipschitz_constant`` with its default norms, stored by tests/fixtures/make_continuity_reference.py
    (it adds 1e-10 to the denominator)."""
    ref = np.load(REFERENCE)
    ours = continuity_ratio(*(torch.from_numpy(ref[k]) for k in ("a", "b", "x", "x_p")))
    np.testing.assert_allclose(ours.numpy(), ref["ratio"], rtol=1e-9)
