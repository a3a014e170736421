"""``harness.evaluate``: the README's example runs, the caller's module is left as it was, the report is written."""
import re
from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn

import harness
from harness.metrics.aggregate import aggregate

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has a Python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})  # noqa: S102 - the documented example, verbatim


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(6, 3))


def test_the_callers_module_is_left_as_it_was_found(tmp_path):
    net = _net().train()
    net[0].weight.requires_grad_(False)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    images = torch.rand(3, 3, 16, 16)
    scores = harness.evaluate(net, images, methods=["saliency", "ig_black"], perturbation="noise",
                              overrides=["perturbation.radii=[0.05]", "perturbation.n_samples=3",
                                         "attribution.n_steps=4", "metrics.pairwise=[ssim,rel_change]"],
                              out=tmp_path / "report")
    assert net.training and all(m.training for m in net.modules())
    assert not net[0].weight.requires_grad and net[0].bias.requires_grad
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())  # BatchNorm statistics untouched
    assert set(scores.method) == {"saliency", "ig_black", "random_map", "constant_map"}
    assert len(scores) == 3 * 3 * 4 and set(scores["sample"]) == {0, 1, 2}
    agg = aggregate(scores)
    assert (agg[agg.method == "constant_map"].max_sensitivity == 0).all()
    assert (tmp_path / "report" / "summary.md").is_file() and (tmp_path / "report" / "aggregates.csv").is_file()
    assert not (tmp_path / "report" / "partial").exists()  # finished: the resumable pieces are gone
    pd.testing.assert_frame_equal(scores, pd.read_csv(tmp_path / "report" / "scores.csv"))


def test_one_result_path_with_and_without_out(tmp_path):
    """Results in memory are the on-disk results without the disk: the same DataFrame, values and dtypes."""
    images = torch.rand(3, 3, 16, 16)
    kwargs = dict(methods=["saliency", "ig_black", "gradcam"], perturbation="brightness_shift",
                  overrides=["perturbation.magnitudes=[0.25]", "attribution.n_steps=4"])
    memory = harness.evaluate(_net().eval(), images, **kwargs)
    disk = harness.evaluate(_net().eval(), images, **kwargs, out=tmp_path / "out")
    pd.testing.assert_frame_equal(memory, disk)
    pd.testing.assert_frame_equal(memory, pd.read_csv(tmp_path / "out" / "scores.csv"))
    for column in ("baseline_treatment", "condition", "exact", "n_steps", "completeness_error"):
        assert memory[column].dtype == disk[column].dtype, column


def test_a_bad_override_is_one_clear_error():
    import pytest

    from harness.common.errors import UserError

    with pytest.raises(UserError, match="bad override"):
        harness.evaluate(_net(), torch.rand(2, 3, 16, 16), overrides=["perturbation.nope=1"])
    with pytest.raises(UserError, match=r"unknown method\(s\) \['lrp'\]"):
        harness.evaluate(_net(), torch.rand(2, 3, 16, 16), methods=["lrp"])
