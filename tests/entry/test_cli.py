"""The command line itself: exit codes, one-line messages, --help, multirun. Everything else runs in-process."""
import os
import subprocess
import sys

import pandas as pd
import pytest


def _app(tmp_path, *overrides, cwd=None):
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "-m", "harness", *overrides]
    return subprocess.run(cmd, cwd=cwd or tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_help_from_another_directory(tmp_path):
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    proc = _app(tmp_path, "--help", cwd=elsewhere)
    assert proc.returncode == 0
    for group in ["data", "model", "train", "perturbation", "attribution", "metrics", "report", "experiment"]:
        assert f"{group}:" in proc.stdout


@pytest.mark.parametrize("overrides, message", [
    (["attribution.include=[saliency,lrp]"], "unknown method(s) ['lrp'] in attribution.include"),
    (["perturbation=gamma"], "unknown perturbation 'gamma'; valid choices: attack, brightness_shift, channel_shift, "
                             "corruption, data_randomisation, geometric, meta_evaluation, model_randomisation, "
                             "noise, normalisation_change, pattern_shift, random_logit, sanity_checks"),
    (["experiment=bias_shift,nope", "-m"], "unknown experiment 'nope'; valid choices: attack, baseline_sweep, "
                                           "bias_shift"),
    (["data=image_folder"], "Missing mandatory value: data.root"),
])
def test_mistakes_are_one_line_with_exit_2_and_leave_no_folder(tmp_path, overrides, message):
    proc = _app(tmp_path, *overrides, f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # the in-process merge of a sweep's jobs is in the fast set (tests/test_sharding.py)
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
    again = subprocess.run([sys.executable, "-m", "harness.collect_sweep", str(sweep)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(pd.read_csv(sweep / "scores.csv"), merged)


@pytest.mark.slow
def test_parallel_joblib_sweep_equals_sequential_sweep(tmp_path, tiny):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    overrides = [o for o in tiny if not o.startswith("perturbation.magnitudes")]
    overrides += ["experiment=bias_shift", "attribution.include=[saliency,ig_black]",
                  "perturbation.magnitudes=[0.25],[0.5]"]
    seq = _app(tmp_path, *overrides, f"hydra.sweep.dir={tmp_path / 'seq'}", "-m")
    assert seq.returncode == 0, seq.stderr[-2000:]
    par = _app(tmp_path, *overrides, "hydra/launcher=local_parallel", f"hydra.sweep.dir={tmp_path / 'par'}", "-m")
    assert par.returncode == 0, par.stderr[-2000:]
    for name in ("scores.csv", "summary.csv"):
        assert (tmp_path / "seq" / name).read_bytes() == (tmp_path / "par" / name).read_bytes(), name
    # resubmitting the sweep skips the finished jobs
    again = _app(tmp_path, *overrides, f"hydra.sweep.dir={tmp_path / 'seq'}", "-m")
    log = (tmp_path / "seq" / "0" / "__main__.log").read_text()
    assert again.returncode == 0 and "rebuilding its report only" in log


@pytest.mark.slow
def test_sharded_sweep_trains_once_merges_into_the_unsharded_run_and_reruns_a_failed_shard_alone(tmp_path, tiny):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    overrides = [o for o in tiny if not o.startswith("attribution.batch_size")]
    overrides += ["attribution.batch_size=1", "attribution.include=[saliency,ig_random]"]
    sweep = tmp_path / "sweep"
    # three jobs started together on a fresh cache: one trains, the others wait and load its checkpoint
    proc = _app(tmp_path, *overrides, "attribution.shards=3", "attribution.shard=range(0,3)",
                "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=3", f"hydra.sweep.dir={sweep}", "-m")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(sweep.glob("shard_*-of-3_*"))
    logs = [(job / "__main__.log").read_text() for job in jobs]
    assert len(jobs) == 3 and sum("trained and cached" in log for log in logs) == 1, logs
    assert sum("loaded cached checkpoint" in log for log in logs) == 2
    whole = _app(tmp_path, *overrides, f"hydra.run.dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr[-3000:]
    keys = ["image_id", "sample", "method", "baseline_treatment", "magnitude", "regime"]
    merged, alone = pd.read_csv(sweep / "scores.csv"), pd.read_csv(tmp_path / "whole" / "scores.csv")
    assert not [c for c in merged.columns if c.startswith("cfg:attribution.shard")]
    pd.testing.assert_frame_equal(merged[alone.columns].sort_values(keys).reset_index(drop=True),
                                  alone.sort_values(keys).reset_index(drop=True), check_exact=True)
    for name in ("summary.csv", "comparisons.csv"):
        assert (sweep / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    # shard 1 failed (killed before its final files): rerun alone into the same sweep folder, it resumes in its own
    # folder and the sweep merges again
    failed = next(sweep.glob("shard_1-of-3_*"))
    (failed / "scores.csv").unlink()
    (failed / "run_info.json").unlink()
    again = _app(tmp_path, *overrides, "attribution.shards=3", "attribution.shard=1", f"hydra.sweep.dir={sweep}", "-m")
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(sweep.glob("shard_*-of-3_*")) == jobs and (failed / "scores.csv").is_file()
    assert (sweep / "summary.csv").read_bytes() == (tmp_path / "whole" / "summary.csv").read_bytes()


@pytest.mark.slow
def test_the_readme_s_sharding_example_runs_and_merges_into_the_unsharded_run(tmp_path, tiny, readme_shard_command):
    """The README's command (3 shards of the default 16 images, one batch of 16), on tiny data."""
    data = [o for o in tiny if not o.startswith(("attribution.n_images", "attribution.batch_size"))]
    data += ["attribution.include=[saliency]"]  # the default images and batch; one method, for time
    sweep = tmp_path / "sweep"
    args = [a for a in readme_shard_command if a != "-m"]  # the tiny data's overrides go before the flag
    proc = _app(tmp_path, *args, *data, f"hydra.sweep.dir={sweep}", "-m")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(sweep.glob("shard_*-of-3_*"))) == 3
    whole = _app(tmp_path, "experiment=bias_shift", *data, f"hydra.run.dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr[-3000:]
    keys = ["image_id", "sample", "method", "baseline_treatment", "magnitude", "regime"]
    merged, alone = pd.read_csv(sweep / "scores.csv"), pd.read_csv(tmp_path / "whole" / "scores.csv")
    assert alone["image_id"].nunique() == 16
    pd.testing.assert_frame_equal(merged[alone.columns].sort_values(keys).reset_index(drop=True),
                                  alone.sort_values(keys).reset_index(drop=True), check_exact=True)
    for name in ("summary.csv", "comparisons.csv"):
        assert (sweep / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
