"""Get a trained classifier: load a given checkpoint, load a cached one, or train and cache."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from harness.data.base import ImageSplits
from harness.errors import UserError
from harness.models import checkpoint
from harness.models.classifier import EncodedClassifier, use_channels_last
from harness.models.encoding import Encoding
from harness.models.train import TrainConfig, accuracy, fit, init_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    """Where the weights came from and how good they are (recorded in every results folder)."""

    checkpoint: str
    sha256: str
    trained_now: bool
    encoding: str
    val_accuracy: float
    test_accuracy: float


def prepare_model(
    model_cfg: DictConfig, train_cfg: DictConfig, data_cfg: DictConfig, splits: ImageSplits,
    device: torch.device, cache_dir: str | Path,
) -> tuple[EncodedClassifier, ModelInfo]:
    """Build the configured network and give it weights.

    ``model_cfg.checkpoint`` set: load that file. Otherwise look up the cache
    (``cache_dir/<hash of data+model+train config>.pt``) and train only on a miss.
    """
    network = instantiate(model_cfg.network)
    if model_cfg.get("channels_last", False):
        use_channels_last(network)
    encoding = Encoding.named(model_cfg.encoding, channels=splits.image_shape[0])
    model = EncodedClassifier(network, encoding).to(device)
    path, trained = _checkpoint_path(model_cfg, train_cfg, data_cfg, cache_dir)
    if path.is_file():
        _load_into(model, path)
        log.info("loaded checkpoint %s", path)
    elif model_cfg.checkpoint:
        raise UserError(f"checkpoint not found: {path} (set model.checkpoint to an existing file, or null to train)")
    else:
        trained = True
        _train(model, train_cfg, splits, device)
        checkpoint.save(path, model.network, encoding.name, {"config": _plain(model_cfg, train_cfg, data_cfg)})
        log.info("trained and cached checkpoint %s", path)
    model.eval()
    info = ModelInfo(
        checkpoint=str(path), sha256=checkpoint.file_sha256(path), trained_now=trained, encoding=encoding.name,
        val_accuracy=accuracy(model, splits.val, device), test_accuracy=accuracy(model, splits.test, device),
    )
    log.info("val accuracy %.4f, test accuracy %.4f", info.val_accuracy, info.test_accuracy)
    return model, info


def _plain(model_cfg: DictConfig, train_cfg: DictConfig, data_cfg: DictConfig) -> dict[str, Any]:
    net = OmegaConf.to_container(model_cfg.network, resolve=True)
    return {
        "network": net, "encoding": model_cfg.encoding,
        "train": OmegaConf.to_container(train_cfg, resolve=True),
        "data": OmegaConf.to_container(data_cfg, resolve=True),
    }


def _checkpoint_path(model_cfg, train_cfg, data_cfg, cache_dir) -> tuple[Path, bool]:
    if model_cfg.checkpoint:
        return Path(str(model_cfg.checkpoint)).expanduser(), False
    key = checkpoint.config_key(_plain(model_cfg, train_cfg, data_cfg))
    return Path(str(cache_dir)).expanduser() / "checkpoints" / f"{key}.pt", False


def _load_into(model: EncodedClassifier, path: Path) -> None:
    payload = checkpoint.load(path)
    saved = payload["encoding"]
    if saved is not None and saved != model.encoding.name:
        raise UserError(
            f"checkpoint {path} was trained with encoding '{saved}' but model.encoding={model.encoding.name}; "
            f"set model.encoding={saved}"
        )
    checkpoint.load_weights(model.network, payload["state_dict"], str(path))


def _train(model: EncodedClassifier, train_cfg: DictConfig, splits: ImageSplits, device: torch.device) -> None:
    cfg = TrainConfig(**OmegaConf.to_container(train_cfg, resolve=True))
    init_weights(model.network, cfg.seed)
    log.info("training for %d epochs on %d images", cfg.epochs, len(splits.train))
    fit(model, splits.train, splits.val, cfg, device)
