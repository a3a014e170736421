"""The scorecard on synthetic pooled scores with known answers: orientation, ranks, ties, CIs, the Pareto front, the
rows each criterion reads, missing families, and the files rebuilt from ``scorecard.csv`` alone."""
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

import harness
from harness.metrics.registry import MEASURES
from harness.report.__main__ import main as report_main
from harness.report.build import build_report, build_scorecard, render_scorecard, report_settings
from harness.report.criteria import CRITERIA, FAITHFULNESS
from harness.report.scorecard import (CI_HIGH, CI_LOW, N, PARETO, RANK, column, pareto_front, scorecard,
                                      scorecard_markdown)
from harness.report.verdicts import VerdictSettings
from harness.common.schema import (BASELINE_TREATMENT, CLEAN_SUFFIX, CONDITION, CONTROL, IMAGE_ID, LABEL, MAGNITUDE,
                            MAP_CONSTANT, MAP_CONSTANT_CLEAN, METHOD, OBJECTIVE, PERTURBATION, PRED, PRED_AGREES,
                            REGIME, RUN, SAMPLE, VARIANT)

N_IMAGES = 6
ROAD_LERF, ROAD_MORF = "road_lerf" + CLEAN_SUFFIX, "road_morf" + CLEAN_SUFFIX
#: Per method: SSIM under the compensated shift, relative change under noise, Spearman of |map| after the full
#: cascade, top-k overlap under attack, ROAD LeRF and MoRF. ``good`` dominates ``bad`` everywhere; ``tie_a`` and
#: ``tie_b`` are equal; the constant map is NaN on every pattern measure, unchanged by a norm, and unfaithful.
METHODS = {
    "good": (0.9, 0.1, 0.1, 0.8, 0.8, 0.2),
    "bad": (0.5, 0.6, 0.7, 0.3, 0.55, 0.45),
    "tie_a": (0.7, 0.3, 0.4, 0.5, 0.7, 0.3),
    "tie_b": (0.7, 0.3, 0.4, 0.5, 0.7, 0.3),
    "constant_map": (np.nan, 0.0, np.nan, np.nan, 0.5, 0.5),
}


def _row(run, method, image, perturbation, regime, magnitude=1.0, sample=0, **measures):
    ssim, rel, spearman_abs, topk, lerf, morf = METHODS[method]
    wiggle = 0.01 * image  # images differ, so that the CIs have a width
    constant = method == "constant_map"
    return {RUN: run, IMAGE_ID: image, SAMPLE: sample, LABEL: image % 3, PRED: image % 3, PRED_AGREES: True,
            METHOD: method, BASELINE_TREATMENT: "", CONTROL: constant, PERTURBATION: perturbation,
            MAGNITUDE: magnitude, REGIME: regime, CONDITION: "", ROAD_LERF: lerf + wiggle, ROAD_MORF: morf,
            MAP_CONSTANT: constant, MAP_CONSTANT_CLEAN: constant, **measures}


def pooled(families=("bias", "noise", "sanity", "attack")) -> pd.DataFrame:
    """Four family runs on the same six images; every family also holds rows its criterion must not read, with
    values that would reverse the answers."""
    rows = []
    for method, (ssim, rel, sp, topk, *_) in METHODS.items():
        for i in range(N_IMAGES):
            w = 0.01 * i
            if "bias" in families:
                rows.append(_row("bias", method, i, "brightness_shift", "compensated", ssim=ssim - w))
                rows.append(_row("bias", method, i, "brightness_shift", "uncompensated", ssim=1 - ssim))
            if "noise" in families:
                rows += [_row("noise", method, i, "noise", "uniform noise, L∞ radius", 0.05, s,
                              rel_change=rel * ((1 + s) / 3 + w)) for s in range(3)]
            if "sanity" in families:
                for depth in (1, 2):
                    value = sp + w if depth == 2 else 1 - sp
                    rows.append(_row("sanity", method, i, "model_randomisation", "cascading", depth,
                                     spearman_abs=value))
                    rows.append(_row("sanity", method, i, "model_randomisation", "independent", depth,
                                     spearman_abs=1 - sp))
            if "attack" in families:
                rows.append(_row("attack", method, i, "attack", "top-k attack (L∞)", 8, topk_intersection=topk - w,
                                 **{OBJECTIVE: "topk"}))
                rows.append(_row("attack", method, i, "attack", "random-sign noise (L∞)", 8,
                                 topk_intersection=1 - topk, **{OBJECTIVE: ""}))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def card():
    return scorecard(pooled(), n_resamples=200).set_index(VARIANT)


def test_criteria_are_data_with_registry_measures():
    assert len({c.name for c in CRITERIA}) == len(CRITERIA)
    for c in CRITERIA:
        assert c.about and c.label and "higher is better" in c.about
        if c.kind != FAITHFULNESS:
            assert c.measure in MEASURES, c.name


def test_values_are_the_oriented_means_over_images(card):
    images = np.arange(N_IMAGES) * 0.01
    good = card.loc["good"]
    assert good["input_invariance"] == pytest.approx(np.mean(0.9 - images))
    assert good["noise_stability"] == pytest.approx(-np.mean(0.1 * (1 + images)))  # the max over the three draws
    assert good["model_randomisation"] == pytest.approx(1 - np.mean(0.1 + images))  # the full cascade only
    assert good["attack_stability"] == pytest.approx(np.mean(0.8 - images))  # not the random-sign control
    assert good["road_gap"] == pytest.approx(np.mean(0.6 + images))
    assert (card[column("road_gap", N)] == N_IMAGES).all()


def test_constant_map_is_robust_and_fails_faithfulness_and_randomisation(card):
    const = card.loc["constant_map"]
    assert bool(const[CONTROL])
    for robust in ("noise_stability", "input_invariance", "attack_stability"):
        assert const[column(robust, RANK)] == 1, robust  # unchanged: a constant map has no pattern to change
    assert const["noise_stability"] == 0.0
    for criterion in ("road_gap", "model_randomisation"):
        assert const[column(criterion, RANK)] == len(card) == card[column(criterion, RANK)].max(), criterion
    assert const["model_randomisation"] == 0.0


def test_ties_share_a_rank_and_dominance_orders_ranks(card):
    for c in ("input_invariance", "noise_stability", "model_randomisation", "attack_stability", "road_gap"):
        assert card.loc["tie_a", column(c, RANK)] == card.loc["tie_b", column(c, RANK)], c
        assert card.loc["good", column(c, RANK)] < card.loc["tie_a", column(c, RANK)] < card.loc["bad", column(c, RANK)]


def test_ci_bounds_contain_the_value(card):
    for c in ("input_invariance", "noise_stability", "model_randomisation", "attack_stability", "road_gap"):
        low, value, high = card[column(c, CI_LOW)], card[c], card[column(c, CI_HIGH)]
        assert ((low <= value + 1e-12) & (value <= high + 1e-12)).all(), c
        assert (high > low).loc["good"], c


def test_a_dominating_method_is_on_the_pareto_front_and_the_dominated_one_is_not(card):
    for c in ("input_invariance", "noise_stability", "attack_stability"):
        front = card[column(c, PARETO)]
        assert front["good"] and not front["bad"] and not front["tie_a"], c
        assert front["constant_map"], c  # the most robust of all, however unfaithful
    assert pareto_front([1, 2, 2, np.nan], [1, 1, 0, 5]).tolist() == [False, True, False, False]


def test_missing_families_drop_their_criteria():
    card = scorecard(pooled(("bias", "noise")), n_resamples=50)
    assert {"input_invariance", "noise_stability", "road_gap"} <= set(card.columns)
    assert not {"attack_stability", "model_randomisation", "label_randomisation", "fidelity"} & set(card.columns)
    md = scorecard_markdown(card)
    assert "Not measured" in md and "attack stability" in md.split("Not measured")[1]
    no_faithfulness = scorecard(pooled(("bias", "attack")).drop(columns=[ROAD_LERF, ROAD_MORF]), n_resamples=50)
    assert "road_gap" not in no_faithfulness and not [c for c in no_faithfulness if c.endswith(PARETO)]


def test_files_are_written_and_rebuilt_from_the_csv_alone(tmp_path):
    out = tmp_path / "report"
    card = build_scorecard(pooled(), out, n_resamples=100, verdicts=VerdictSettings(bootstrap=10))
    assert card is not None
    md = (out / "scorecard.md").read_text()
    for c in CRITERIA:
        assert (c.about in md) == (c.name in card.columns), c.name
    assert "| constant_map (control) |" in md and "higher is better" in md
    figures = ["scorecard_pareto", "scorecard_ranks"]
    for name in figures:
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000 and (out / "figures" / f"{name}.pdf").exists()
        (out / "figures" / f"{name}.png").unlink()
    (out / "scorecard.md").unlink()
    render_scorecard(out)
    assert (out / "scorecard.md").read_text() == md
    assert all((out / "figures" / f"{name}.png").exists() for name in figures)


def test_fewer_than_two_criteria_write_nothing(tmp_path):
    scores = pooled(("bias",)).drop(columns=[ROAD_LERF, ROAD_MORF])
    assert build_scorecard(scores, tmp_path, n_resamples=50) is None
    assert not list(tmp_path.iterdir())


def test_the_report_setting_builds_the_scorecard(tmp_path):
    defaults = OmegaConf.load(f"{harness.__path__[0]}/configs/report/default.yaml")
    assert report_settings(defaults)["scorecard"] is False
    assert report_settings({**defaults, "scorecard": True})["scorecard"] is True
    scores = pooled()
    for run, rows in scores.groupby(RUN):  # one run per family, pooled by the report
        (tmp_path / "runs" / run).mkdir(parents=True)
        rows.drop(columns=[RUN]).dropna(axis=1, how="all").to_csv(tmp_path / "runs" / run / "scores.csv", index=False)
    out = tmp_path / "pool"
    build_report(tmp_path / "runs", out, n_resamples=50, figures=False, scorecard=True,
                 verdicts=VerdictSettings(bootstrap=10))
    expected = scorecard(scores, n_resamples=50)
    pd.testing.assert_frame_equal(pd.read_csv(out / "scorecard.csv")[expected.columns[4:]], expected.iloc[:, 4:],
                                  check_dtype=False)
    assert (out / "scorecard.md").is_file() and not (out / "figures").exists()
    build_report(tmp_path / "runs", tmp_path / "plain", n_resamples=50, figures=False)
    assert not (tmp_path / "plain" / "scorecard.csv").exists()
    cli = tmp_path / "cli"
    assert report_main([str(tmp_path / "runs"), "--out", str(cli), "--scorecard", "--resamples", "50",
                        "--no-figures"]) == 0
    assert (cli / "scorecard.csv").read_text() == (out / "scorecard.csv").read_text()


def test_an_undefined_pattern_measure_of_a_patterned_map_stays_unranked(caplog):
    scores = pooled(("bias", "attack"))
    flat_once = (scores[METHOD] == "bad") & (scores[PERTURBATION] == "brightness_shift")
    scores.loc[flat_once, "ssim"] = np.nan  # e.g. the clean map constant, the perturbed one not
    scores.loc[flat_once, MAP_CONSTANT_CLEAN] = True
    scores.loc[(scores[IMAGE_ID] == 0) & (scores[RUN] == "attack"), LABEL] = 2  # the runs disagree on an image
    with caplog.at_level("WARNING"):
        card = scorecard(scores, n_resamples=50).set_index(VARIANT)
    assert np.isnan(card.loc["bad", "input_invariance"]) and np.isnan(card.loc["bad", column("input_invariance", RANK)])
    assert card.loc["bad", column("input_invariance", N)] == 0 and card.loc["good", column("input_invariance", N)] == 6
    assert "disagree on the label" in caplog.text


def test_the_meta_evaluation_s_rows_are_its_own_and_mark_the_criteria_by_mc(tmp_path):
    from harness.report.meta_evaluation import meta_evaluation, reliability
    from harness.report.reliability import mark_reliability
    from harness.report.scorecard import MC
    from harness.common.schema import ALIGNED, COPY, META_TEST, META_TYPE, TRANSFORM

    rng = np.random.default_rng(0)
    meta = []
    tests = [(t, kind, k) for t in ("model", "input") for kind in ("resilience", "adversary") for k in range(3)]
    for method in ("good", "bad", "tie_a"):
        level = {"good": 0.9, "bad": 0.3, "tie_a": 0.6}[method]
        for i in range(N_IMAGES):
            for test, kind, k in tests:
                tags = {META_TEST: test, META_TYPE: kind, COPY: k}
                lerf = METHODS[method][4] + 0.01 * i
                meta.append(_row("meta", method, i, "meta_evaluation", "copy", **tags, **{
                    PRED_AGREES: kind == "resilience", "road_lerf": lerf if kind == "resilience" else lerf - 0.3}))
                meta += [_row("meta", method, i, "noise", "uniform noise, L∞ radius", 0.05, s, **tags,
                              rel_change=rng.uniform(5, 9)) for s in range(2)]
                # a geometric family: the translation's Spearman keeps the methods' levels under the noise copies
                # and drops under the adversary's; the flip's is noise
                drop = 0.0 if kind == "resilience" else 0.4
                meta += [_row("meta", method, i, "geometric", "translation", 4, 0, **tags, **{
                    TRANSFORM: "translation", ALIGNED: True, "spearman": level + 0.001 * i - drop}),
                    _row("meta", method, i, "geometric", "flip", 1, 0, **tags, **{
                        TRANSFORM: "flip", ALIGNED: True, "spearman": rng.uniform()})]
            alone = {META_TYPE: "unperturbed"}
            meta += [_row("meta", method, i, "noise", "uniform noise, L∞ radius", 0.05, s, rel_change=rng.uniform(5, 9),
                          **alone) for s in range(2)]
            meta += [_row("meta", method, i, "geometric", "translation", 4, 0, **alone, **{
                TRANSFORM: "translation", ALIGNED: True, "spearman": level + 0.001 * i}),
                _row("meta", method, i, "geometric", "flip", 1, 0, **alone, **{
                    TRANSFORM: "flip", ALIGNED: True, "spearman": rng.uniform()})]
    meta = pd.DataFrame(meta)
    scores = pd.concat([pooled(), meta], ignore_index=True)
    plain = scorecard(pooled(), n_resamples=50)
    card = scorecard(scores, n_resamples=50)
    pd.testing.assert_frame_equal(card, plain)  # the meta-evaluation's rows (noise ones included) are not read
    marked = mark_reliability(card, scores, n_resamples=50)
    table = meta_evaluation(scores, n_resamples=50)
    noise = reliability(table, "max_sensitivity", "noise")
    assert marked[column("noise_stability", MC)].iloc[0] == noise[MC]
    assert column("road_gap", MC) not in marked.columns  # road_morf was not meta-evaluated
    assert column("input_invariance", MC) not in marked.columns
    # the equivariance criterion's MC reads its own rows (translation and rotation): the flip's noise is left out
    equivariance = scorecard(pd.concat([scores, pd.DataFrame([_row("geo", m, i, "geometric", "translation", 4, 0, **{
        TRANSFORM: "translation", ALIGNED: True, "spearman": 0.5}) for m in METHODS for i in range(N_IMAGES)])]),
        n_resamples=50)
    marked_eq = mark_reliability(equivariance, scores, n_resamples=50)
    everything = reliability(table, "spearman", "geometric")[MC]
    assert marked_eq[column("equivariance", MC)].iloc[0] > everything + 0.1
    md = scorecard_markdown(marked)
    assert f"noise stability (MC {noise[MC]:.2f})" in md and "Reliability of `max_sensitivity (noise)`" in md
    runs = tmp_path / "runs"
    for run, rows in scores.groupby(RUN):
        (runs / run).mkdir(parents=True)
        rows.drop(columns=[RUN]).dropna(axis=1, how="all").to_csv(runs / run / "scores.csv", index=False)
    build_report(runs, tmp_path / "pool", n_resamples=50, figures=False, scorecard=True,
                 verdicts=VerdictSettings(bootstrap=10))
    assert "(MC " in (tmp_path / "pool" / "scorecard.md").read_text()
    assert (tmp_path / "pool" / "meta_evaluation.csv").is_file()


def test_a_criterion_whose_family_ran_without_its_labels_is_an_error():
    """A renamed regime (here the compensated shift's) would silently drop the criterion: it stops the report
    with one line naming the criterion and the labels found."""
    from harness.common.errors import UserError

    scores = pooled(("bias",))
    scores[REGIME] = scores[REGIME].replace({"compensated": "compensated (renamed)"})
    with pytest.raises(UserError, match=r"criterion 'input_invariance' reads regime \['compensated'\] of .* hold only "
                                        r"\['compensated \(renamed\)'"):
        scorecard(scores)


def test_criteria_name_families_by_their_modules_constants():
    """Every family and regime a criterion reads is written by a family module (no copy of the text)."""
    from harness.perturbations import (attack, brightness_shift, corruption, geometric, invariance, noise,
                                       random_logit, randomisation)

    written = {m.FAMILY for m in (attack, brightness_shift, corruption, geometric, noise, random_logit)}
    written |= {randomisation.MODEL_FAMILY, randomisation.DATA_FAMILY}
    regimes = {invariance.EXACT_FOLD, randomisation.CASCADING}
    for c in CRITERIA:
        where = dict(c.where)
        assert set(where.get(PERTURBATION, ())) <= written, c.name
        assert set(where.get(REGIME, ())) <= regimes, c.name


def test_a_criterion_of_several_measures_averages_each_images_ranks():
    """LATEC's combination, per image: a variant best on both parts scores 1, worst on both 0, best on one and worst
    on the other 0.5; ties share their rank; the paired tests still see one value per image."""
    from harness.report.criteria import Criterion, combined_ranks, per_image

    rows = []
    for image in range(4):
        for method, (a, b) in {"both": (3.0, 30.0), "split": (1.0, 40.0), "none": (0.0, 0.0),
                               "tie": (1.0, 20.0)}.items():
            rows.append({VARIANT: method, IMAGE_ID: image, PERTURBATION: "x", "ssim": a, "spearman": b})
    scores = pd.DataFrame(rows)
    first = Criterion("a", "a", "", "robustness", "ssim", where=((PERTURBATION, ("x",)),))
    second = Criterion("b", "b", "", "robustness", "spearman", where=((PERTURBATION, ("x",)),))
    both = per_image(scores, Criterion("ab", "ab", "", "robustness", "", parts=(first, second)))
    means = both.groupby(level=0).mean()
    # ssim ranks: none 1, split/tie 2.5, both 4 -> scaled 0, .5, 1; spearman: none 0, tie 1/3, both 2/3, split 1
    assert means["both"] == pytest.approx((1 + 2 / 3) / 2) and means["none"] == 0.0
    assert means["split"] == pytest.approx((0.5 + 1) / 2) and means["tie"] == pytest.approx((0.5 + 1 / 3) / 2)
    assert len(both) == 16 and combined_ranks([None, None]) is None
    assert combined_ranks([per_image(scores, first), None]).groupby(level=0).mean()["both"] == 1.0


def test_a_criterion_of_several_measures_needs_every_part():
    """The default faithfulness criterion of insertion and region perturbation: measured from both, left out (not
    measured from insertion alone) when the runs scored only one."""
    from harness.report.criteria import CRITERIA, per_image

    combined = next(c for c in CRITERIA if c.parts)
    assert [p.measure for p in combined.parts] == ["insertion_clean", "region_perturbation_clean"]
    rows = [{VARIANT: v, IMAGE_ID: i, PERTURBATION: "x", "insertion_clean": s * (i + 1),
             "region_perturbation_clean": s} for i in range(3) for v, s in (("good", 2.0), ("bad", 1.0))]
    scores = pd.DataFrame(rows)
    means = per_image(scores, combined).groupby(level=0).mean()
    assert means["good"] == 1.0 and means["bad"] == 0.0
    assert per_image(scores.drop(columns="region_perturbation_clean"), combined) is None
