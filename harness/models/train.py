"""Supervised training of a classifier on pixel-space images (Adam, cross-entropy)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from harness.data.base import ImageSet
from harness.models.classifier import EncodedClassifier, predict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`fit` (mirrors ``harness/configs/train/*.yaml``)."""

    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0


def accuracy(model: EncodedClassifier, data: ImageSet, device: torch.device) -> float:
    """Top-1 accuracy of ``model`` on ``data``."""
    if len(data) == 0:
        return float("nan")
    logits = predict(model.network, model.encode(data.images.to(device)))
    return (logits.argmax(1).cpu() == data.labels).float().mean().item()


def fit(
    model: EncodedClassifier, train: ImageSet, val: ImageSet, cfg: TrainConfig, device: torch.device
) -> list[float]:
    """Train ``model`` in place; returns the validation accuracy after each epoch.

    Args:
        model: Classifier to train (its network is updated in place).
        train: Training images ``(N, C, H, W)`` in pixel space with labels.
        val: Validation split, evaluated after every epoch.
        cfg: Optimiser settings; ``cfg.seed`` fixes the shuffling.
        device: Where to train.
    """
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {cfg.epochs}, {cfg.batch_size}")
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.network.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history = []
    for epoch in range(cfg.epochs):
        loss = _epoch(model, train, opt, cfg.batch_size, gen, device, desc=f"train {epoch + 1}/{cfg.epochs}")
        history.append(accuracy(model, val, device))
        log.info("epoch %d/%d  loss %.4f  val acc %.4f", epoch + 1, cfg.epochs, loss, history[-1])
    return history


def fit_until(model: EncodedClassifier, train: ImageSet, cfg: TrainConfig, device: torch.device,
              target_accuracy: float, max_epochs: int) -> float:
    """Train ``model`` on ``train`` until its accuracy *on* ``train`` reaches ``target_accuracy`` (or ``max_epochs``);
    returns the final training accuracy. For memorisation, e.g. of permuted labels (Zhang et al. 2017)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.network.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    fitted = accuracy(model, train, device)
    for epoch in range(max_epochs):
        if fitted >= target_accuracy:
            break
        loss = _epoch(model, train, opt, cfg.batch_size, gen, device, desc=f"fit {epoch + 1}/{max_epochs}")
        fitted = accuracy(model, train, device)
        log.info("epoch %d/%d  loss %.4f  training accuracy %.4f", epoch + 1, max_epochs, loss, fitted)
    model.network.eval()
    return fitted


def _epoch(model, data: ImageSet, opt, batch_size, gen, device, desc: str) -> float:
    model.network.train()
    order = torch.randperm(len(data), generator=gen)
    total, seen = 0.0, 0
    bar = tqdm(range(0, len(data), batch_size), desc=desc, unit="batch", leave=False, disable=None)
    for start in bar:
        idx = order[start : start + batch_size]
        x, y = data.images[idx].to(device), data.labels[idx].to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        seen += len(idx)
        bar.set_postfix(loss=f"{total / seen:.3f}")
    model.network.eval()
    return total / max(seen, 1)


def init_weights(network: nn.Module, seed: int) -> None:
    """Re-initialise from ``seed``: He (Kaiming) normal weights and zero biases for conv / linear layers.

    He et al. 2015 (https://arxiv.org/abs/1502.01852). A deep plain ReLU network with PyTorch's default
    init starts with almost constant outputs and can sit at chance for many epochs; He init does not.
    """
    torch.manual_seed(seed)
    for m in network.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif hasattr(m, "reset_parameters"):
            m.reset_parameters()
