"""BPDA for SAP (Athalye et al. 2018's Backward Pass Differentiable Approximation).

SAP is unbiased: E[SAP(h)] = h (Algorithm 1's 1/(1-(1-p)^r) scaling). ``bpda(net)`` returns a
parameter-sharing copy of a defended model whose forward pass is unchanged (SAP samples as
usual) and whose backward pass treats every SAP as its expectation, the identity: the
gradient flows to all activations instead of only the kept ones. Attacks use it as the
adversary model (``attack_model``), e.g. ``pgd(bpda(sap_net), x, y, ...)``, and compare it with
the plain EOT gradient of ``sap_net`` itself.
"""
from __future__ import annotations

from mxnet.gluon import Block, HybridBlock

from ..blocks import clone, is_relu
from ..defenses.registry import DefendedActivation
from ..defenses.sap import SAP

__all__ = ["bpda", "BPDAActivation"]


class BPDAActivation(HybridBlock):
    """defense(act(x)) forward, d act(x) / dx backward (the defense as the identity)."""

    def __init__(self, act: Block, defense: Block, **kwargs):
        super().__init__(**kwargs)
        self.act = act
        self.defense = defense

    def hybrid_forward(self, F, x):
        h = F.relu(x) if is_relu(self.act) else self.act(x)
        return h + F.BlockGrad(self.defense(h) - h)

    def __repr__(self):
        return f"BPDA({self.act!r} -> {self.defense!r})"


def bpda(net: Block) -> Block:
    """A copy of ``net`` (sharing its parameters) with every SAP's backward pass replaced by the
    identity; raises ValueError if ``net`` has no SAP."""
    found = []

    def visit(original, dup):
        if isinstance(original, DefendedActivation) and isinstance(original.defense, SAP):
            found.append(original)
            return BPDAActivation(dup.act, dup.defense, prefix=dup.prefix)
        return dup

    out = clone(net, visit)
    if not found:
        raise ValueError("bpda: the model has no SAP (defend it with sap_mx.defend(net, 'sap'))")
    return out
