"""The experiment loop: clean and perturbed maps for every image and condition, scored.

For each chunk of test images: predict, explain the predicted class on the clean
input, then for every condition explain the same class on the perturbed input
(with the original or the compensated network) and score each map against its
clean counterpart. Maps stay on the device; only per-image scores and a few
example maps are moved to the CPU.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from harness.attribution.batching import Batcher
from harness.attribution.engine import View, attribute_views
from harness.attribution.methods import Method
from harness.data.base import ImageSet
from harness.errors import CompensationError
from harness.metrics import regions
from harness.metrics.scorer import MapScorer
from harness.models.classifier import EncodedClassifier, predict
from harness.perturbations.base import Condition
from harness.perturbations.compensate import compensate
from harness.store import PartialStore

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Everything the report needs: tidy score rows and a few example maps."""

    rows: list[dict] = field(default_factory=list)
    examples: dict[str, np.ndarray] = field(default_factory=dict)
    #: max |logit difference| measured per compensated condition
    compensation: dict[str, float] = field(default_factory=dict)


def networks_for(model: EncodedClassifier, conditions: Sequence[Condition], input_chw) -> list[nn.Module]:
    """The network each condition is evaluated with (a compensated copy, or the original)."""
    return [compensate(model.network, c.amap, input_chw) if c.compensated else model.network for c in conditions]


def check_compensation(
    model: EncodedClassifier, conditions: Sequence[Condition], networks: Sequence[nn.Module],
    images: torch.Tensor, tolerance: float,
) -> dict[str, float]:
    """Max |logit difference| per compensated condition; raises if one exceeds ``tolerance × max|logit|``."""
    z = model.encode(images)
    logits = predict(model.network, z)
    finite = torch.isfinite(logits).all(1)
    if not finite.all():
        log.warning("%d image(s) give non-finite logits (NaN/inf in the input?); their scores will be NaN",
                    int((~finite).sum()))
    scale = logits[finite].abs().max().item() if finite.any() else 0.0
    out = {}
    for cond, net in zip(conditions, networks):
        if not cond.compensated:
            continue
        diff = (predict(net, cond.amap(z[finite])) - logits[finite]).abs().max().item() if finite.any() else 0.0
        out[cond.key] = diff
        if not diff <= tolerance * scale:
            raise CompensationError(
                f"compensated model for {cond.key} changes the logits by {diff:.3g} (> {tolerance:g} × logit "
                f"scale {scale:.3g}); the first layer cannot be folded exactly for this network"
            )
    log.info("compensation check: max logit diff %s (logit scale %.3g)", out, scale)
    return out


@dataclass
class Evaluator:
    """How to explain and score: the methods, the scorer and the batch settings.

    Attributes:
        methods: Name → saliency method.
        scorer: Similarity of clean vs perturbed maps.
        follows: Baseline treatments to run (True: carried through the perturbation, False: fixed).
        reduction: Channel reduction rule of the maps.
        batch_size: Images per attribution batch (every view of these images is computed together).
        device: Where maps are computed.
        batcher: Network inputs per forward + backward pass (fitted to the device by default).
        n_examples: How many of the first images keep their maps for the figures.
        tolerance: Allowed logit change of a compensated model, relative to max |logit|.
        store: Where finished pieces are saved as they complete (and found again when resuming);
            None keeps everything in memory.
    """

    methods: Mapping[str, Method]
    scorer: MapScorer
    follows: Sequence[bool]
    reduction: str
    batch_size: int
    device: torch.device
    n_examples: int = 3
    tolerance: float = 1e-4
    store: PartialStore | None = None
    batcher: Batcher = field(default_factory=Batcher)

    def __call__(self, model: EncodedClassifier, data: ImageSet, conditions: Sequence[Condition]) -> Evaluation:
        """Score every (image, method, condition); see the module docstring."""
        networks = networks_for(model, conditions, tuple(data.images.shape[1:]))
        for net in networks:
            net.eval().requires_grad_(False)
        check = check_compensation(model, conditions, networks, data.images.to(self.device), self.tolerance)
        result = Evaluation(compensation=check)
        steps = (len(conditions) + 1) * -(-len(data) // self.batch_size)
        if self.store is not None and (done := self.store.n_done()):
            log.info("resuming: %d finished (batch, condition) pieces found in %s", done, self.store.root)
        with tqdm(total=steps, desc="attribution", unit="batch×condition", disable=None) as bar:
            for start in range(0, len(data), self.batch_size):
                chunk = ImageSet(data.images[start:start + self.batch_size],
                                 data.labels[start:start + self.batch_size])
                self._chunk(model, chunk, start, conditions, networks, result, bar)
        if self.store is not None:
            rows, result.examples = self.store.assemble(["clean", *(c.key for c in conditions)])
            result.rows = rows.to_dict("records")
        return result

    def _emit(self, result: Evaluation, start: int, key: str, rows: list[dict], examples: dict) -> None:
        """Hand one finished (batch, condition) piece to the store, or keep it in memory."""
        if self.store is not None:
            self.store.save(start, key, rows, examples)
            return
        result.rows += rows
        for name, arr in examples.items():
            result.examples[name] = np.concatenate([result.examples[name], arr]) if name in result.examples else arr

    def _chunk(self, model, chunk: ImageSet, start: int, conditions, networks, result: Evaluation, bar) -> None:
        todo = [(c, n) for c, n in zip(conditions, networks) if self.store is None or not self.store.done(start, c.key)]
        if not todo and self.store.done(start, "clean"):
            bar.update(len(conditions) + 1)
            return
        bar.update(len(conditions) - len(todo))
        x = chunk.images.to(self.device)
        z = model.encode(x)
        logits = predict(model.network, z)
        target = logits.argmax(1)
        baselines = {n: m.baseline(x) if getattr(m, "fixed_baseline", False) else model.encode(m.baseline(x))
                     for n, m in self.methods.items() if m.needs_baseline}
        explain = functools.partial(attribute_views, self.methods, target=target, baselines=baselines,
                                    follows=self.follows, reduction=self.reduction, batcher=self.batcher)
        # every view's inputs and logits, computed once: the clean input, every uncompensated condition (also
        # when resuming, so that every pass holds the same inputs as in an uninterrupted run) and the
        # compensated conditions still to do
        todo_keys = {c.key for c, _ in todo}
        needed = [(c, n) for c, n in zip(conditions, networks) if not c.compensated or c.key in todo_keys]
        inputs = {"clean": View("clean", z, None, logits)}
        for cond, net in needed:
            zp = cond.amap(z)
            inputs[cond.key] = View(cond.key, zp, cond.amap, predict(net, zp))
        # the clean input and every uncompensated condition share the network: one stacked computation
        shared = [inputs["clean"], *(inputs[c.key] for c, _ in needed if not c.compensated)]
        views = explain(model.network, shared)
        bar.update(1 + sum(not c.compensated for c, _ in todo))
        for cond, net in todo:
            if cond.compensated:
                views.update(explain(net, [inputs[cond.key]]))
                bar.update()
        clean = views["clean"]
        keep = max(0, min(self.n_examples - start, len(x)))
        self._emit(result, start, "clean", [], _examples("clean", x, logits, clean.maps, keep))
        for cond, _net in todo:
            view, out = inputs[cond.key], views[cond.key]
            rows = _rows(chunk, start, cond, logits, view.logits, target, clean.maps, out.maps, self.scorer)
            for row in _add_method_details(rows, self.methods, clean.errors, out.errors, start):
                row["encoding"] = model.encoding.name
            self._emit(result, start, cond.key, rows, _examples(cond.key, model.encoding.decode(view.z),
                                                                 view.logits, out.maps, keep))


def _add_method_details(rows: list[dict], methods, clean_err: dict, err: dict, start: int) -> list[dict]:
    """``n_steps`` and completeness errors (perturbed and clean map) for methods that have them."""
    per_key = {k: (v.cpu().numpy(), clean_err[k].cpu().numpy()) for k, v in err.items()}
    for row in rows:
        i = row["image_id"] - start
        perturbed, clean = per_key.get((row["method"], row["baseline_follows_perturbation"]), (None, None))
        row["n_steps"] = getattr(methods[row["method"]], "n_steps", None)
        row["completeness_error"] = float(perturbed[i]) if perturbed is not None else None
        row["completeness_error_clean"] = float(clean[i]) if clean is not None else None
    return rows


def _rows(chunk, start, cond, logits, logits_p, target, clean, maps, scorer) -> list[dict]:
    pred_p = logits_p.argmax(1).cpu().numpy()
    idx = target.unsqueeze(1)
    change = (logits_p.gather(1, idx) - logits.gather(1, idx)).squeeze(1).cpu().numpy()
    max_diff = (logits_p - logits).abs().amax(1).cpu().numpy()
    rows = []
    dark = regions.darkest(chunk.images.to(logits.device))
    # a map of a non-finite input or output explains nothing, even where its values happen to be finite
    broken = ~(torch.isfinite(chunk.images).flatten(1).all(1) & torch.isfinite(logits).all(1).cpu()
               & torch.isfinite(logits_p).all(1).cpu())
    for (method, follows), m in maps.items():
        a = clean[(method, follows)]
        scores = scorer.score(a, m)
        share_a, share_b = regions.mass_share(a, dark).tolist(), regions.mass_share(m, dark).tolist()
        for i, s in enumerate(scores):
            if broken[i]:
                s.update({c: float("nan") for c in scorer.columns}, nan_reason="non-finite input or logits")
            s["dark_share_clean"], s["dark_share_perturbed"] = share_a[i], share_b[i]
            rows.append({
                "image_id": start + i, "label": int(chunk.labels[i]), "pred": int(target[i]),
                "pred_perturbed": int(pred_p[i]), "pred_agrees": bool(pred_p[i] == int(target[i])),
                "method": method, "baseline_follows_perturbation": follows, "perturbation": cond.perturbation,
                "magnitude": cond.magnitude, "condition": cond.label, "compensated": cond.compensated, **s,
                "target_logit_change": float(change[i]), "max_logit_diff": float(max_diff[i]),
            })
    return rows


def _examples(key: str, x: torch.Tensor, logits: torch.Tensor, maps: dict, keep: int) -> dict[str, np.ndarray]:
    """The first ``keep`` images (pixel space), predictions, confidences and maps, as CPU arrays."""
    if keep <= 0:
        return {}
    prob, pred = logits[:keep].softmax(1).max(1)
    parts = {f"{key}/image": x[:keep], f"{key}/pred": pred, f"{key}/prob": prob}
    parts.update({f"{key}/{m}/{f}": t[:keep] for (m, f), t in maps.items()})
    return {name: t.detach().cpu().numpy() for name, t in parts.items()}
