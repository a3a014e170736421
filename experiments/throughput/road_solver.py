"""ROAD at 224 px: the harness's imputation solvers against the per-image reference, in one run.

Times (the best of two calls, one for the slow solvers), per image, ROAD's 9 removal fractions (10–90%, noise 0) on a torchvision ResNet (random weights: the speed
does not depend on them) with

- **forward only**: the 9 forward passes of the imputed images, ROAD's limit;
- **harness (multigrid)**: :func:`harness.metrics.faithfulness.road_curve` as the harness runs it (multigrid-
  preconditioned conjugate gradients, :mod:`harness.metrics.multigrid`);
- **harness (Jacobi CG)**: the same with the previous solver (Jacobi-preconditioned conjugate gradients, copied
  below from the harness before the multigrid), whose iterations grow with the width of the largest hole;
- **reference**: ``pytorch_grad_cam.metrics.road.NoisyLinearImputer(noise=0)`` (the authors' code, SciPy's
  ``spsolve``) once per image and fraction, in the reference environment (a subprocess of this script), plus the
  same forward passes.

The maps are smoothed noise (a 31-pixel box filter of uniform noise), so that the removed pixels form large
connected regions, as a saliency map's do; the filter's zero padding keeps them off the image border, unless
``--edges`` (then they reach it as often as anywhere else). Usage (from the repository root)::

    python experiments/throughput/road_solver.py --images 2 --threads 2 --reference-python /work/venv-ref/bin/python

``--bench-rows`` instead runs the bench's ROAD row (:func:`harness.bench.conditions.faithfulness_rows`: the RPS CNN
with random weights at 64 px, width 0.5, 32 images and at 150 px, width 1, 8 images, and a ResNet-50 at 224 px, 4
images; 6 fractions, noise 0.01, gradient maps), against the forward-only limit measured in the same run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def jacobi_cg(x: torch.Tensor, removed: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
    """The harness's previous solver: Jacobi-preconditioned CG on planes ``(N, H, W)`` (float64 result)."""
    from harness.metrics.imputation import neighbour_sum

    def dot(a, b):
        return (a * b).sum((-2, -1))

    h, w = x.shape[-2:]
    r_mask = removed.to(torch.float64)
    k_mask = 1.0 - r_mask
    x64 = x.to(torch.float64)
    diag = neighbour_sum(torch.ones_like(x64[:1])).clamp_min(1e-12)
    apply = lambda u: r_mask * (diag * u - neighbour_sum(u))  # noqa: E731
    rhs = r_mask * neighbour_sum(k_mask * x64)
    u = r_mask * (dot(k_mask, x64) / k_mask.sum((-2, -1)).clamp_min(1))[:, None, None]
    res = rhs - apply(u)
    p = z = res / diag
    rz = dot(res, z)
    limit = rtol * dot(rhs, rhs).sqrt().clamp_min(1e-300)
    for i in range(10 * (h + w) + 101):
        if i % 8 == 0 and bool((dot(res, res).sqrt() <= limit).all()):
            break
        ap = apply(p)
        pap = dot(p, ap)
        alpha = torch.where(pap > 0, rz / pap.clamp_min(1e-300), torch.zeros_like(pap))
        u, res = u + alpha[:, None, None] * p, res - alpha[:, None, None] * ap
        z = res / diag
        rz_new = dot(res, z)
        beta = torch.where(rz > 0, rz_new / rz.clamp_min(1e-300), torch.zeros_like(rz))
        p, rz = z + beta[:, None, None] * p, rz_new
    return k_mask * x64 + u


def reference_worker(path: str) -> None:
    """In the reference environment: impute every (image, fraction) of ``path`` one at a time; write the results
    and the seconds spent back into ``path``."""
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer

    data = dict(np.load(path))
    imputer = NoisyLinearImputer(noise=0)
    start = time.perf_counter()
    out = [imputer(torch.from_numpy(img), torch.from_numpy((~rem).astype(np.float32))).numpy()
           for img, rem in zip(data["images"], data["removed"])]  # the reference's mask is 1 where kept
    data["reference_seconds"] = np.array(time.perf_counter() - start)
    data["reference"] = np.stack(out)
    np.savez(path, **data)


def bench_rows(repeats: int = 2) -> None:
    """The bench's ROAD and deletion rows (:func:`harness.bench.conditions.faithfulness_rows`: gradient maps, 6
    fractions, noise 0.01) at its two default settings and on a torchvision ResNet-50 at 224 px."""
    import functools

    import torchvision

    from harness.attribution.batching import Batcher
    from harness.bench.conditions import faithfulness_rows
    from harness.bench.suite import _best_time
    from harness.models.classifier import use_channels_last
    from harness.models.rps_cnn import build_rps_cnn

    timer = functools.partial(_best_time, device=torch.device("cpu"))
    print("| setting | ROAD maps/s | ROAD vs forward-only limit | deletion vs limit | forward-only limit (img/s) |\n"
          "|---|---|---|---|---|")
    for size, network, n in ((64, 0.5, 32), (150, 1.0, 8), (224, "resnet50", 4)):
        torch.manual_seed(0)
        if isinstance(network, str):
            net, name = getattr(torchvision.models, network)(weights=None), f"{size} px, {network}, {n} images"
        else:
            net, name = build_rps_cnn(size, network), f"{size} px, RPS CNN width {network}, {n} images"
        net = net.eval().requires_grad_(False)
        use_channels_last(net)
        x = torch.rand(n, 3, size, size)
        target = torch.zeros(n, dtype=torch.long)
        base = {"batch": Batcher(None).fit(net, x[0])}
        road, deletion = faithfulness_rows(net, x, target, base, repeats, timer)[:2]
        print(f"| {name} | {road['maps_s']:.2f} | {road['vs_limit']:.2f} | {deletion['vs_limit']:.2f} | "
              f"{road['forward_limit_img_s']:.0f} |", flush=True)


def _timed(fn, repeats: int = 1):
    """``fn()`` and its best time over ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-python", default=None, help="python of an environment with grad-cam")
    parser.add_argument("--bench-rows", action="store_true", help="the bench's ROAD rows instead")
    parser.add_argument("--edges", action="store_true",
                        help="smooth the maps' noise without zero padding, so that holes reach the image border")
    parser.add_argument("--reference-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_worker:
        return reference_worker(args.reference_worker)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    torch.set_num_threads(args.threads)
    if args.bench_rows:
        return bench_rows()
    import torchvision

    from harness.metrics.faithfulness import _first_removed, removal_order, road_curve, target_probability
    from harness.metrics.imputation import solve_imputation

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(weights=None).eval()
    b, s = args.images, args.size
    g = torch.Generator().manual_seed(1)
    x = torch.rand(b, 3, s, s, generator=g)
    maps = F.avg_pool2d(torch.rand(b, 1, s, s, generator=g), 31, 1, 15, count_include_pad=not args.edges)[:, 0]
    seeds = list(range(b))
    with torch.no_grad():
        target = model(x).argmax(1)
    removed = _first_removed(removal_order(maps, seeds), FRACTIONS, (s, s)).flatten(0, 1)  # (F·B, H, W)
    xs, ts = x.repeat(len(FRACTIONS), 1, 1, 1), target.repeat(len(FRACTIONS))
    target_probability(model, xs[:2], ts[:2])  # warm-up
    _, t_forward = _timed(lambda: target_probability(model, xs, ts), 2)
    new, t_new = _timed(lambda: road_curve(model, x, target, maps, seeds=seeds, fractions=FRACTIONS, noise=0), 2)
    imputed_new, t_new_solve = _timed(lambda: solve_imputation(xs, removed).float(), 2)
    old_images, t_old_solve = _timed(lambda: jacobi_cg(xs.flatten(0, 1), removed.repeat_interleave(3, 0))
                                     .view_as(xs).float())
    old = target_probability(model, old_images, ts).view(len(FRACTIONS), b).T
    rows = [("forward only (9 passes)", t_forward, None, None)]
    rows += [("harness, multigrid CG", t_new, 0.0, 0.0), ("harness, Jacobi CG (previous)", t_old_solve + t_forward,
             (old_images - imputed_new).abs().max().item(), (old - new).abs().max().item())]
    if args.reference_python:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "road.npz")
            np.savez(path, images=xs.numpy(), removed=removed.numpy())
            subprocess.run([args.reference_python, __file__, "--reference-worker", path], check=True)
            data = np.load(path)
            ref_images = torch.from_numpy(data["reference"])
            ref = target_probability(model, ref_images, ts).view(len(FRACTIONS), b).T
            rows.append(("reference (grad-cam, per image)", float(data["reference_seconds"]) + t_forward,
                         (ref_images - imputed_new).abs().max().item(), (ref - new).abs().max().item()))
    print(f"{args.model}, {s}×{s}, {b} images × {len(FRACTIONS)} fractions, {args.threads} threads; "
          f"multigrid imputation alone {t_new_solve / b:.3f} s/image, Jacobi CG alone {t_old_solve / b:.3f} s/image\n")
    print("| ROAD | s/image | harness (multigrid) is × faster | vs forward-only limit | max Δ image vs multigrid "
          "| max Δ curve vs multigrid |\n|---|---|---|---|---|---|")
    for name, sec, d_img, d_curve in rows:
        print(f"| {name} | {sec / b:.3f} | {sec / t_new:.1f} | {t_forward / sec:.2f} | "
              f"{'' if d_img is None else f'{d_img:.1e}'} | {'' if d_curve is None else f'{d_curve:.1e}'} |")


if __name__ == "__main__":
    main()
