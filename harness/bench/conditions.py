"""Benchmark rows for the noise-sensitivity loop, the meta-evaluation loop, the explanation attack and the
faithfulness measures (used by ``python -m harness.bench``).

Both are measured against the same forward + backward limit as the methods: the noise views through the engine (and
through the whole evaluation loop, scoring included), and one attack step (a forward pass and a double backward
pass through the surrogate) per image.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from harness.attribution.engine import View, attribute_views
from harness.attribution.methods import Saliency
from harness.attribution.smoothing import NoiseAveraged
from harness.data.base import ImageSet
from harness.common.errors import UserError
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.attack import AttackCondition
from harness.perturbations.base import Batch, Explainer
from harness.perturbations.noise import Noise


def sensitivity_rows(net, x, target, batcher, limit: float, base: dict, repeats: int, timer) -> list[dict]:
    """Maps/s of the noise views (6 conditions stacked per sample, as the loop stacks them) and of the whole loop."""
    model = EncodedClassifier(net, Encoding.named("unit"))
    smooth = NoiseAveraged(n_samples=16)
    methods = {"saliency": Saliency(), "smoothgrad": smooth}
    conditions = Noise(kinds=["uniform", "gaussian"], radii=[0.02, 0.05, 0.1], n_samples=2).conditions(
        model.encoding, tuple(x.shape[1:]))
    batch = Batch(x, x, torch.arange(len(x), device=x.device), target, model.encoding)
    seeds = torch.stack([torch.arange(len(x)), torch.arange(len(x))], 1).to(x.device)
    views = [View(c.key, c.transform_inputs(batch, 0), target, seeds) for c in conditions]
    t = timer(lambda: attribute_views(methods, net, views, reduction="sum_abs", batcher=batcher), repeats)
    inputs = len(views) * len(x) * (1 + smooth.cost)
    rows = [{**base, "method": "noise views: saliency + SmoothGrad×16 (6 conditions stacked)",
             "maps_s": 2 * len(views) * len(x) / t, "vs_limit": inputs / t / limit}]
    scorer = Scorer(pairwise=["ssim", "spearman", "rel_change", "lipschitz_ratio", "ris_ratio", "ros_ratio"],
                    per_map=[])
    evaluator = Evaluator(methods, scorer, batch_size=len(x), device=x.device, batcher=batcher)
    data = ImageSet(x.cpu(), target.cpu())
    start = time.perf_counter()
    evaluator(model, data, conditions)
    t = time.perf_counter() - start
    inputs = (1 + sum(c.n_samples for c in conditions)) * len(x) * (1 + smooth.cost)
    rows.append({**base, "method": "sensitivity loop (same, 2 samples each, scoring included)",
                 "maps_s": inputs / (1 + smooth.cost) * 2 / t, "vs_limit": inputs / t / limit})
    return rows


def meta_evaluation_rows(net, x, target, batcher, limit: float, base: dict) -> list[dict]:
    """Input passes per second of the meta-evaluation loop (Hedström et al. 2023) against the limit: saliency and
    input×gradient under 2 copies of each of the four tests, the noise family (2 draws) alone and under every copy,
    pairwise scoring included. The model copies are networks of their own, so their views are stacked per copy."""
    from harness.attribution.methods import InputXGradient
    from harness.perturbations.meta import MetaEvaluation

    model = EncodedClassifier(net, Encoding.named("unit"))
    methods = {"saliency": Saliency(), "ixg": InputXGradient()}
    family = MetaEvaluation(copies=2, seed=0, families=[Noise(radii=[0.05], n_samples=2)])
    conditions = family.conditions(model.encoding, tuple(x.shape[1:]))
    scorer = Scorer(pairwise=["ssim", "spearman", "rel_change"], per_map=[])
    evaluator = Evaluator(methods, scorer, batch_size=len(x), device=x.device, batcher=batcher)
    start = time.perf_counter()
    evaluator(model, ImageSet(x.cpu(), target.cpu()), conditions)
    t = time.perf_counter() - start
    views = 1 + sum(c.n_samples for c in conditions)
    inputs = views * len(x) * len(methods)
    return [{**base, "method": f"meta-evaluation loop ({len(conditions)} conditions, saliency + ixg, scoring "
                               "included)", "maps_s": inputs / t, "vs_limit": inputs / t / limit}]


#: The forward + backward passes an attack step on the gradient needs: the map's forward and backward (with its graph),
#: and the backward through that graph (double backpropagation: about one more forward and backward).
ATTACK_STEP_PASSES = 2


def attack_rows(net, x, target, limit: float, base: dict, steps: int) -> list[dict]:
    """Attack steps per second (per image) on the vanilla gradient; ``vs_limit`` counts :data:`ATTACK_STEP_PASSES`
    forward + backward passes per step (the step's check of the class, a forward pass without gradients, and the
    softplus surrogate's cost over the ReLUs are the overhead)."""
    enc = Encoding.named("unit")
    batch = Batch(x, x, torch.arange(len(x), device=x.device), target, enc)
    cond = AttackCondition("topk", 8, steps=steps, check_every=steps)
    explainer = Explainer("saliency", Saliency(), net, None, torch.zeros(len(x), 2, dtype=torch.long), "sum_abs")
    cond.transform_inputs(batch, 0, explainer)  # warm-up (builds the surrogate)
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    cond.transform_inputs(batch, 0, explainer)
    if x.is_cuda:
        torch.cuda.synchronize()
    rate = steps * len(x) / (time.perf_counter() - start)
    return [{**base, "method": f"top-k attack step on the gradient ({steps} steps; {ATTACK_STEP_PASSES} passes each)",
             "maps_s": rate, "vs_limit": rate * ATTACK_STEP_PASSES / limit}]


def faithfulness_rows(net, x, target, base: dict, repeats: int, timer, measures: Sequence[str] = (),
                      settings: Mapping[str, Any] | None = None) -> list[dict]:
    """Maps/s of ROAD (MoRF, its 6 fractions) and of deletion (16 steps) on gradient maps, against the forward-only
    limit (images/s of a forward pass without gradients at the same pass size): both are forward passes of imputed or
    filled images, plus ROAD's imputation solve (multigrid-preconditioned conjugate gradients); then the per-map
    faithfulness ``measures`` (:func:`faithfulness_measure_rows`)."""
    from harness.metrics.faithfulness import ROAD_FRACTIONS, deletion_insertion, road_curve

    maps = Saliency().attribute(net, x, target).abs().sum(1)
    seeds = torch.arange(len(x))
    model = lambda images: net(images)  # noqa: E731
    batch = base["batch"]

    def forward():
        with torch.no_grad():
            for i in range(0, len(x) * len(ROAD_FRACTIONS), batch):
                net(x.repeat(len(ROAD_FRACTIONS), 1, 1, 1)[i:i + batch])

    forward_limit = len(x) * len(ROAD_FRACTIONS) / timer(forward, repeats)
    road = timer(lambda: road_curve(model, x, target, maps, seeds=seeds, max_batch=batch), repeats)
    steps = 16
    deletion = timer(lambda: deletion_insertion(model, x, target, maps, seeds=seeds, steps=steps, max_batch=batch),
                     repeats)
    return [{**base, "method": f"ROAD MoRF ({len(ROAD_FRACTIONS)} fractions), per map", "maps_s": len(x) / road,
             "vs_limit": len(x) * len(ROAD_FRACTIONS) / road / forward_limit, "forward_limit_img_s": forward_limit},
            {**base, "method": f"deletion ({steps} steps), per map", "maps_s": len(x) / deletion,
             "vs_limit": len(x) * (steps + 1) / deletion / forward_limit, "forward_limit_img_s": forward_limit},
            *faithfulness_measure_rows(net, x, target, maps, base, repeats, timer, measures, forward_limit,
                                      settings)]


# --- complexity, axiomatic, consistency and RRS measures ------------------------------------------------------------

def measure_rows(net, x, target, base: dict, repeats: int, timer) -> list[dict]:
    """Maps/s of complexity, effective complexity, completeness, non-sensitivity, consistency and RRS's
    representation on gradient maps. ``vs_limit``: the map-only measures against the forward + backward limit
    (how they compare with making the map), the model-calling ones as images through the network per second against
    the forward-only limit (a forward pass without gradients at the same pass size)."""
    from harness.metrics import per_map
    from harness.metrics.pairwise import Settings
    from harness.metrics.per_map import Scene
    from harness.metrics.representation import representation

    maps = Saliency().attribute(net, x, target).abs().sum(1)
    h, w = x.shape[-2:]
    # about 16 × 16 features whatever the size (4 pixels at 64 px, 14 at 224 px): one forward pass per feature
    patch = next(p for p in range(max(4, min(h, w) // 16), min(h, w) + 1) if h % p == 0 and w % p == 0)
    settings, batch = Settings(max_batch=base["batch"], non_sensitivity_patch=patch), base["batch"]
    scene = Scene(x, model=lambda images: net(images), inputs=x, target=target)
    patches = (h // patch) * (w // patch)

    def forward():
        with torch.no_grad():
            for i in range(0, len(x), batch):
                net(x[i:i + batch])

    forward_limit = len(x) / timer(forward, repeats)
    work = {"complexity": (lambda: per_map.fractional_entropy(maps, scene), 0),
            "effective_complexity": (lambda: per_map.effective_complexity(maps, scene, settings), 0),
            "completeness": (lambda: per_map.completeness(maps, scene, settings), 2),
            f"non_sensitivity ({patches} features of {patch}²)":
                (lambda: per_map.non_sensitivity(maps, scene, settings), patches + 1),
            "prediction_consistency": (lambda: per_map.prediction_consistency(maps, scene, settings), 1),
            "sufficiency": (lambda: per_map.sufficiency(maps, scene, settings), 1),
            "rrs representation (per view)": (lambda: representation(net, x), 1)}
    rows = []
    for name, (fn, passes) in work.items():
        t = timer(fn, repeats)
        vs = len(x) * passes / t / forward_limit if passes else len(x) / t / base["limit_img_s"]
        rows.append({**base, "method": f"{name}, per map", "maps_s": len(x) / t, "vs_limit": vs,
                     "forward_limit_img_s": forward_limit})
    return rows


# --- the faithfulness measures of Quantus / LATEC ---------------------------------------------------------------

def faithfulness_measure_rows(net, x, target, maps, base: dict, repeats: int, timer, measures: Sequence[str],
                              forward_limit: float, settings: Mapping[str, Any] | None = None) -> list[dict]:
    """Maps/s of per-map faithfulness measures through their registry records (default settings, or ``settings``
    of :class:`harness.metrics.pairwise.Settings`), against the forward-only limit: ``vs_limit`` is the images they
    send to the model per second over that limit (the rest of their time is building the perturbed images, ranking,
    superpixels)."""
    from harness.metrics.pairwise import Settings
    from harness.metrics.per_map import Scene
    from harness.metrics.registry import MEASURES

    unknown = [n for n in measures if n not in MEASURES or not MEASURES[n].needs_model]
    if unknown:
        raise UserError(f"unknown faithfulness measure(s) {unknown} in bench faithfulness_measures")
    sent = []

    def model(images):
        sent.append(len(images))
        return net(images)

    scene = Scene(x, model=model, inputs=x, target=target, seeds=torch.arange(len(x)))
    settings, rows = Settings(**{"max_batch": base["batch"], **(settings or {})}), []
    for name in measures:
        compute, calls = MEASURES[name].compute, []
        sent.clear()
        t = timer(lambda: calls.append(compute(maps, scene, settings)), repeats)
        images = sum(sent) / len(calls)  # per call (the timer's warm-up and repeats)
        rows.append({**base, "method": f"{name} ({images / len(x):.0f} forward passes per map), per map",
                     "maps_s": len(x) / t, "vs_limit": images / t / forward_limit, "forward_limit_img_s": forward_limit})
    return rows
