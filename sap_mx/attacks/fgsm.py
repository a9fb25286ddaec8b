"""Fast gradient sign method with the paper's Monte Carlo gradient (section 3.2)."""
from __future__ import annotations

import mxnet as mx
import numpy as np

from .._checks import clip_range, count_at_least_one, non_negative, positive
from ..predict import as_batch
from .gradients import input_gradient

__all__ = ["fgsm", "fgsm_step", "fgsm_minimal"]


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


def fgsm_minimal(net, x, y, *, epsilons: int = 1000, max_epsilon: float = 1.0,
                 mc_samples: int = 1, predict=None, clip=(0.0, 1.0)):
    """Foolbox-1.x FGSM: the smallest eps on the grid ``linspace(0, max_epsilon, epsilons + 1)[1:]``
    for which x + eps * sign(g) (clipped) is misclassified; g as in ``fgsm``.

    ``predict(batch) -> probabilities`` decides "misclassified" (default: one forward pass of
    ``net``, the paper's protocol for stochastic models; pass an averaged one for EOT). Returns
    ``(x_adv, eps)``: per example the adversarial image at the smallest eps that fooled it and
    that eps, or the clean image and ``inf`` where no eps on the grid did (the example counts as
    robust)."""
    epsilons = count_at_least_one("epsilons", epsilons)
    max_epsilon = positive("max_epsilon", max_epsilon)
    lo, hi = clip_range("clip", clip)
    x = as_batch(x)
    labels = as_batch(y).asnumpy().astype("int64")
    if predict is None:
        def predict(batch):
            with mx.autograd.pause(train_mode=False):
                return mx.nd.softmax(net(batch), axis=-1)
    sign = mx.nd.sign(input_gradient(net, x, y, mc_samples=mc_samples))
    found = np.full(x.shape[0], np.inf)
    x_adv = x.copy()
    open_rows = list(range(x.shape[0]))
    for k in range(1, epsilons + 1):
        if not open_rows:
            break
        eps = max_epsilon * k / epsilons
        index = mx.nd.array(open_rows, dtype="int64")
        candidate = mx.nd.clip(x.take(index) + eps * sign.take(index), lo, hi)
        probs = predict(candidate)
        pred = (probs.asnumpy() if hasattr(probs, "asnumpy") else probs).argmax(axis=1)
        fooled = pred != labels[open_rows]
        for row, hit in zip(list(open_rows), fooled, strict=True):
            if hit:
                found[row] = eps
        if fooled.any():
            rows = [row for row, hit in zip(open_rows, fooled, strict=True) if hit]
            x_adv[rows] = candidate[mx.nd.array(fooled.nonzero()[0], dtype="int64")]
            open_rows = [row for row, hit in zip(open_rows, fooled, strict=True) if not hit]
    return x_adv, found
