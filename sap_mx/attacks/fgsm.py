"""Fast gradient sign method with the paper's Monte Carlo gradient (section 3.2)."""
from __future__ import annotations

import mxnet as mx

from .._checks import clip_range, non_negative
from ..predict import as_batch
from .gradients import input_gradient

__all__ = ["fgsm", "fgsm_step"]


def fgsm(net, x, y, eps: float, *, mc_samples: int = 1, clip=(0.0, 255.0),
         max_rows: int | None = None) -> mx.nd.NDArray:
    """x + eps * sign(g), clipped to ``clip``, where g is the input gradient of the softmax
    cross-entropy averaged over ``mc_samples`` stochastic passes (BatchNorm in inference mode).

    Parameters
    ----------
    net : mxnet.gluon.Block
        The attacked model (returns logits); a defended model gives the paper's MC attack.
    x : NDArray or array-like, shape (N, ...)
        Clean inputs in the model's input space (0..255 pixels for the project's models).
    y : NDArray or array-like of int, shape (N,)
        True labels.
    eps : float
        L-infinity budget (the paper's lambda), in the units of ``x``.
    mc_samples : int, keyword-only, default 1
    clip : (low, high), keyword-only, default (0, 255)
    max_rows : int, keyword-only, optional
        Rows per pass when Monte Carlo copies are stacked.
    """
    eps = non_negative("eps", eps)
    lo, hi = clip_range("clip", clip)
    x = as_batch(x)
    if eps == 0:
        return mx.nd.clip(x, lo, hi)
    g = input_gradient(net, x, y, mc_samples=mc_samples, max_rows=max_rows)
    return fgsm_step(x, g, eps, clip=(lo, hi))


def fgsm_step(x, gradient, eps: float, *, clip=(0.0, 255.0)) -> mx.nd.NDArray:
    """x + eps * sign(gradient), clipped: FGSM from a gradient already computed.

    One gradient serves every eps of a sweep (the gradient of FGSM does not depend on eps), which
    is how the experiments evaluate the paper's grid of lambdas for the cost of one gradient."""
    eps = non_negative("eps", eps)
    lo, hi = clip_range("clip", clip)
    x = as_batch(x)
    if eps == 0:
        return mx.nd.clip(x, lo, hi)
    return mx.nd.clip(x + eps * mx.nd.sign(gradient), lo, hi)
