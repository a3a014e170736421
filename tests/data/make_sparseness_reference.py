"""Make ``sparseness_reference.npz``: Quantus 0.6's ``gini_coeffiient`` (the Sparseness measure's function) of the
absolute values of seeded maps.

Run once with Quantus installed (a reference for the tests only, never a dependency of the harness)::

    pip install quantus==0.6.0
    python tests/data/make_sparseness_reference.py
"""
from pathlib import Path

import numpy as np
import quantus
from quantus.functions.complexity_func import gini_coeffiient

maps = np.random.default_rng(0).uniform(-1, 1, size=(4, 8, 8))
gini = np.array([gini_coeffiient(np.abs(m), np.zeros((1, 8, 8))) for m in maps])
np.savez(Path(__file__).with_name("sparseness_reference.npz"), maps=maps, gini=gini, quantus=quantus.__version__)
