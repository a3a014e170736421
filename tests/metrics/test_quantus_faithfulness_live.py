"""Live parity with Quantus 0.6 (``pytest -m slow``, needs ``pip install quantus==0.6.0``): Quantus's faithfulness
outputs, recomputed now, are the stored ones that ``test_faithfulness_quantus_parity.py`` checks the harness against."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.mark.slow
def test_quantus_gives_the_stored_faithfulness_outputs():
    pytest.importorskip("quantus")
    spec = importlib.util.spec_from_file_location("make_quantus", FIXTURES / "make_quantus_faithfulness.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    stored = np.load(FIXTURES / "quantus_faithfulness.npz")
    fresh = maker.compute()
    assert set(fresh) == set(stored.files)
    for key, value in fresh.items():
        if key != "quantus":
            np.testing.assert_allclose(value, stored[key], atol=1e-6, err_msg=key)
