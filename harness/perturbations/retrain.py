"""Train the model's architecture on permuted labels (data randomisation), cached like every trained network."""
from __future__ import annotations

import contextlib
import copy
import logging
from pathlib import Path

import torch
import torch.nn as nn

from harness.data.base import ImageSet
from harness.models import checkpoint
from harness.models.classifier import EncodedClassifier
from harness.models.train import TrainConfig, fit_until, init_weights
from harness.perturbations.base import Context

log = logging.getLogger(__name__)


def permuted_labels_network(context: Context, n_train: int, target: float, max_epochs: int,
                            seed: int) -> tuple[nn.Module, float, int]:
    """The architecture of ``context.network``, re-initialised and trained until it fits ``n_train`` training
    images whose labels are permuted by ``seed`` (Zhang et al. 2017, "Understanding deep learning requires
    rethinking generalization"). Returns the network, its accuracy on the permuted labels and the images used."""
    images, labels = context.train_images, context.train_labels
    gen = torch.Generator().manual_seed(int(seed))
    pick = torch.randperm(len(images), generator=gen)[: min(n_train, len(images))]
    permuted = ImageSet(images[pick], labels[pick][torch.randperm(len(pick), generator=gen)])
    base = {"lr": 1e-3, "batch_size": 32, "weight_decay": 0.0}
    if context.train_cfg is not None:
        base.update({k: context.train_cfg[k] for k in ("lr", "batch_size", "weight_decay") if k in context.train_cfg})
    cfg = TrainConfig(epochs=max_epochs, seed=int(seed), **base)
    network = copy.deepcopy(context.network).cpu().requires_grad_(True)
    key = checkpoint.config_key("permuted labels", context.model_key, n_train, target, max_epochs, seed, base)
    path = Path(str(context.cache_dir)).expanduser() / "checkpoints" / f"{key}.pt" if context.cache_dir else None
    # made under the cache entry's lock: the jobs of a sweep started together train it once
    making = path is not None and not checkpoint.verified(path)
    with checkpoint.locked(path) if making else contextlib.nullcontext():
        if path is not None and checkpoint.verified(path):
            payload = checkpoint.load(path)
            checkpoint.load_weights(network, payload["state_dict"], str(path))
            fitted = float(payload["meta"]["train_accuracy"])
            log.info("loaded the permuted-label network %s (training accuracy %.3f)", path, fitted)
        else:
            with torch.random.fork_rng(devices=[]):  # drawn on the CPU, the global generator left as it was
                init_weights(network, int(seed))
            log.info("data randomisation: training on %d images with permuted labels until accuracy %.2f", len(pick),
                     target)
            model = EncodedClassifier(network, context.encoding).to(context.device)
            fitted = fit_until(model, permuted, cfg, context.device, target, max_epochs)
            if path is not None:
                checkpoint.save(path, network, context.encoding.name,
                                {"train_accuracy": fitted, "n_train": len(pick)})
    if fitted < target:
        log.warning("the permuted-label network reached training accuracy %.3f < %.2f after %d epochs", fitted,
                    target, max_epochs)
    return network.to(context.device).eval().requires_grad_(False), fitted, len(pick)
