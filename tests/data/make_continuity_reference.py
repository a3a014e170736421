"""Make ``continuity_reference.npz``: Quantus 0.6's ``lipschitz_constant`` with its default norms (Manhattan over the
maps, Euclidean over the inputs), the ratio behind Montavon et al.'s continuity, on seeded maps and inputs.

Run once with Quantus installed (a reference for the tests only, never a dependency of the harness)::

    pip install quantus==0.6.0
    python tests/data/make_continuity_reference.py
"""
from pathlib import Path

import numpy as np
import quantus
from quantus.functions.similarity_func import lipschitz_constant

rng = np.random.default_rng(0)
a = rng.normal(size=(4, 8, 8))
b = a + rng.normal(scale=0.3, size=a.shape)
x = rng.uniform(size=(4, 3, 8, 8))
x_p = np.roll(x, 2, axis=-1)
# Quantus's distances reduce the last axis only: its metrics pass flattened arrays, and so does this script
ratio = np.array([lipschitz_constant(a[i].ravel(), b[i].ravel(), x[i].ravel(), x_p[i].ravel()) for i in range(len(a))])
np.savez(Path(__file__).with_name("continuity_reference.npz"), a=a, b=b, x=x, x_p=x_p, ratio=ratio,
         quantus=quantus.__version__)
