"""``python -m harness.bench``: how fast is the harness, against what the hardware allows?

For each model setting (``harness/configs/bench/default.yaml``: the RPS CNN at a width, or a torchvision classifier
such as ``resnet50`` at 224 px) it measures, on random weights:

- the **limit**: plain forward + backward (gradient w.r.t. the input) throughput, images/s, at the pass
  size the harness uses on the device;
- maps/s for every method as the harness's engine computes them (IG with three baselines stacked), and the
  ratio of its gradient evaluations per second to the limit;
- the noise-sensitivity views (saliency and SmoothGrad, six conditions stacked) through the engine and through the
  whole loop (scoring included), the meta-evaluation loop (model and input copies, the noise family alone and under
  every copy) and the explanation attack's steps per second;
- ROAD and deletion maps/s against the **forward-only limit** (the faithfulness measures make forward passes only),
  those of ``faithfulness_measures`` (Quantus / LATEC's) through their registry records, and the complexity,
  axiomatic and consistency measures and RRS's representation (map-only ones against the forward + backward limit);
- the **naive loop**: Captum's IG called once per image and per baseline, as a user would write it;
- metric throughput (maps/s) of the batched torch metrics vs scikit-image / SciPy;
- **variants**: speed and map fidelity of bf16 autocast, TF32 (GPU) and ``torch.compile`` against float32;
- the **whole run**: ``python -m harness experiment=bias_shift`` with its model cached, timed as a process, against
  the time its forward + backward passes take at the limit (:mod:`harness.bench.whole_run`);
- peak memory: of the whole benchmark, and of each row (``peak_mib``, :mod:`harness.bench.memory`);
- **side by side** (``references.enabled``): the same work given to Quantus 0.6, Captum and pytorch-grad-cam, with
  seconds per image of each and the largest difference of the numbers (:mod:`harness.bench.references`,
  ``bench_references.csv``; the reference packages are the optional ``bench`` extra).

The table is printed and written (``bench.csv``, ``bench.md``) into the Hydra run folder.
"""
from __future__ import annotations

import contextlib
import functools
import platform
import resource
import sys
import time
from pathlib import Path

import hydra
import pandas as pd
import torch
from captum.attr import IntegratedGradients as CaptumIG
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.attribution.baselines import constant, uniform
from harness.attribution.batching import Batcher
from harness.attribution.engine import View, attribute_views
from harness.attribution.gradcam import GradCAM
from harness.attribution.methods import InputXGradient, IntegratedGradients, Saliency
from harness.attribution.runtime import use_exact_float32
from harness.bench.conditions import (attack_rows, faithfulness_rows, measure_rows, meta_evaluation_rows,
                                     sensitivity_rows)
from harness.bench.references import reference_rows
from harness.bench.whole_run import whole_run_rows
from harness.bench.memory import with_peak
from harness.configs import CONFIG_DIR
from harness.common.errors import UserError, exit_code_of
from harness.metrics import similarity
from harness.metrics import torch_similarity as ts
from harness.models.classifier import use_channels_last
from harness.models.rps_cnn import build_rps_cnn
from harness.perturbations.affine import AffineMap
from harness.perturbations.compensate import compensate
from harness.entry.run import resolve_device

BENCH_CONFIG_DIR = str(Path(CONFIG_DIR) / "bench")


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


def _fill(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``x`` repeated to at least one full pass of ``batch`` inputs."""
    return x.repeat(-(-batch // len(x)), 1, 1, 1)[:max(batch, len(x))]


def _limit(net, x: torch.Tensor, batch: int, repeats: int, device) -> float:
    """Images/s of forward + backward to the input, in batches of ``batch``."""
    def step():
        for i in range(0, len(x), batch):
            xi = x[i:i + batch].detach().requires_grad_(True)
            torch.autograd.grad(net(xi)[:, 0].sum(), xi)
    return len(x) / _best_time(step, repeats, device)


def _grad_maps(net, x: torch.Tensor, batch: int) -> torch.Tensor:
    """|∂f_0/∂x| summed over channels, ``(N, H, W)``, in batches of ``batch``."""
    out = []
    for i in range(0, len(x), batch):
        xi = x[i:i + batch].detach().requires_grad_(True)
        out.append(torch.autograd.grad(net(xi)[:, 0].sum(), xi)[0].abs().sum(1).float())
    return torch.cat(out)


def _network(s: DictConfig) -> torch.nn.Module:
    """The setting's network, random weights: the RPS CNN at ``width`` (``network: rps_cnn``, the default) or a
    torchvision classifier by name (``network: resnet50``; nothing is downloaded)."""
    name = s.get("network") or "rps_cnn"
    if name == "rps_cnn":
        return build_rps_cnn(s.image_size, s.width)
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise UserError(f"bench setting network={name!r}: not rps_cnn nor a torchvision classifier (e.g. resnet50)")
    return torchvision.models.get_model(name, weights=None)


def _setting(s: DictConfig, cfg: DictConfig, device: torch.device) -> tuple[list[dict], list[dict], list[dict]]:
    torch.manual_seed(cfg.seed)
    net = _network(s).to(device).eval().requires_grad_(False)
    if device.type == "cpu":
        use_channels_last(net)
    x = torch.rand(s.n_images, 3, s.image_size, s.image_size, device=device)
    target = torch.zeros(s.n_images, dtype=torch.long, device=device)
    batcher = Batcher(cfg.max_batch)
    batch = batcher.fit(net, x[0])
    # the limit at the harness's pass size (as many copies of the images as one pass holds)
    limit = _limit(net, _fill(x, batch), batch, cfg.repeats, device)
    base = {"network": s.get("network") or "rps_cnn", "image_size": s.image_size, "width": s.get("width"),
            "n_images": s.n_images, "batch": batch, "limit_img_s": limit}
    measured = functools.partial(with_peak, device)
    rows = []
    seeds = torch.zeros(len(x), 2, dtype=torch.long, device=device)
    for name, m in {"saliency": Saliency(), "ixg": InputXGradient(), "gradcam": GradCAM()}.items():
        view = View("clean", x, target, seeds)
        rows += measured(lambda: _method_row(name, m, net, view, batcher, base, cfg.repeats, device))
    rows += measured(lambda: _ig_row(net, x, target, seeds, batcher, base, cfg, device))
    timer = functools.partial(_best_time, device=device)
    rows += measured(lambda: sensitivity_rows(net, x, target, batcher, limit, base, cfg.repeats,
                                              lambda fn, r: timer(fn, r)))
    rows += measured(lambda: meta_evaluation_rows(net, x, target, batcher, limit, base))
    rows += measured(lambda: attack_rows(net, x, target, limit, base, cfg.attack_steps))
    rows += measured(lambda: faithfulness_rows(net, x, target, base, cfg.repeats, lambda fn, r: timer(fn, r),
                                               list(cfg.get("faithfulness_measures") or []),
                                               dict(cfg.get("faithfulness") or {})))
    rows += measured(lambda: measure_rows(net, x, target, base, cfg.repeats, lambda fn, r: timer(fn, r)))
    refs = cfg.get("references") or {}
    side_by_side = []
    if refs.get("enabled", False):
        n = min(len(x), int(refs.get("images", 4)))
        cpu_timer = functools.partial(_best_time, device=torch.device("cpu"))
        side_by_side = reference_rows(net, x[:n], target[:n], {k: base[k] for k in ("network", "image_size")},
                                      lambda fn, r: cpu_timer(fn, r), 1, refs.get("measures"))
    return rows, _variants(net, x, batch, limit, base, cfg, device), side_by_side


def _method_row(name, method, net, view, batcher, base, repeats, device) -> list[dict]:
    t = _best_time(lambda: attribute_views({name: method}, net, [view], reduction="sum_abs", batcher=batcher),
                   repeats, device)
    n = len(view.z)
    return [{**base, "method": name, "maps_s": n / t, "vs_limit": n / t / base["limit_img_s"]}]


def _ig_row(net, x, target, seeds, batcher, base, cfg, device) -> list[dict]:
    """IG with three baselines, stacked into one computation as experiments run it, and the naive loop."""
    ig = {f"ig_{b}": IntegratedGradients(None, n_steps=cfg.n_steps) for b in ("black", "white", "random")}
    bases = {"ig_black": constant(x, 0.0), "ig_white": constant(x, 1.0), "ig_random": uniform(x, seed=cfg.seed)}
    view = View("clean", x, target, seeds, {k: [(("carried",), b)] for k, b in bases.items()})
    t = _best_time(lambda: attribute_views(ig, net, [view], reduction="sum_abs", batcher=batcher), cfg.repeats,
                   device)
    maps_s = 3 * len(x) / t
    naive = _naive_ig(net, x, target, cfg, device)
    return [{**base, "method": f"ig×3 baselines ({cfg.n_steps} steps)", "maps_s": maps_s,
             "vs_limit": maps_s * cfg.n_steps / base["limit_img_s"], "naive_maps_s": naive,
             "speedup_vs_naive": maps_s / naive}]


def _naive_ig(net, x, target, cfg, device) -> float:
    """Maps/s of Captum IG called per image and per baseline (black, white, random), Captum's defaults
    otherwise (all steps of one image in one pass)."""
    ig = CaptumIG(net)
    bases = [constant(x[:1], 0.0), constant(x[:1], 1.0), uniform(x[:1], seed=cfg.seed)]
    n = min(len(x), cfg.naive_images)

    def loop():
        for i in range(n):
            for b in bases:
                ig.attribute(x[i:i + 1], baselines=b, target=target[i:i + 1], n_steps=cfg.n_steps)
    return n * len(bases) / _best_time(loop, cfg.repeats, device)


def _variants(net, x, batch, limit, base, cfg, device) -> list[dict]:
    """Speed and fidelity of reduced precision and ``torch.compile`` against the float32 reference.

    fidelity: mean Spearman between the variant's and the fp32 gradient maps of the same images;
    invariance: mean Spearman between the variant's gradient maps of the clean input (original network)
    and of the input shifted by +0.5 (exactly compensated network), which is 1 in exact arithmetic.
    """
    amap = AffineMap.translation(torch.full((3,), 0.5, device=device))
    comp = compensate(net, amap, tuple(x.shape[1:])).eval().requires_grad_(False)
    ref = _grad_maps(net, x, batch)
    xs = _fill(x, batch)
    rows = []
    for name in ["fp32", *cfg.variants]:
        if name in ("tf32", "fp16") and device.type != "cuda":
            continue
        use_exact_float32()
        ctx, model, cmodel, t0 = contextlib.nullcontext, net, comp, time.perf_counter()
        if name in ("bf16", "fp16"):
            dtype = torch.bfloat16 if name == "bf16" else torch.float16
            ctx = functools.partial(torch.autocast, device.type, dtype=dtype)
        elif name == "tf32":
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        elif name == "compile":
            model, cmodel = torch.compile(net, dynamic=False), torch.compile(comp, dynamic=False)
        with ctx():
            maps = _grad_maps(model, x, batch)  # also compiles
            setup = time.perf_counter() - t0
            speed = _limit(model, xs, batch, cfg.repeats, device)
            shifted = _grad_maps(cmodel, amap(x), batch)
        rows.append({**{k: base[k] for k in ("image_size", "width", "batch")}, "variant": name,
                     "img_s": speed, "speedup": speed / limit,
                     "fidelity": ts.spearman(maps, ref).mean().item(),
                     "invariance": ts.spearman(maps, shifted).mean().item(), "setup_s": setup})
    use_exact_float32()
    return rows


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


#: speed settings the benchmark can compare with float32
VARIANTS = ("bf16", "fp16", "tf32", "compile")


@hydra.main(version_base="1.3", config_path=BENCH_CONFIG_DIR, config_name="default")
def main(cfg: DictConfig) -> None:
    code = exit_code_of(lambda: bench(cfg, HydraConfig.get().runtime.output_dir))
    if code:
        sys.exit(code)


def bench(cfg: DictConfig, out: str | Path) -> str:
    """Measure every setting of ``cfg``; write the tables into ``out`` and return the text table."""
    unknown = sorted(set(cfg.variants) - set(VARIANTS))
    if unknown:
        raise UserError(f"unknown bench variant(s) {unknown}; valid choices: {', '.join(VARIANTS)}")
    device = resolve_device(cfg.device)
    use_exact_float32()
    parts = [_setting(s, cfg, device) for s in cfg.settings]
    table = pd.DataFrame([r for rows, _, _ in parts for r in rows])
    variants = pd.DataFrame([r for _, rows, _ in parts for r in rows])
    references = pd.DataFrame([r for _, _, rows in parts for r in rows])
    metrics = pd.DataFrame(_metrics(cfg, device))
    whole = pd.DataFrame()
    if cfg.whole_run.enabled:
        limit = lambda net, x, batch: _limit(net, x, batch, cfg.repeats, device)  # noqa: E731
        whole = pd.DataFrame(whole_run_rows(cfg, limit))
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    machine = torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.processor() or 'CPU'}, " \
        f"{torch.get_num_threads()} threads"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "bench.csv", index=False)
    metrics.to_csv(out / "bench_metrics.csv", index=False)
    variants.to_csv(out / "bench_variants.csv", index=False)
    whole.to_csv(out / "bench_run.csv", index=False)
    references.to_csv(out / "bench_references.csv", index=False)
    fmt = dict(index=False, float_format=lambda v: f"{v:.3g}")
    text = (f"device: {device} ({machine}); torch {torch.__version__}; peak memory {peak:.0f} MiB\n\n"
            + table.to_string(**fmt) + "\n\n" + metrics.to_string(**fmt) + "\n\n"
            + variants.to_string(**{**fmt, "float_format": lambda v: f"{v:.4g}"}) + "\n"
            + ("\n" + whole.to_string(**fmt) + "\n" if len(whole) else "")
            + ("\n" + references.to_string(**fmt) + "\n" if len(references) else ""))
    (out / "bench.md").write_text(text)
    print(text)
    return text

