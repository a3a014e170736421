"""Relative representation stability (Agarwal et al. 2022): known answers of the ratio, the representation read by
a forward hook, and the scorer reading it only when asked."""
import pytest
import torch

from harness.common.errors import UserError
from harness.metrics.pairwise import Pair, Settings, rrs_ratio
from harness.metrics.representation import representation
from harness.metrics.scorer import Scorer
from harness.metrics.sensitivity import rrs_ratio as rrs


def test_rrs_ratio_known_answers():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 2.0]])  # ‖(a − b) / a‖ = 1
    rep, rep_p = torch.tensor([[1.0, 4.0]]), torch.tensor([[1.0, 2.0]])  # ‖(L − L') / L‖ = 0.5
    assert rrs(a, b, rep, rep_p).item() == pytest.approx(2.0)
    assert rrs(a, a, rep, rep).item() == 0.0  # an identical input: the same map, ratio 0
    assert rrs(a, b, rep, rep, eps_min=1e-6).item() == pytest.approx(1e6)  # an unchanged representation: ε_min
    with pytest.raises(ValueError, match="internal representation"):
        rrs_ratio(a, b, Pair(), Settings())


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(2 * 4 * 4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))


def test_the_default_representation_is_the_input_of_the_last_linear_layer():
    net, z = _net(), torch.rand(2, 1, 6, 6)
    expected = net[:5](z)
    torch.testing.assert_close(representation(net, z), expected)
    torch.testing.assert_close(representation(net, z, "1"), net[:2](z).flatten(1))  # a named module's output
    assert not net._forward_hooks and not net[5]._forward_hooks  # the hook is removed
    with pytest.raises(UserError, match="no module"):
        representation(net, z, "head")
    with pytest.raises(UserError, match="nn.Linear"):
        representation(torch.nn.Sequential(torch.nn.Flatten()), z)


def test_the_scorer_reads_a_representation_only_for_a_measure_that_needs_one():
    net, z = _net(), torch.rand(2, 1, 6, 6)
    assert Scorer().representation(net, z) is None  # the default measures: no extra forward pass
    scorer = Scorer(pairwise=["ris_ratio", "rrs_ratio"], representation_layer="4")
    torch.testing.assert_close(scorer.representation(net, z), net[:5](z))
    maps = torch.rand(2, 6, 6)
    rows = scorer.score(maps, maps, Pair(z, z, net(z), net(z), rep=net[:5](z), rep_p=net[:5](z)))
    assert [r["rrs_ratio"] for r in rows] == [0.0, 0.0]


def test_bad_measure_settings_are_one_clear_line():
    with pytest.raises(UserError, match="non_sensitivity_patch=0"):
        Scorer(measure_settings={"non_sensitivity_patch": 0})
    with pytest.raises(UserError, match="axiom_baseline='white'"):
        Scorer(measure_settings={"axiom_baseline": "white"})
    with pytest.raises(UserError, match="valid keys: .*consistency_grid"):
        Scorer(measure_settings={"consistency_grids": 3})
    assert Scorer(measure_settings={"axiom_baseline": 0.5}).settings.axiom_baseline == 0.5
