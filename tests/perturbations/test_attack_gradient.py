"""The attack's gradient (:meth:`ExplanationAttack._gradient`) takes a one-term map's value from the term it
differentiates (one forward and backward less per step); it equals, bit for bit, the two-pass computation: the map
without a graph, then ``Σ_terms ∂⟨v, term⟩/∂x``."""
import pytest
import torch

from harness.attribution.methods import InputXGradient, IntegratedGradients, Saliency
from harness.attribution.reduce import reduce_channels
from harness.models.encoding import Encoding
from harness.models.rps_cnn import build_rps_cnn
from harness.perturbations.attack_optimiser import ExplanationAttack, objective
from harness.perturbations.base import Batch, Explainer


def _two_pass(attack, batch, e, surrogate, x, clean, goal, probs0):
    enc, target = batch.encoding, batch.target
    with torch.no_grad():
        attr = e.method.attribute(surrogate, enc.encode(x), target, e.baseline, seeds=e.seeds)
    attr = attr.detach().requires_grad_(True)
    loss = objective(attack.objective, reduce_channels(attr, e.reduction), clean, attack.fraction, goal)
    v = torch.autograd.grad(loss.sum(), attr)[0]
    grad, leaf = torch.zeros_like(x), x.requires_grad_(True)
    for part in e.method.differentiable_parts(surrogate, enc.encode(leaf), target, e.baseline, e.seeds):
        grad += torch.autograd.grad((v * part).sum(), leaf, retain_graph=True)[0]
    if attack.objective == "targeted":
        probs = surrogate(enc.encode(leaf)).softmax(1)
        grad += torch.autograd.grad(attack.gamma * ((probs - probs0) ** 2).mean(1).sum(), leaf)[0]
    return grad


@pytest.mark.parametrize("method", ["saliency", "ixg", "ig"])
@pytest.mark.parametrize("goal_name", ["topk", "mass_centre", "targeted"])
def test_the_attack_gradient_equals_the_two_pass_computation(method, goal_name):
    torch.manual_seed(0)
    net = build_rps_cnn(32, 0.25).eval().requires_grad_(False)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    m, base = {"saliency": (Saliency(), None), "ixg": (InputXGradient(), None),
               "ig": (IntegratedGradients(None, n_steps=4), torch.zeros_like(x))}[method]
    batch = Batch(x, x, torch.arange(3), torch.zeros(3, dtype=torch.long), Encoding.named("unit"))
    e = Explainer(method, m, net, base, torch.zeros(3, 2, dtype=torch.long), "sum_abs")
    attack = ExplanationAttack(goal_name, 8 / 255)
    clean, _ = attack._real(batch, e, x)
    goal, surrogate = clean.flip(-1).flip(-2), m.surrogate(net, 10.0)
    probs0 = surrogate(x).softmax(1).detach()
    ours = attack._gradient(batch, e, surrogate, x.clone(), clean, goal, probs0)
    assert ours.abs().max() > 0
    assert torch.equal(ours, _two_pass(attack, batch, e, surrogate, x.clone(), clean, goal, probs0))
