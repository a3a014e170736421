"""Shards of the explained images: their merged sweep is the unsharded run (rows, report, example maps)."""
import json
import multiprocessing
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.entry.sweep import collect
from harness.common.errors import UserError
from harness.models.checkpoint import locked
from harness.report.build import report_settings
from harness.report.scorecard import scorecard
from harness.report.tables import summarise
from harness.entry.sharding import check_shard, computed_range, job_dir, shard_range

#: the table's keys: what one row scores
KEYS = ["image_id", "sample", "method", "baseline_treatment", "perturbation", "magnitude", "regime", "condition"]


@pytest.mark.parametrize("n, batch, shards", [(10, 2, 3), (7, 3, 3), (16, 16, 1), (33, 4, 5), (5, 1, 5), (16, 16, 3),
                                             (10, 4, 5), (3, 16, 3)])
def test_shards_cover_the_images_once(n, batch, shards):
    ranges = [shard_range(n, batch, shards, i) for i in range(shards)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, no overlap
    assert all(stop > start for start, stop in ranges)  # none empty
    if shards <= -(-n // batch):  # enough batches: whole batches, balanced to one batch
        assert all(start % batch == 0 for start, _ in ranges)
        sizes = [-(-(stop - start) // batch) for start, stop in ranges]
    else:  # runs of images, balanced to one image
        sizes = [stop - start for start, stop in ranges]
    assert max(sizes) - min(sizes) <= 1
    for start, stop in ranges:  # a shard computes whole batches of the unsharded run, its own images among them
        lo, hi = computed_range(start, stop, n, batch)
        assert lo <= start < stop <= hi and lo % batch == 0 and (hi % batch == 0 or hi == n)
        assert hi - lo < stop - start + 2 * batch


def test_shard_range_known_answer():
    assert [shard_range(10, 2, 3, i) for i in range(3)] == [(0, 2), (2, 6), (6, 10)]
    assert [shard_range(16, 16, 3, i) for i in range(3)] == [(0, 5), (5, 10), (10, 16)]  # the default, 3 shards
    assert [computed_range(*shard_range(16, 16, 3, i), 16, 16) for i in range(3)] == [(0, 16)] * 3
    assert computed_range(5, 7, 10, 4) == (4, 8) and computed_range(8, 10, 10, 4) == (8, 10)
    assert shard_range(10, 2) == (0, 10)


@pytest.mark.parametrize("shards, shard, message", [
    (3, 3, "attribution.shard=3 but attribution.shards=3: shards are numbered 0 to 2"),
    (0, 0, "attribution.shards=0: the number of shards must be >= 1"),
    ("two", 0, "attribution.shards must be a whole number, got 'two'"),
    (2, 1.5, "attribution.shard must be a whole number, got 1.5"),
])
def test_bad_shards_are_one_clear_line(shards, shard, message):
    with pytest.raises(UserError, match="^" + message.replace("[", r"\[").replace(".", r"\.")):
        check_shard(shards, shard)


def test_more_shards_than_images_is_refused():
    with pytest.raises(UserError, match="^attribution.shards=5 but only 4 image"):
        shard_range(4, 2, 5, 0)


def test_a_shard_folder_is_named_by_its_shard_and_other_overrides_not_its_number():
    overrides = ["experiment=bias_shift", "attribution.shards=12", "attribution.shard=3"]
    name = job_dir(7, 12, 3, overrides)
    assert name.startswith("shard_03-of-12_")
    assert job_dir(0, 12, 3, [*overrides[::-1], "device=cuda:1"]) == name  # rerun alone, elsewhere: same folder
    assert job_dir(0, 12, 3, [*overrides, "family=noise"]) != name  # another job of the sweep: its own folder
    assert job_dir(5, 1, 0, overrides) == "5"  # not sharded: Hydra's job number


def test_order_of_rows_does_not_change_the_statistics():
    """Bootstrap CIs resample by position and float sums depend on order: both are computed in image order."""
    rng = np.random.default_rng(1)
    rows = [{"image_id": i, "sample": s, "method": m, "baseline_treatment": "", "perturbation": "brightness_shift",
             "magnitude": 0.5, "regime": "compensated", "ssim": rng.random(), "spearman": rng.random(),
             "road_lerf_clean": rng.random(), "road_morf_clean": rng.random()}
            for i in range(12) for m in ("saliency", "ixg") for s in range(2)]
    scores = pd.DataFrame(rows).assign(run=".")
    shuffled = scores.sample(frac=1, random_state=3).reset_index(drop=True)
    keys = ["method", "metric"]
    a, b = (summarise(s, n_resamples=200).sort_values(keys).reset_index(drop=True) for s in (scores, shuffled))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert (a["ci95_high"] > a["ci95_low"]).all()
    a, b = (scorecard(s, n_resamples=200).sort_values("variant").reset_index(drop=True) for s in (scores, shuffled))
    assert {"input_invariance", "road_gap"} <= set(a.columns)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def _as_sweep_job(run, shard: int, shards: int) -> None:
    """What Hydra writes for a job of ``attribution.shard=range(0,shards)``: its overrides."""
    (run / ".hydra").mkdir(exist_ok=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        [f"attribution.shards={shards}", f"attribution.shard={shard}"]))


def test_three_shards_merge_into_the_unsharded_run(run_app, tiny, compose_config, tmp_path):
    """Rows, summary, comparisons, example maps and the report's table: equal, value for value."""
    # 5 images in batches of 4 ([0..3], [4]) cut into 3 shards, more than the batches: shards of images [0], [1, 2],
    # [3, 4], each computing the whole batches of its images; seeded draws (the IG baseline, the random-map control)
    # per image
    common = [o for o in tiny if not o.startswith(("attribution.batch_size", "attribution.n_images"))] + [
        "attribution.n_images=5", "attribution.batch_size=4", "attribution.include=[saliency,ig_random]",
        "perturbation.compensated=[false]", "report.n_examples=3", "report.bootstrap_resamples=200"]
    whole = run_app(common, "whole")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    for shard in (2, 0, 1):  # any order
        run = run_app([*common, "attribution.shards=3", f"attribution.shard={shard}"], f"sweep/shard_{shard}")
        _as_sweep_job(run, shard, 3)
    cfg = compose_config(common)
    collect(sweep, **report_settings(cfg.report, cfg.seed))

    merged, alone = pd.read_csv(sweep / "scores.csv"), pd.read_csv(whole / "scores.csv")
    assert not [c for c in merged.columns if c.startswith("cfg:")]  # the shard is no setting of the table
    by_keys = [k for k in KEYS if k in alone.columns]
    pd.testing.assert_frame_equal(merged.drop(columns="run").sort_values(by_keys).reset_index(drop=True),
                                  alone.sort_values(by_keys).reset_index(drop=True), check_exact=True)
    for name in ("summary.csv", "comparisons.csv"):
        assert (sweep / name).read_text() == (whole / name).read_text(), name
    table = lambda p: p.read_text()[p.read_text().index("| regime"):]  # noqa: E731
    assert table(sweep / "summary.md") == table(whole / "summary.md")
    assert [json.loads((sweep / f"shard_{i}" / "run_info.json").read_text())["images"] for i in range(3)] == [
        [0, 1], [1, 3], [3, 5]]
    info = json.loads((sweep / "run_info.json").read_text())
    assert info["n_images"] == 5 and info["shards"]["merged"] == [0, 1, 2] and not info["shards"]["missing"]
    assert info["logit_check"] == json.loads((whole / "run_info.json").read_text())["logit_check"]
    assert "Merged from 3 of 3 shards" in (sweep / "summary.md").read_text()
    with np.load(sweep / "examples.npz") as a, np.load(whole / "examples.npz") as b:
        assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)

    # a failed shard: the merged report says it is missing (rerun alone, it merges: tests/test_cli.py, slow)
    (sweep / "shard_1").rename(tmp_path / "failed")
    collect(sweep, **report_settings(cfg.report, cfg.seed))
    assert "shards 1 missing" in (sweep / "summary.md").read_text()
    assert len(pd.read_csv(sweep / "scores.csv")) == len(alone) * 3 // 5  # shard 1 held 2 of the 5 images
    (tmp_path / "failed").rename(sweep / "shard_1")
    collect(sweep, **report_settings(cfg.report, cfg.seed))
    assert (sweep / "summary.csv").read_text() == (whole / "summary.csv").read_text()


def test_the_readme_s_sharding_example_is_accepted_on_the_default_images(compose_config, readme_shard_command):
    """Each job of the README's sweep composes and gets images of the default run (16 images in one batch of 16):
    the three shards cover them once (their values: test_three_shards_merge_into_the_unsharded_run, and the
    command itself, slow: tests/test_cli.py)."""
    args = readme_shard_command
    assert "-m" in args and "attribution.shard=range(0,3)" in args
    fixed = [a for a in args if a != "-m" and not a.startswith("attribution.shard=")]
    ranges = []
    for shard in range(3):
        cfg = compose_config([*fixed, f"attribution.shard={shard}"])
        assert (cfg.attribution.n_images, cfg.attribution.batch_size) == (16, 16)
        first, stop = shard_range(cfg.attribution.n_images, cfg.attribution.batch_size, cfg.attribution.shards,
                                  cfg.attribution.shard)
        ranges.append((first, stop))
    assert ranges == [(0, 5), (5, 10), (10, 16)]


def _make(path, log, delay):
    with locked(path):
        if not path.exists():
            time.sleep(delay)
            with open(log, "a") as f:
                f.write("trained\n")
            path.write_text("weights")


def test_jobs_started_together_make_a_cache_entry_once(tmp_path):
    path, log = tmp_path / "checkpoints" / "model.pt", tmp_path / "log"
    ctx = multiprocessing.get_context("fork")
    jobs = [ctx.Process(target=_make, args=(path, log, 0.3)) for _ in range(3)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(30)
    assert [job.exitcode for job in jobs] == [0, 0, 0]
    assert log.read_text() == "trained\n" and path.read_text() == "weights"


def test_device_auto_sends_each_shard_to_its_own_gpu(monkeypatch):
    from harness.entry.run import resolve_device

    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 4)
    assert [str(resolve_device("auto", i)) for i in (0, 1, 5)] == ["cuda:0", "cuda:1", "cuda:1"]
    assert str(resolve_device("auto")) == "cuda" and str(resolve_device("cuda:2", 1)) == "cuda:2"


def test_a_sweep_of_several_sharded_runs_describes_each(tmp_path):
    """Two runs (two families) of two shards each in one sweep folder: the merged info lists both groups."""
    import json

    from harness.results.shards import merge_shards

    for j, (target, shard) in enumerate([(t, s) for t in ("noise.Noise", "geometric.Geometric") for s in (0, 1)]):
        run = tmp_path / str(j)
        run.mkdir()
        (run / "scores.csv").write_text("image_id\n0\n")
        config = {"attribution": {"shards": 2, "shard": shard}, "perturbation": {"_target_": target}}
        (run / "run_info.json").write_text(json.dumps({"config": config, "n_images": 4}))
    merged = merge_shards(tmp_path)
    groups = merged["shards"]["groups"]
    assert len(groups) == 2 and all(g["merged"] == [0, 1] and g["n_images"] == 8 for g in groups)
    assert {g["perturbation"] for g in groups} == {"noise.Noise", "geometric.Geometric"}
    assert merged["n_images"] == 8 and merged["shards"]["missing"] == []
    assert not (tmp_path / "examples.npz").exists()  # the example maps stay with each run
