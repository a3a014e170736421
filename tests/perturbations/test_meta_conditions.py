"""The meta-evaluation's conditions: seeded multiplicative weight noise and uniform input noise, K copies each."""
import pytest
import torch
import torch.nn as nn

from harness.common.errors import UserError
from harness.models.encoding import Encoding
from harness.perturbations.base import Batch
from harness.perturbations.meta import InputNoise, MetaEvaluation, WeightNoise, weight_noise
from harness.common.schema import COPY, META_TEST, META_TYPE


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_weight_noise_multiplies_every_parameter_by_a_seeded_draw():
    net = _net()
    before = [p.clone() for p in net.parameters()]
    a, b, other = weight_noise(net, 0.5, seed=3), weight_noise(net, 0.5, seed=3), weight_noise(net, 0.5, seed=4)
    for p, q, r, w in zip(a.parameters(), b.parameters(), other.parameters(), net.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, r)
        ratio = p / w
        assert ratio.std() > 0.2 and abs(ratio.mean() - 1) < 0.5  # N(1, 0.5²) per element
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))  # the original is unchanged
    tiny = weight_noise(net, 1e-6, seed=3)
    assert all(torch.allclose(p, w, rtol=1e-5) for p, w in zip(tiny.parameters(), net.parameters()))


def test_the_four_tests_and_their_copies():
    conds = MetaEvaluation(copies=3, seed=0).conditions(Encoding.named("unit"), (3, 8, 8))
    model = [c for c in conds if c.columns[META_TEST] == "model"]
    inputs = [c for c in conds if c.columns[META_TEST] == "input"]
    assert len(model) == 6 and len(inputs) == 6 and all(c.n_samples == 1 for c in conds)
    for part in (model, inputs):
        assert sorted((c.columns[META_TYPE], c.columns[COPY]) for c in part) == [
            (t, k) for t in ("adversary", "resilience") for k in range(3)]
    assert len({c.key for c in conds}) == len(conds)
    net = _net()
    copies = [c.transform_network(net) for c in model if c.columns[META_TYPE] == "adversary"]
    assert not torch.equal(next(copies[0].parameters()), next(copies[1].parameters()))
    assert model[0].transform_network(net) is model[0].transform_network(net)  # one network per copy
    with pytest.raises(UserError, match="valid choices: model, input"):
        MetaEvaluation(tests=["weights"])


def test_input_noise_is_uniform_in_the_ball_seeded_per_image_and_copy():
    x = torch.full((2, 3, 8, 8), 0.5)
    enc = Encoding.named("unit")
    batch = Batch(x, enc.encode(x), torch.tensor([0, 1]), torch.zeros(2, dtype=torch.long), enc, seed=0)
    cond, other = InputNoise("adversary", 0.3, copy_index=0), InputNoise("adversary", 0.3, copy_index=1)
    z0, z0_again, z1 = cond.transform_inputs(batch, 0), cond.transform_inputs(batch, 0), other.transform_inputs(batch, 0)
    assert torch.equal(z0, z0_again) and not torch.equal(z0, z1) and not torch.equal(z0[0], z0[1])
    assert (z0 - x).abs().max() <= 0.3 + 1e-6 and (z0 - x).abs().max() > 0.25
