"""The meta-evaluation report: the table from the rows of its conditions, the synthetic measures, the figure, and
the whole run on a tiny configuration."""
import numpy as np
import pandas as pd
import pytest

from harness.report.build import build_meta_evaluation as build
from harness.report.meta_evaluation import meta_evaluation
from harness.common.schema import COPY, META_TEST, META_TYPE


def _scores(n_images=24, copies=3, seed=0) -> pd.DataFrame:
    """Rows as the run writes them: a faithful measure (``insertion``: kept under noise, every method worse under
    the adversary) and one that reacts to nothing but noise of its own (``dark_share``, no direction)."""
    rng = np.random.default_rng(seed)
    methods = {"a": 0.0, "b": 1.0, "c": 2.0}
    rows = []
    for test in ("model", "input"):
        for kind in ("resilience", "adversary"):
            for k in range(copies):
                copy, sample = k, 0
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


def _family_rows(n_images=24, copies=3, samples=2, seed=1) -> pd.DataFrame:
    """A family (``noise``) run alone and under every copy: ``ssim`` keeps each method's level under the noise copies
    and drops under the adversary's (reliable); ``rel_change`` is independent noise (not)."""
    rng = np.random.default_rng(seed)
    methods = {"a": 0.2, "b": 0.5, "c": 0.8}
    rows = []
    settings = [({META_TYPE: "unperturbed"}, 0.0)] + [({META_TEST: t, META_TYPE: kind, COPY: k}, 0.0 if kind == "resilience" else 0.15)
                              for t in ("model", "input") for kind in ("resilience", "adversary") for k in range(copies)]
    for own, drop in settings:
        for m, level in methods.items():
            for i in range(n_images):
                for s in range(samples):
                    rows.append({"image_id": i, "sample": s, "method": m, "baseline_treatment": "", "control": False,
                                 "perturbation": "noise", "magnitude": 0.05, "regime": "uniform", "condition": "",
                                 "pred_agrees": True, "ssim": level + 0.002 * i - drop - 0.01 * s,
                                 "rel_change": rng.uniform(), **own})
    return pd.DataFrame(rows)


def test_a_family_s_pairwise_measures_are_meta_evaluated_under_the_copies(tmp_path):
    table = build(pd.concat([_scores(), _family_rows()], ignore_index=True), tmp_path, seed=0, n_resamples=200)
    both = table[table["test"] == "all"].set_index(["measure", "family"])
    ssim, noise = both.loc[("ssim", "noise")], both.loc[("rel_change", "noise")]
    assert ssim["iec_nr"] == 1.0 and ssim["iac_nr"] == 1.0 and ssim["mc"] > 0.9
    assert noise["mc"] < ssim["mc"] - 0.2
    # the max over samples of rel_change (max-sensitivity) is a row of its own; the mean (avg-sensitivity) is not
    assert ("max_sensitivity", "noise") in both.index and ("avg_sensitivity", "noise") not in both.index
    assert ("insertion", "") in both.index  # the per-map measures stay
    assert "| ssim (noise) | higher |" in (tmp_path / "meta_evaluation.md").read_text()


def test_results_saved_with_the_input_copies_as_samples_read_the_same():
    """Runs saved before the input copies were conditions of their own kept them as the samples of one condition."""
    old = _scores()
    inputs = old["meta_test"] == "input"
    old.loc[inputs, "sample"], old.loc[inputs, COPY] = old.loc[inputs, COPY], 0
    a, b = meta_evaluation(_scores(), n_resamples=50), meta_evaluation(old, n_resamples=50)
    pd.testing.assert_frame_equal(a, b)


def test_no_meta_rows_no_table():
    assert meta_evaluation(_scores().drop(columns=[META_TEST])) is None


@pytest.mark.slow
def test_the_whole_run(run_app, tiny):
    overrides = [o for o in tiny if not o.startswith("perturbation.")]
    out = run_app(["experiment=meta_evaluation", *overrides, "perturbation.copies=2", "perturbation.families.0.n_samples=2",
                   "attribution.include=[saliency,ixg,gradcam]", "metrics.per_map=[sparseness,dark_share]",
                   "metrics.pairwise=[ssim,rel_change]"], "meta")
    table = pd.read_csv(out / "meta_evaluation.csv", keep_default_na=False, na_values=[""])
    table["family"] = table["family"].fillna("")
    assert set(zip(table["measure"], table["family"])) == {
        ("sparseness", ""), ("dark_share", ""), ("constant (synthetic)", ""), ("random (synthetic)", ""),
        ("ssim", "noise"), ("rel_change", "noise"), ("ssim_min", "noise"), ("max_sensitivity", "noise")}
    scores = pd.read_csv(out / "scores.csv")
    # images × methods × (8 copies + the noise family's 2 draws alone + 2 draws under each of the 8 copies)
    assert len(scores) == 3 * 3 * (8 + 2 + 8 * 2)
    copies = scores[scores["perturbation"] == "meta_evaluation"]
    assert copies.loc[copies["meta_type"] == "resilience", "pred_agrees"].all()  # σ, r = 0.001 keep every prediction
    row = table[(table["measure"] == "sparseness") & (table["test"] == "model")].iloc[0]
    assert row["iec_nr"] == pytest.approx(1.0, abs=0.1)  # the ranking of the methods kept under σ = 0.001
    constant = table[(table["measure"] == "constant (synthetic)") & (table["test"] == "all")].iloc[0]
    assert constant["mc"] == 0.5 and constant["resilience"] == 1.0 and constant["reactivity"] == 0.0
