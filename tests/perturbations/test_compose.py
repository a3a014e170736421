"""A condition applied under another (``Under``): the inner family run on the outer condition's network and inputs,
its maps compared with the outer condition's maps."""
import pandas as pd
import pytest
import torch
import torch.nn as nn

from harness.attribution.methods import InputXGradient, Saliency
from harness.data.base import ImageSet
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.base import Condition
from harness.perturbations.compose import Under
from harness.perturbations.meta import InputNoise, MetaEvaluation, WeightNoise
from harness.perturbations.noise import Noise
from harness.common.schema import COPY, META_TEST, META_TYPE, PERTURBATION, condition_columns
from harness.loop.store import PartialStore


class _Same(Condition):
    """The identity, as an outer condition."""

    def __init__(self):
        super().__init__(condition_columns("same", 0.0, "same", own={"outer": "same"}))


def _setup(n=6):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).eval()
    model = EncodedClassifier(net, Encoding.named("unit"))
    data = ImageSet(torch.rand(n, 3, 8, 8), torch.zeros(n, dtype=torch.long))
    ev = Evaluator({"saliency": Saliency(), "ixg": InputXGradient()},
                   Scorer(pairwise=["ssim", "spearman", "rel_change"], per_map=["sparseness"]),
                   reduction="sum_abs", batch_size=4, seed=1)
    return model, data, ev


def _pairwise(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.sort_values(["image_id", "sample", "method"])[["ssim", "spearman", "rel_change"]].reset_index(drop=True)


def test_a_family_under_the_identity_scores_as_the_family_alone():
    model, data, ev = _setup()
    noise = Noise(radii=[0.1], n_samples=3).conditions(model.encoding, (3, 8, 8))[0]
    same = _Same()
    under = Under(same, noise)
    assert under.columns["outer"] == "same" and under.columns[PERTURBATION] == "noise" and under.n_samples == 3
    rows = pd.DataFrame(ev(model, data, [same, noise, under]).rows)
    alone, composed = rows[rows["outer"].isna() & (rows.perturbation == "noise")], rows[rows["outer"] == "same"]
    composed = composed[composed.perturbation == "noise"]
    assert len(alone) == len(composed) == 6 * 3 * 2
    pd.testing.assert_frame_equal(_pairwise(alone), _pairwise(composed))
    assert composed["sparseness"].isna().all() and alone["sparseness"].notna().all()  # per-map scores left out


def test_under_a_weight_noise_copy_the_maps_are_compared_with_the_copy_s_maps():
    """An inner condition that changes nothing, under a copy that changes the network a lot: compared with the
    copy's maps the maps are unchanged (SSIM 1), although they differ from the clean maps."""
    model, data, ev = _setup()
    copy = WeightNoise("adversary", 1.0, 0, seed=5)
    nothing = Noise(radii=[1e-12], n_samples=2, clip=False).conditions(model.encoding, (3, 8, 8))[0]
    rows = pd.DataFrame(ev(model, data, [copy, Under(copy, nothing)]).rows)
    own, under = rows[rows.perturbation == "meta_evaluation"], rows[rows.perturbation == "noise"]
    assert own["ssim"].max() < 0.999  # the copy's maps are not the clean ones
    assert under["ssim"].min() > 1 - 1e-6 and under["rel_change"].max() < 1e-6
    assert (under[COPY] == 0).all() and (under[META_TEST] == "model").all()
    # the prediction kept or changed is the copy's: the copy changes some, the inner condition none
    assert not own["pred_agrees"].all() and under["pred_agrees"].all()
    by_image = own.drop_duplicates("image_id").set_index("image_id")["pred_perturbed"]
    assert (under["pred"].to_numpy() == by_image.loc[under["image_id"]].to_numpy()).all()
    explained = own.drop_duplicates("image_id").set_index("image_id")["explained"]  # the clean class, as the copy's
    assert (under["explained"].to_numpy() == explained.loc[under["image_id"]].to_numpy()).all()


def test_the_meta_evaluation_runs_its_families_alone_and_under_every_copy():
    fam = Noise(radii=[0.05, 0.1], n_samples=2)
    conds = MetaEvaluation(copies=2, seed=0, families=[fam]).conditions(Encoding.named("unit"), (3, 8, 8))
    copies = [c for c in conds if c.columns[PERTURBATION] == "meta_evaluation"]
    under = [c for c in conds if isinstance(c, Under)]
    alone = [c for c in conds if c.columns[PERTURBATION] == "noise" and not isinstance(c, Under)]
    assert len(copies) == 8 and len(alone) == 2 and len(under) == 16
    assert all(u.compared_with in copies for u in under) and len({c.key for c in conds}) == len(conds)
    assert all(isinstance(c, (WeightNoise, InputNoise)) for c in copies)
    assert all(c.columns[META_TYPE] == "unperturbed" and c.n_samples == 2 for c in alone)


def test_a_reference_outside_the_run_is_refused():
    model, data, ev = _setup(2)
    noise = Noise(radii=[0.1], n_samples=1).conditions(model.encoding, (3, 8, 8))[0]
    with pytest.raises(ValueError, match="must be a condition of the run"):
        ev(model, data, [Under(_Same(), noise)])


def test_an_interrupted_composed_run_resumes_to_the_same_rows(tmp_path):
    """A whole run with a store, then some of its pieces deleted (a copy's, and a composed condition's of another
    batch) and the run resumed: the same rows, a baseline method (IG) and an input-noise copy included."""
    import shutil

    from functools import partial

    from harness.attribution.baselines import constant
    from harness.attribution.methods import IntegratedGradients

    model, data, _ = _setup(8)
    copy, noisy = WeightNoise("resilience", 0.05, 1, seed=2), InputNoise("adversary", 0.3, 0)
    noise = Noise(radii=[0.1], n_samples=2).conditions(model.encoding, (3, 8, 8))[0]
    conds = [copy, noisy, noise, Under(copy, noise), Under(noisy, noise)]

    def run(folder):
        ev = Evaluator({"saliency": Saliency(), "ig": IntegratedGradients(partial(constant, value=0.0), n_steps=4)},
                       Scorer(pairwise=["ssim", "rel_change"], per_map=["sparseness"]), treatments=("carried",),
                       batch_size=4, seed=1, store=PartialStore(tmp_path / folder, {"run": 1}))
        return pd.DataFrame(ev(model, data, conds).rows)

    whole = run("whole")
    shutil.copytree(tmp_path / "whole", tmp_path / "resumed")
    parts = tmp_path / "resumed" / "partial"
    gone = [*parts.joinpath("0000000").glob(f"{copy.key}.*"), *parts.joinpath("0000004").glob(
        f"{Under(noisy, noise).key}.*")]
    assert {p.suffix for p in gone} == {".csv", ".npz"} and len(gone) == 4
    for path in gone:
        path.unlink()
    assert len(whole) == 8 * 2 * (1 + 1 + 2 + 2 + 2)
    pd.testing.assert_frame_equal(whole, run("resumed"))


def test_a_compensated_shift_under_a_copy_compensates_the_copy_s_network():
    from harness.models.classifier import predict
    from harness.perturbations.base import Batch
    from harness.perturbations.brightness_shift import BrightnessShift

    model, data, _ = _setup()
    copy = WeightNoise("adversary", 0.5, 0, seed=1)
    shift = BrightnessShift(magnitudes=[0.25], compensated=[True]).conditions(model.encoding, (3, 8, 8))[0]
    under = Under(copy, shift)
    x = data.images
    batch = Batch(x, model.encode(x), torch.arange(len(x)), torch.zeros(len(x), dtype=torch.long), model.encoding)
    copy_logits = predict(copy.transform_network(model.network), batch.z)
    under_logits = predict(under.transform_network(model.network), under.transform_inputs(batch, 0))
    assert torch.allclose(under_logits, copy_logits, atol=1e-4)
    assert not torch.allclose(copy_logits, predict(model.network, batch.z), atol=1e-2)


def test_a_family_that_replaces_the_network_is_refused_under_a_model_copy():
    """A network retrained on other labels does not derive from the network it is given: under a copy of the model it
    would ignore the copy, so it is one clear error (under an input copy it is fine)."""
    from harness.common.errors import UserError

    model, data, _ = _setup(2)
    retrained = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))

    class Replaced(Condition):
        def __init__(self):
            super().__init__(condition_columns("retrained", 1.0, "retrained"))

        def transform_network(self, network):
            return retrained

    with pytest.raises(UserError, match="replaces the network"):
        Under(WeightNoise("adversary", 1.0, 0, seed=1), Replaced()).transform_network(model.network)
    assert Under(InputNoise("adversary", 0.3, 0), Replaced()).transform_network(model.network) is retrained


def test_tagged_passes_on_every_attribute_of_the_interface(monkeypatch):
    """The wrapper cannot drop what it wraps: every attribute of the Condition interface is the inner one's, also
    one added to the interface later."""
    from harness.perturbations.base import Condition
    from harness.perturbations.compose import Tagged

    inner = Condition({"perturbation": "x", "magnitude": 1.0, "regime": "r", "condition": ""})
    inner.n_samples, inner.tolerance, inner.strict, inner.score_maps = 3, 1e-3, False, False
    monkeypatch.setattr(Condition, "new_setting", "base", raising=False)
    inner.new_setting = "inner's"
    tagged = Tagged(inner, {"meta_type": "unperturbed"})
    for name in [n for n in vars(Condition) if not n.startswith("_") and n not in Tagged.OWN]:
        got, want = getattr(tagged, name), getattr(inner, name)
        assert getattr(got, "__func__", got) is getattr(want, "__func__", want) or got == want, name
    assert tagged.new_setting == "inner's" and tagged.n_samples == 3 and not tagged.score_maps
    assert tagged.columns == {**inner.columns, "meta_type": "unperturbed"} and tagged.key != inner.key
