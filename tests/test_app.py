"""The Hydra app: every config composes, and the command line runs end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra.utils import instantiate

from harness.configs import CONFIG_DIR
from harness.run import build_methods
CONFIG_DIR = Path(CONFIG_DIR)
EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(compose_config, experiment):
    cfg = compose_config([f"experiment={experiment}"])
    assert cfg.experiment_name == experiment
    assert set(build_methods(cfg.attribution)) == set(cfg.attribution.include)
    assert instantiate(cfg.metrics).topk_fraction > 0
    assert instantiate(cfg.model.network) is not None


def test_bias_shift_runs_both_regimes_and_baseline_treatments(compose_config):
    cfg = compose_config(["experiment=bias_shift"])
    assert list(cfg.perturbation.compensated) == [False, True]
    assert list(cfg.attribution.baseline_follows_perturbation) == [True, False]
    assert set(cfg.attribution.include) == {"saliency", "ixg", "ig_black", "ig_white", "ig_random", "gradcam"}


def _app(tmp_path, *overrides, cwd=None):
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "-m", "harness", *overrides]
    return subprocess.run(cmd, cwd=cwd or tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_app_end_to_end_then_cached(tmp_path, tiny):
    run_dir = tmp_path / "run1"
    proc = _app(tmp_path, "experiment=bias_shift", *tiny, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ["scores.csv", "summary.csv", "summary.md", "summary.tex", "comparisons.csv", "run_info.json",
                 "examples.npz", "figures/grid.png", "figures/grid_uncompensated.png", "figures/grid_compensated.png",
                 "figures/stability_vs_magnitude.pdf", "figures/distribution.png", "figures/baselines.png",
                 ".hydra/config.yaml", "__main__.log"]:
        assert (run_dir / name).is_file(), name
    scores = pd.read_csv(run_dir / "scores.csv")
    # 3 images × (saliency, ixg, gradcam + 3 IG × 2 baseline treatments) × 1 magnitude × 2 regimes
    assert len(scores) == 3 * 9 * 2
    assert "| regime | method |" in proc.stdout and "Stability ranking" in proc.stdout
    ig = scores[scores.method.str.startswith("ig_")]
    assert (ig.n_steps == 4).all() and ig.completeness_error.notna().all()
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["model"]["trained_now"] is True and len(info["model"]["sha256"]) == 64
    assert "torch" in info["versions"] and info["seed"] == 0

    again = _app(tmp_path, "experiment=bias_shift", *tiny, f"hydra.run.dir={tmp_path / 'run2'}")
    assert again.returncode == 0, again.stderr[-3000:]
    info2 = json.loads((tmp_path / "run2" / "run_info.json").read_text())
    assert info2["model"]["trained_now"] is False and info2["model"]["sha256"] == info["model"]["sha256"]
    pd.testing.assert_frame_equal(scores, pd.read_csv(tmp_path / "run2" / "scores.csv"))


def test_app_runs_from_another_directory(tmp_path):
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    proc = _app(tmp_path, "--help", cwd=elsewhere)
    assert proc.returncode == 0
    for group in ["data", "model", "train", "perturbation", "attribution", "metrics", "report", "experiment"]:
        assert f"{group}:" in proc.stdout


@pytest.mark.parametrize("override, message", [
    ("attribution.include=[saliency,lrp]", "unknown method(s) ['lrp']"),
    ("model.encoding=zscore", "unknown encoding 'zscore'"),
    ("perturbation.magnitudes=[]", "perturbation.magnitudes is empty"),
    ("model.checkpoint=/nonexistent/model.pt", "checkpoint not found"),
    ("attribution.methods.gradcam.layer=conv99", "no layer 'conv99' for Grad-CAM; convolutional layers: 0, 2, 5"),
    ("attribution.methods.ig_black.baseline._target_=harness.attribution.baselines.nope",
     "valid baselines (harness.attribution.baselines): blurred, constant, gaussian, input_min"),
])
def test_user_errors_are_one_line(tmp_path, tiny, override, message):
    proc = _app(tmp_path, *tiny, override, f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()  # no empty results folder left behind


@pytest.mark.parametrize("overrides, message", [
    (["perturbation=gamma"], "unknown perturbation 'gamma'; valid choices: brightness_shift, channel_shift, "
                             "normalisation_change, pattern_shift"),
    (["experiment=bias_shift,nope", "-m"], "unknown experiment 'nope'; valid choices: baseline_sweep, bias_shift"),
    (["data=image_folder"], "Missing mandatory value: data.root"),
    (["data=image_folder", "data.root=/nonexistent"], "data folder not found: /nonexistent"),
])
def test_data_errors_are_one_line(tmp_path, overrides, message):
    proc = _app(tmp_path, *overrides, f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_multirun_is_collected_into_one_table(tmp_path, tiny):
    sweep = tmp_path / "sweep"
    overrides = [o for o in tiny if not o.startswith("perturbation.magnitudes")]
    proc = _app(tmp_path, "experiment=bias_shift", *overrides, "attribution.include=[saliency,ig_black]",
                "perturbation.magnitudes=[0.25],[0.5]", f"hydra.sweep.dir={sweep}", "-m")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [pd.read_csv(sweep / j / "scores.csv") for j in ("0", "1")]
    merged = pd.read_csv(sweep / "scores.csv")
    assert len(merged) == sum(len(j) for j in jobs)
    assert sorted(merged["cfg:perturbation.magnitudes"].unique()) == ["[0.25]", "[0.5]"]
    cols = list(jobs[0].columns)
    pd.testing.assert_frame_equal(merged[cols], pd.concat(jobs, ignore_index=True))
    assert (sweep / "summary.md").is_file() and (sweep / "figures" / "stability_vs_magnitude.png").is_file()
    # collecting again (by hand) reads the jobs, not its own merged table
    again = subprocess.run([sys.executable, "-m", "harness.collect", str(sweep)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(pd.read_csv(sweep / "scores.csv"), merged)


def test_killed_run_resumes_and_writes_the_same_bytes(tmp_path, tiny):
    import signal
    import time

    overrides = [o for o in tiny if not o.startswith(("attribution.n_images", "attribution.batch_size"))]
    overrides += ["experiment=bias_shift", "attribution.n_images=12", "attribution.batch_size=1"]
    assert _app(tmp_path, *overrides, f"hydra.run.dir={tmp_path / 'full'}").returncode == 0  # also caches the model
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    run = tmp_path / "resumed"
    proc = subprocess.Popen([sys.executable, "-m", "harness", *overrides, f"hydra.run.dir={run}"], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((run / "partial").glob("0000002/*.csv")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "scores.csv").exists()  # killed before the end: no (truncated) final table
    assert all(p.stat().st_size > 0 for p in (run / "partial").rglob("*.csv"))
    again = _app(tmp_path, *overrides, f"hydra.run.dir={run}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming:" in (run / "__main__.log").read_text()
    assert (run / "scores.csv").read_bytes() == (tmp_path / "full" / "scores.csv").read_bytes()
    assert not (run / "partial").exists()


def test_same_seed_gives_the_same_bytes(tmp_path, tiny):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        assert _app(tmp_path, "experiment=bias_shift", *tiny, f"hydra.run.dir={run}").returncode == 0
    assert (runs[0] / "scores.csv").read_bytes() == (runs[1] / "scores.csv").read_bytes()


def test_nan_input_scores_nan_with_reason():
    import torch

    from harness.attribution.methods import Saliency
    from harness.evaluate import Evaluator
    from harness.data.base import ImageSet
    from harness.metrics.scorer import MapScorer
    from harness.models.classifier import EncodedClassifier
    from harness.models.encoding import Encoding
    from harness.models.rps_cnn import build_rps_cnn
    from harness.perturbations.brightness_shift import BrightnessShift

    model = EncodedClassifier(build_rps_cnn(16, 0.25), Encoding.named("unit")).eval()
    x = torch.rand(3, 3, 16, 16)
    x[1, 0, 2, 2] = float("nan")
    data = ImageSet(x, torch.zeros(3, dtype=torch.long))
    ev = Evaluator({"saliency": Saliency()}, MapScorer(), [True], "sum_abs", 4, torch.device("cpu"))
    rows = pd.DataFrame(ev(model, data, BrightnessShift([0.5]).conditions(model.encoding)).rows)
    assert len(rows) == 6
    bad = rows[rows.image_id == 1]
    assert bad.ssim.isna().all() and bad.nan_reason.eq("non-finite input or logits").all()
    assert rows[rows.image_id != 1].ssim.notna().all()


def test_parallel_joblib_sweep_equals_sequential_sweep(tmp_path, tiny):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    overrides = [o for o in tiny if not o.startswith("perturbation.magnitudes")]
    overrides += ["experiment=bias_shift", "attribution.include=[saliency,ig_black]", "perturbation.magnitudes=[0.25],[0.5]"]
    seq = _app(tmp_path, *overrides, f"hydra.sweep.dir={tmp_path / 'seq'}", "-m")
    assert seq.returncode == 0, seq.stderr[-2000:]
    par = _app(tmp_path, *overrides, "hydra/launcher=local_parallel", f"hydra.sweep.dir={tmp_path / 'par'}", "-m")
    assert par.returncode == 0, par.stderr[-2000:]
    for name in ("scores.csv", "summary.csv"):
        assert (tmp_path / "seq" / name).read_bytes() == (tmp_path / "par" / name).read_bytes(), name
    # resubmitting the sweep skips the finished jobs
    again = _app(tmp_path, *overrides, f"hydra.sweep.dir={tmp_path / 'seq'}", "-m")
    assert again.returncode == 0 and "rebuilding its report only" in (tmp_path / "seq" / "0" / "__main__.log").read_text()
