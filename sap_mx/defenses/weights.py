"""Defenses that transform the weights of every Conv/Dense layer (Appendix B.1-B.4).

A transform maps the weight tensor W to M(W) inside the layer's forward pass, so random ones are
redrawn at every forward pass (and a hybridized graph redraws them too). Only weights change;
biases are left alone, as in the paper's formulas.

=====  ===========================================================  ======================
name   M(W), entry-wise                                             randomness
=====  ===========================================================  ======================
rnw    W + eta, eta ~ N(0, sigma^2)                                 one draw per pass
rsw    eta * W, eta ~ N(1, sigma^2)                                 one draw per pass
dwp    W * [|W| among the top int(keep * m) of |W|]  (ties: any)    none
swp    SAP on the flattened tensor: r = max(1, int(frac * m)) draws one draw per pass
       with replacement from |W| / sum |W|, kept entries scaled by
       1 / (1 - (1 - p)^r)
=====  ===========================================================  ======================

Because one forward pass shares one weight draw across the whole batch, Monte Carlo estimates
over these defenses run one pass per sample (``stochastic_per_pass``), never a tiled batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mxnet.gluon import nn
from mxnet.gluon.nn.conv_layers import _Conv

from .. import ops
from .._checks import draw_fraction, fraction_open_closed, non_negative

__all__ = ["WeightTransform", "rnw", "rsw", "dwp", "swp", "with_weight_transform",
           "WEIGHT_LAYERS"]

WEIGHT_LAYERS = (nn.Dense, _Conv)  # Dense and every Conv1D/2D/3D (and transposed) layer


@dataclass(frozen=True)
class WeightTransform:
    """``fn(F, weight) -> weight``, with a label for ``repr`` and whether it draws randomness."""

    label: str
    fn: Callable
    stochastic_per_pass: bool

    def __call__(self, F, weight):
        return self.fn(F, weight)


def rnw(sigma: float) -> WeightTransform:
    """Random noisy weights (B.1)."""
    sigma = non_negative("sigma", sigma)
    return WeightTransform(f"rnw(sigma={sigma:g})",
                           lambda F, w: w + sigma * F.random.normal_like(w), True)


def rsw(sigma: float) -> WeightTransform:
    """Randomly scaled weights (B.2)."""
    sigma = non_negative("sigma", sigma)
    return WeightTransform(f"rsw(sigma={sigma:g})",
                           lambda F, w: w * (1.0 + sigma * F.random.normal_like(w)), True)


def dwp(keep: float) -> WeightTransform:
    """Deterministic weight pruning (B.3): keep the top ``keep`` fraction of entries by |W|."""
    keep = fraction_open_closed("keep", keep)

    def fn(F, w):
        flat = F.reshape(F.abs(w), shape=(-1,))
        # float64 positions and ranks: exact integers, and k = floor(m * keep) as in Python
        order = F.argsort(flat, is_ascend=False, dtype="float64")  # largest |W| first
        rank = F.argsort(order, is_ascend=True, dtype="float64")   # rank of every position
        k = F.maximum(F.floor(F.size_array(flat).astype("float64") * keep), 1.0)
        kept = F.broadcast_lesser(rank, k).astype("float32")
        return w * F.reshape_like(kept, w)

    return WeightTransform(f"dwp(keep={keep:g})", fn, False)


def swp(frac: float) -> WeightTransform:
    """Stochastic weight pruning (B.4): SAP applied to each weight tensor as a whole."""
    frac = draw_fraction("frac", frac)

    def fn(F, w):
        return F.reshape_like(ops.sap(F, F.reshape(w, shape=(1, -1)), frac), w)

    return WeightTransform(f"swp(frac={frac:g})", fn, True)


_DEFENDED_CLASSES: dict[type, type] = {}


def then(first: WeightTransform, second: WeightTransform) -> WeightTransform:
    """``second`` applied to the output of ``first``."""
    return WeightTransform(f"{first.label} then {second.label}",
                           lambda F, w: second(F, first(F, w)),
                           first.stochastic_per_pass or second.stochastic_per_pass)


def with_weight_transform(layer: nn.HybridBlock, transform: WeightTransform) -> nn.HybridBlock:
    """Turn ``layer`` (a copy, see ``sap_mx.blocks.clone``) into one whose forward pass uses
    ``transform(weight)``; its parameters stay the same objects. A layer that already has a
    transform (a model defended twice) applies both, the earlier one first."""
    previous = layer.__dict__.get("_weight_transform")
    if previous is not None:
        layer.__dict__["_weight_transform"] = then(previous, transform)
        return layer
    cls = type(layer)
    if cls not in _DEFENDED_CLASSES:
        def hybrid_forward(self, F, x, *args, **params):
            params["weight"] = self._weight_transform(F, params["weight"])
            return super(defended, self).hybrid_forward(F, x, *args, **params)

        def __repr__(self):
            return f"{cls.__repr__(self)} with {self._weight_transform.label}"

        defended = type(cls.__name__, (cls,), {"hybrid_forward": hybrid_forward,
                                               "__repr__": __repr__,
                                               "__module__": cls.__module__})
        _DEFENDED_CLASSES[cls] = defended
    layer.__class__ = _DEFENDED_CLASSES[cls]
    layer.__dict__["_weight_transform"] = transform
    return layer
