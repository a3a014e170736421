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

    def __init__(self, base: Method, beta: float = 10.0) -> None:
        self.base, self.beta = base, float(beta)
        self.needs_baseline, self.complete = base.needs_baseline, False
        for attr in ("baseline", "baseline_space", "n_steps"):
            if hasattr(base, attr):
                setattr(self, attr, getattr(base, attr))

    @property
    def cost(self) -> int:
        return self.base.cost

    @property
    def attackable(self) -> bool:
        return self.base.attackable

    @property
    def fixed_baseline(self) -> bool:
        return getattr(self.base, "fixed_baseline", False)

    def check(self, network, sample) -> None:
        self.base.check(network, sample)

    def info(self) -> dict:
        return self.base.info()

    def bind(self, encoding, train_images=None) -> None:
        self.base.bind(encoding, train_images)
        if hasattr(self.base, "baseline"):
            self.baseline = self.base.baseline

    def attribute(self, network, z, target, baseline=None, max_inputs=None, seeds=None):
        return self.base.attribute(softplus(network, self.beta), z, target, baseline, max_inputs, seeds)

    def surrogate(self, network, beta):
        """The β-smoothed map is differentiable as it is: an attack differentiates the defended map itself."""
        return network

    def differentiable(self, network, z, target, baseline=None, seeds=None):
        return self.base.differentiable(softplus(network, self.beta), z, target, baseline, seeds)

    def differentiable_parts(self, network, z, target, baseline=None, seeds=None):
        return self.base.differentiable_parts(softplus(network, self.beta), z, target, baseline, seeds)
