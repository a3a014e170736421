"""What the conditions' networks do on the test images: the logit check of rewritten networks, and accuracies.

Both run over the loop's batches of images (:func:`harness.loop.evaluation.batches`), so memory does not grow with the
test split.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence

import torch
import torch.nn as nn

from harness.common.errors import CompensationError
from harness.models.classifier import EncodedClassifier, predict
from harness.perturbations.base import Batch, Condition
from harness.common.schema import CLEAN

log = logging.getLogger(__name__)


def check_logits(model: EncodedClassifier, conditions: Sequence[Condition], networks: Mapping[str, nn.Module],
                 data: Iterator[tuple[Batch, torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Max |logit difference| ``f'(z') − f(z)`` per condition with a tolerance; raises for a strict condition
    above ``tolerance × max|logit|`` and logs a warning for a lenient one."""
    checked = [c for c in conditions if c.tolerance is not None]
    diff, scale, broken = {c.key: 0.0 for c in checked}, 0.0, 0
    for batch, logits, _ in (data if checked else ()):
        finite = torch.isfinite(logits).all(1)
        broken += int((~finite).sum())
        if not finite.any():
            continue
        scale = max(scale, logits[finite].abs().max().item())
        for cond in checked:
            z_p = cond.transform_inputs(batch, 0)[finite]
            diff[cond.key] = max(diff[cond.key], (predict(networks[cond.key], z_p) - logits[finite]).abs().max().item())
    if broken:
        log.warning("%d image(s) give non-finite logits (NaN/inf in the input?); their scores will be NaN", broken)
    for cond in checked:
        if diff[cond.key] <= cond.tolerance * scale:
            continue
        message = (f"{cond.key}: the rewritten network changes the logits by {diff[cond.key]:.3g} (> "
                   f"{cond.tolerance:g} × logit scale {scale:.3g})")
        if cond.strict:
            raise CompensationError(f"{message}; the first layer cannot be folded exactly for this network")
        log.warning("%s (expected: recorded in max_logit_diff)", message)
    if diff:
        log.info("logit check: max |logit difference| %s (logit scale %.3g)", diff, scale)
    return diff


def accuracies(model: EncodedClassifier, conditions: Sequence[Condition], networks: Mapping[str, nn.Module],
               data: Iterator[tuple[Batch, torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Accuracy of the clean network, and of every condition's network on its inputs (first sample; not for
    per-method conditions, whose inputs depend on the method)."""
    conds = [c for c in conditions if not c.per_method]
    correct, n = {CLEAN: 0, **{c.key: 0 for c in conds}}, 0
    for batch, logits, labels in data:
        n += len(labels)
        correct[CLEAN] += int((logits.argmax(1) == labels).sum())
        for c in conds:
            correct[c.key] += int((predict(networks[c.key], c.transform_inputs(batch, 0)).argmax(1) == labels).sum())
    return {k: v / n for k, v in correct.items()} if n else {}
