"""``python -m harness.bench`` on a tiny setting: every table is written, and its fidelity columns hold."""
import os
import subprocess
import sys

import pandas as pd

TINY = ["settings=[{image_size: 32, width: 0.25, n_images: 4}]", "n_steps=4", "repeats=1", "naive_images=1",
        "metric_maps=4", "variants=[bf16]", "device=cpu"]


def _bench(tmp_path, *overrides):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "harness.bench", f"hydra.run.dir={tmp_path}", *overrides],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_bench_writes_every_table(tmp_path):
    proc = _bench(tmp_path, *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "bench.csv")
    assert set(table.method) == {"saliency", "ixg", "gradcam", "ig×3 baselines (4 steps)"}
    assert (table.maps_s > 0).all() and (table.limit_img_s > 0).all()
    assert table.speedup_vs_naive.notna().sum() == 1
    metrics = pd.read_csv(tmp_path / "bench_metrics.csv")
    assert set(metrics.metric) == {"ssim", "spearman", "kendall", "topk_intersection"}
    variants = pd.read_csv(tmp_path / "bench_variants.csv").set_index("variant")
    # float32 is the reference: its maps are its own, and exact compensation leaves them unchanged
    assert variants.loc["fp32", "fidelity"] == 1.0
    assert variants.loc["fp32", "invariance"] > 0.9999
    assert "bf16" in variants.index
    assert "peak memory" in (tmp_path / "bench.md").read_text()


def test_bench_unknown_variant_is_one_line(tmp_path):
    proc = _bench(tmp_path, *TINY[:-2], "variants=[int4]", "device=cpu")
    assert proc.returncode == 2
    assert "unknown bench variant(s) ['int4']; valid choices: bf16, fp16, tf32, compile" in proc.stderr
    assert "Traceback" not in proc.stderr
