"""Expectation over randomness as a model wrapper (the idea of Foolbox's EOT wrapper).

``EOT(net, samples)`` is a model whose output is log of the mean softmax of ``samples`` forward
passes of ``net``: its softmax is the averaged prediction (what ``predict_proba`` reports), and
its gradient is the gradient of that averaged prediction, so any attack that reads logits or
gradients (DeepFool, LocalSearch, PGD...) sees the expected model instead of one random draw.
Wrapping a deterministic model changes nothing (same softmax, same gradients).
"""
from __future__ import annotations

from mxnet.gluon import Block, HybridBlock

from .._checks import count_at_least_one

__all__ = ["EOT"]


class EOT(HybridBlock):
    """log(mean_k softmax(net(x))) over ``samples`` independent passes (each pass draws its own
    randomness, hybridized or not)."""

    def __init__(self, net: Block, samples: int, **kwargs):
        super().__init__(**kwargs)
        self.samples = count_at_least_one("samples", samples)
        self.net = net  # a child: gradient views and clones reach it

    def hybrid_forward(self, F, x):
        probs = [F.softmax(self.net(x), axis=-1) for _ in range(self.samples)]
        mean = probs[0] if self.samples == 1 else F.add_n(*probs) / self.samples
        return F.log(F.maximum(mean, 1e-30))

    def __repr__(self):
        return f"EOT({self.net.__class__.__name__}, samples={self.samples})"
