"""``run(cfg)``: the whole experiment, stage by stage (the layout of the package).

:func:`run` is the command line's path (data and model from the config); :func:`harness.entry.api.evaluate` is the Python
path (the caller's module and images). Both go through :func:`build_experiment` and :func:`execute`, the same engine.
"""
from __future__ import annotations

import functools
import json
import logging
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from harness._version import DISTRIBUTION, version as harness_version
from harness.attribution import baselines
from harness.attribution.attackable import is_attackable
from harness.attribution.batching import Batcher
from harness.attribution.methods import Method
from harness.attribution.runtime import use_exact_float32
from harness.common.config_checks import as_list
from harness.data.base import ImageSet
from harness.common.errors import UserError, find_user_error
from harness.loop.evaluation import Evaluation, Evaluator
from harness.loop.planning import check_treatments
from harness.metrics.registry import MEASURES, measure
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.prepare import prepare_model
from harness.perturbations.base import Context, Perturbation
from harness.report.build import build_report, report_settings
from harness.results.write import save_raw
from harness.common.schema import CLEAN, CONDITIONS, ConditionRecord
from harness.common.seeding import seed_everything
from harness.entry.sharding import check_shard, computed_range, shard_range
from harness.loop.store import PartialStore

log = logging.getLogger(__name__)


def resolve_device(name: str, shard: int | None = None) -> torch.device:
    """``auto`` → CUDA when available, else CPU; anything else is passed to ``torch.device``.

    ``shard``: a shard's index (:mod:`harness.entry.sharding`): with ``auto`` and several visible GPUs, shard ``i`` runs
    on GPU ``i mod (number of GPUs)``, so that the parallel jobs of a sweep on one machine use one GPU each.
    """
    if name == "auto":
        if shard is not None and torch.cuda.is_available() and torch.cuda.device_count() > 1:
            return torch.device("cuda", shard % torch.cuda.device_count())
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} but CUDA is not available; use device=auto or device=cpu")
    return torch.device(name)


def set_threads(threads: int | None) -> int:
    """``torch.set_num_threads(threads)`` (None: what PyTorch chose); returns the number in use."""
    if threads is not None:
        if int(threads) < 1:
            raise UserError(f"threads must be >= 1 or null, got {threads}")
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def build_methods(cfg: DictConfig) -> dict[str, Method]:
    """Instantiate the methods named in ``cfg.include`` (and the ``cfg.controls``) from the ``cfg.methods`` registry."""
    known = list(cfg.methods)
    names = [str(m) for m in as_list(cfg.include, "attribution.include", "[saliency,ig_black]")]
    names += [str(m) for m in as_list(cfg.get("controls") or [], "attribution.controls") if m not in names] \
        if cfg.get("controls") else []
    unknown = [m for m in names if m not in known]
    if unknown:
        raise UserError(f"unknown method(s) {unknown} in attribution.include; valid choices: {', '.join(known)}")
    methods = {}
    for name in names:
        try:
            methods[name] = instantiate_config(cfg.methods[name])
        except InstantiationException as exc:
            raise UserError(f"cannot build attribution method '{name}': {str(exc).splitlines()[0]}; valid baselines "
                            f"(harness.attribution.baselines): {', '.join(baselines.available())}") from exc
    return methods


def check_methods(methods: dict[str, Method], network: torch.nn.Module, image_shape: tuple[int, ...]) -> None:
    """Fail early (before any attribution) on a method that cannot explain this network (e.g. a missing layer)."""
    sample = torch.zeros(1, *image_shape, device=next(network.parameters()).device)
    for method in methods.values():
        method.check(network, sample)


@dataclass
class Experiment:
    """What an experiment is made of, built from the config before any data is loaded or model trained."""

    perturbation: Perturbation
    methods: dict[str, Method]
    scorer: Scorer
    treatments: list[str]


def instantiate_config(node: DictConfig, group: str = "") -> Any:
    """``hydra.utils.instantiate``, re-raising a user mistake in a constructor as the :class:`UserError` itself.

    A key the class does not take (e.g. ``magnitudes`` left by an experiment under another perturbation) is one line
    naming the key, the config group ``group`` and how to drop it.
    """
    try:
        return instantiate(node)
    except InstantiationException as exc:
        problem = find_user_error(exc)
        if problem is not None:
            raise problem from exc
        key = _unexpected_key(exc)
        if key is not None and group:
            raise UserError(f"{group}={_choice(node)} takes no key '{key}' (set by the experiment or an override); drop it "
                            f"with '~{group}.{key}' or choose another {group}") from exc
        raise


def _choice(node: DictConfig) -> str:
    """The name a user gives the class of ``node`` (a family's ``name``, e.g. ``normalisation_change``; else the
    class's name)."""
    from hydra.utils import get_class

    target = str(node.get("_target_", "?"))
    try:
        return str(getattr(get_class(target), "name", target.rpartition(".")[2]))
    except Exception:  # noqa: BLE001 - an unknown target is Hydra's error to report, not this message's
        return target.rpartition(".")[2]


def _unexpected_key(exc: BaseException) -> str | None:
    """The keyword a constructor refused (``TypeError: ... unexpected keyword argument 'k'``) behind ``exc``."""
    import re

    while exc is not None:
        found = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if found:
            return found.group(1)
        exc = exc.__cause__ or exc.__context__
    return None


def build_experiment(cfg: DictConfig) -> Experiment:
    """Perturbation, methods, scorer and baseline treatments; configuration mistakes surface here."""
    treatments = [str(t) for t in as_list(cfg.attribution.baseline_treatments, "attribution.baseline_treatments")]
    check_treatments(treatments)
    check_shard(cfg.attribution.get("shards"), cfg.attribution.get("shard"))
    for key in ("table_metrics", "figure_metrics"):
        listed = [str(m) for m in as_list(cfg.report.get(key) or [], f"report.{key}")] if cfg.report.get(key) else []
        unknown = [m for m in listed if measure(m) is None]
        if unknown:
            raise UserError(f"unknown measure(s) {unknown} in report.{key}; valid choices: {', '.join(MEASURES)}")
    return Experiment(instantiate_config(cfg.perturbation, "perturbation"), build_methods(cfg.attribution),
                      instantiate_config(cfg.metrics, "metrics"), treatments)


def execute(cfg: DictConfig, parts: Experiment, model: EncodedClassifier, explained: ImageSet,
            device: torch.device,
            run_dir: str | Path | None, context: Context, accuracy_on: ImageSet | None = None,
            first: int = 0, own: tuple[int, int] | None = None) -> Evaluation:
    """Explain and score ``explained`` under every condition (results stored in ``run_dir``, if given).

    Args:
        context: What the perturbation family may need (the network, the training data, ...).
        accuracy_on: Where each condition's accuracy is measured (the whole test split).
        first: The position of ``explained``'s first image in the test split (a shard's, :mod:`harness.entry.sharding`).
        own: The positions ``[start, stop)`` of the images whose rows are kept (a shard's own among the whole
            batches it computes); None: all of ``explained``.
    """
    check_methods(parts.methods, model.network, tuple(explained.images.shape[1:]))
    for method in parts.methods.values():
        method.bind(model.encoding, context.train_images)
    parts.perturbation.bind(context)
    conditions = parts.perturbation.conditions(model.encoding, tuple(explained.images.shape[1:]))
    if not conditions:
        raise UserError(f"perturbation={_choice(cfg.perturbation)} gives no condition "
                        f"to run on this model (encoding '{model.encoding.name}'): its settings leave nothing to "
                        "perturb (e.g. normalisation_change's targets only the model's own encoding); change them")
    if any(c.per_method for c in conditions):
        cannot = [n for n, m in parts.methods.items() if not m.control and not is_attackable(m)]
        if cannot:
            raise UserError(f"method(s) {cannot} have no differentiable map and cannot be attacked; attack saliency, "
                            "ixg, IG, SmoothGrad, VarGrad, Grad-CAM or their beta-smoothed versions")
    with_baseline = any(m.needs_baseline for m in parts.methods.values())
    log.info("explaining %d test images: %d methods%s × %d conditions on %s", len(explained), len(parts.methods),
             f" (baseline methods once per treatment: {', '.join(parts.treatments)})" if with_baseline else "",
             len(conditions), device)
    store = PartialStore(run_dir, fingerprint=OmegaConf.to_container(cfg, resolve=True)) if run_dir else None
    engine = cfg.attribution.engine
    evaluator = Evaluator(parts.methods, parts.scorer, parts.treatments, cfg.attribution.reduction,
                          cfg.attribution.batch_size, device, seed=cfg.seed, n_examples=cfg.report.n_examples,
                          store=store, batcher=Batcher(engine.max_batch, engine.memory_fraction))
    result = evaluator(model, explained, conditions, accuracy_on, first=first, own=own)
    result.conditions = [ConditionRecord.of(c, result.accuracy.get(c.key)).to_json() for c in conditions]
    result.methods = {name: m.info() for name, m in parts.methods.items() if m.info()}
    return result


def run(cfg: DictConfig, run_dir: str | Path) -> Any:
    """Data → model → perturbations → attribution → metrics → report, into ``run_dir``.

    A folder that already holds the finished results of the same configuration is not recomputed (its
    report is rebuilt), so a resubmitted sweep skips the jobs that completed.
    """
    if _complete(run_dir, cfg):
        log.info("%s already holds the results of this configuration; rebuilding its report only", run_dir)
        return report(cfg, run_dir)
    shards, shard = check_shard(cfg.attribution.get("shards"), cfg.attribution.get("shard"))
    device = resolve_device(cfg.device, shard if shards > 1 else None)
    threads = set_threads(cfg.get("threads"))
    seed_everything(cfg.seed)
    use_exact_float32()
    parts = build_experiment(cfg)  # configuration mistakes surface here, before any data is generated or model trained
    splits = instantiate_config(cfg.data, "data")
    n_explained = len(splits.test.head(cfg.attribution.n_images))
    first, stop = shard_range(n_explained, cfg.attribution.batch_size, cfg.attribution.get("shards"),
                              cfg.attribution.get("shard"))
    lo, hi = computed_range(first, stop, n_explained, cfg.attribution.batch_size)
    check = functools.partial(check_methods, parts.methods, image_shape=splits.image_shape)
    model, model_info = prepare_model(cfg.model, cfg.train, cfg.data, splits, device, cfg.cache_dir, check=check)
    explained = splits.test.head(cfg.attribution.n_images).slice(lo, hi)
    if (lo, hi) != (first, stop):
        log.info("this shard explains images %d to %d, computed in the whole attribution batches of images %d to %d "
                 "(as in the unsharded run); with attribution.batch_size at most %d, the shards would share no batch",
                 first, stop - 1, lo, hi - 1, max(1, n_explained // shards))
    context = Context(network=model.network, encoding=model.encoding, train_images=splits.train.images,
                      train_labels=splits.train.labels, train_cfg=OmegaConf.to_container(cfg.train, resolve=True),
                      device=device, cache_dir=cfg.cache_dir, model_key=model_info.sha256 or model_info.checkpoint)
    result = execute(cfg, parts, model, explained, device, run_dir, context, accuracy_on=splits.test, first=lo,
                     own=None if (lo, hi) == (first, stop) else (first, stop))
    info = run_record(cfg, device, threads, stop - first, splits.classes)
    info["images"] = [first, stop]
    info.update(model=asdict(model_info), data={"skipped_files": list(splits.skipped), "n_skipped": len(splits.skipped),
                                                "has_masks": explained.masks is not None})
    summary = finish(cfg, run_dir, result, info)
    print((Path(run_dir) / "summary.md").read_text())
    log.info("results in %s", run_dir)
    return summary


def finish(cfg: DictConfig, run_dir: str | Path, result: Evaluation, info: dict[str, Any]) -> Any:
    """Write the raw results with ``info`` (and what the evaluation measured), drop the partial pieces, build the
    report; returns the summary."""
    info.update({"logit_check": result.logit_check, CONDITIONS: result.conditions,
                 "clean_accuracy": result.accuracy.get(CLEAN), "methods": result.methods})
    save_raw(run_dir, result.rows, result.examples, info)
    PartialStore(run_dir, fingerprint=OmegaConf.to_container(cfg, resolve=True)).remove()
    return report(cfg, run_dir)


def report(cfg: DictConfig, run_dir: str | Path) -> Any:
    """The run's tables and figures, as configured in ``cfg.report``."""
    return build_report(run_dir, **report_settings(cfg.report, cfg.seed))


def _complete(run_dir: str | Path, cfg: DictConfig) -> bool:
    info = Path(run_dir) / "run_info.json"
    if not ((Path(run_dir) / "scores.csv").is_file() and info.is_file()):
        return False
    saved = json.loads(info.read_text()).get("config")
    return json.dumps(saved, sort_keys=True, default=str) == json.dumps(
        OmegaConf.to_container(cfg, resolve=True), sort_keys=True, default=str)


def run_record(cfg: DictConfig, device: torch.device, threads: int, n_images: int,
             classes: tuple[str, ...]) -> dict[str, Any]:
    """Seed, device, versions and the resolved config: what a run's numbers depend on."""
    import datetime
    import sys

    import captum
    import hydra
    import scipy
    import skimage

    return {
        "seed": cfg.seed, "device": str(device), "threads": threads, "n_images": n_images,
        "classes": list(classes), "experiment": cfg.get("experiment_name"),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["python -m harness", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith(
            ("__main__.py", "harness")) else "",
        "versions": {
            DISTRIBUTION: harness_version(), "python": platform.python_version(), "torch": torch.__version__,
            "captum": captum.__version__, "hydra": hydra.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "scikit-image": skimage.__version__,
        },
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
