"""Get a trained classifier: load a given checkpoint, load a cached one, or train and cache."""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from hydra.errors import InstantiationException
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from harness.data.base import ImageSplits
from harness.common.errors import UserError, find_user_error
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
    device: torch.device, cache_dir: str | Path, check: Callable[[nn.Module], None] | None = None,
) -> tuple[EncodedClassifier, ModelInfo]:
    """Build the configured network and give it weights, from the first source that applies:

    1. ``model.checkpoint``: a harness checkpoint file;
    2. ``model.weights_path``: a state_dict the network builder already loaded (torchvision models);
    3. ``model.train=false``: the seeded random initialisation, untrained;
    4. the cache, ``cache_dir/checkpoints/<hash of data+model+train config>.pt``, verified against its
       SHA-256 sidecar (a corrupted file is rebuilt, not trusted); on a miss, train and cache, under the entry's
       file lock (:func:`harness.models.checkpoint.locked`: the jobs of a sweep train once).

    ``check(network)`` runs on the built network before any weights are loaded or trained (e.g. that the
    configured Grad-CAM layer exists), so that a configuration mistake costs no training.
    """
    if model_cfg.checkpoint and not Path(str(model_cfg.checkpoint)).expanduser().is_file():
        raise UserError(f"checkpoint not found: {Path(str(model_cfg.checkpoint)).expanduser()} (set model.checkpoint "
                        "to an existing file, or null to train)")
    network = build_network(model_cfg.network, splits)
    if check is not None:
        check(network)
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


def network_config(network_cfg: DictConfig, splits: ImageSplits) -> DictConfig:
    """``network_cfg`` with ``num_classes``, ``in_channels`` and ``image_size`` taken from the data where they are
    null (or absent, and the builder accepts them); an explicit value that disagrees with the data is a
    :class:`UserError`."""
    h, w = splits.image_shape[1:]
    data = {"num_classes": len(splits.classes), "in_channels": splits.image_shape[0],
            "image_size": h if h == w else [h, w]}
    what = {"num_classes": f"{data['num_classes']} classes", "in_channels": f"{data['in_channels']}-channel images",
            "image_size": f"images of {h}×{w} pixels"}
    cfg = OmegaConf.to_container(network_cfg, resolve=True)
    accepted = _parameters(cfg.get("_target_"))
    for key, value in data.items():
        if cfg.get(key) is not None:
            if not _agrees(cfg[key], value):
                raise UserError(f"model.network.{key}={cfg[key]} but the data has {what[key]}; leave {key} unset "
                                f"(null) to take it from the data")
        elif key in cfg or key in accepted:
            cfg[key] = value
    return OmegaConf.create(cfg)


def _agrees(given: Any, value: Any) -> bool:
    """Whether a configured size equals the data's (an int is a square ``[n, n]``)."""
    pair = lambda v: [int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v), int(v)]  # noqa: E731
    return pair(given) == pair(value)


def build_network(network_cfg: DictConfig, splits: ImageSplits) -> nn.Module:
    """Instantiate the configured network for the data (see :func:`network_config`) and check that it gives one
    logit per class; a network that cannot be built is one clear :class:`UserError`."""
    cfg = network_config(network_cfg, splits)
    try:
        network = instantiate(cfg)
    except InstantiationException as exc:
        if find_user_error(exc):
            raise
        cause = exc.__cause__ or exc
        raise UserError(f"cannot build model.network (_target_={cfg.get('_target_')}): "
                        f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}") from exc
    if not isinstance(network, nn.Module):
        raise UserError(f"model.network._target_={cfg.get('_target_')} returned a {type(network).__name__}, "
                        "not a torch.nn.Module")
    was_training = network.training
    with torch.no_grad():
        out = network.eval()(splits.train.images[:1])
    network.train(was_training)
    if out.ndim != 2 or out.shape[1] != len(splits.classes):
        raise UserError(f"the network gives outputs of shape {tuple(out.shape)} for one image, but the data has "
                        f"{len(splits.classes)} classes; it must return (batch, {len(splits.classes)}) logits")
    return network


def _parameters(target: str | None) -> set[str]:
    """Names of the keyword parameters of the builder ``target`` (empty if it cannot be inspected)."""
    try:
        fn = get_method(target) if target else None
        return set(inspect.signature(fn).parameters) if fn is not None else set()
    except Exception:  # noqa: BLE001 - a builder that cannot be imported fails (clearly) when it is built
        return set()


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
    plain = _plain(model_cfg, train_cfg, data_cfg, splits)
    path = Path(str(cache_dir)).expanduser() / "checkpoints" / f"{checkpoint.config_key(plain)}.pt"
    if not checkpoint.verified(path):
        with checkpoint.locked(path):  # jobs started together train once: the others wait here, then load
            if not checkpoint.verified(path):
                if path.exists():
                    log.warning("cached checkpoint %s does not match its recorded hash; retraining", path)
                _train(model, train_cfg, splits, device)
                checkpoint.save(path, model.network, model.encoding.name, {"config": plain})
                log.info("trained and cached checkpoint %s", path)
                return path, True
    _load_into(model, path)
    log.info("loaded cached checkpoint %s", path)
    return path, False


def _plain(model_cfg: DictConfig, train_cfg: DictConfig, data_cfg: DictConfig,
           splits: ImageSplits) -> dict[str, Any]:
    """What a trained checkpoint depends on: the cache key (the network as built, class count included)."""
    net = OmegaConf.to_container(network_config(model_cfg.network, splits), resolve=True)
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
    log.info("training for %d epoch%s on %d images", cfg.epochs, "s" if cfg.epochs > 1 else "", len(splits.train))
    fit(model, splits.train, splits.val, cfg, device)
