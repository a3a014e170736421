"""``python -m harness.bench``: how fast is the harness, against what the hardware allows?

For each model setting (``configs/bench/default.yaml``) it measures, on random weights:

- the **limit**: plain forward + backward (gradient w.r.t. the input) throughput, images/s, at the batch
  size IG uses;
- maps/s for every method as the harness computes them, and for IG the ratio of its gradient evaluations
  per second to the limit;
- the **naive loop**: Captum's IG called once per image and per baseline, as a user would write it;
- metric throughput (maps/s) of the batched torch metrics vs scikit-image / SciPy;
- peak memory.

The table is printed and written (``bench.csv``, ``bench.md``) into the Hydra run folder.
"""
from __future__ import annotations

import platform
import resource
import time
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients as CaptumIG
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.attribution.baselines import constant, uniform
from harness.attribution.methods import GradCAM, InputXGradient, IntegratedGradients, Saliency
from harness.metrics import similarity
from harness.metrics import torch_similarity as ts
from harness.models.classifier import use_channels_last
from harness.models.rps_cnn import build_rps_cnn
from harness.run import resolve_device

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs" / "bench")


def _best_time(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def _limit(net, x: torch.Tensor, batch: int, repeats: int, device) -> float:
    """Images/s of forward + backward to the input, in batches of ``batch``."""
    def step():
        for i in range(0, len(x), batch):
            xi = x[i:i + batch].detach().requires_grad_(True)
            torch.autograd.grad(net(xi)[:, 0].sum(), xi)
    return len(x) / _best_time(step, repeats, device)


def _setting(s: DictConfig, cfg: DictConfig, device: torch.device) -> list[dict]:
    torch.manual_seed(cfg.seed)
    net = build_rps_cnn(s.image_size, s.width).to(device).eval().requires_grad_(False)
    if device.type == "cpu":
        use_channels_last(net)
    x = torch.rand(s.n_images, 3, s.image_size, s.image_size, device=device)
    target = torch.zeros(s.n_images, dtype=torch.long, device=device)
    ibs = cfg.internal_batch_size or (s.n_images * cfg.n_steps if device.type == "cuda" else 32)
    limit = _limit(net, x.repeat(max(1, ibs // s.n_images), 1, 1, 1), ibs, cfg.repeats, device)
    base = {"image_size": s.image_size, "width": s.width, "batch": ibs, "limit_img_s": limit}
    ig = IntegratedGradients(lambda t: constant(t, 0.0), n_steps=cfg.n_steps, internal_batch_size=ibs)
    methods = {"saliency": Saliency(), "ixg": InputXGradient(), "gradcam": GradCAM(), "ig_black": ig}
    rows = []
    for name, m in methods.items():
        b = constant(x, 0.0) if m.needs_baseline else None
        t = _best_time(lambda: m.attribute(net, x, target, b), cfg.repeats, device)
        grads = cfg.n_steps if m.needs_baseline else 1
        rows.append({**base, "method": name, "maps_s": s.n_images / t, "vs_limit": s.n_images * grads / t / limit})
    naive = _naive_ig(net, x, target, cfg, device)
    rows[-1]["naive_maps_s"] = naive
    rows[-1]["speedup_vs_naive"] = rows[-1]["maps_s"] / naive
    return rows


def _naive_ig(net, x, target, cfg, device) -> float:
    """Maps/s of Captum IG called per image and per baseline (black, white, random)."""
    ig = CaptumIG(net)
    bases = [constant(x[:1], 0.0), constant(x[:1], 1.0), uniform(x[:1], seed=cfg.seed)]
    n = min(len(x), cfg.naive_images)

    def loop():
        for i in range(n):
            for b in bases:
                ig.attribute(x[i:i + 1], baselines=b, target=target[i:i + 1], n_steps=cfg.n_steps)
    return n * len(bases) / _best_time(loop, cfg.repeats, device)


def _metrics(cfg: DictConfig, device: torch.device) -> list[dict]:
    """Maps/s of each metric: batched torch on ``device`` vs scikit-image / SciPy one map at a time."""
    gen = torch.Generator().manual_seed(cfg.seed)
    rows = []
    for size in sorted({s.image_size for s in cfg.settings}):
        a = torch.rand(cfg.metric_maps, size, size, generator=gen)
        b = a + 0.1 * torch.rand(a.shape, generator=gen)
        na, nb = a.double().numpy(), b.double().numpy()
        ta, tb = a.to(device), b.to(device)
        for name in ("ssim", "spearman", "kendall", "topk_intersection"):
            t_torch = _best_time(lambda: getattr(ts, name)(ta, tb), 1, device)
            t_ref = _best_time(lambda: [getattr(similarity, name)(x, y) for x, y in zip(na, nb)], 1, device)
            rows.append({"image_size": size, "metric": name, "torch_maps_s": len(a) / t_torch,
                         "reference_maps_s": len(a) / t_ref, "torch_speedup": t_ref / t_torch})
    return rows


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="default")
def main(cfg: DictConfig) -> None:
    device = resolve_device(cfg.device)
    rows = [r for s in cfg.settings for r in _setting(s, cfg, device)]
    table = pd.DataFrame(rows)
    metrics = pd.DataFrame(_metrics(cfg, device))
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    machine = torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.processor() or 'CPU'}, " \
        f"{torch.get_num_threads()} threads"
    out = Path(HydraConfig.get().runtime.output_dir)
    table.to_csv(out / "bench.csv", index=False)
    metrics.to_csv(out / "bench_metrics.csv", index=False)
    text = (f"device: {device} ({machine}); torch {torch.__version__}; peak memory {peak:.0f} MiB\n\n"
            + table.to_string(index=False, float_format=lambda v: f"{v:.3g}") + "\n\n"
            + metrics.to_string(index=False, float_format=lambda v: f"{v:.3g}") + "\n")
    (out / "bench.md").write_text(text)
    print(text)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
