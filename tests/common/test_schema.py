"""The schema of a run's files: the row builder's columns and types, the keys of ``examples.npz`` (built, then read
back) and the condition records of ``run_info.json`` (through JSON and back). The names written on disk are spelled
out here on purpose: a change to them changes every saved result."""
import ast
import json
import math
import sys

import pytest

from harness.common import schema
from harness.models.encoding import Encoding
from harness.perturbations.brightness_shift import BrightnessShift
from harness.perturbations.noise import Noise


def _row(**changes):
    args = dict(image_id=3, sample=1, label=2, pred=0, pred_perturbed=1, pred_agrees=False, method="ig_black",
                baseline_treatment="carried", control=False,
                condition={"perturbation": "brightness_shift", "magnitude": 0.5, "regime": "uncompensated",
                           "condition": "", "compensated": False, "exact": None},
                scores={"ssim": 0.5, "spearman": 0.25}, nan_reason="", clean_map_scores={"dark_share_clean": 0.1},
                map_scores={"dark_share": 0.2}, target_logit_change=-0.5, max_logit_diff=1.5, explained=0,
                n_steps=16, completeness_error=0.01, completeness_error_clean=0.02, encoding="unit",
                map_constant=False, map_constant_clean=True)
    a = {**args, **changes}
    built = [cls(**{k: a[k] for k in cls.__dataclass_fields__}) for cls in (schema.Prediction, schema.Variant,
                                                                            schema.MapFacts)]
    scores = schema.Scores(a["scores"], a["nan_reason"], a["clean_map_scores"], a["map_scores"])
    return schema.score_row(built[0], built[1], a["condition"], scores, built[2])


def test_a_row_has_the_columns_of_scores_csv_in_their_order():
    assert list(_row()) == [
        "image_id", "sample", "label", "pred", "pred_perturbed", "pred_agrees", "method", "baseline_treatment",
        "control", "perturbation", "magnitude", "regime", "condition", "compensated", "exact", "ssim", "spearman",
        "nan_reason", "dark_share_clean", "dark_share", "target_logit_change", "max_logit_diff", "explained",
        "n_steps", "completeness_error", "completeness_error_clean", "encoding", "map_constant", "map_constant_clean"]


def test_a_row_casts_identifiers_and_flags_and_keeps_values():
    import numpy as np
    import torch

    row = _row(image_id=np.int64(3), label=torch.tensor(2), explained=torch.tensor(0), pred_agrees=torch.tensor(True),
               map_constant=np.bool_(True), baseline_treatment=None, completeness_error=None, n_steps=None)
    for column in ("image_id", "sample", "label", "pred", "pred_perturbed", "explained"):
        assert type(row[column]) is int
    for column in ("pred_agrees", "control", "map_constant", "map_constant_clean"):
        assert type(row[column]) is bool
    assert type(row["max_logit_diff"]) is float and row["baseline_treatment"] == ""
    assert row["completeness_error"] is None and row["n_steps"] is None and row["completeness_error_clean"] == 0.02
    assert row["ssim"] == 0.5 and row["magnitude"] == 0.5 and row["exact"] is None


def test_the_column_groups():
    assert schema.STANDARD_COLUMNS == ("perturbation", "magnitude", "regime", "condition")
    assert schema.UNIT_COLUMNS == ("run", "image_id", "sample")
    assert set(schema.FACT_COLUMNS) == {"label", "pred", "pred_perturbed", "explained", "nan_reason", "n_samples",
                                        "n_kept", "map_constant", "map_constant_clean"}
    assert schema.present(["image_id", "ssim"], schema.IMAGE_COLUMNS) == ["image_id"]


def test_a_condition_has_the_standard_columns_then_its_own():
    columns = schema.condition_columns("noise", 0.1, "gaussian noise, σ", own={"noise": "gaussian", "clip": True})
    assert list(columns) == ["perturbation", "magnitude", "regime", "condition", "noise", "clip"]
    assert columns["condition"] == "" and tuple(columns)[:4] == schema.STANDARD_COLUMNS


def test_example_keys_are_the_saved_names():
    key = "perturbation=noise,magnitude=+0.05"
    assert schema.view_key(schema.CLEAN, schema.VIEW_IMAGE) == "clean/image"
    assert schema.view_key(key, schema.VIEW_PROB) == f"{key}/prob"
    assert schema.map_key(schema.CLEAN, "saliency", None) == "clean/saliency/-"
    assert schema.map_key(key, "ig_black", "fixed") == f"{key}/ig_black/fixed"
    assert schema.inputs_key(key, schema.VIEW_PRED, ["saliency", "ixg"]) == f"{key}/inputs/pred/saliency+ixg"
    assert schema.absdiff_key(key, "ixg", "") == f"absdiff/{key}/ixg/-"
    assert schema.absdiff_key(key, "ixg", "", count=True) == f"absdiff_count/{key}/ixg/-"


@pytest.mark.parametrize("scope", [schema.CLEAN, "perturbation=attack,magnitude=+4,regime=top-k attack (L∞)"])
def test_example_keys_read_back(scope):
    for array in schema.VIEW_ARRAYS:
        assert schema.parse_key(schema.view_key(scope, array)) == schema.ExampleKey("view", scope, array=array)
        got = schema.parse_key(schema.inputs_key(scope, array, ["saliency"]))
        assert got == schema.ExampleKey("inputs", scope, array=array, methods=("saliency",))
    for treatment in (None, "carried"):
        assert schema.parse_key(schema.map_key(scope, "ig", treatment)) == schema.ExampleKey(
            "map", scope, method="ig", treatment=treatment)
        for count, kind in ((False, "absdiff"), (True, "absdiff_count")):
            assert schema.parse_key(schema.absdiff_key(scope, "ig", treatment, count)) == schema.ExampleKey(
                kind, scope, method="ig", treatment=treatment)


def test_map_columns_are_the_clean_maps_in_saved_order():
    keys = [schema.view_key(schema.CLEAN, schema.VIEW_IMAGE), schema.map_key(schema.CLEAN, "saliency", None),
            schema.map_key(schema.CLEAN, "ig", "fixed"), schema.map_key("k=1", "ixg", None),
            schema.absdiff_key("k=1", "saliency", None), "not/a/key/at/all"]
    assert schema.map_columns(keys) == [("saliency", None), ("ig", "fixed")]


def test_a_key_part_with_a_separator_or_an_unknown_array_is_refused():
    with pytest.raises(ValueError):
        schema.map_key(schema.CLEAN, "a/b", None)
    with pytest.raises(ValueError):
        schema.view_key(schema.CLEAN, "logits")
    with pytest.raises(ValueError):
        schema.parse_key("clean")


def _through_json(record: schema.ConditionRecord) -> schema.ConditionRecord:
    return schema.read_conditions(json.loads(json.dumps({"conditions": [record.to_json()]})))[0]


def test_a_condition_record_goes_through_json_unchanged():
    enc = Encoding.named("unit")
    for condition in [*BrightnessShift([0.5], compensated=[False, True]).conditions(enc, (3, 8, 8)),
                      *Noise(kinds=["gaussian"], radii=[0.1], n_samples=4).conditions(enc, (3, 8, 8))]:
        record = schema.ConditionRecord.of(condition, accuracy=0.75)
        assert _through_json(record) == record
        assert record.key == condition.key and record.columns == condition.columns
        assert (record.n_samples, record.axis, record.accuracy) == (condition.n_samples, condition.axis, 0.75)
        assert record.regime == condition.columns["regime"] and record.magnitude == condition.columns["magnitude"]


def test_a_condition_record_is_written_flat_with_its_facts():
    class Retrained:
        key, n_samples, axis = "perturbation=data_randomisation", 1, "depth"
        columns = {"perturbation": "data_randomisation", "magnitude": 1.0, "regime": "data randomisation",
                   "condition": "labels permuted"}

        def info(self):
            return {"train_accuracy_permuted_labels": 0.9}

    record = schema.ConditionRecord.of(Retrained())
    assert list(record.to_json()) == ["key", "perturbation", "magnitude", "regime", "condition", "n_samples", "axis",
                                      "train_accuracy_permuted_labels", "accuracy"]
    back = _through_json(record)
    assert back == record and back.info == {"train_accuracy_permuted_labels": 0.9} and back.accuracy is None
    assert back.label == "labels permuted"


def test_a_condition_whose_columns_clash_with_the_record_is_refused():
    class Clash:
        key, n_samples, axis = "k", 1, ""
        columns = {"perturbation": "x", "magnitude": 0.0, "regime": "", "condition": "", "axis": "oops"}

        def info(self):
            return {}

    with pytest.raises(ValueError, match="axis"):
        schema.ConditionRecord.of(Clash())


def test_an_older_record_without_the_later_fields_reads_as_columns():
    back = schema.ConditionRecord.from_json({"key": "k", "perturbation": "x", "magnitude": None, "regime": "r",
                                             "condition": ""})
    assert back.columns == {"perturbation": "x", "magnitude": None, "regime": "r", "condition": ""}
    assert back.n_samples == 1 and back.axis == "" and back.accuracy is None and back.magnitude == 0.0
    assert math.isfinite(back.magnitude)


def test_the_schema_is_the_bottom_layer():
    """Every layer imports the schema, so it imports nothing of the package (only the standard library, NumPy,
    pandas)."""
    tree = ast.parse(open(schema.__file__, encoding="utf-8").read())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    allowed = set(sys.stdlib_module_names) | {"numpy", "pandas"}
    assert {m.split(".")[0] for m in imported} <= allowed
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))
