"""``python -m harness.bench`` on a tiny setting, in-process: every table is written, and its fidelity columns hold."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.bench.suite import BENCH_CONFIG_DIR, bench
from harness.common.errors import UserError
from harness.configs.compose import compose

FAITHFULNESS = ("pixel_flipping", "region_perturbation", "selectivity", "irof", "faithfulness_correlation",
                "faithfulness_estimate", "monotonicity_correlation", "sensitivity_n")
TINY = ["settings=[{image_size: 32, width: 0.25, n_images: 4}]", "n_steps=4", "attack_steps=2", "repeats=1",
        "naive_images=1",
        "metric_maps=4", "faithfulness={correlation_runs: 4, monotonicity_samples: 1, monotonicity_groups: 8, "
        "estimate_groups: 8, pixel_flipping_steps: 8, region_steps: 4, region_patch: 16, sensitivity_n_fractions: [0.1]}",
        "variants=[bf16]", "device=cpu"]


def _cfg(overrides):
    return compose(overrides, BENCH_CONFIG_DIR, config_name="default")


def test_bench_writes_every_table(tmp_path):
    bench(_cfg([*TINY, "whole_run.enabled=false"]), tmp_path)
    table = pd.read_csv(tmp_path / "bench.csv")
    assert {"saliency", "ixg", "gradcam", "ig×3 baselines (4 steps)"} <= set(table.method)
    assert table.method.str.startswith("noise views").sum() == 1 and table.method.str.contains("attack step").sum() == 1
    assert table.method.str.startswith("meta-evaluation loop").sum() == 1
    assert table.method.str.startswith("ROAD").sum() == 1 and table.forward_limit_img_s.notna().sum() == 2 + 7 + len(
        FAITHFULNESS)
    for name in ("complexity", "effective_complexity", "completeness", "non_sensitivity (64 features of 4²)",
                 "prediction_consistency", "sufficiency", "rrs representation"):
        assert table.method.str.startswith(name).sum() == 1, name
    for name in FAITHFULNESS:  # the measures of Quantus / LATEC, each against the forward-only limit
        row = table[table.method.str.startswith(f"{name} (")].iloc[0]
        assert row.maps_s > 0 and 0 < row.vs_limit
    assert (table.maps_s > 0).all() and (table.limit_img_s > 0).all()
    assert table.speedup_vs_naive.notna().sum() == 1
    metrics = pd.read_csv(tmp_path / "bench_metrics.csv")
    assert set(metrics.metric) == {"ssim", "spearman", "kendall", "topk_intersection"}
    variants = pd.read_csv(tmp_path / "bench_variants.csv").set_index("variant")
    # float32 is the reference (its fidelity is 1 by construction, so it is not checked): exact compensation leaves
    # its maps unchanged; bf16's maps are compared with it, and differ from it, but not much
    assert variants.loc["fp32", "invariance"] > 0.9999
    assert 0.5 < variants.loc["bf16", "fidelity"] < 1.0
    assert "peak memory" in (tmp_path / "bench.md").read_text()
    assert (table.peak_mib > 0).all()  # every row's peak memory (resident set size on a CPU)


@pytest.mark.slow  # every row on a ResNet-18 (about a minute on a quiet 2-core CPU)
def test_bench_runs_a_torchvision_network(tmp_path):
    """The user's scale is a torchvision classifier (random weights, nothing downloaded); tiny here."""
    bench(_cfg([*TINY[1:], "settings=[{image_size: 32, network: resnet18, n_images: 2}]", "variants=[]",
                "whole_run.enabled=false"]), tmp_path)
    table = pd.read_csv(tmp_path / "bench.csv")
    assert set(table.network) == {"resnet18"} and table.method.str.startswith("ROAD").sum() == 1
    assert (table.maps_s > 0).all() and (table.peak_mib > 0).all()


def test_bench_unknown_network_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="network='nonet': not rps_cnn nor a torchvision classifier"):
        bench(_cfg([*TINY[1:], "settings=[{image_size: 32, network: nonet, n_images: 2}]"]), tmp_path)


def test_bench_unknown_variant_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"unknown bench variant\(s\) \['int4'\]; valid choices: bf16, fp16, tf32"):
        bench(_cfg([*TINY[:-2], "variants=[int4]", "device=cpu"]), tmp_path)


def test_bench_command_line(tmp_path):
    env = {**os.environ}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run([sys.executable, "-m", "harness.bench", f"hydra.run.dir={tmp_path}", *TINY[:-2],
                           "variants=[int4]", "device=cpu"], cwd=Path(tmp_path), env=env, capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_bench_times_the_whole_run_against_its_passes(tmp_path):
    run = ["data.n_train=60", "data.n_val=30", "data.n_test=30", "data.image_size=32", "train.epochs=1",
           "attribution.n_images=2", "attribution.n_steps=4", "model.network.width=0.25",
           "perturbation.magnitudes=[0.5]", "report.figures=false", f"cache_dir={tmp_path / 'cache'}"]
    quoted = ",".join(f"'{o}'" for o in run)
    bench(_cfg([*TINY, f"whole_run.overrides=[{quoted}]"]), tmp_path)
    whole = pd.read_csv(tmp_path / "bench_run.csv").iloc[0]
    assert whole.passes > 0 and whole.wall_s > 0 and whole.vs_limit > 0 and whole.limit_img_s > 0
