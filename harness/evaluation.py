"""The experiment loop: clean and perturbed maps for every image, condition and sample, scored.

For each batch of test images: predict, explain the predicted class on the clean input, then for every sample of
every condition ask the condition for the perturbed inputs and the network that sees them, explain again and score
each map against its clean counterpart. Views that share a network (the clean input and, e.g., every
uncompensated condition or noise draw) are computed as one stacked batch. The loop asks conditions only the
questions of :class:`~harness.perturbations.base.Condition` and never branches on their kind. Maps stay on the
device; only per-image scores and a few example maps are moved to the CPU.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from harness.attribution.batching import Batcher
from harness.attribution.engine import Baselines, View, attribute_views
from harness.attribution.methods import Method
from harness.checks import accuracies, check_logits
from harness.data.base import ImageSet
from harness.errors import UserError
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier, predict
from harness.perturbations.base import Batch, Condition, Explainer
from harness.piece import Clean, Piece, clean_examples, score_clean_maps
from harness.progress import Progress
from harness.seeding import seed_for
from harness.store import PartialStore

log = logging.getLogger(__name__)

#: How an IG baseline is treated under a condition: carried through its input transform (``b' = T(b)``, the same
#: draw), fixed (unchanged in model input space), or recomputed from the perturbed input (``b' = B(x')``).
TREATMENTS = ("carried", "fixed", "recomputed")


def check_treatments(treatments: Sequence[str]) -> None:
    """One clear error for an unknown (or no) baseline treatment."""
    bad = [t for t in treatments if t not in TREATMENTS]
    if bad or not treatments:
        raise UserError(f"attribution.baseline_treatments has {bad or 'nothing'}; valid choices: "
                        f"{', '.join(TREATMENTS)}")


def make_batch(model: EncodedClassifier, data: ImageSet, start: int, device: torch.device,
               seed: int) -> tuple[Batch, torch.Tensor]:
    """The images of ``data`` (the first at position ``start`` of the test split) as a :class:`Batch`, and their
    clean logits."""
    x = data.images.to(device)
    z = model.encode(x)
    logits = predict(model.network, z)
    ids = torch.arange(start, start + len(x), device=device)
    return Batch(x, z, ids, logits.argmax(1), model.encoding, seed), logits


def batches(model: EncodedClassifier, data: ImageSet, size: int, device: torch.device,
            seed: int) -> Iterator[tuple[Batch, torch.Tensor, torch.Tensor]]:
    """``(batch, clean logits, labels)`` for consecutive slices of ``data``."""
    for start in range(0, len(data), size):
        chunk = data.slice(start, start + size)
        batch, logits = make_batch(model, chunk, start, device, seed)
        yield batch, logits, chunk.labels.to(device)


@dataclass
class Evaluation:
    """Everything the report needs: tidy score rows and a few example maps."""

    rows: list[dict] = field(default_factory=list)
    examples: dict[str, np.ndarray] = field(default_factory=dict)
    #: max |logit difference| per condition whose network transform must preserve the logits
    logit_check: dict[str, float] = field(default_factory=dict)
    #: every condition's key, columns and number of samples
    conditions: list[dict] = field(default_factory=list)
    #: test accuracy of each condition's network on its inputs (``clean``: the original network on clean inputs)
    accuracy: dict[str, float] = field(default_factory=dict)
    #: what each method decided about the network when it was checked (e.g. Grad-CAM's layer), by method name
    methods: dict[str, dict] = field(default_factory=dict)


@dataclass
class Evaluator:
    """How to explain and score: the methods, the scorer and the batch settings.

    Attributes:
        methods: Name → saliency method.
        scorer: Scores maps (pairwise and per map).
        treatments: IG baseline treatments to run (:data:`TREATMENTS`).
        reduction: Channel reduction rule of the maps.
        batch_size: Images per batch (every view of these images is computed together).
        device: Where maps are computed.
        seed: The run's seed (noise draws, random maps, SmoothGrad).
        n_examples: How many of the first images keep their maps for the figures.
        store: Where finished pieces are saved as they complete (and found again when resuming);
            None keeps everything in memory.
        batcher: Network inputs per forward + backward pass (fitted to the device by default).
    """

    methods: Mapping[str, Method]
    scorer: Scorer
    treatments: Sequence[str] = ("carried",)
    reduction: str = "sum_abs"
    batch_size: int = 16
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    n_examples: int = 3
    store: PartialStore | None = None
    batcher: Batcher = field(default_factory=Batcher)

    def __post_init__(self) -> None:
        check_treatments(self.treatments)

    def __call__(self, model: EncodedClassifier, data: ImageSet, conditions: Sequence[Condition],
                 reference: ImageSet | None = None) -> Evaluation:
        """Score every (image, method, condition, sample); see the module docstring.

        ``reference`` (e.g. the whole test split, ``data`` being its first images): the accuracy of every condition's
        network on the condition's inputs (sample 0) is measured on it and recorded in ``result.accuracy``.
        """
        keys = [c.key for c in conditions]
        if len(set(keys)) != len(keys) or "clean" in keys:
            raise UserError(f"two conditions are the same: {sorted(k for k in keys if keys.count(k) > 1)}")
        networks = {c.key: c.transform_network(model.network) for c in conditions}
        for net in {id(n): n for n in [model.network, *networks.values()]}.values():
            net.eval().requires_grad_(False)
        result = Evaluation(logit_check=check_logits(model, conditions, networks, self._batches(model, data)))
        if reference is not None and (reference.labels >= 0).any():
            result.accuracy = accuracies(model, conditions, networks, self._batches(model, reference))
        views = -(-len(data) // self.batch_size) * (1 + sum(self._n_views(c) for c in conditions))
        if self.store is not None and (done := self.store.n_done()):
            log.info("resuming: %d finished (batch, condition) pieces found in %s", done, self.store.root)
        with Progress(views, "attribution", "views") as bar:
            for start in range(0, len(data), self.batch_size):
                chunk = data.slice(start, start + self.batch_size)
                self._chunk(model, chunk, start, conditions, networks, result, bar)
        if self.store is not None:
            rows, result.examples = self.store.assemble(["clean", *keys])
            result.rows = rows.to_dict("records")
        return result

    def _n_views(self, cond: Condition) -> int:
        return cond.n_samples * (len(self.methods) if cond.per_method else 1)

    def _batch(self, model: EncodedClassifier, data: ImageSet, start: int) -> tuple[Batch, torch.Tensor]:
        """The images of ``data`` (the first at position ``start`` of the test split) and their clean logits."""
        return make_batch(model, data, start, self.device, self.seed)

    def _batches(self, model: EncodedClassifier, data: ImageSet):
        return batches(model, data, self.batch_size, self.device, self.seed)

    def _chunk(self, model, chunk: ImageSet, start: int, conditions, networks, result: Evaluation, bar) -> None:
        todo = [c for c in conditions if self.store is None or not self.store.done(start, c.key)]
        if not todo and self.store.done(start, "clean"):
            bar.update(1 + sum(self._n_views(c) for c in conditions))
            return
        bar.update(sum(self._n_views(c) for c in conditions if c not in todo))
        batch, logits = self._batch(model, chunk, start)
        base = self._clean_baselines(model, batch.x)
        clean_view = View("clean", batch.z, batch.target, self._seeds(batch, "clean"),
                          {n: [(self._all(n), b)] for n, b in base.items()}, logits)
        # views that share the original network are always computed (also when resuming), so that every pass holds
        # the same inputs as in an uninterrupted run and resumed results are byte-identical
        needed = [c for c in conditions if c in todo or networks[c.key] is model.network]
        keep = max(0, min(self.n_examples - start, len(chunk)))
        clean, pieces = None, {}
        for s in range(max((c.n_samples for c in needed), default=1)):
            stacks: dict[int, tuple[nn.Module, list[View]]] = {}
            if s == 0:
                stacks[id(model.network)] = (model.network, [clean_view])
            views = {}
            for cond in (c for c in needed if s < c.n_samples):
                net = networks[cond.key]
                for view in self._views(model, cond, batch, s, base, net):
                    stacks.setdefault(id(net), (net, []))[1].append(view)
                    views[view.key] = (cond, view)
            maps = {}
            for net, stack in stacks.values():
                maps.update(attribute_views(self.methods, net, stack, reduction=self.reduction, batcher=self.batcher))
                bar.update(sum(1 for v in stack if v.key == "clean" or views[v.key][0] in todo))
            if s == 0:
                clean = Clean(batch, logits, maps["clean"], chunk.masks, chunk.labels, start)
                score_clean_maps(clean, self.scorer)
                pieces = {c.key: Piece(c, clean, self.methods, model.encoding.name, keep) for c in todo}
            for vkey, (cond, view) in views.items():
                if cond.key in pieces:
                    pieces[cond.key].add(s, view.z, view.logits, view.target, maps[vkey], self.scorer)
        self._emit(result, start, "clean", [], clean_examples(clean, keep))
        for key, piece in pieces.items():
            self._emit(result, start, key, piece.rows, piece.examples())

    def _views(self, model, cond: Condition, batch: Batch, s: int, base: dict, net: nn.Module) -> list[View]:
        """Sample ``s`` of ``cond``: one view, or one per method for a per-method condition (an attack)."""
        seeds = self._seeds(batch, cond.key, s)
        if not cond.per_method:
            return [self._view(model, cond, batch, s, base, net, cond.transform_inputs(batch, s), seeds, None)]
        views = []
        for name, method in self.methods.items():
            explainer = Explainer(name, method, model.network, base.get(name), seeds, self.reduction)
            z_p = cond.transform_inputs(batch, s, explainer)
            views.append(self._view(model, cond, batch, s, base, net, z_p, seeds, name))
        return views

    def _view(self, model, cond: Condition, batch: Batch, s: int, base: dict, net: nn.Module, z_p: torch.Tensor,
              seeds: torch.Tensor, only: str | None) -> View:
        """One view: ``z_p`` as ``net`` sees it, explained by every method (or by ``only``)."""
        logits_p = predict(net, z_p)
        target = logits_p.argmax(1) if cond.own_target else batch.target
        key = f"{cond.key}#{s}" if only is None else f"{cond.key}#{s}#{only}"
        mine = base if only is None else {k: v for k, v in base.items() if k == only}
        return View(key, z_p, target, seeds, self._baselines(model, cond, batch, s, z_p, mine), logits_p,
                    None if only is None else frozenset({only}))

    def _all(self, name: str) -> tuple[str, ...]:
        """The treatments a method is run with (a model-space baseline is only ever fixed)."""
        return ("fixed",) if getattr(self.methods[name], "fixed_baseline", False) else tuple(self.treatments)

    def _clean_baselines(self, model: EncodedClassifier, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each baseline method's baseline for the clean images, in model input space."""
        return {n: self._baseline(model, m, x) for n, m in self.methods.items() if m.needs_baseline}

    @staticmethod
    def _baseline(model: EncodedClassifier, method: Method, x: torch.Tensor) -> torch.Tensor:
        b = method.baseline(x)
        return b if method.fixed_baseline else model.encode(b)

    def _baselines(self, model, cond: Condition, batch: Batch, s: int, z_p: torch.Tensor,
                   base: dict[str, torch.Tensor]) -> dict[str, Baselines]:
        """Per method, its baseline under each treatment; treatments that give the same tensor share one map."""
        out = {}
        for name, b in base.items():
            method, groups = self.methods[name], []
            for t in self._all(name):
                if t == "carried":
                    bt = cond.carry_baseline(b, batch, s)
                elif t == "fixed":
                    bt = b
                else:
                    bt = self._baseline(model, method, model.encoding.decode(z_p))
                same = next((g for g in groups if torch.equal(g[1], bt)), None)
                if same is not None:
                    same[0].append(t)
                else:
                    groups.append(([t], bt))
            out[name] = [(tuple(ts), bt) for ts, bt in groups]
        return out

    def _seeds(self, batch: Batch, view: str, sample: int = 0) -> torch.Tensor:
        """``(B, 2)`` seeds: per image (column 0) and per image and view (column 1)."""
        ids = batch.image_ids.tolist()
        rows = [(seed_for(self.seed, "image", i), seed_for(self.seed, "view", i, view, sample)) for i in ids]
        return torch.tensor(rows, dtype=torch.int64, device=batch.z.device)

    def _emit(self, result: Evaluation, start: int, key: str, rows: list[dict], examples: dict) -> None:
        """Hand one finished (batch, condition) piece to the store, or keep it in memory."""
        if self.store is not None:
            self.store.save(start, key, rows, examples)
            return
        result.rows += rows
        for name, arr in examples.items():
            result.examples[name] = np.concatenate([result.examples[name], arr]) if name in result.examples else arr
