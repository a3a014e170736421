"""Peak memory of one piece of the benchmark (:mod:`harness.bench`): a row of its table.

On a GPU it is ``torch.cuda.max_memory_allocated`` since the piece began (the tensors' memory, what a batch size
is fitted to). On a CPU it is the process's peak resident set size while the piece ran, read from
``/proc/self/statm`` every few milliseconds by a background thread (Linux; elsewhere the process's lifetime peak,
``resource.getrusage``): the whole process, the interpreter and libraries included, so the rows compare by their
differences.
"""
from __future__ import annotations

import os
import resource
import threading
from collections.abc import Callable

import torch

#: seconds between two readings of the resident set size on a CPU
INTERVAL_S = 0.01


def _resident_mib() -> float | None:
    """The process's resident set size in MiB, or None where ``/proc`` is not there."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """``with PeakMemory(device) as peak: ...`` then ``peak.mib``: the peak memory of the block, in MiB."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.mib = device, float("nan")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif (now := _resident_mib()) is not None:
            self.mib = now
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self.mib = max(self.mib, _resident_mib() or 0.0)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.mib = max(self.mib, _resident_mib() or 0.0)
        else:
            self.mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_peak(device: torch.device, rows: Callable[[], list[dict]]) -> list[dict]:
    """``rows()``, each row with the peak memory of the call as ``peak_mib``."""
    with PeakMemory(device) as peak:
        out = rows()
    return [{**row, "peak_mib": peak.mib} for row in out]
