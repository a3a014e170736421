"""The faithfulness measures of Quantus / LATEC enter the meta-evaluation through the registry alone: scored by the
scorer for clean and perturbed maps, they are rows of the table with their direction."""
import numpy as np
import pandas as pd
import torch

from harness.metrics.per_map import Scene
from harness.metrics.registry import MEASURES
from harness.metrics.scorer import Scorer
from harness.report.build import build_meta_evaluation as build
from harness.common.schema import COPY, META_TEST, META_TYPE

NEW = ("pixel_flipping", "region_perturbation", "selectivity", "irof", "faithfulness_correlation",
       "faithfulness_estimate", "monotonicity_correlation", "sensitivity_n")


def _clean_scores(n_images: int = 8) -> dict[str, dict[str, list[float]]]:
    """Per method, the scorer's clean and perturbed columns of the new measures on a linear toy model."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n_images, 3, 16, 16, generator=g)
    w = torch.randn(3, 16, 16, generator=g) / 10

    def model(images):
        z = (images * w).sum((1, 2, 3))
        return torch.stack([z, -z], 1)

    scene = Scene(x, model=model, inputs=x, target=torch.zeros(n_images, dtype=torch.long),
                  seeds=torch.arange(n_images))
    scorer = Scorer(per_map=list(NEW), faithfulness_perturbed=True,
                    faithfulness={"region_patch": 4, "irof_segments": 20, "correlation_runs": 16})
    maps = {"exact": (x * w).sum(1), "noise": torch.rand(n_images, 16, 16, generator=g), "inverse": -(x * w).sum(1)}
    out = {}
    for method, m in maps.items():
        clean, _ = scorer.score_maps(m, scene, clean=True)
        perturbed, _ = scorer.score_maps(m, scene)
        assert set(clean) == {n + "_clean" for n in NEW} and set(perturbed) == set(NEW)
        out[method] = clean
    return out


def test_the_new_faithfulness_measures_are_rows_of_the_meta_evaluation(tmp_path):
    scores, rng, rows = _clean_scores(), np.random.default_rng(0), []
    for test in ("model", "input"):
        for kind in ("resilience", "adversary"):
            for copy in range(3):
                kept = rng.uniform(size=8) < (0.9 if kind == "resilience" else 0.3)
                for method, values in scores.items():
                    for i in range(8):
                        row = {"image_id": i, "sample": 0, "method": method, "baseline_treatment": "",
                               "control": False, "perturbation": "meta_evaluation", "magnitude": 0.1,
                               "regime": f"{test} {kind}", "condition": "", META_TEST: test, META_TYPE: kind,
                               COPY: copy, "pred_agrees": bool(kept[i])}
                        for name in NEW:
                            clean = values[name + "_clean"][i]
                            row[name + "_clean"] = clean
                            row[name] = clean if kind == "resilience" else clean + rng.normal()
                        rows.append(row)
    table = build(pd.DataFrame(rows), tmp_path, seed=0, n_resamples=50)
    listed = set(table.loc[table["test"] == "all", "measure"])
    assert set(NEW) <= listed
    text = (tmp_path / "meta_evaluation.md").read_text()
    for name in NEW:
        assert f"| {name} | {MEASURES[name].stable} |" in text
