"""The app, in-process: every config composes, and experiments run end to end from composed configs."""
import json
import pathlib

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from harness.configs import CONFIG_DIR
from harness.common.errors import CompensationError, UserError
from harness.entry.run import build_experiment
from harness.loop.store import PartialStore

EXPERIMENTS = sorted(p.stem for p in (pathlib.Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(compose_config, experiment):
    cfg = compose_config([f"experiment={experiment}"])
    assert cfg.experiment_name == experiment
    parts = build_experiment(cfg)
    assert set(cfg.attribution.include) <= set(parts.methods)
    from harness.attribution.methods import Method
    from harness.metrics.registry import names
    from harness.perturbations.base import Perturbation

    assert isinstance(parts.perturbation, Perturbation) and all(isinstance(m, Method) for m in parts.methods.values())
    assert parts.scorer.columns and set(parts.scorer.columns) <= set(names("pairwise"))


def test_bias_shift_runs_both_regimes_and_baseline_treatments(compose_config):
    cfg = compose_config(["experiment=bias_shift"])
    assert list(cfg.perturbation.compensated) == [False, True]
    assert list(cfg.attribution.baseline_treatments) == ["carried", "fixed"]
    assert set(cfg.attribution.include) == {"saliency", "ixg", "ig_black", "ig_white", "ig_random", "gradcam"}
    assert list(cfg.attribution.controls) == ["random_map", "constant_map"]


def test_app_end_to_end_then_cached(run_app, tiny, tmp_path):
    run_dir = run_app(["experiment=bias_shift", *tiny, "report.figures=true"], "run1", cache=tmp_path / "cache")
    for name in ["scores.csv", "summary.csv", "summary.md", "summary.tex", "comparisons.csv", "run_info.json",
                 "examples.npz", "figures/grid.png", "figures/grid_uncompensated.png", "figures/grid_compensated.png",
                 "figures/stability_vs_magnitude.pdf", "figures/distribution.png", "figures/baselines.png",
                 "figures/map_change.png"]:
        assert (run_dir / name).is_file(), name
    scores = pd.read_csv(run_dir / "scores.csv")
    # 3 images × (saliency, ixg, gradcam, 2 controls + 3 IG × 2 baseline treatments) × 1 magnitude × 2 regimes
    assert len(scores) == 3 * 11 * 2
    ig = scores[scores.method.str.startswith("ig_")]
    assert (ig.n_steps == 4).all() and ig.completeness_error.notna().all()
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["model"]["trained_now"] is True and len(info["model"]["sha256"]) == 64
    assert "torch" in info["versions"] and info["seed"] == 0 and info["threads"] >= 1
    assert {c["regime"] for c in info["conditions"]} == {"uncompensated", "compensated"}
    md = (run_dir / "summary.md").read_text()
    assert md.startswith("# bias_shift: saliency maps, clean vs perturbed") and "test accuracy" in md
    assert "Stability ranking" in md and "| regime | method | magnitude |" in md

    again = run_app(["experiment=bias_shift", *tiny], "run2", cache=tmp_path / "cache")
    info2 = json.loads((again / "run_info.json").read_text())
    assert info2["model"]["trained_now"] is False and info2["model"]["sha256"] == info["model"]["sha256"]
    pd.testing.assert_frame_equal(scores, pd.read_csv(again / "scores.csv"))


def test_same_seed_gives_the_same_bytes(run_app, tiny):
    runs = [run_app(["experiment=bias_shift", *tiny], name) for name in ("a", "b")]
    assert (runs[0] / "scores.csv").read_bytes() == (runs[1] / "scores.csv").read_bytes()


def test_interrupted_run_resumes_and_writes_the_same_bytes(run_app, tiny, monkeypatch):
    overrides = ["experiment=bias_shift", *[o for o in tiny if not o.startswith("attribution.batch_size")],
                 "attribution.batch_size=1"]
    full = run_app(overrides, "full")  # also caches the model
    save, saved = PartialStore.save, []

    def interrupt_after_four(self, *args, **kwargs):
        if len(saved) == 4:
            raise KeyboardInterrupt
        saved.append(args[:2])
        save(self, *args, **kwargs)

    monkeypatch.setattr(PartialStore, "save", interrupt_after_four)
    with pytest.raises(KeyboardInterrupt):
        run_app(overrides, "resumed")
    monkeypatch.setattr(PartialStore, "save", save)
    resumed = full.parent / "resumed"
    assert not (resumed / "scores.csv").exists() and len(list((resumed / "partial").rglob("*.csv"))) == 4
    run_app(overrides, "resumed")
    assert (resumed / "scores.csv").read_bytes() == (full / "scores.csv").read_bytes()
    assert not (resumed / "partial").exists()


def test_finished_run_is_not_recomputed(run_app, tiny, caplog):
    run_app(["experiment=bias_shift", *tiny], "done")
    with caplog.at_level("INFO"):
        run_app(["experiment=bias_shift", *tiny], "done")
    assert "rebuilding its report only" in caplog.text


@pytest.mark.parametrize("override, message", [
    ("attribution.include=[saliency,lrp]", "unknown method(s) ['lrp']"),
    ("model.encoding=zscore", "unknown encoding 'zscore'"),
    ("perturbation.magnitudes=[]", "perturbation.magnitudes is empty"),
    ("perturbation.exact=maybe", "perturbation.exact has ['maybe']"),
    ("attribution.baseline_treatments=[shifted]", "valid choices: carried, fixed, recomputed"),
    ("metrics.pairwise=[ssim,psnr]", "unknown pairwise metric(s) ['psnr']"),
    ("model.checkpoint=/nonexistent/model.pt", "checkpoint not found"),
    ("attribution.methods.gradcam.layer=conv99", "no layer 'conv99' for Grad-CAM; convolutional layers: 0, 2, 5"),
    ("attribution.methods.ig_black.baseline._target_=harness.attribution.baselines.nope",
     "valid baselines (harness.attribution.baselines): blurred, constant, gaussian, input_min"),
    ("model.network.num_classes=10", "model.network.num_classes=10 but the data has 3 classes"),
    ("threads=0", "threads must be >= 1"),
])
def test_user_errors_are_one_clear_error_before_any_training(run_app, tiny, tmp_path, override, message):
    with pytest.raises(UserError) as err:
        run_app([*tiny, override], "r", cache=tmp_path / "cache")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not list((tmp_path / "cache").rglob("*.pt"))  # nothing was trained


def test_list_options_accept_a_single_value(run_app, tiny):
    overrides = [o for o in tiny if not o.startswith("perturbation.magnitudes")]
    run_dir = run_app([*overrides, "attribution.include=saliency", "attribution.controls=random_map",
                       "perturbation.magnitudes=0.5", "perturbation.compensated=true",
                       "attribution.baseline_treatments=carried"], "single")
    scores = pd.read_csv(run_dir / "scores.csv")
    assert set(scores.method) == {"saliency", "random_map"} and set(scores.regime) == {"compensated"}


def test_exact_and_naive_compensation_in_one_run(run_app, tiny, caplog):
    """The naive fold b' = b − W m is wrong where zero padding meets the shift: its logit error is recorded (a
    warning, not an error) and its gradient differs from the clean one, unlike the exact fold's."""
    with caplog.at_level("WARNING"):
        run_dir = run_app(["experiment=bias_shift", *tiny, "perturbation.exact=[true,false]",
                           "attribution.include=[saliency]", "report.figures=true"], "naive")
    assert "changes the logits" in caplog.text
    s = pd.read_csv(run_dir / "scores.csv")
    s = s[s.method == "saliency"]
    exact, naive = s[s.regime == "compensated"], s[s.regime == "compensated, naive fold"]
    assert exact.max_logit_diff.max() < 1e-4 < naive.max_logit_diff.max()
    assert (exact.ssim > 0.999).all() and naive.ssim.mean() < 0.999
    assert (run_dir / "figures" / "map_change.png").is_file()


def test_naive_fold_is_an_error_only_when_exact_compensation_fails(compose_config):
    """A strict (exact) condition above tolerance stops the run with one line."""
    from harness.loop.checks import check_logits
    from harness.data.base import ImageSet
    from harness.loop.evaluation import batches
    from harness.models.classifier import EncodedClassifier
    from harness.models.encoding import Encoding
    from harness.models.rps_cnn import build_rps_cnn
    from harness.perturbations.brightness_shift import BrightnessShift

    model = EncodedClassifier(build_rps_cnn(16, 0.25), Encoding.named("unit")).eval()
    data = ImageSet(torch.rand(5, 3, 16, 16), torch.zeros(5, dtype=torch.long))
    batch = list(batches(model, data, 2, torch.device("cpu"), 0))  # three batches: the check spans them
    for exact, raises in ((False, False), (True, True)):
        cond = BrightnessShift([0.5], compensated=[True], exact=[exact], tolerance=1e-12).conditions(
            model.encoding, (3, 16, 16))[0]
        networks = {cond.key: cond.transform_network(model.network)}
        if raises:
            with pytest.raises(CompensationError, match="changes the logits"):
                check_logits(model, [cond], networks, batch)
        else:
            assert check_logits(model, [cond], networks, batch)[cond.key] > 0


def _image_folder(root, n_classes, per_class=8):
    rng = np.random.default_rng(0)
    for k in range(n_classes):
        (root / f"class{k}").mkdir(parents=True)
        for i in range(per_class):
            arr = (rng.random((20, 20, 3)) * 120 + 12 * k).astype(np.uint8)
            Image.fromarray(arr).save(root / f"class{k}" / f"{i}.png")
    return root


@pytest.mark.parametrize("n_classes", [10, 2])
def test_image_folder_class_count_comes_from_the_data(run_app, tmp_path, n_classes):
    root = _image_folder(tmp_path / f"data{n_classes}", n_classes)
    common = ["experiment=bias_shift", "data=image_folder", f"data.root={root}", "data.image_size=16",
              "model.network.width=0.25", "train.epochs=1", "attribution.n_images=2", "attribution.n_steps=2",
              "attribution.include=[saliency,gradcam]", "perturbation.magnitudes=[0.5]"]
    run_dir = run_app(common, f"folder{n_classes}")
    info = json.loads((run_dir / "run_info.json").read_text())
    assert len(info["classes"]) == n_classes and info["model"]["trained_now"]
    checkpoint = info["model"]["checkpoint"]
    ckpt = torch.load(checkpoint, weights_only=True)
    assert ckpt["state_dict"][list(ckpt["state_dict"])[-1]].shape == (n_classes,)
    assert json.loads(ckpt["meta"])["config"]["network"]["num_classes"] == n_classes  # part of the cache key


def test_checkpoint_trained_on_other_classes_is_one_clear_error(run_app, tmp_path, tiny):
    run_dir = run_app(["experiment=bias_shift", *tiny], "three")
    checkpoint = json.loads((run_dir / "run_info.json").read_text())["model"]["checkpoint"]
    root = _image_folder(tmp_path / "ten", 10, per_class=3)
    with pytest.raises(UserError, match="was trained on 3 classes but the data has 10"):
        run_app(["experiment=bias_shift", "data=image_folder", f"data.root={root}", "data.image_size=32",
                 "model.network.width=0.25", f"model.checkpoint={checkpoint}"], "other")


def test_bring_your_own_model(run_app, tiny, tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        "import torch.nn as nn\n\n"
        "def build(num_classes, in_channels, width=4):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    overrides = [o for o in tiny if not o.startswith("model.network")]
    run_dir = run_app(["experiment=bias_shift", *overrides, "model=custom", "model.network._target_=my_models.build",
                       "+model.network.width=6", "attribution.include=[saliency,gradcam]"], "byo")
    scores = pd.read_csv(run_dir / "scores.csv")
    assert set(scores.method) >= {"saliency", "gradcam"}
    gradcam = scores[(scores.method == "gradcam") & (scores.regime == "compensated")]
    assert (gradcam.ssim > 0.999).all()
    with pytest.raises(UserError, match="cannot build model.network"):
        run_app(["experiment=bias_shift", *overrides, "model=custom", "model.network._target_=my_models.nope"], "x")


def test_nan_input_scores_nan_with_reason():
    from harness.attribution.methods import Saliency
    from harness.data.base import ImageSet
    from harness.loop.evaluation import Evaluator
    from harness.metrics.scorer import Scorer
    from harness.models.classifier import EncodedClassifier
    from harness.models.encoding import Encoding
    from harness.models.rps_cnn import build_rps_cnn
    from harness.perturbations.brightness_shift import BrightnessShift

    model = EncodedClassifier(build_rps_cnn(16, 0.25), Encoding.named("unit")).eval()
    x = torch.rand(3, 3, 16, 16)
    x[1, 0, 2, 2] = float("nan")
    data = ImageSet(x, torch.zeros(3, dtype=torch.long))
    ev = Evaluator({"saliency": Saliency()}, Scorer(), batch_size=4)
    rows = pd.DataFrame(ev(model, data, BrightnessShift([0.5]).conditions(model.encoding, (3, 16, 16))).rows)
    assert len(rows) == 6
    bad = rows[rows.image_id == 1]
    assert bad.ssim.isna().all() and bad.nan_reason.str.contains("non-finite input or logits").all()
    assert rows[rows.image_id != 1].ssim.notna().all()


FAMILIES = {
    "sensitivity": ["perturbation.radii=[0.05]", "perturbation.n_samples=2", "attribution.include=[saliency]"],
    "sanity_checks": ["perturbation.families.0.max_depth=2", "perturbation.families.1.n_train=32",
                      "perturbation.families.1.max_epochs=2", "attribution.include=[saliency,guided_backprop]"],
    "attack": ["perturbation.epsilons=[8]", "perturbation.steps=3", "attribution.include=[saliency,ig_black]"],
}


@pytest.mark.parametrize("experiment", sorted(FAMILIES))
def test_every_family_is_deterministic_and_resumes(run_app, tiny, monkeypatch, experiment):
    """Same seed, same bytes; a run interrupted after its first piece resumes to the same bytes."""
    overrides = [f"experiment={experiment}", *[o for o in tiny if not o.startswith("perturbation.magnitudes")],
                 *FAMILIES[experiment], "attribution.n_images=4"]
    first = run_app([*overrides, "report.figures=true"], "first")
    assert (first / "figures" / "stability_vs_magnitude.png").is_file()
    save = PartialStore.save

    def interrupt(self, *args, **kwargs):
        if list(self.root.rglob("*.csv")):
            raise KeyboardInterrupt
        save(self, *args, **kwargs)

    monkeypatch.setattr(PartialStore, "save", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_app([*overrides, "report.figures=true"], "second")
    monkeypatch.setattr(PartialStore, "save", save)
    second = run_app([*overrides, "report.figures=true"], "second")
    assert (first / "scores.csv").read_bytes() == (second / "scores.csv").read_bytes()
    if experiment == "attack":
        assert list((first / "figures").glob("per_method_*.png"))


def test_a_run_with_no_condition_is_one_clear_error(run_app, tiny):
    """Every condition skipped (the model's own encoding as the only target) stops with one line, not pandas'
    ``No objects to concatenate``."""
    overrides = [o for o in tiny if not o.startswith("perturbation.")]
    with pytest.raises(UserError, match=r"perturbation=normalisation_change gives no condition .*encoding 'unit'"):
        run_app(["experiment=normalisation", *overrides, "perturbation.targets=[unit]",
                 "attribution.include=[saliency]"], "empty")


def test_a_key_the_perturbation_does_not_take_is_named(run_app, tiny):
    """An experiment's key left under another perturbation: one line naming the key and how to drop it."""
    with pytest.raises(UserError, match=r"perturbation=normalisation_change takes no key 'magnitudes' .* "
                                        r"'~perturbation.magnitudes'"):
        run_app(["experiment=bias_shift", *tiny, "perturbation=normalisation_change"], "extra")
