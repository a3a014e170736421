"""Pairwise measures on the pixels valid in both frames (the map-frame mask, harness.metrics.pairwise)."""
import numpy as np
import pytest
import torch

from harness.metrics.pairwise import Pair
from harness.metrics.registry import names
from harness.metrics.scorer import Scorer

ALL = names("pairwise")


def _maps(seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(3, 20, 24, generator=g, dtype=torch.float64)
    b = a + 0.3 * torch.randn(3, 20, 24, generator=g, dtype=torch.float64)
    x = torch.rand(3, 3, 20, 24, generator=g)
    rep, rep_p = torch.rand(3, 5, generator=g), torch.rand(3, 5, generator=g)  # for rrs_ratio
    return a, b, Pair(x, x + 0.01, torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g), rep=rep, rep_p=rep_p)


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_an_all_ones_mask_gives_the_unmasked_numbers_bit_for_bit(backend):
    a, b, pair = _maps()
    scorer = Scorer(pairwise=ALL, backend=backend)
    ones = Pair(pair.x, pair.x_p, pair.logits, pair.logits_p, torch.ones(3, 20, 24, dtype=torch.bool), pair.rep,
                pair.rep_p)
    assert scorer.score(a, b, pair) == scorer.score(a, b, ones)


def test_masked_measures_use_only_the_valid_pixels_and_backends_agree():
    a, b, pair = _maps(1)
    valid = torch.ones(3, 20, 24, dtype=torch.bool)
    valid[:, :, :6] = False  # a border uncovered by a shift
    valid[1, 15:, :] = False
    masked = Pair(pair.x, pair.x_p, pair.logits, pair.logits_p, valid, pair.rep, pair.rep_p)
    garbage = b.clone()
    garbage[~valid] = 1e6  # what lies outside the valid region must not matter
    measures = [m for m in ALL if m != "hog_similarity"]
    ref = Scorer(pairwise=measures, backend="reference").score(a, garbage, masked)
    got = Scorer(pairwise=measures, backend="torch").score(a, garbage, masked)
    clean = Scorer(pairwise=measures, backend="torch").score(a, b, masked)
    for r, g, c in zip(ref, got, clean):
        for m in ("ssim", "ssim_abs", "spearman", "spearman_abs", "kendall", "topk_intersection"):
            assert g[m] == pytest.approx(r[m], abs=1e-10), m
            assert g[m] == pytest.approx(c[m], abs=1e-10), m
        for m in ("rel_change", "lipschitz_ratio", "ris_ratio", "ros_ratio", "rrs_ratio"):
            assert g[m] == pytest.approx(c[m], rel=1e-12), m
    # by hand: Spearman of the valid pixels alone
    from scipy.stats import spearmanr
    v = valid[0].numpy()
    assert got[0]["spearman"] == pytest.approx(spearmanr(a[0].numpy()[v], b[0].numpy()[v]).statistic, abs=1e-12)
