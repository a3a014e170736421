"""The Python entry point: ``harness.evaluate(model, images, ...)`` on the same engine as the command line.

A researcher with a notebook, an ``nn.Module`` and a tensor of images gets the scores of ``python -m harness`` as a
pandas DataFrame (the ``scores.csv`` schema), and optionally the whole report folder. The configuration is composed
from the same Hydra configs, so every option of the command line is an override here.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn

from harness.data.base import ImageSet
from harness.common.errors import UserError
from harness.configs.compose import compose
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.results.table import scores_table


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    *,
    encoding: str = "unit",
    methods: Sequence[str] = ("saliency", "ixg", "ig_black", "gradcam"),
    perturbation: str = "brightness_shift",
    overrides: Sequence[str] = (),
    labels: torch.Tensor | None = None,
    masks: torch.Tensor | None = None,
    train_images: torch.Tensor | None = None,
    train_labels: torch.Tensor | None = None,
    seed: int = 0,
    out: str | Path | None = None,
) -> pd.DataFrame:
    """Explain ``model`` on ``images`` under every condition of a perturbation family and score the maps.

    Args:
        model: Model input ``(B, C, H, W)`` → logits ``(B, K)``, on any device (the images follow it). It is left as
            it was found: train/eval mode, ``requires_grad`` of every parameter, device.
        images: Pixel-space images ``(N, C, H, W)`` in ``[0, 1]``.
        encoding: How pixels become model inputs (``unit``, ``imagenet``, ``symmetric``, ``byte``).
        methods: Names from ``harness/configs/attribution/default.yaml`` (e.g. ``saliency``, ``smoothgrad``,
            ``ig_black``, ``gradcam``, ``guided_backprop``); the controls (``random_map``, ``constant_map``) are
            added unless ``overrides`` sets ``attribution.controls=[]``.
        perturbation: A perturbation config (``brightness_shift``, ``noise``, ``normalisation_change``, ...).
        overrides: Any other Hydra overrides, as on the command line, e.g. ``["perturbation.magnitudes=[0.25]"]``.
        labels: ``(N,)`` true classes, if known (-1 otherwise; the maps explain the predicted class either way).
        masks: ``(N, H, W)`` foreground masks for the localisation scores, if known.
        train_images: Training images ``(M, C, H, W)``, for baselines that need them (the mean image) and for data
            randomisation (with ``train_labels``).
        train_labels: ``(M,)`` their classes.
        seed: Seed of every random draw.
        out: A folder to write ``scores.csv``, the summary tables and the figures into (None: nothing is written).

    Returns:
        One row per (image, method, baseline treatment, condition, sample), as in ``scores.csv``.
    """
    from harness.attribution.runtime import use_exact_float32
    from harness.perturbations.base import Context
    from harness.entry.run import build_experiment, execute, finish, run_record

    cfg = compose([f"perturbation={perturbation}", f"attribution.include=[{','.join(methods)}]", f"seed={seed}",
                    *overrides])
    if images.ndim != 4:
        raise UserError(f"images must be (N, C, H, W) pixel values in [0, 1], got shape {tuple(images.shape)}")
    parts = build_experiment(cfg)
    device = next(model.parameters()).device
    labels = torch.full((len(images),), -1, dtype=torch.long) if labels is None else torch.as_tensor(labels).long()
    data = ImageSet(images.detach().float().cpu(), labels.cpu(), None if masks is None else masks.bool().cpu())
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    use_exact_float32()  # maps in true float32, as on the command line; the caller's setting is restored below
    with preserved(model):
        wrapped = EncodedClassifier(model, Encoding.named(encoding, channels=images.shape[1]))
        context = Context(network=model, encoding=wrapped.encoding, train_images=train_images,
                          train_labels=train_labels, device=device)
        try:
            result = execute(cfg, parts, wrapped, data, device, out, context, accuracy_on=data)
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    if out is not None:
        info = run_record(cfg, device, torch.get_num_threads(), len(data), ())
        finish(cfg, out, result, {**info, "experiment": "python api", "data": {"has_masks": masks is not None}})
    return scores_table(result.rows)  # the same DataFrame with or without out= (harness.results.table)


@contextlib.contextmanager
def preserved(module: nn.Module) -> Iterator[None]:
    """Restore ``module``'s train/eval mode (of every submodule) and its parameters' ``requires_grad`` on exit."""
    modes = [(m, m.training) for m in module.modules()]
    grads = [(p, p.requires_grad) for p in module.parameters()]
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in grads:
            p.requires_grad_(flag)
