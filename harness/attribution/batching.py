"""How many inputs one forward + backward pass may hold, and running a method in such passes.

A :class:`Batcher` fits its limit to the device once per network: on a GPU it measures the memory one
input needs in a small probe pass and fills a fraction of the free memory; on a CPU it uses a fixed
size (small batches are the fastest there, see ``experiments/throughput``). ``max_batch`` caps either.
When a pass runs out of GPU memory anyway, the limit is halved and the same inputs are tried again,
so a run slows down instead of crashing; nothing already computed is lost.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from harness.common.errors import UserError

log = logging.getLogger(__name__)

#: inputs per pass on a CPU when ``max_batch`` is not set (measured fastest on the RPS CNN)
CPU_BATCH = 32
#: inputs in the GPU probe pass that measures memory per input
PROBE_INPUTS = 8


@dataclass
class Batcher:
    """Splits work into passes of at most :attr:`limit` network inputs.

    Attributes:
        max_batch: Upper bound on inputs per pass (None: no bound beyond memory).
        memory_fraction: Share of the free GPU memory the fitted limit may fill.
        limit: Inputs per pass; None until :meth:`fit` (or the first :meth:`map`) sets it.
    """

    max_batch: int | None = None
    memory_fraction: float = 0.6
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.max_batch is not None and self.max_batch < 1:
            raise UserError(f"attribution.engine.max_batch must be >= 1 or null, got {self.max_batch}")
        if not 0 < self.memory_fraction <= 1:
            raise UserError(f"attribution.engine.memory_fraction must be in (0, 1], got {self.memory_fraction}")

    def fit(self, network: nn.Module, sample: torch.Tensor) -> int:
        """Set :attr:`limit` for ``network`` on inputs shaped like ``sample`` ``(C, H, W)`` (once)."""
        if self.limit is None:
            cap = self.max_batch or (1 << 20)
            self.limit = min(cap, _fit_cuda(network, sample, self.memory_fraction)) if sample.is_cuda \
                else min(cap, self.max_batch or CPU_BATCH)
            log.info("attribution passes hold up to %d inputs on %s", self.limit, sample.device)
        return self.limit

    def map(self, fn: Callable[..., torch.Tensor], *tensors: torch.Tensor, cost: int = 1) -> torch.Tensor:
        """``fn`` over consecutive slices of ``tensors`` (dim 0), concatenated.

        Args:
            fn: Called as ``fn(*slices, max_inputs)``; ``max_inputs`` is the current limit, for a method
                that splits its own work further (IG's steps).
            tensors: Same length along dim 0.
            cost: Network inputs per item (``n_steps`` for IG); a slice holds ``limit // cost`` items, at
                least one.
        """
        if self.limit is None:
            raise RuntimeError("Batcher.fit must be called before Batcher.map")
        n, out, i = len(tensors[0]), [], 0
        while i < n:
            k = max(1, self.limit // cost)
            try:
                out.append(fn(*(t[i:i + k] for t in tensors), self.limit))
            except torch.cuda.OutOfMemoryError:
                if self.limit <= 1:
                    raise
                self.limit //= 2
                torch.cuda.empty_cache()
                log.warning("out of GPU memory; continuing with %d inputs per pass", self.limit)
                continue
            i += k
        return torch.cat(out)


def _fit_cuda(network: nn.Module, sample: torch.Tensor, fraction: float) -> int:
    """Inputs per pass that fill ``fraction`` of the free GPU memory, from a probe forward + backward."""
    device = sample.device
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    x = sample.detach().unsqueeze(0).expand(PROBE_INPUTS, *sample.shape).clone().requires_grad_(True)
    torch.autograd.grad(network(x)[:, 0].sum(), x)
    per_input = max(1, (torch.cuda.max_memory_allocated(device) - before) // PROBE_INPUTS)
    del x
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(device)
    return max(1, int(free * fraction // per_input))
