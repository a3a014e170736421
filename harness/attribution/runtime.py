"""Maps are computed in true float32 on every device.

PyTorch lets GPU convolutions use TF32 (a 10-bit mantissa) by default. That is enough for a prediction but
not for this harness: the compensated conditions test whether a map is *exactly* unchanged, and reduced
precision breaks exactly that. ``python -m harness.bench`` measures what reduced precision (bf16 autocast,
TF32) and ``torch.compile`` would gain and what they cost in map fidelity
(``experiments/throughput/README.md``); none of them is used by experiments.
"""
from __future__ import annotations

import torch


def use_exact_float32() -> None:
    """Switch TF32 off for GPU convolutions and matrix products (no effect on a CPU)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
