"""Defenses that act on activation maps (inserted after every ReLU by ``defend``).

Test-time dropout (section 4.1.2) and the noisy-activation baselines of Appendix B.5/B.6. Each
draws fresh noise at every call, in training and inference, imperative or hybridized: the
randomness comes from MXNet operators inside ``hybrid_forward`` (``F.random.*``, and
``F.Dropout(..., mode='always')``), never from Gluon's training-only ``Dropout`` block.
"""
from __future__ import annotations

from mxnet.gluon import HybridBlock

from .._checks import fraction_closed_open, non_negative

__all__ = ["ActivationDefense", "DropoutAtTest", "RNA", "RSA"]


class ActivationDefense(HybridBlock):
    """A block applied to activation maps. ``after_relu(F, x)`` applies the defense to relu(x);
    a subclass may fuse the two (SAP does)."""

    def after_relu(self, F, x):
        return self.hybrid_forward(F, F.relu(x))


class DropoutAtTest(ActivationDefense):
    """Dropout that stays on at inference: keep each entry with probability 1 - rate and scale the
    kept ones by 1 / (1 - rate). ``rate=0`` is the identity."""

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = fraction_closed_open("rate", rate)

    def hybrid_forward(self, F, x):
        # MXNet's Dropout operator with mode='always' (not Gluon's training-only default): on at
        # inference, hybridized or not, seeded by mx.random.seed; twice as fast as building the
        # mask from F.random.uniform_like (which costs a dropout-trained epoch ~2x its time).
        if self.rate == 0:
            return x
        return F.Dropout(x, p=self.rate, mode="always")

    def __repr__(self):
        return f"DropoutAtTest(rate={self.rate:g})"


class RNA(ActivationDefense):
    """Random noisy activations (Appendix B.5): h + eta, eta ~ N(0, sigma^2) per entry."""

    def __init__(self, sigma: float, **kwargs):
        super().__init__(**kwargs)
        self.sigma = non_negative("sigma", sigma)

    def hybrid_forward(self, F, x):
        return x + self.sigma * F.random.normal_like(x)

    def __repr__(self):
        return f"RNA(sigma={self.sigma:g})"


class RSA(ActivationDefense):
    """Randomly scaled activations (Appendix B.6): eta * h, eta ~ N(1, sigma^2) per entry."""

    def __init__(self, sigma: float, **kwargs):
        super().__init__(**kwargs)
        self.sigma = non_negative("sigma", sigma)

    def hybrid_forward(self, F, x):
        return x * (1.0 + self.sigma * F.random.normal_like(x))

    def __repr__(self):
        return f"RSA(sigma={self.sigma:g})"
