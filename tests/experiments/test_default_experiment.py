"""The default experiment itself (pytest -m slow, ~2 minutes on a 2-core CPU): its headline claims hold."""
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def rows_of(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``, which must not be empty (an ``.all()`` over no rows would pass whatever the claim)."""
    assert len(frame), "no rows: a method or regime of the claim is missing from the run"
    return frame


def test_default_bias_shift_run_shows_the_published_invariances(tmp_path):
    env_cmd = [sys.executable, "-m", "harness", "experiment=bias_shift", "perturbation.exact=[true,false]",
               f"hydra.run.dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}"]
    proc = subprocess.run(env_cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = pd.read_csv(tmp_path / "run" / "scores.csv")
    import json

    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["model"]["test_accuracy"] >= 0.95
    s = s[~s.method.isin(["random_map", "constant_map"])]
    naive = rows_of(s[s.regime == "compensated, naive fold"])
    assert naive.max_logit_diff.max() > 0.1 and naive[naive.method == "saliency"].ssim.mean() < 0.99
    s = s[s.regime != "compensated, naive fold"]
    comp, unc = s[s.compensated], s[~s.compensated]
    for m in ("saliency", "gradcam"):
        rows = rows_of(comp[comp.method == m])
        assert (rows.ssim >= 0.999).all() and (rows.spearman >= 0.999).all(), m
    ixg = rows_of(comp[(comp.method == "ixg") & (comp.magnitude.abs() == comp.magnitude.abs().max())])
    assert ixg.ssim.mean() < 0.99 and ixg.spearman.mean() < 0.99
    for m in ("ig_black", "ig_white", "ig_random"):
        carried = rows_of(comp[(comp.method == m) & (comp.baseline_treatment == "carried")])
        fixed = rows_of(comp[(comp.method == m) & (comp.baseline_treatment == "fixed")])
        assert (carried.ssim >= 0.99).all() and (carried.spearman >= 0.99).all(), m
        assert not ((fixed.ssim >= 0.99).all() and (fixed.spearman >= 0.99).all()), m
    for m in s.method.unique():
        assert not (rows_of(unc[unc.method == m]).ssim >= 0.999).all(), m
    assert comp.max_logit_diff.max() < 1e-4 * 40
