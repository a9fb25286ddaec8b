"""Stochastic Activation Pruning: Algorithm 1 of Dhillon et al. (ICLR 2018) as a Gluon block."""
from __future__ import annotations

from .. import ops
from .._checks import draw_fraction
from .activation import ActivationDefense

__all__ = ["SAP"]


class SAP(ActivationDefense):
    """Stochastic Activation Pruning of its input, per example (Algorithm 1).

    For every example (first axis) the entries h_j of the rest of the tensor (a = C*H*W of them)
    form p_j = |h_j| / sum_k |h_k|; r = max(1, int(frac * a)) indices are drawn with replacement
    from p; drawn entries are scaled by 1 / (1 - (1 - p_j)^r) and the others set to 0, so
    E[SAP(h)] = h. The backward pass multiplies the gradient by that mask (a constant).

    The block is stochastic whenever it runs: training or inference, imperative or hybridized,
    inside or outside ``autograd.record``; ``mx.random.seed`` reproduces its draws. A map of zeros
    passes through as zeros.

    Parameters
    ----------
    frac : float, default 1.0
        Draws as a fraction of the map size: 1.0 is the paper's SAP-100; values above 1 are
        allowed (draws are with replacement).
    independent : bool, keyword-only, default False
        Keep entries independently with probability 1 - (1 - p_j)^r instead: the same marginals
        but not the law of Algorithm 1 (this is how Athalye et al. 2018 re-implemented SAP). For
        comparisons only.
    """

    def __init__(self, frac: float = 1.0, *, independent: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.frac = draw_fraction("frac", frac)
        self.independent = bool(independent)

    def hybrid_forward(self, F, x):
        return ops.sap(F, x, self.frac, independent=self.independent)

    def after_relu(self, F, x):
        """SAP(relu(x)) in one operator (same values and gradients, one memory pass fewer)."""
        return ops.sap(F, x, self.frac, independent=self.independent, relu=True)

    def __repr__(self):
        extra = ", independent=True" if self.independent else ""
        return f"SAP(frac={self.frac:g}{extra})"
