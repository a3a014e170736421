"""The loop's steps one by one: plan the views, compute the maps, score them into pieces, emit; and the store."""
import pandas as pd
import pytest
import torch
import torch.nn as nn

from harness.attribution import baselines
from harness.attribution.methods import IntegratedGradients, Saliency
from harness.data.base import ImageSet
from harness.common.errors import UserError
from harness.loop.evaluation import Evaluation, Evaluator, make_batch
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.base import Condition
from harness.loop.scoring import ComparisonView, ConditionScores, score_clean_maps
from harness.loop.planning import BaselineRules, ViewPlanner, view_seeds
from harness.common.schema import CLEAN
from harness.loop.store import PartialStore


class Shift(Condition):
    """Adds ``delta`` to the model inputs; optionally explained by another network, with ``n`` samples."""

    def __init__(self, delta: float, network: nn.Module | None = None, n: int = 1, per_method: bool = False):
        super().__init__({"perturbation": "shift", "magnitude": delta, "regime": "r", "condition": ""})
        self.delta, self.network, self.n_samples, self.per_method = delta, network, n, per_method

    def transform_inputs(self, batch, sample, explainer=None):
        return batch.z + self.delta * (sample + 1)

    def transform_network(self, network):
        return self.network or network


def _model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3)).eval().requires_grad_(False)
    return EncodedClassifier(net, Encoding.named("unit"))


METHODS = {"saliency": Saliency(), "ig": IntegratedGradients(lambda x: baselines.constant(x, 0.0), n_steps=4),
           "ig_model": IntegratedGradients(lambda x: baselines.constant(x, 0.0), n_steps=4, baseline_space="model")}


def _setup(n=3):
    model = _model()
    data = ImageSet(torch.rand(n, 3, 8, 8), torch.zeros(n, dtype=torch.long))
    batch, logits = make_batch(model, data, 0, torch.device("cpu"), seed=0)
    rules = BaselineRules(METHODS, ("carried", "fixed"), model.encoding)
    return model, data, batch, logits, rules, ViewPlanner(METHODS, rules)


def test_baseline_rules_share_identical_treatments_and_fix_model_space_baselines():
    model, _, batch, _, rules, _ = _setup()
    assert rules.treatments_of("ig") == ("carried", "fixed") and rules.treatments_of("ig_model") == ("fixed",)
    clean = rules.clean(batch.x)
    assert set(clean) == {"ig", "ig_model"}
    under = rules.under(Shift(0.1), batch, 0, batch.z + 0.1, clean)
    assert [ts for ts, _ in under["ig"]] == [("carried", "fixed")]  # the identity carry gives the same tensor


def test_plan_groups_views_by_network_and_puts_the_clean_view_first():
    model, _, batch, logits, rules, planner = _setup()
    other = _model().network
    conds = [Shift(0.1), Shift(0.2, network=other, n=2), Shift(0.3, per_method=True)]
    networks = {c.key: c.transform_network(model.network) for c in conds}
    plan = planner.plan(0, batch, logits, rules.clean(batch.x), conds, networks, model.network)
    (net0, stack0), (net1, stack1) = plan.stacks.values()
    assert net0 is model.network and net1 is other
    assert stack0[0].key == CLEAN and [v.key for v in stack1] == [f"{conds[1].key}#0"]
    per_method = [v for v in stack0 if v.methods is not None]
    assert [set(v.methods) for v in per_method] == [{"saliency"}, {"ig"}, {"ig_model"}]
    assert [c.key for c, _ in plan.owners.values()] == [conds[0].key, conds[1].key, *[conds[2].key] * 3]
    later = planner.plan(1, batch, logits, rules.clean(batch.x), conds, networks, model.network)
    assert [v.key for _, stack in later.stacks.values() for v in stack] == [f"{conds[1].key}#1"]
    s_clean, s_view = view_seeds(0, batch, CLEAN), view_seeds(0, batch, conds[0].key)
    assert torch.equal(s_clean[:, 0], s_view[:, 0]) and not torch.equal(s_clean[:, 1], s_view[:, 1])


def test_compute_score_and_emit_one_batch():
    model, data, batch, logits, rules, planner = _setup()
    cond = Shift(0.1)
    ev = Evaluator(METHODS, Scorer(pairwise=["spearman", "rel_change"], per_map=["dark_share"]), ("carried", "fixed"))
    base = rules.clean(batch.x)
    plan = planner.plan(0, batch, logits, base, [cond], {cond.key: model.network}, model.network)
    maps = ev.compute(plan)
    assert set(maps) == {CLEAN, f"{cond.key}#0"}
    assert {k[0] for k in maps[CLEAN].maps} == set(METHODS) and maps[CLEAN].maps[("saliency", None)].shape == (3, 8, 8)
    clean = ComparisonView(batch, logits, maps[CLEAN], None, data.labels, 0)
    score_clean_maps(clean, ev.scorer)
    pieces = {cond.key: ConditionScores(cond, clean, METHODS, "unit", keep=1)}
    ev.score(plan, maps, pieces, 0)
    rows = pd.DataFrame(pieces[cond.key].rows)
    assert len(rows) == 3 * 4  # images × (saliency, ig carried, ig fixed — one map, two rows —, ig_model fixed)
    assert rows.groupby("method").baseline_treatment.agg(set).to_dict() == {
        "saliency": {""}, "ig": {"carried", "fixed"}, "ig_model": {"fixed"}}
    ig = rows[rows.method == "ig"].sort_values("image_id")
    assert ig.groupby("image_id").spearman.nunique().eq(1).all()  # the identity carry: the same map twice
    assert rows.rel_change.gt(0).all() and {"dark_share", "dark_share_clean", "map_constant"} <= set(rows.columns)
    result = Evaluation()
    ev.emit(result, 0, cond.key, pieces[cond.key].rows, pieces[cond.key].examples())
    assert len(result.rows) == len(rows) and result.examples


def test_store_saves_finds_and_assembles_pieces(tmp_path):
    store = PartialStore(tmp_path, fingerprint={"seed": 0})
    assert store.n_done() == 0 and not store.done(0, "a")
    store.save(0, "a", [{"image_id": 0, "x": 1.5, "flag": True}], {"a/image": torch.zeros(1, 2).numpy()})
    store.save(4, "a", [{"image_id": 4, "x": None, "flag": None}], {"a/image": torch.ones(1, 2).numpy()})
    assert store.done(0, "a") and store.done(4, "a") and store.n_done() == 2
    rows, examples = store.assemble(["a"])
    assert rows.to_dict("records") == [{"image_id": "0", "x": "1.5", "flag": "True"},
                                       {"image_id": "4", "x": "", "flag": ""}]  # text: typed once, for the table
    assert examples["a/image"].tolist() == [[0.0, 0.0], [1.0, 1.0]]
    with pytest.raises(UserError, match="partial results of a different configuration"):
        PartialStore(tmp_path, fingerprint={"seed": 1})
    store.remove()
    assert not (tmp_path / "partial").exists()
