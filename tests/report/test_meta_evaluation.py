"""The meta-evaluation report: the table from the rows of its conditions, the synthetic measures, the figure, and
the whole run on a tiny configuration."""
import numpy as np
import pandas as pd
import pytest

from harness.report.build import build_meta_evaluation as build
from harness.report.meta_evaluation import meta_evaluation
from harness.schema import COPY, META_TEST, META_TYPE


def _scores(n_images=24, copies=3, seed=0) -> pd.DataFrame:
    """Rows as the run writes them: a faithful measure (``insertion``: kept under noise, every method worse under
    the adversary) and one that reacts to nothing but noise of its own (``dark_share``, no direction)."""
    rng = np.random.default_rng(seed)
    methods = {"a": 0.0, "b": 1.0, "c": 2.0}
    rows = []
    for test in ("model", "input"):
        for kind in ("resilience", "adversary"):
            for k in range(copies):
                copy, sample = (k, 0) if test == "model" else (0, k)
                kept = rng.uniform(size=n_images) < (0.9 if kind == "resilience" else 0.3)
                for m, level in methods.items():
                    for i in range(n_images):
                        clean = level + 0.01 * i
                        perturbed = clean if kind == "resilience" else clean - 1 - rng.uniform()
                        rows.append({"image_id": i, "sample": sample, "method": m, "baseline_treatment": "",
                                     "control": False, "perturbation": "meta_evaluation", "magnitude": 0.1,
                                     "regime": f"{test} {kind}", "condition": "", META_TEST: test,
                                     META_TYPE: kind, COPY: copy, "pred_agrees": bool(kept[i]),
                                     "insertion_clean": clean, "insertion": perturbed,
                                     "dark_share_clean": rng.uniform(), "dark_share": rng.uniform()})
    return pd.DataFrame(rows)


def test_a_faithful_measure_is_reliable_and_the_synthetic_ones_are_not(tmp_path):
    table = build(_scores(), tmp_path, seed=0, n_resamples=200)
    both = table[table["test"] == "all"].set_index("measure")
    assert set(both.index) == {"insertion", "dark_share", "constant (synthetic)", "random (synthetic)"}
    assert both.loc["insertion", "mc"] > 0.95 and both.loc["insertion", "iec_nr"] == 1.0
    constant = both.loc["constant (synthetic)"]
    assert (constant["iac_nr"], constant["iac_ar"], constant["iec_nr"], constant["iec_ar"], constant["mc"]) == (
        1.0, 0.0, 1.0, 0.0, 0.5)
    assert constant["resilience"] == 1.0 and constant["reactivity"] == 0.0
    assert both.loc["random (synthetic)", "mc"] < 0.6  # neither resilient nor reactive
    assert np.isnan(both.loc["dark_share", "iec_ar"]) and np.isnan(both.loc["dark_share", "mc"])  # no direction
    assert set(table["test"]) == {"all", "model", "input"} and (table["n_copies"] == 3).all()
    assert table["mc_ci95_low"].notna().any()
    text = (tmp_path / "meta_evaluation.md").read_text()
    assert "| insertion | higher |" in text and "random (synthetic)" in text
    assert (tmp_path / "figures" / "meta_evaluation.png").is_file()
    assert pd.read_csv(tmp_path / "meta_evaluation.csv").shape == table.shape


def test_no_meta_rows_no_table():
    assert meta_evaluation(_scores().drop(columns=[META_TEST])) is None


@pytest.mark.slow
def test_the_whole_run(run_app, tiny):
    overrides = [o for o in tiny if not o.startswith("perturbation.")]
    out = run_app(["experiment=meta_evaluation", *overrides, "perturbation.copies=2",
                   "attribution.include=[saliency,ixg,gradcam]", "metrics.per_map=[sparseness,dark_share]"], "meta")
    table = pd.read_csv(out / "meta_evaluation.csv")
    assert set(table["measure"]) == {"sparseness", "dark_share", "constant (synthetic)", "random (synthetic)"}
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 3 * 3 * (2 * 2 + 2 * 2)  # images × methods × (model conditions + input samples)
    assert scores.loc[scores["meta_type"] == "resilience", "pred_agrees"].all()  # σ, r = 0.001 keep every prediction
    row = table[(table["measure"] == "sparseness") & (table["test"] == "model")].iloc[0]
    assert row["iec_nr"] == pytest.approx(1.0, abs=0.1)  # the ranking of the methods kept under σ = 0.001
    constant = table[(table["measure"] == "constant (synthetic)") & (table["test"] == "all")].iloc[0]
    assert constant["mc"] == 0.5 and constant["resilience"] == 1.0 and constant["reactivity"] == 0.0
