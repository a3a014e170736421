"""The results of one (batch of images, condition): score rows for every sample, and a few example maps.

A :class:`ConditionScores` is filled sample by sample as the evaluation loop computes the condition's views, then
handed to the store in one go (the unit of resuming). It keeps only per-image scores, the example maps of the first
images (for each, the sample whose maps changed most) and a running sum of the per-pixel map change, so its memory
does not grow with the number of samples.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from harness.common import schema
from harness.attribution.engine import ViewMaps
from harness.metrics.precision import is_constant, prediction_kept
from harness.metrics.pairwise import constant_on_valid
from harness.metrics.scorer import Pair, Scene, Scorer
from harness.metrics.sensitivity import rel_change
from harness.perturbations.base import Batch, Condition
from harness.common.seeding import seed_for


@dataclass
class ComparisonView:
    """The view a condition's maps are compared with: the clean view of a batch, or another condition's view
    (:func:`compared_view`); its images, logits, maps, and the per-map scores of its maps."""

    batch: Batch
    logits: torch.Tensor
    maps: ViewMaps
    masks: torch.Tensor | None
    labels: torch.Tensor
    start: int
    scene: Scene | None = None
    map_scores: dict[Any, dict[str, list[float]]] = field(default_factory=dict)
    map_reasons: dict[Any, list[str]] = field(default_factory=dict)
    #: per map, which images' clean maps are constant up to precision (computed once per batch)
    constant: dict[Any, torch.Tensor] = field(default_factory=dict)
    #: ``(B,)`` the predictions the conditions compared with this view keep or change (None: ``batch.target``, the
    #: clean prediction; a compared view's own prediction, :func:`compared_view`)
    pred: torch.Tensor | None = None
    #: ``(B, D)`` the network's internal representation of this view, where a measure reads one
    #: (:meth:`~harness.metrics.scorer.Scorer.representation`)
    rep: torch.Tensor | None = None

    @property
    def predicted(self) -> torch.Tensor:
        return self.batch.target if self.pred is None else self.pred


@dataclass
class ConditionScores:
    """Rows and examples of one condition on one batch (see the module docstring).

    Attributes:
        condition: The condition.
        clean: The batch's clean view.
        methods: Method name → method (for ``n_steps`` and whether it is a control).
        encoding: Name of the model's encoding (a column).
        keep: How many of the batch's first images keep example maps.
        network: The network that explains the condition's inputs (for the faithfulness of perturbed maps).
    """

    condition: Condition
    clean: ComparisonView
    methods: Mapping[str, Any]
    encoding: str
    keep: int
    network: Any = None
    rows: list[dict] = field(default_factory=list)
    _best: dict[tuple[int, tuple[str, ...]], tuple[float, dict[str, np.ndarray]]] = field(default_factory=dict)
    _absdiff: dict[str, torch.Tensor] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=dict)

    def add(self, sample: int, z_p: torch.Tensor, logits_p: torch.Tensor, target_p: torch.Tensor, out: ViewMaps,
            scorer: Scorer) -> None:
        """Score one sample's maps ``out`` (of inputs ``z_p`` with logits ``logits_p``) against the clean maps, each
        brought back into the clean frame by the condition
        (:meth:`~harness.perturbations.base.Condition.to_clean_frame`) and compared on the pixels valid in both frames."""
        c, b = self.clean, self.clean.batch
        x_p = b.encoding.decode(z_p)
        unframed = out.maps
        framed = {key: self.condition.to_clean_frame(m, b, sample) for key, m in out.maps.items()}
        out = ViewMaps({key: m for key, (m, _) in framed.items()}, out.errors)
        broken = _broken(b.x, c.logits, logits_p)
        pred = c.predicted
        change = (logits_p - c.logits).gather(1, b.target.unsqueeze(1)).squeeze(1).tolist()
        max_diff = (logits_p - c.logits).abs().amax(1).tolist()
        kept = prediction_kept(logits_p, pred)  # a tie up to precision keeps the clean class
        pred_p = torch.where(kept, pred, logits_p.argmax(1)).tolist()
        kept = kept.tolist()
        rel, rep_p = [], scorer.representation(self.network, z_p)
        scene = replace(c.scene, model=pixel_model(self.network, b.encoding), inputs=x_p, target=target_p) \
            if self.network is not None else c.scene  # the perturbed maps' faithfulness: to their own network
        for key, m in out.maps.items():
            a = c.maps.maps[key]
            scores = scorer.score(a, m, Pair(b.x, x_p, c.logits, logits_p, framed[key][1], c.rep, rep_p))
            per_map, reasons = scorer.score_maps(m, scene, own_frame=unframed[key]) if self.condition.score_maps \
                else ({}, [""] * len(m))
            if not self.methods[key[0]].control:
                rel.append(rel_change(a, m))
            self._absdiff[key] = self._absdiff.get(key, 0) + _scaled_diff(a, m, c.constant[key])
            self._count[key] = self._count.get(key, 0) + len(m)
            errors = (out.errors.get(key), c.maps.errors.get(key))
            constant = (constant_on_valid(m, framed[key][1]).tolist(), c.constant[key].tolist())
            for i, s in enumerate(scores):
                if broken[i]:
                    s.update({k: float("nan") for k in scorer.columns}, nan_reason="non-finite input or logits")
                reason = "; ".join(r for r in (s.pop("nan_reason"), reasons[i], c.map_reasons[key][i]) if r)
                facts = schema.MapFacts(change[i], max_diff[i], None if errors[0] is None else errors[0][i],
                                        None if errors[1] is None else errors[1][i], constant[0][i], constant[1][i])
                prediction = schema.Prediction(c.start + i, sample, c.labels[i], c.predicted[i], pred_p[i], kept[i],
                                               target_p[i])
                measured = schema.Scores(s, reason, {k: v[i] for k, v in c.map_scores[key].items()},
                                         {k: float("nan") if broken[i] else v[i] for k, v in per_map.items()})
                self.rows.append(schema.score_row(prediction, self._variant(key), self.condition.columns, measured,
                                                  facts))
        if self.keep:
            change = torch.stack(rel).mean(0) if rel else torch.zeros(len(z_p), device=z_p.device)
            self._keep_examples(change, x_p, logits_p, out)

    def _variant(self, key: tuple[str, str | None]) -> schema.Variant:
        """The method variant ``(method, treatment)`` of a row."""
        method = self.methods[key[0]]
        return schema.Variant(key[0], key[1], method.control, method.n_steps, self.encoding)

    def _keep_examples(self, rel: torch.Tensor, x_p, logits_p, out: ViewMaps) -> None:
        """For each of the first images, keep the sample whose maps changed most (mean over methods). A view that
        holds only some methods (an attack's, made for one method) is kept per method."""
        scope = tuple(sorted({k[0] for k in out.maps}))
        prob, pred = logits_p.softmax(1).max(1)
        for i in range(self.keep):
            score = float(torch.nan_to_num(rel[i], nan=-1.0))
            if (i, scope) in self._best and self._best[(i, scope)][0] >= score:
                continue
            arrays = {"image": x_p[i], "pred": pred[i], "prob": prob[i]}
            arrays.update({k: m[i] for k, m in out.maps.items()})
            self._best[(i, scope)] = (score, {k: v.detach().cpu().numpy() for k, v in arrays.items()})

    def examples(self) -> dict[str, np.ndarray]:
        """Example arrays of the condition's view of the first images, named by :mod:`harness.common.schema`: its images,
        predictions and maps (with per-method views, also each method's input: :func:`~harness.common.schema.inputs_key`),
        and the per-pixel map change (summed over images and samples: :func:`~harness.common.schema.absdiff_key`)."""
        key, out = self.condition.key, {}
        scopes = list(dict.fromkeys(scope for _, scope in self._best))
        for n, scope in enumerate(scopes):
            images = sorted(i for i, sc in self._best if sc == scope)
            names = self._best[(images[0], scope)][1].keys()
            stacked = {name: np.stack([self._best[(i, scope)][1][name] for i in images]) for name in names}
            for name, arr in stacked.items():
                if isinstance(name, tuple):  # a map (method, treatment)
                    out[schema.map_key(key, *name)] = arr
                    continue
                if self.condition.per_method:
                    out[schema.inputs_key(key, name, scope)] = arr
                if n == 0:
                    out[schema.view_key(key, name)] = arr
        for name, total in self._absdiff.items():
            out[schema.absdiff_key(key, *name)] = total.detach().cpu().numpy()[None]
            out[schema.absdiff_key(key, *name, count=True)] = np.array([self._count[name]])
        return out


def clean_examples(clean: ComparisonView, keep: int) -> dict[str, np.ndarray]:
    """The first ``keep`` clean images (pixel space), predictions, confidences and maps, as CPU arrays."""
    if keep <= 0:
        return {}
    prob, pred = clean.logits[:keep].softmax(1).max(1)
    parts = {schema.view_key(schema.CLEAN, schema.VIEW_IMAGE): clean.batch.x[:keep],
             schema.view_key(schema.CLEAN, schema.VIEW_PRED): pred,
             schema.view_key(schema.CLEAN, schema.VIEW_PROB): prob}
    parts.update({schema.map_key(schema.CLEAN, *k): t[:keep] for k, t in clean.maps.maps.items()})
    return {name: t.detach().cpu().numpy() for name, t in parts.items()}


def score_clean_maps(clean: ComparisonView, scorer: Scorer, network: Any = None, per_map: bool = True) -> None:
    """Per-map scores of the clean maps (``<name>_clean`` columns), once per batch; ``network`` is the one the clean
    maps explain (for the faithfulness measures). ``per_map=False`` leaves them out (empty columns)."""
    b = clean.batch
    seeds = torch.tensor([seed_for(b.seed, "faithfulness", int(i)) for i in b.image_ids], dtype=torch.int64)
    clean.scene = Scene(b.x, None if clean.masks is None else clean.masks.to(b.x.device),
                        None if network is None else pixel_model(network, b.encoding), b.x, b.target, seeds)
    clean.rep = scorer.representation(network, b.z)
    for key, m in clean.maps.maps.items():
        clean.map_scores[key], clean.map_reasons[key] = scorer.score_maps(m, clean.scene, clean=True) if per_map \
            else ({}, [""] * len(m))
        clean.constant[key] = is_constant(m)


def compared_view(clean: ComparisonView, view: Any, maps: ViewMaps, scorer: Scorer, network: Any,
                   per_map: bool = True) -> ComparisonView:
    """A condition's view (its sample 0) as the view the conditions compared with it are scored against
    (:attr:`~harness.perturbations.base.Condition.compared_with`): its inputs, logits, explained classes and maps in
    place of the clean ones, the same images, masks and labels; its maps' per-map scores are the ``<name>_clean``
    columns of the conditions compared with it (computed if ``per_map``). Its prediction (a tie up to precision
    keeps the clean class) is the ``pred`` of their rows, which their ``pred_agrees`` compares with: whether the
    condition keeps the prediction of the view it is compared with."""
    b = replace(clean.batch, z=view.z, x=clean.batch.encoding.decode(view.z), target=view.target)
    kept = prediction_kept(view.logits, clean.batch.target)
    pred = torch.where(kept, clean.batch.target, view.logits.argmax(1))
    ref = ComparisonView(b, view.logits, maps, clean.masks, clean.labels, clean.start, pred=pred)
    score_clean_maps(ref, scorer, network, per_map)
    return ref


def pixel_model(network: Any, encoding: Any):
    """``network`` as a function of pixel-space images ``(N, C, H, W)``: what the faithfulness measures remove
    pixels from."""
    return lambda x: network(encoding.encode(x))


def _scaled_diff(a: torch.Tensor, b: torch.Tensor, a_constant: torch.Tensor) -> torch.Tensor:
    """``Σ_images |b − a| / max|a|`` ``(H, W)``: the per-pixel map change, each image scaled by its clean map. A map
    that is constant up to its precision (``a_constant``: the clean maps' flags) counts as its mean (its rounding
    noise is no change of pattern)."""
    a, b = _flatten_constant(a, a_constant), _flatten_constant(b, is_constant(b))
    scale = a.flatten(1).abs().amax(1).clamp_min(1e-30).view(-1, 1, 1)
    return torch.nan_to_num((b - a).abs() / scale).sum(0)


def _flatten_constant(m: torch.Tensor, constant: torch.Tensor) -> torch.Tensor:
    """``m`` ``(B, H, W)`` with each map flagged ``constant`` ``(B,)`` replaced by its mean."""
    flat = constant.view(-1, 1, 1)
    return torch.where(flat, m.mean((1, 2), keepdim=True).expand_as(m), m) if bool(flat.any()) else m


def _broken(x: torch.Tensor, logits: torch.Tensor, logits_p: torch.Tensor) -> list[bool]:
    """Per image: a non-finite input or output, whose map explains nothing even where its values are finite."""
    ok = torch.isfinite(x).flatten(1).all(1) & torch.isfinite(logits).all(1) & torch.isfinite(logits_p).all(1)
    return (~ok).tolist()
