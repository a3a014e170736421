"""The report command on synthetic results: files, idempotence, multirun = concatenation."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from harness.report.build import build_report

RNG = np.random.default_rng(0)


def _write_run(folder, magnitudes, offset=0.0):
    rows = []
    for mag in magnitudes:
        for comp in (False, True):
            for i in range(6):
                for method, treatment in (("saliency", ""), ("ig_black", "carried"), ("ig_black", "fixed")):
                    ssim = 1.0 if comp and method == "saliency" else float(np.clip(RNG.random() - offset, 0, 1))
                    rows.append({"image_id": i, "sample": 0, "label": 0, "pred": 0, "pred_perturbed": 0,
                                 "pred_agrees": True, "method": method, "baseline_treatment": treatment,
                                 "perturbation": "brightness_shift", "magnitude": mag, "condition": "",
                                 "regime": "compensated" if comp else "uncompensated", "compensated": comp,
                                 "ssim": ssim, "spearman": ssim, "spearman_abs": ssim, "kendall": ssim,
                                 "topk_intersection": ssim, "nan_reason": "", "max_logit_diff": 0.0,
                                 "n_steps": 16 if treatment else None,
                                 "completeness_error": 0.02 if treatment else None})
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "scores.csv", index=False)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.suffix in (".csv", ".md", ".tex")}


def test_single_run_report_files_and_idempotence(tmp_path):
    _write_run(tmp_path / "run", [-0.5, 0.5])
    build_report(tmp_path / "run")
    first = _files(tmp_path / "run")
    for name in ["summary.csv", "summary.md", "summary.tex", "comparisons.csv"]:
        assert name in first
    for fig in ["stability_vs_magnitude", "distribution", "baselines"]:
        for ext in ("png", "pdf"):
            assert (tmp_path / "run" / "figures" / f"{fig}.{ext}").stat().st_size > 1000
    build_report(tmp_path / "run")
    assert _files(tmp_path / "run") == first


def _table(md: bytes) -> bytes:
    return md[md.index(b"| regime"):]


def test_multirun_report_equals_report_of_concatenated_runs(tmp_path):
    _write_run(tmp_path / "multi" / "0", [0.25])
    _write_run(tmp_path / "multi" / "1", [0.5], offset=0.2)
    (tmp_path / "multi" / "multirun.yaml").write_text("hydra: {}\n")  # what Hydra writes into a sweep folder
    build_report(tmp_path / "multi")
    concat = pd.concat([pd.read_csv(tmp_path / "multi" / r / "scores.csv") for r in ("0", "1")])
    (tmp_path / "flat").mkdir()
    concat.to_csv(tmp_path / "flat" / "scores.csv", index=False)
    build_report(tmp_path / "flat")
    for name in ["summary.csv", "summary.tex"]:
        assert (tmp_path / "multi" / name).read_bytes() == (tmp_path / "flat" / name).read_bytes(), name
    assert _table((tmp_path / "multi" / "summary.md").read_bytes()) == _table((tmp_path / "flat" / "summary.md")
                                                                              .read_bytes())


def test_unrelated_runs_are_pooled_only_on_request_and_never_twice(tmp_path):
    """A folder of runs that is not one sweep: refused without --out; with it, differing settings become columns,
    and rows that nothing tells apart are refused (the same images counted twice)."""
    import json

    from harness.common.errors import UserError

    for name, steps in (("a", 8), ("b", 16)):
        _write_run(tmp_path / "res" / name, [0.5])
        config = {"attribution": {"n_steps": steps}, "hydra": {"x": name}}
        (tmp_path / "res" / name / "run_info.json").write_text(json.dumps({"config": config}))
    with pytest.raises(UserError, match="neither a run nor a sweep; pass --out"):
        build_report(tmp_path / "res")
    assert not (tmp_path / "res" / "summary.md").exists()
    summary = build_report(tmp_path / "res", out=tmp_path / "pooled")
    assert set(summary["cfg:attribution.n_steps"].astype(str)) == {"8", "16"}
    assert summary.n.max() == 6  # six images per condition, never twelve
    (tmp_path / "res" / "b" / "run_info.json").write_text(json.dumps({"config": {"attribution": {"n_steps": 8}}}))
    with pytest.raises(UserError, match="score the same image, method and condition more than once"):
        build_report(tmp_path / "res", out=tmp_path / "pooled2")


def test_sweep_overrides_become_condition_columns(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "multirun.yaml").write_text("hydra: {}\n")
    for job, steps in (("0", 8), ("1", 32)):
        _write_run(tmp_path / "m" / job, [0.5])
        (tmp_path / "m" / job / ".hydra").mkdir()
        (tmp_path / "m" / job / ".hydra" / "overrides.yaml").write_text(
            f"- experiment=bias_shift\n- attribution.n_steps={steps}\n- hydra.run.dir=x\n")
    summary = build_report(tmp_path / "m")
    assert set(summary["cfg:attribution.n_steps"].astype(str)) == {"8", "32"}
    assert "cfg:hydra.run.dir" not in summary.columns


def test_out_folder_and_cli_errors(tmp_path):
    _write_run(tmp_path / "run", [0.5])
    proc = subprocess.run([sys.executable, "-m", "harness.report", str(tmp_path / "run"), "--out",
                           str(tmp_path / "rep")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rep" / "summary.md").is_file() and not (tmp_path / "run" / "summary.md").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "harness.report", str(empty)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no scores.csv" in proc.stderr


def test_kept_predictions_table(tmp_path):
    _write_run(tmp_path / "run", [0.5])
    scores = pd.read_csv(tmp_path / "run" / "scores.csv")
    scores.loc[scores.image_id == 0, "pred_agrees"] = False
    scores.to_csv(tmp_path / "run" / "scores.csv", index=False)
    build_report(tmp_path / "run", kept_only_table=True, figures=False)
    kept = pd.read_csv(tmp_path / "run" / "summary_kept.csv")
    assert kept[kept.metric == "ssim"].n.max() == 5  # image 0 left out
    assert (tmp_path / "run" / "summary_kept.md").read_text().startswith("Only images whose prediction")
    assert not (tmp_path / "run" / "figures").exists()


def test_figures_wrap_many_panels_into_a_grid(tmp_path):
    """Thirteen regimes (the corruptions) make a grid of at most four panels a row, not one long row."""
    from PIL import Image

    from harness.report import style
    from harness.report.plots import stability_vs_magnitude

    rows = [dict(metric="ssim", regime=f"corruption {i}", method=m, variant=m, magnitude=mag, mean=0.5, ci95_low=0.4,
                 ci95_high=0.6, n=5) for i in range(13) for m in ("saliency", "gradcam") for mag in (1, 2)]
    path = stability_vs_magnitude(pd.DataFrame(rows), tmp_path / "wrapped.png")
    width, height = Image.open(path).size
    assert style.panel_grid(13) == (4, 4) and style.panel_grid(3) == (1, 3)
    assert height > width / 2  # four rows of four, not 13 panels in one row (about 12 × 1)
