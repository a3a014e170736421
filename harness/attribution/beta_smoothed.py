"""β-smoothed explanations: a method computed on the softplus(β) surrogate of the network.

Dombrowski et al. ("Explanations can be manipulated and geometry is to blame", NeurIPS 2019,
https://arxiv.org/abs/1906.07983): the explanation of the softplus network
(:func:`~harness.attribution.surrogate.softplus`) has bounded curvature, so small input changes move it less; a
defence against attacks on the explanation.
"""
from __future__ import annotations

from harness.attribution.methods import Method
from harness.attribution.surrogate import softplus


class BetaSmoothed(Method):
    """Any method computed on the softplus(β) copy of the network: a β-smoothed explanation (Dombrowski et al.).

    Args:
        base: The method smoothed (e.g. the gradient).
        beta: Softplus β (larger: closer to the ReLU network's map, less smoothing).
    """

    complete = False

    def __init__(self, base: Method, beta: float = 10.0) -> None:
        self.base, self.beta = base, float(beta)

    # what the engine asks of a method is the smoothed method's (its baseline, steps, cost, attackability)
    needs_baseline = property(lambda self: self.base.needs_baseline)
    fixed_baseline = property(lambda self: self.base.fixed_baseline)
    n_steps = property(lambda self: self.base.n_steps)
    cost = property(lambda self: self.base.cost)
    attackable = property(lambda self: self.base.attackable)
    draws_in_frame = property(lambda self: self.base.draws_in_frame)

    @property
    def baseline(self):
        """The smoothed method's baseline factory (for methods that take one)."""
        return self.base.baseline

    def check(self, network, sample) -> None:
        self.base.check(network, sample)

    def info(self) -> dict:
        return self.base.info()

    def bind(self, encoding, train_images=None) -> None:
        self.base.bind(encoding, train_images)

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None, move=None):
        moved = {"move": move} if self.base.draws_in_frame else {}  # a smoothed SmoothGrad moves its draws
        return self.base.attribute(softplus(network, self.beta), z, target, baseline, max_inputs, seeds, **moved)

    def surrogate(self, network, beta):
        """The β-smoothed map is differentiable as it is: an attack differentiates the defended map itself."""
        return network

    def differentiable(self, network, z, target, baseline=None, seeds=None):
        return self.base.differentiable(softplus(network, self.beta), z, target, baseline, seeds)

    def differentiable_parts(self, network, z, target, baseline=None, seeds=None):
        return self.base.differentiable_parts(softplus(network, self.beta), z, target, baseline, seeds)
