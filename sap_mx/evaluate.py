"""The evaluation layer: attack these examples, predict with k passes, count what is correct.

Every experiment of the project reduces to these calls (clean test accuracy during training,
the figure experiments, the adaptive evaluation, Khan et al.'s table):

    ok = correct(net, x, y, mc_samples=100)                  # per-example bool, clean
    ok = robust(net, x, y, attack=lambda xb, yb: fgsm(net, xb, yb, 2.0), mc_samples=100)
    accuracy(net, x, y, attack=..., mc_samples=100)          # ok.mean()

Per-example results (not only counts) let a caller combine attacks: an example is robust to a
set of attacks only if it is correct under each of them (the per-example worst case).
"""
from __future__ import annotations

from typing import Callable

import mxnet as mx
import numpy as np

from ._checks import count_at_least_one
from .predict import predict_proba

__all__ = ["correct", "robust", "accuracy"]

Attack = Callable[[np.ndarray, np.ndarray], mx.nd.NDArray]


def correct(net, x, y, *, mc_samples: int = 1, ctx=None,
            return_proba: bool = False):
    """Whether ``net``'s prediction (the mean softmax of ``mc_samples`` passes) on each row of
    ``x`` is its label ``y``: a bool array (and the probabilities when ``return_proba``)."""
    xb = x if isinstance(x, mx.nd.NDArray) else mx.nd.array(np.asarray(x, np.float32),
                                                               ctx=ctx or mx.cpu())
    if ctx is not None:
        xb = xb.as_in_context(ctx)
    p = predict_proba(net, xb, mc_samples=mc_samples).asnumpy()
    labels = y.asnumpy() if isinstance(y, mx.nd.NDArray) else np.asarray(y)
    ok = p.argmax(axis=1) == labels.astype(np.int64)
    return (ok, p) if return_proba else ok


def robust(net, x, y, attack: Attack | None = None, *, mc_samples: int = 1, batch: int = 128,
           transform: Callable[[np.ndarray], np.ndarray] | None = None, ctx=None) -> np.ndarray:
    """Per-example correctness of ``net`` on ``attack(xb, yb)`` (clean when ``attack`` is None),
    batch by batch. ``attack`` gets each batch as NumPy arrays (``transform``, a centre crop
    say, applied first) and returns the adversarial batch."""
    batch = count_at_least_one("batch", batch)
    x, y = (x.asnumpy() if isinstance(x, mx.nd.NDArray) else np.asarray(x)), np.asarray(y)
    out = np.zeros(len(x), dtype=bool)
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        if transform is not None:
            xb = transform(xb)
        if attack is not None:
            xb = attack(xb, yb)
        out[start:start + batch] = correct(net, xb, yb, mc_samples=mc_samples, ctx=ctx)
    return out


def accuracy(net, x, y, attack: Attack | None = None, **kwargs) -> float:
    """The fraction of ``robust(net, x, y, attack, **kwargs)`` that is correct."""
    ok = robust(net, x, y, attack, **kwargs)
    return int(ok.sum()) / len(ok)
