"""The scorecard's verdicts on synthetic pooled scores (:mod:`harness.report.scorecard_verdicts`,
:mod:`harness.report.stability`): files written and rebuilt from the saved tables alone, p-values as scipy's on the
per-image values, groups from the adjusted p-values, a control separated, too few images, an unreliable measure,
stability by hand, settings."""
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats

import harness
from harness.common.errors import UserError
from harness.report.build import build_scorecard, render_scorecard, report_settings
from harness.report.criteria import CRITERIA
from harness.report.scorecard import RANK, column, scorecard
from harness.report.scorecard_verdicts import images_needed_lines, judge, markdown, verdict_settings
from harness.report.stability import LOCO_FRONT, LOCO_HIGH, LOCO_LOW, OVERALL_RANK, leave_one_out
from harness.report.verdicts import VerdictSettings
from harness.common.schema import IMAGE_ID, METHOD, VARIANT
from test_scorecard import METHODS, pooled

FAST = VerdictSettings(bootstrap=10)


def noisy(copies: int = 4, sd: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """``pooled()``'s six images repeated ``copies`` times with independent noise on every measure: 6·copies
    images on which the methods' levels are far apart and ``tie_a`` / ``tie_b`` equal in distribution."""
    base, rng, parts = pooled(), np.random.default_rng(seed), []
    for k in range(copies):
        part = base.copy()
        part[IMAGE_ID] = part[IMAGE_ID] + 6 * k
        for col in ("ssim", "rel_change", "spearman_abs", "topk_intersection", "road_lerf_clean"):
            part[col] = part[col] + rng.normal(0, sd, len(part))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def judged():
    scores = noisy()
    card = scorecard(scores, n_resamples=50)
    return scores, judge(scores, card, FAST)


def test_p_values_are_scipy_s_on_the_per_image_values(judged):
    scores, (card, table, pvalues, _) = judged
    road = scores.assign(gap=scores["road_lerf_clean"] - scores["road_morf_clean"]).drop_duplicates(
        [METHOD, IMAGE_ID]).pivot(index=IMAGE_ID, columns=METHOD, values="gap")
    row = pvalues[(pvalues["criterion"] == "road_gap") & (pvalues["method_a"] == "good")
                  & (pvalues["method_b"] == "tie_a")].iloc[0]
    assert row["n"] == 24
    assert row["p"] == pytest.approx(stats.wilcoxon(road["good"], road["tie_a"]).pvalue, rel=1e-9)
    friedman = table.set_index("criterion").loc["road_gap", "friedman_p"]
    assert friedman == pytest.approx(stats.friedmanchisquare(*(road[m] for m in METHODS)).pvalue, rel=1e-9)
    assert list(pvalues.columns[:7]) == ["criterion", "method_a", "method_b", "n", "statistic", "p", "p_holm"]


def test_groups_follow_from_the_saved_adjusted_p_values(judged):
    _, (card, _, pvalues, _) = judged
    letters = card.set_index(VARIANT)
    assert pvalues["significant"].any() and not pvalues["significant"].all()
    for _, r in pvalues.iterrows():
        group = column(r["criterion"], "group")
        shared = set(letters.loc[r["method_a"], group]) & set(letters.loc[r["method_b"], group])
        assert bool(shared) == (r["p_holm"] > 0.05), tuple(r[["criterion", "method_a", "method_b"]])


def test_the_control_is_separated_from_every_real_method_on_the_road_gap(judged):
    _, (card, _, pvalues, _) = judged
    road = pvalues[pvalues["criterion"] == "road_gap"]
    control = road[(road["method_a"] == "constant_map") | (road["method_b"] == "constant_map")]
    assert len(control) == 4 and control["significant"].all()
    row = card.set_index(VARIANT).loc["constant_map"]
    assert row[column("road_gap", "rank_low")] == row[column("road_gap", "rank_high")] == 5
    ties = card.set_index(VARIANT).loc[["tie_a", "tie_b"], [column("road_gap", "rank_low"),
                                                          column("road_gap", "rank_high")]]
    assert (ties.to_numpy() == [[2, 3], [2, 3]]).all()  # equal in distribution: not told apart


def test_files_are_written_and_rebuilt_from_the_saved_tables_alone(tmp_path):
    out = tmp_path / "report"
    build_scorecard(noisy(2), out, n_resamples=50, verdicts=FAST)
    names = ["scorecard_verdicts.csv", "scorecard_pvalues.csv", "scorecard_stability.csv"]
    assert all((out / n).is_file() for n in names)
    md = (out / "scorecard.md").read_text()
    for text in ("## Which differences are real", "Images needed", "## How stable the verdicts are",
                 "Holm-adjusted at α = 0.05", "constant_map (control)"):
        assert text in md, text
    assert (out / "figures" / "scorecard_cd.png").stat().st_size > 1000
    (out / "scorecard.md").unlink()
    (out / "figures" / "scorecard_cd.png").unlink()
    render_scorecard(out)
    assert (out / "scorecard.md").read_text() == md and (out / "figures" / "scorecard_cd.png").is_file()


def test_too_few_images_say_so_and_are_not_ranked(tmp_path):
    few = pooled()
    few = few[few[IMAGE_ID] < 4]
    card, table, pvalues, stab = judge(few, scorecard(few, n_resamples=20), FAST)
    assert pvalues.empty and card[column("road_gap", "rank_low")].isna().all()
    assert table["note"].str.startswith("not ranked: 4 paired images").all()
    text = markdown(card, table, stab, FAST.bootstrap)
    assert "not tested (not ranked: 4 paired images" in text
    from harness.report.scorecard import scorecard_markdown
    assert "(–)" in scorecard_markdown(card)
    six = judge(pooled(), scorecard(pooled(), n_resamples=20), FAST)[1]
    assert six["note"].str.contains("no pair can be separated with 6 images").all()


def test_an_unreliable_measure_says_so_in_the_verdict(judged):
    _, (card, table, _, stab) = judged
    marked = card.assign(**{column("road_gap", "mc"): 0.52, column("road_gap", "mc_ci95_low"): 0.47,
                            column("road_gap", "mc_ci95_high"): 0.58, column("road_gap", "mc_of"): "road_lerf",
                            column("noise_stability", "mc"): 0.81, column("noise_stability", "mc_ci95_low"): 0.7,
                            column("noise_stability", "mc_ci95_high"): 0.9,
                            column("noise_stability", "mc_of"): "max_sensitivity (noise)"})
    lines = {line.split("**")[1]: line for line in markdown(marked, table, stab, 10).splitlines()
             if line.startswith("- **")}
    assert "unreliable on this model** (MC 0.52, 95% CI from 0.47" in lines["ROAD gap"]
    assert "unreliable" not in lines["noise stability"] and "unreliable" not in lines["input invariance"]


def test_images_needed_line_names_the_closest_pair(judged):
    _, (card, table, pvalues, _) = judged
    lines = "\n".join(images_needed_lines(table, card))
    road = pvalues[(pvalues["criterion"] == "road_gap") & ~pvalues["significant"]]
    assert len(road) == 1  # tie_a vs tie_b
    assert f"tie_a vs tie_b, needs about {int(road['images_needed'].iloc[0]):,} images" in lines


def test_leave_one_criterion_out_by_hand():
    card = scorecard(pooled(), n_resamples=20)
    loco = leave_one_out(card).set_index(VARIANT)
    ranks = card.set_index(VARIANT)[[column(c, RANK) for c in CRITERIA if c.name in card.columns]]
    assert loco.loc["good", OVERALL_RANK] == 1 and loco.loc["bad", OVERALL_RANK] == len(card)
    for v in ranks.index:  # the overall rank without each criterion, recomputed here
        without = [ranks.drop(columns=col).mean(axis=1).rank(method="min")[v] for col in ranks.columns]
        assert (loco.loc[v, LOCO_LOW], loco.loc[v, LOCO_HIGH]) == (min(without), max(without)), v
    # the constant map and good are on every front (three robustness criteria against the ROAD gap)
    assert loco.loc["good", LOCO_FRONT] == 1.0 and loco.loc["bad", LOCO_FRONT] == 0.0


def test_bootstrap_shares(judged):
    _, (card, _, _, stab) = judged
    stab = stab.set_index(VARIANT)
    assert stab.loc["good", column("road_gap", "kept")] == 1.0  # far from the rest on every draw
    assert stab.loc["good", column("noise_stability", "front")] == 1.0
    assert stab.loc["bad", column("noise_stability", "front")] == 0.0
    assert ((stab.filter(like="_kept") >= 0) & (stab.filter(like="_kept") <= 1)).all().all()


def test_settings_are_read_with_the_report_s_and_checked():
    defaults = OmegaConf.load(f"{harness.__path__[0]}/configs/report/default.yaml")
    assert report_settings(defaults)["verdicts"] == VerdictSettings()
    custom = report_settings({**defaults, "verdicts": {"alpha": 0.1, "bootstrap": 0}})["verdicts"]
    assert (custom.alpha, custom.bootstrap) == (0.1, 0)
    for bad in ({"alpha": 1.5}, {"min_images": 1}, {"bootsrap": 3}):
        with pytest.raises(UserError):
            verdict_settings(bad)


def test_the_bayesian_test_as_a_setting(judged):
    scores, (card, _, _, _) = judged
    settings = VerdictSettings(bootstrap=0, bayesian=True, rope=0.01, ropes={"road_gap": 0.2})
    card, table, pvalues, stab = judge(scores, card, settings)
    road = table.set_index("criterion").loc["road_gap"]
    assert road["rope"] == 0.2 and table.set_index("criterion").loc["input_invariance", "rope"] == 0.01
    ties = pvalues[(pvalues["criterion"] == "road_gap") & (pvalues["method_a"] == "tie_a")
                   & (pvalues["method_b"] == "tie_b")].iloc[0]
    assert ties["p_equivalent"] > 0.95  # equal in distribution, differences far inside ±0.2
    good = pvalues[(pvalues["criterion"] == "road_gap") & (pvalues["method_a"] == "good")
                   & (pvalues["method_b"] == "bad")].iloc[0]
    assert good["p_a_better"] > 0.95  # 0.5 apart
    assert "ROPE ±0.2" in markdown(card, table, stab, 0)
    with pytest.raises(UserError):
        verdict_settings({"ropes": {"nonsense": 0.1}})
    assert verdict_settings({"ropes": {"fidelity": 2}}).ropes == {"fidelity": 2.0}


def test_same_seed_same_tables_and_another_seed_other_draws(judged):
    scores, (card, table, pvalues, stab) = judged
    again = judge(scores, scorecard(scores, n_resamples=50), FAST, seed=0)
    pd.testing.assert_frame_equal(again[3], stab)
    pd.testing.assert_frame_equal(again[2], pvalues)
    other = judge(scores, scorecard(scores, n_resamples=50), FAST, seed=1)[3]
    kept = [c for c in stab.columns if c.endswith("_kept")]
    assert not other[kept].equals(stab[kept])  # tie_a / tie_b keep their group on some draws, not all


def test_no_separable_pair_keeps_no_trivial_share():
    six = pooled()  # 6 images, 10 pairs: 10 · 2/2⁶ > 0.05
    card, _, _, stab = judge(six, scorecard(six, n_resamples=20), FAST)
    kept = stab.filter(like="_kept")
    assert len(kept.columns) == 5 and kept.isna().all().all()
    assert stab.filter(like="_front").notna().all().all()  # the fronts are still drawn


def test_the_heat_map_and_the_cd_bars_read_the_grouped_ranks(judged):
    from harness.report.cd_figure import _bars
    from harness.report.scorecard import measured
    from harness.report.scorecard_figures import _ranks

    _, (card, _, _, _) = judged
    shown = measured(card)
    colour, text = _ranks(card, shown)
    j, tie = [c.name for c in shown].index("road_gap"), list(card[VARIANT]).index("tie_a")
    assert text[tie][j] == "2–3" and colour[tie, j] == 2.5
    road = card.set_index(VARIANT)
    bars = _bars(road[column("road_gap", "group")], road[column("road_gap", "mean_rank")])
    ties = sorted(road.loc[["tie_a", "tie_b"], column("road_gap", "mean_rank")])
    assert bars == [tuple(ties)]  # one bar: tie_a and tie_b, every other method separated from all
