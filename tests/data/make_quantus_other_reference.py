"""Make ``quantus_other_reference.npz``: Quantus 0.6's Complexity, EffectiveComplexity, RRS objective, Completeness,
NonSensitivity and Consistency on seeded maps, inputs and a seeded linear model stored beside them.

Run once with Quantus installed (a reference for the tests only, never a dependency of the harness)::

    pip install quantus==0.6.0
    python tests/data/make_quantus_other_reference.py

Quantus normalises a batch's maps by the batch's largest value; every metric that normalises is called one image at
a time here, so that each map is normalised on its own (as the harness does). Completeness returns a float
equality; its ``output_func`` records ``f(x) − f(x̄)`` instead, and the gap ``|Σ a − (f(x) − f(x̄))|`` is stored.
Consistency is given the harness's discretisation (top cell of a 4 × 4 grid) as its ``discretise_func``.
"""
from pathlib import Path

import numpy as np
import quantus
import torch

torch.set_num_threads(1)
rng = np.random.default_rng(0)
B, C, H, W, K = 6, 1, 8, 8, 3
weight = rng.normal(size=(K, C * H * W)).astype(np.float32)
weight[:, : C * H * W // 2] = 0.0  # the model ignores the top half: non-sensitivity has something to find
bias = rng.normal(size=K).astype(np.float32)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * H * W, K))
with torch.no_grad():
    model[1].weight.copy_(torch.from_numpy(weight))
    model[1].bias.copy_(torch.from_numpy(bias))
model.eval()
x = rng.uniform(0, 1, size=(B, C, H, W)).astype(np.float32)
y = model(torch.from_numpy(x)).argmax(1).numpy()
maps = rng.uniform(-1, 1, size=(B, H, W))
maps[:3, :4] = 0.0  # three maps give the ignored half no attribution
maps[1, 0, 0] = 1e-7  # below ε of the peak
one = dict(model=model, channel_first=True, softmax=False)


def per_image(metric, softmax=False):
    return np.array([metric(x_batch=x[i:i + 1], y_batch=y[i:i + 1], a_batch=maps[i:i + 1, None],
                            **dict(one, softmax=softmax))[0] for i in range(B)], dtype=float)


complexity = per_image(quantus.Complexity(disable_warnings=True))
effective = per_image(quantus.EffectiveComplexity(eps=0.5, disable_warnings=True))
nonsens = per_image(quantus.NonSensitivity(eps=1e-5, features_in_step=1, disable_warnings=True), softmax=True)

deltas = []
completeness = quantus.Completeness(abs=False, normalise=False, output_func=lambda d: deltas.append(d) or d,
                                    disable_warnings=True)
completeness(x_batch=x, y_batch=y, a_batch=maps[:, None], **one)
gap = np.abs(maps.reshape(B, -1).sum(1) - np.concatenate(deltas))


def top_cell(a: np.ndarray, grid: int = 4) -> int:
    cells = np.abs(a.reshape(H, W)).reshape(grid, H // grid, grid, W // grid).mean((1, 3)).ravel()
    return int(np.argsort(-cells, kind="stable")[0])


consistency = np.asarray(quantus.Consistency(discretise_func=top_cell, disable_warnings=True)(
    x_batch=x, y_batch=y, a_batch=maps[:, None], model=model, channel_first=True), dtype=float)

rrs_metric = quantus.RelativeRepresentationStability(disable_warnings=True)
rep, rep_p = rng.normal(size=(B, 16)), rng.normal(size=(B, 16))
rep[0, :3] = 0.0  # exact zeros are replaced by ε_min
maps_p = maps + rng.normal(scale=0.1, size=maps.shape)
rrs = rrs_metric.relative_representation_stability_objective(rep, rep_p, maps.copy(), maps_p)

np.savez(Path(__file__).with_name("quantus_other_reference.npz"), weight=weight, bias=bias, x=x, y=y, maps=maps,
         maps_p=maps_p, rep=rep, rep_p=rep_p, complexity=complexity, effective_complexity=effective,
         effective_eps=0.5, non_sensitivity=nonsens, completeness=gap, consistency=consistency, rrs=rrs,
         quantus=quantus.__version__)
print({k: np.round(v, 4) for k, v in dict(complexity=complexity, effective=effective, nonsens=nonsens, gap=gap,
                                           consistency=consistency, rrs=rrs).items()})
