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
    """Build the configured network and give it weights, from the first source that applies:

    1. ``model.checkpoint``: a harness checkpoint file;
    2. ``model.weights_path``: a state_dict the network builder already loaded (torchvision models);
    3. ``model.train=false``: the seeded random initialisation, untrained;
    4. the cache, ``cache_dir/checkpoints/<hash of data+model+train config>.pt``, verified against its
       SHA-256 sidecar (a corrupted file is rebuilt, not trusted); on a miss, train and cache.
    """
    network = instantiate(model_cfg.network)
    if model_cfg.get("channels_last", False):
        use_channels_last(network)
    encoding = Encoding.named(model_cfg.encoding, channels=splits.image_shape[0])
    model = EncodedClassifier(network, encoding).to(device)
    path, trained = _weights(model, model_cfg, train_cfg, data_cfg, splits, device, cache_dir)
    model.eval()
    info = ModelInfo(
        checkpoint=str(path or "random init"), sha256=checkpoint.file_sha256(path) if path else "",
        trained_now=trained, encoding=encoding.name,
        val_accuracy=accuracy(model, splits.val, device), test_accuracy=accuracy(model, splits.test, device),
    )
    log.info("val accuracy %.4f, test accuracy %.4f", info.val_accuracy, info.test_accuracy)
    return model, info


def _weights(model, model_cfg, train_cfg, data_cfg, splits, device, cache_dir) -> tuple[Path | None, bool]:
    """Load or make the weights (see :func:`prepare_model`); returns the file they came from and whether
    the model was trained now."""
    if model_cfg.checkpoint:
        path = Path(str(model_cfg.checkpoint)).expanduser()
        _load_into(model, path)
        return path, False
    if model_cfg.get("weights_path"):
        return Path(str(model_cfg.weights_path)).expanduser(), False
    if not model_cfg.get("train", True):
        init_weights(model.network, int(train_cfg.seed))
        log.info("model.train=false: explaining the randomly initialised network (seed %d)", train_cfg.seed)
        return None, False
    path = Path(str(cache_dir)).expanduser() / "checkpoints" / f"{checkpoint.config_key(_plain(model_cfg, train_cfg, data_cfg))}.pt"
    if checkpoint.verified(path):
        _load_into(model, path)
        log.info("loaded cached checkpoint %s", path)
        return path, False
    if path.exists():
        log.warning("cached checkpoint %s does not match its recorded hash; retraining", path)
    _train(model, train_cfg, splits, device)
    checkpoint.save(path, model.network, model.encoding.name, {"config": _plain(model_cfg, train_cfg, data_cfg)})
    log.info("trained and cached checkpoint %s", path)
    return path, True


def _plain(model_cfg: DictConfig, train_cfg: DictConfig, data_cfg: DictConfig) -> dict[str, Any]:
    net = OmegaConf.to_container(model_cfg.network, resolve=True)
    return {
        "network": net, "encoding": model_cfg.encoding,
        "train": OmegaConf.to_container(train_cfg, resolve=True),
        "data": OmegaConf.to_container(data_cfg, resolve=True),
    }


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
