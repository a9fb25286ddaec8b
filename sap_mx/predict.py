"""Predictions of a (possibly stochastic) model: the mean of softmax (or of the raw outputs) over
Monte Carlo passes."""
from __future__ import annotations

import mxnet as mx
import numpy as np

from ._checks import count_at_least_one
from .mc import copies_per_pass, tile

__all__ = ["predict_proba", "predict_mean", "as_batch"]


def as_batch(x, ctx=None) -> mx.nd.NDArray:
    """An NDArray float32 batch from an NDArray or anything NumPy accepts."""
    if isinstance(x, mx.nd.NDArray):
        out = x if x.dtype == np.float32 else x.astype("float32")
        return out if ctx is None else out.as_in_context(ctx)
    return mx.nd.array(np.asarray(x, dtype=np.float32), ctx=ctx or mx.cpu())


def predict_mean(net, x, mc_samples: int = 1, batch_size: int | None = None, *,
                 softmax: bool = True, max_rows: int | None = None) -> mx.nd.NDArray:
    """Mean over ``mc_samples`` forward passes of softmax(net(x)) (or of net(x) itself when
    ``softmax`` is False: a Q-network's action values), in inference mode.

    Parameters
    ----------
    net : mxnet.gluon.Block
        A model returning logits (or values).
    x : NDArray or array-like, shape (N, ...)
        Inputs in the model's own input space.
    mc_samples : int, default 1
        Stochastic passes to average (the paper uses 100 for stochastic models).
    batch_size : int, optional
        Examples per chunk of ``x`` (default: all at once).
    softmax : bool, keyword-only, default True
        Average probabilities (True) or the raw outputs (False).
    max_rows : int, keyword-only, optional
        Rows per forward pass when Monte Carlo copies are stacked (see ``sap_mx.mc``).

    Returns
    -------
    NDArray, shape (N, outputs)
    """
    mc_samples = count_at_least_one("mc_samples", mc_samples)
    x = as_batch(x)
    n = x.shape[0]
    if n == 0:
        raise ValueError("x has no examples")
    batch_size = n if batch_size is None else count_at_least_one("batch_size", batch_size)
    chunks = []
    with mx.autograd.pause(train_mode=False):
        for start in range(0, n, batch_size):
            xb = x[start:start + batch_size]
            b = xb.shape[0]
            total = None
            for copies in copies_per_pass(net, b, mc_samples, max_rows):
                out = net(tile(xb, copies))
                if softmax:
                    out = mx.nd.softmax(out, axis=-1)
                out = out.reshape((copies, b, -1)).sum(axis=0)
                total = out if total is None else total + out
            chunks.append(total / mc_samples)
    return mx.nd.concat(*chunks, dim=0) if len(chunks) > 1 else chunks[0]


def predict_proba(net, x, mc_samples: int = 1, batch_size: int | None = None, *,
                  max_rows: int | None = None) -> mx.nd.NDArray:
    """Mean over ``mc_samples`` forward passes of softmax(net(x)), in inference mode
    (``predict_mean`` with ``softmax=True``); shape (N, classes)."""
    return predict_mean(net, x, mc_samples, batch_size, softmax=True, max_rows=max_rows)
