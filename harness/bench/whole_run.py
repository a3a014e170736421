"""The whole default experiment against the machine's limit: how close is a run to the passes it must make?

``python -m harness.bench`` runs ``experiment=bias_shift`` (or ``bench.whole_run.experiment``) once in-process,
counting the forward + backward passes its networks make (every outermost module call with gradients enabled: the
attributions; the model is trained and cached first if it is not), then times the same command as a user runs it,
``python -m harness experiment=bias_shift`` with the model cached, as a whole process (imports, data, checks,
attribution, report), and measures the limit — forward + backward images/s of the same network at the harness's
pass size — in the bench's process. The row's ``vs_limit`` is the command's wall time divided by the time its passes
take at the limit: 1 would be a run that does nothing but its passes, at full speed.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
from omegaconf import DictConfig


class PassCounter:
    """Counts the inputs of every outermost module call made with gradients enabled (a forward pass that a backward
    pass follows), and remembers the largest module so called (the network)."""

    def __init__(self) -> None:
        self.inputs, self.depth, self.network = 0, 0, None
        self._handles: list = []

    def __enter__(self) -> "PassCounter":
        hooks = nn.modules.module
        self._handles = [hooks.register_module_forward_pre_hook(self._enter),
                         hooks.register_module_forward_hook(self._leave)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()

    def _enter(self, module, args) -> None:
        if self.depth == 0 and torch.is_grad_enabled() and not module.training and args and \
                isinstance(args[0], torch.Tensor):  # training steps (a model not cached yet) are not counted
            self.inputs += len(args[0])
            if self.network is None or _size(module) > _size(self.network):
                self.network = module
        self.depth += 1

    def _leave(self, module, args, out) -> None:
        self.depth -= 1



def _size(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def whole_run_rows(bench_cfg: DictConfig, limit_fn) -> list[dict]:
    """One row: the whole experiment's wall time, its passes, and their time at the limit.

    Args:
        bench_cfg: The bench config (``whole_run.experiment``, ``whole_run.overrides``).
        limit_fn: ``limit_fn(network, sample, batch) -> images/s`` of forward + backward (the bench's limit).
    """
    from harness.attribution.batching import Batcher
    from harness.configs.compose import compose
    from harness.entry.run import run

    spec = bench_cfg.whole_run
    overrides = [f"experiment={spec.experiment}", *spec.overrides, f"device={bench_cfg.device}"]
    cfg = compose(overrides)
    with tempfile.TemporaryDirectory() as tmp:
        with PassCounter() as counter:  # trains and caches the model if it is not cached yet
            run(cfg, Path(tmp) / "counted")
        command = [sys.executable, "-m", "harness", *overrides, f"hydra.run.dir={Path(tmp) / 'timed'}"]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=tmp)
        wall = time.perf_counter() - start
    net = counter.network
    sample = next(net.parameters()).new_zeros(1, 3, cfg.data.image_size, cfg.data.image_size)
    batch = Batcher(cfg.attribution.engine.max_batch).fit(net, sample[0])
    limit = limit_fn(net, sample.expand(batch, -1, -1, -1).clone(), batch)
    at_limit = counter.inputs / limit
    return [{"workload": f"python -m harness experiment={spec.experiment} (model cached)", "batch": batch,
             "passes": counter.inputs, "limit_img_s": limit, "passes_at_limit_s": at_limit, "wall_s": wall,
             "vs_limit": wall / at_limit}]
