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
from harness.attribution.engine import ViewMaps, attribute_views
from harness.attribution.methods import Method
from harness.loop.checks import accuracies, check_logits
from harness.data.base import ImageSet
from harness.common.errors import UserError
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier, predict
from harness.perturbations.base import Batch, Condition
from harness.loop.scoring import ComparisonView, ConditionScores, clean_examples, compared_view, score_clean_maps
from harness.common.progress import Progress
from harness.loop.planning import BaselineRules, SamplePlan, ViewPlanner, check_treatments
from harness.common.schema import ABSDIFF, ABSDIFF_COUNT, CLEAN, parse_key
from harness.loop.store import PartialStore

log = logging.getLogger(__name__)

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
            seed: int, first: int = 0) -> Iterator[tuple[Batch, torch.Tensor, torch.Tensor]]:
    """``(batch, clean logits, labels)`` for consecutive slices of ``data`` (its first image at position ``first`` of
    the test split)."""
    for start in range(0, len(data), size):
        chunk = data.slice(start, start + size)
        batch, logits = make_batch(model, chunk, first + start, device, seed)
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

    The loop is four steps per batch of images and sample index: **plan** the views
    (:class:`~harness.loop.planning.ViewPlanner`), **compute** their maps (one stacked call per network,
    :func:`~harness.attribution.engine.attribute_views`), **score** them against the clean maps
    (:class:`~harness.loop.scoring.ConditionScores`), and **emit** each finished (batch, condition) piece to the store or
    to memory.

    Attributes:
        methods: Name → saliency method.
        scorer: Scores maps (pairwise and per map).
        treatments: IG baseline treatments to run (:data:`~harness.loop.planning.TREATMENTS`).
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
                 accuracy_on: ImageSet | None = None, first: int = 0,
                 own: tuple[int, int] | None = None) -> Evaluation:
        """Score every (image, method, condition, sample); see the class docstring.

        ``accuracy_on`` (e.g. the whole test split, ``data`` being some of its images): the accuracy of every
        condition's network on the condition's inputs (sample 0) is measured on it and recorded in
        ``result.accuracy``. ``first``: the position of ``data``'s first image in the test split (a shard's first
        image, :mod:`harness.entry.sharding`), which names the images and seeds their draws. ``own``: the positions
        ``[start, stop)`` of the images whose rows and example maps the run keeps (a shard that computes whole
        batches of the unsharded run, :func:`harness.entry.sharding.computed_range`); None: all of ``data``.
        """
        keys = [c.key for c in conditions]
        if len(set(keys)) != len(keys) or CLEAN in keys:
            raise UserError(f"two conditions are the same: {sorted(k for k in keys if keys.count(k) > 1)}")
        _check_references(conditions)
        networks = {c.key: c.transform_network(model.network) for c in conditions}
        for net in {id(n): n for n in [model.network, *networks.values()]}.values():
            net.eval().requires_grad_(False)
        result = Evaluation(logit_check=check_logits(model, conditions, networks, self._batches(model, data, first)))
        if accuracy_on is not None and (accuracy_on.labels >= 0).any():
            result.accuracy = accuracies(model, conditions, networks, self._batches(model, accuracy_on))
        planner = ViewPlanner(self.methods, BaselineRules(self.methods, self.treatments, model.encoding),
                              self.reduction, self.seed)
        views = -(-len(data) // self.batch_size) * (1 + sum(self._n_views(c) for c in conditions))
        if self.store is not None and (done := self.store.n_done()):
            log.info("resuming: %d finished (batch, condition) pieces found in %s", done, self.store.root)
        with Progress(views, "attribution", "views") as bar:
            for start in range(0, len(data), self.batch_size):
                chunk = data.slice(start, start + self.batch_size)
                self.run_batch(planner, model, chunk, first + start, conditions, networks, result, bar, own)
        if self.store is not None:
            rows, result.examples = self.store.assemble([CLEAN, *keys])
            result.rows = rows.to_dict("records")
        return result

    def _n_views(self, cond: Condition) -> int:
        return cond.n_samples * (len(self.methods) if cond.per_method else 1)

    def _batches(self, model: EncodedClassifier, data: ImageSet, first: int = 0):
        return batches(model, data, self.batch_size, self.device, self.seed, first)

    def todo(self, start: int, conditions: Sequence[Condition]) -> list[Condition]:
        """The conditions whose piece of the batch at ``start`` is not saved yet (all without a store)."""
        return [c for c in conditions if self.store is None or not self.store.done(start, c.key)]

    def run_batch(self, planner: ViewPlanner, model: EncodedClassifier, chunk: ImageSet, start: int,
                  conditions: Sequence[Condition], networks: Mapping[str, nn.Module], result: Evaluation,
                  bar, own: tuple[int, int] | None = None) -> None:
        """Plan, compute, score and emit every condition's piece of one batch of images (the first at ``start``;
        only the rows and examples of the images ``own``, if given)."""
        todo = self.todo(start, conditions)
        if not todo and self.store.done(start, CLEAN):
            bar.update(1 + sum(self._n_views(c) for c in conditions))
            return
        bar.update(sum(self._n_views(c) for c in conditions if c not in todo))
        batch, logits = make_batch(model, chunk, start, self.device, self.seed)
        base = planner.rules.clean(batch.x)
        needed = self.needed(todo, conditions, networks, model.network)
        keep = max(0, min(self.n_examples - start, len(chunk)))
        clean, pieces = None, {}
        for s in range(max((c.n_samples for c in needed), default=1)):
            plan = planner.plan(s, batch, logits, base, needed, networks, model.network)
            maps = self.compute(plan, todo, bar)
            if s == 0:
                clean = ComparisonView(batch, logits, maps[CLEAN], chunk.masks, chunk.labels, start)
                score_clean_maps(clean, self.scorer, model.network)
                views = self.compared_views(clean, plan, maps, todo, conditions, networks)
                pieces = {c.key: ConditionScores(c, views[c.compared_with.key if c.compared_with is not None else CLEAN],
                                                 self.methods, model.encoding.name, keep, networks[c.key])
                          for c in todo}
            self.score(plan, maps, pieces, s)
        self.emit(result, start, CLEAN, *owned([], clean_examples(clean, keep), start, own))
        for key, piece in pieces.items():
            self.emit(result, start, key, *owned(piece.rows, piece.examples(), start, own))

    @staticmethod
    def needed(todo: Sequence[Condition], conditions: Sequence[Condition], networks: Mapping[str, nn.Module],
               network: nn.Module) -> list[Condition]:
        """The conditions whose views are computed for a batch: every condition explained by a network that explains
        one still to do (or the view one is compared with), also when resuming, so that every pass holds the same
        inputs as in an uninterrupted run and resumed results are byte-identical."""
        compared = [c.compared_with.key for c in todo if c.compared_with is not None]
        shared = {id(networks[k]) for k in [*(c.key for c in todo), *compared]} | {id(network)}
        return [c for c in conditions if id(networks[c.key]) in shared]

    def compared_views(self, clean: ComparisonView, plan: SamplePlan, maps: Mapping[str, ViewMaps],
                       todo: Sequence[Condition], conditions: Sequence[Condition],
                       networks: Mapping[str, nn.Module]) -> dict[str, ComparisonView]:
        """The views the conditions still to do are compared with, by key: the clean view and the sample-0 views of
        the conditions that others are compared with (:attr:`~harness.perturbations.base.Condition.compared_with`)."""
        views = {CLEAN: clean}
        for ref in {c.compared_with.key: c.compared_with for c in todo if c.compared_with is not None}.values():
            view = plan.owners[f"{ref.key}#0"][1]
            # from every condition compared with it (not only those still to do): resumed runs write the same
            per_map = any(c.score_maps for c in conditions if c.compared_with is ref)
            views[ref.key] = compared_view(clean, view, maps[view.key], self.scorer, networks[ref.key], per_map)
        return views

    def compute(self, plan: SamplePlan, todo: Sequence[Condition] = (), bar=None) -> dict[str, ViewMaps]:
        """The maps of every view of ``plan``, one stacked call per network (progress counted for the clean view and
        the views of ``todo``)."""
        maps: dict[str, ViewMaps] = {}
        for net, stack in plan.stacks.values():
            maps.update(attribute_views(self.methods, net, stack, reduction=self.reduction, batcher=self.batcher))
            if bar is not None:
                bar.update(sum(1 for v in stack if v.key == CLEAN or plan.owners[v.key][0] in todo))
        return maps

    def score(self, plan: SamplePlan, maps: Mapping[str, ViewMaps], pieces: Mapping[str, ConditionScores],
              sample: int) -> None:
        """Score every condition view of ``plan`` into its condition's piece (views of conditions without a piece,
        computed only to keep the passes as in an uninterrupted run, are skipped)."""
        for cond, view in plan.owners.values():
            if cond.key in pieces:
                pieces[cond.key].add(sample, view.z, view.logits, view.target, maps[view.key], self.scorer)

    def emit(self, result: Evaluation, start: int, key: str, rows: list[dict], examples: dict) -> None:
        """Hand one finished (batch, condition) piece to the store, or keep it in memory."""
        if self.store is not None:
            self.store.save(start, key, rows, examples)
            return
        result.rows += rows
        for name, arr in examples.items():
            result.examples[name] = np.concatenate([result.examples[name], arr]) if name in result.examples else arr


def owned(rows: list[dict], examples: dict[str, np.ndarray], start: int,
          own: tuple[int, int] | None) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The part of a batch's piece (its first image at position ``start``) that a shard owning the images
    ``[lo, hi)`` writes: the rows of its images, the example arrays of its images (their first axis is the
    batch's first images), and the batch's sums of map changes (``absdiff``) if the batch's first image is its own,
    so that the shards' pieces put together are the unsharded run's. ``own=None``: everything."""
    if own is None:
        return rows, examples
    lo, hi = own
    kept: dict[str, np.ndarray] = {}
    for name, arr in examples.items():
        if parse_key(name).kind in (ABSDIFF, ABSDIFF_COUNT):
            if lo <= start < hi:
                kept[name] = arr
        elif len(part := arr[max(lo - start, 0):max(hi - start, 0)]):
            kept[name] = part
    return [r for r in rows if lo <= r["image_id"] < hi], kept


def _check_references(conditions: Sequence[Condition]) -> None:
    """A condition compared with another's view needs that one in the run, with one sample and one view."""
    keys = {c.key for c in conditions}
    for c in conditions:
        ref = c.compared_with
        if ref is not None and (ref.key not in keys or ref.n_samples != 1 or ref.per_method or ref.compared_with):
            raise ValueError(f"{c!r} is compared with {ref!r}, which must be a condition of the run with one sample, "
                             "one view and is compared with no other itself")
