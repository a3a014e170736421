"""Live parity with Quantus 0.6 (``pytest -m slow``, needs ``pip install quantus==0.6.0``): the reference's outputs,
recomputed now, are the stored ones that ``test_randomisation_parity.py`` checks the harness against."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parents[1] / "fixtures"


@pytest.mark.slow
def test_quantus_gives_the_stored_reference_outputs():
    pytest.importorskip("quantus")
    spec = importlib.util.spec_from_file_location("make_reference", DATA / "make_randomisation_reference.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    stored = np.load(DATA / "randomisation_reference.npz")
    net = maker.network()
    x = stored["x"]
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    out = {}
    maker._entropies(out)
    maker._efficient(out, maker.network(), x, y)
    maker._random_logit(out, maker.network(), x, y)
    maker._smooth(out, maker.network(), x, y)
    assert (y == stored["y"]).all()
    for key, value in out.items():
        np.testing.assert_allclose(value, stored[key], rtol=0, atol=1e-6, err_msg=key)
