"""Checkpoints: saving, safe loading and the config-keyed cache.

A checkpoint is a plain dict (tensors, strings, numbers) so that it loads with
``torch.load(weights_only=True)``. It carries the encoding name with the weights. A cache entry is made under its
file lock (:func:`locked`): the jobs of a sweep started together train it once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from filelock import FileLock, Timeout

from harness.common.errors import UserError

log = logging.getLogger(__name__)


def config_key(*parts: Any) -> str:
    """Stable 16-hex-digit hash of JSON-serialisable config parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save(path: str | Path, network: nn.Module, encoding: str, meta: dict[str, Any]) -> None:
    """Write a checkpoint atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    payload = {"state_dict": state, "encoding": encoding, "meta": json.dumps(meta, sort_keys=True)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        digest = file_sha256(tmp)
        os.replace(tmp, path)
        _sidecar(path).write_text(digest + "\n")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold the lock of cache entry ``path`` (the file ``<path>.lock`` beside it, :class:`filelock.FileLock`).

    Whoever makes an entry (trains and saves a network) holds its lock, and checks :func:`verified` again once it
    has it: of the jobs of a sweep started together (a multirun's shards, on one machine or on a cluster sharing
    the cache folder), the first trains and the others wait, then load its checkpoint, instead of training N times.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{path}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another job to make %s", path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verified(path: str | Path) -> bool:
    """True if ``path`` exists and its SHA-256 equals the one recorded when it was saved."""
    path = Path(path)
    side = _sidecar(path)
    if not (path.is_file() and side.is_file()):
        return False
    return side.read_text().strip() == file_sha256(path)


def read(path: str | Path, what: str, hint: str) -> Any:
    """``torch.load(path, weights_only=True)``; a missing or unreadable file is one clear :class:`UserError`.

    Args:
        path: The file.
        what: What it is, for the message (e.g. ``checkpoint``).
        hint: How to fix a missing file (e.g. ``set model.checkpoint to an existing file``).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{what} not found: {path} ({hint})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise UserError(f"cannot read {what} {path}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc


def load(path: str | Path) -> dict[str, Any]:
    """Read a harness checkpoint with ``weights_only=True``; returns state_dict, encoding, meta."""
    payload = read(path, "checkpoint", "set model.checkpoint to an existing file, or null to train")
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise UserError(f"{path} is not a harness checkpoint (no 'state_dict'); save one with harness")
    payload["meta"] = json.loads(payload.get("meta", "{}"))
    payload.setdefault("encoding", None)
    return payload


def load_weights(network: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state_dict`` into ``network``; a shape mismatch is one clear line naming both shapes."""
    own = network.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing or unexpected:
        raise UserError(
            f"checkpoint {source} does not match the model config: missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}; use the model config it was trained with"
        )
    mismatch = [name for name, tensor in state_dict.items() if own[name].shape != tensor.shape]
    if mismatch and set(mismatch) <= set(list(own)[-2:]):  # only the output layer (weight, bias) differs
        trained, wanted = state_dict[mismatch[0]].shape[0], own[mismatch[0]].shape[0]
        raise UserError(f"checkpoint {source} was trained on {trained} classes but the data has {wanted}; use a "
                        f"checkpoint trained on this data (or data with {trained} classes)")
    for name, tensor in state_dict.items():
        if own[name].shape != tensor.shape:
            raise UserError(
                f"checkpoint {source} does not match the model config: '{name}' is {tuple(tensor.shape)} in the "
                f"checkpoint but {tuple(own[name].shape)} in the model; use the model config it was trained with"
            )
    network.load_state_dict(state_dict)
