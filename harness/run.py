"""``run(cfg)``: the whole experiment, stage by stage (the layout of the package)."""
from __future__ import annotations

import functools
import inspect
import json
import logging
import platform
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from harness.attribution import baselines
from harness.attribution.batching import Batcher
from harness.attribution.runtime import use_exact_float32
from harness.attribution.methods import Method, resolve_layer
from harness.errors import UserError, find_user_error
from harness.evaluate import Evaluator
from harness.models.prepare import prepare_model
from harness.perturbations.base import as_list
from harness.report.build import build_report, save_raw
from harness.store import PartialStore

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} but CUDA is not available; use device=auto or device=cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch; deterministic kernels where PyTorch has them."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def build_methods(cfg: DictConfig) -> dict[str, Method]:
    """Instantiate the methods named in ``cfg.include`` from the ``cfg.methods`` registry."""
    known = list(cfg.methods)
    unknown = [m for m in cfg.include if m not in known]
    if unknown:
        raise UserError(f"unknown method(s) {unknown} in attribution.include; valid choices: {', '.join(known)}")
    if not cfg.include:
        raise UserError(f"attribution.include is empty; choose from: {', '.join(known)}")
    methods = {}
    for name in cfg.include:
        try:
            methods[name] = instantiate(cfg.methods[name])
        except InstantiationException as exc:
            if find_user_error(exc):
                raise
            raise UserError(f"cannot build attribution method '{name}': {str(exc).splitlines()[0]}; valid baselines "
                            f"(harness.attribution.baselines): {', '.join(baselines.available())}") from exc
    return methods


def check_layers(methods: dict[str, Method], network: torch.nn.Module, image_shape: tuple[int, ...]) -> None:
    """Fail early (before any attribution) on a layer name that the network does not have."""
    sample = torch.zeros(1, *image_shape, device=next(network.parameters()).device)
    for method in methods.values():
        if hasattr(method, "layer"):
            resolve_layer(network, method.layer, sample)


def bind_training_data(methods: dict[str, Method], train_images: torch.Tensor) -> None:
    """Give baselines that need it (``train_mean``) the mean training image ``(C, H, W)``."""
    for method in methods.values():
        fn = getattr(method, "baseline", None)
        if fn is not None and "train_mean" in inspect.signature(fn).parameters:
            method.baseline = functools.partial(fn, train_mean=train_images.mean(0))


def run(cfg: DictConfig, run_dir: str | Path) -> Any:
    """Data → model → perturbations → attribution → metrics → report, into ``run_dir``.

    A folder that already holds the finished results of the same configuration is not recomputed (its
    report is rebuilt), so a resubmitted sweep skips the jobs that completed.
    """
    if _complete(run_dir, cfg):
        log.info("%s already holds the results of this configuration; rebuilding its report only", run_dir)
        return build_report(run_dir, seed=cfg.seed, n_resamples=cfg.report.bootstrap_resamples)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    use_exact_float32()
    # configuration mistakes surface here, before any data is generated or model trained
    perturbation = instantiate(cfg.perturbation)
    methods = build_methods(cfg.attribution)
    scorer = instantiate(cfg.metrics)
    follows = [bool(v) for v in as_list(cfg.attribution.baseline_follows_perturbation,
                                        "attribution.baseline_follows_perturbation")]
    splits = instantiate(cfg.data)
    bind_training_data(methods, splits.train.images)
    model, model_info = prepare_model(cfg.model, cfg.train, cfg.data, splits, device, cfg.cache_dir)
    check_layers(methods, model.network, splits.image_shape)
    conditions = perturbation.conditions(model.encoding, splits.image_shape)
    explained = splits.test.head(cfg.attribution.n_images)
    log.info("explaining %d test images: %d methods (IG once per baseline treatment) × %d conditions on %s",
             len(explained), len(methods), len(conditions), device)
    store = PartialStore(run_dir, fingerprint=OmegaConf.to_container(cfg, resolve=True))
    engine = cfg.attribution.engine
    evaluator = Evaluator(methods, scorer, follows, cfg.attribution.reduction, cfg.attribution.batch_size, device,
                          n_examples=cfg.report.n_examples, tolerance=perturbation.tolerance, store=store,
                          batcher=Batcher(engine.max_batch, engine.memory_fraction))
    result = evaluator(model, explained, conditions)
    info = _run_info(cfg, device, asdict(model_info), len(explained), splits.classes)
    info["compensation_max_logit_diff"] = result.compensation
    info["data"] = {"skipped_files": list(splits.skipped), "n_skipped": len(splits.skipped)}
    save_raw(run_dir, result.rows, result.examples, info)
    store.remove()
    summary = build_report(run_dir, seed=cfg.seed, n_resamples=cfg.report.bootstrap_resamples)
    print((Path(run_dir) / "summary.md").read_text())
    log.info("results in %s", run_dir)
    return summary


def _complete(run_dir: str | Path, cfg: DictConfig) -> bool:
    info = Path(run_dir) / "run_info.json"
    if not ((Path(run_dir) / "scores.csv").is_file() and info.is_file()):
        return False
    saved = json.loads(info.read_text()).get("config")
    return json.dumps(saved, sort_keys=True, default=str) == json.dumps(
        OmegaConf.to_container(cfg, resolve=True), sort_keys=True, default=str)


def _run_info(cfg: DictConfig, device: torch.device, model_info: dict, n_images: int,
              classes: tuple[str, ...]) -> dict[str, Any]:
    import captum
    import hydra
    import scipy
    import skimage

    return {
        "seed": cfg.seed, "device": str(device), "n_images": n_images, "model": model_info,
        "classes": list(classes),
        "versions": {
            "python": platform.python_version(), "torch": torch.__version__, "captum": captum.__version__,
            "hydra": hydra.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-image": skimage.__version__,
        },
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
