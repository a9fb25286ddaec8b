"""Input gradients of a (possibly stochastic) model, averaged over Monte Carlo passes.

This is the one place in the project that estimates E_p[grad_x J(M_p(theta), x, y)] (section 3.2
of the paper): ``mc_samples`` stochastic forward/backward passes, the per-pass input gradients
of the softmax cross-entropy averaged. Every attack calls it.

Gradients are those of the model in inference mode (BatchNorm on its running statistics,
Gluon Dropout off). MXNet 1.9.1's CPU build needs care here; measured and kept as tests in
``tests/test_attacks.py``:

* under ``autograd.record(train_mode=False)`` a plain ``backward()`` runs in *training* mode and
  differentiates BatchNorm as if it used batch statistics (relative error ~5 on one BatchNorm);
* ``backward(train_mode=False)`` fixes BatchNorm but not max pooling: oneDNN's inference-mode
  pooling keeps no workspace and its backward routes gradients to the wrong inputs; it is also
  ~6x slower for ResNet-20 (a reference BatchNorm backward).

So gradients are taken on a *gradient view* of the model: a parameter-sharing copy in which every
BatchNorm has ``use_global_stats=True`` (inference arithmetic in any mode) and every Gluon
``Dropout`` has rate 0 (what it is at inference), run with ``train_mode=True`` forward and
backward. Its output is the inference-mode output and its gradient matches finite differences.
A traced graph that still holds an operator behaving differently in training (functional
``F.Dropout``/``F.BatchNorm`` and the others in ``_MODE_DEPENDENT``) is refused with a
ValueError; a model that cannot be traced (plain ``Block``s) is used with a one-time warning.
"""
from __future__ import annotations

import json
import warnings
import weakref

import mxnet as mx
from mxnet.gluon import Block, HybridBlock, nn
from mxnet.gluon.nn.basic_layers import _BatchNorm

from .._checks import count_at_least_one
from ..blocks import clone, walk
from ..mc import copies_per_pass, tile
from ..predict import as_batch

__all__ = ["input_gradient", "gradient_view", "LOSSES"]


def _softmax_ce(logits, labels):
    """Per-example softmax cross-entropy; labels are class indices.

    Written so that its gradient keeps the right direction in float32 however confident the
    model is. MXNet 1.9.1's CPU ``log_softmax`` returns log p_y slightly *above* 0 once the
    true-class margin passes ~16 (margin 16: loss -3.6e-7, d loss / d z_y +3.6e-7), so
    ``-pick(log_softmax(z), y)`` pushes confident inputs towards more confidence; any form going
    through p_y or ``1 - p_y`` loses the y term to rounding near margin 17-19 (float64: ~35).

    With d_k = z_k - z_y and S = sum_{k != y} e^{d_k}, CE = log(1 + S), whose exact gradient is
    dz_k = e^{d_k} / (1 + S) and dz_y = -S / (1 + S): no cancellation. For stability with
    misclassified inputs (e^{d_k} overflows past d_k ~ 88) the sum is shifted by the constant
    m = max(0, max_k d_k) (gradient blocked; CE = m + log(e^{-m} + sum_k e^{d_k - m}) holds for
    any constant m, so autograd of it is the exact gradient); ``log1p`` and ``expm1`` keep the
    value of a confident example's loss instead of rounding it to 0.
    """
    onehot = mx.nd.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    z_y = mx.nd.pick(logits, labels, axis=-1, keepdims=True)
    d = mx.nd.broadcast_sub(logits, z_y)
    m = mx.nd.BlockGrad(mx.nd.maximum(mx.nd.max(d - 1e30 * onehot, axis=-1), 0.0))
    others = mx.nd.exp(mx.nd.broadcast_sub(d, m.expand_dims(-1))) * (1.0 - onehot)
    return m + mx.nd.log1p(mx.nd.expm1(-m) + mx.nd.sum(others, axis=-1))


def _best_other(logits, labels):
    """max_{k != y} z_k per example."""
    mask = mx.nd.one_hot(labels, logits.shape[-1])
    return mx.nd.max(logits - 1e9 * mask, axis=-1)


def _margin(logits, labels):
    """Carlini-Wagner margin max_{k != y} z_k - z_y (positive once misclassified)."""
    return _best_other(logits, labels) - mx.nd.pick(logits, labels, axis=-1)


def _dlr(logits, labels):
    """Croce & Hein's difference of logits ratio, to be maximised:
    -(z_y - max_{k != y} z_k) / (z_pi1 - z_pi3 + 1e-12), pi sorting the logits downwards."""
    top = mx.nd.topk(logits, k=3, ret_typ="value", axis=-1)
    scale = mx.nd.slice_axis(top, axis=-1, begin=0, end=1) - mx.nd.slice_axis(top, axis=-1,
                                                                              begin=2, end=3)
    return _margin(logits, labels) / (scale.reshape((-1,)) + 1e-12)


LOSSES = {"ce": _softmax_ce, "margin": _margin, "dlr": _dlr}  # all to be maximised

# operators whose forward or backward depends on the training flag, with the attribute values for
# which they do not
_MODE_DEPENDENT = {
    "BatchNorm": lambda a: a.get("use_global_stats") == "True",
    "BatchNorm_v1": lambda a: a.get("use_global_stats") == "True",
    "_contrib_BatchNormWithReLU": lambda a: a.get("use_global_stats") == "True",
    "_contrib_SyncBatchNorm": lambda a: a.get("use_global_stats") == "True",
    "Dropout": lambda a: a.get("mode") == "always",
    "RNN": lambda a: float(a.get("p", "0")) == 0.0,
    "LeakyReLU": lambda a: a.get("act_type", "leaky") != "rrelu",
}

_views: "weakref.WeakKeyDictionary[Block, tuple]" = weakref.WeakKeyDictionary()


def _freeze_mode(original, dup):
    if isinstance(dup, _BatchNorm):
        dup._kwargs = dict(dup._kwargs, use_global_stats=True)
    elif isinstance(dup, nn.Dropout):
        dup._rate = 0.0
    return dup


def _mode_dependent_ops(view: HybridBlock) -> list[str] | None:
    """Operators of the traced view whose behaviour still depends on the training flag (None if
    the view cannot be traced symbolically)."""
    try:
        graph = json.loads(view(mx.sym.var("data")).tojson())
    except Exception:  # noqa: BLE001 - any tracing failure means "cannot check"
        return None
    return sorted({node["op"] for node in graph["nodes"]
                   if node["op"] in _MODE_DEPENDENT
                   and not _MODE_DEPENDENT[node["op"]](node.get("attrs", {}))})


def gradient_view(net: Block) -> Block:
    """The gradient view of ``net`` (see the module docstring), cached per model and
    hybridization state."""
    key = (getattr(net, "_active", False), tuple(getattr(net, "_flags", ())))
    cached = _views.get(net)
    if cached is not None and cached[0] == key:
        return cached[1]
    view = clone(net, _freeze_mode)
    left = _mode_dependent_ops(view) if all(isinstance(b, HybridBlock) for b in walk(net)) else None
    if left:
        raise ValueError(f"{type(net).__name__} applies {', '.join(left)} in a training-"
                         "dependent mode outside Gluon blocks; inference-mode gradients need "
                         "nn.BatchNorm/nn.Dropout blocks (or use_global_stats / mode='always')")
    if left is None:
        warnings.warn(f"{type(net).__name__} cannot be traced: sap_mx cannot check it for "
                      "functional BatchNorm/Dropout, whose gradients would be training-mode ones",
                      RuntimeWarning, stacklevel=3)
    _views[net] = (key, view)
    return view


def input_gradient(net: Block, x, y, *, mc_samples: int = 1, loss: str = "ce",
                   max_rows: int | None = None, return_loss: bool = False):
    """Mean over ``mc_samples`` stochastic passes of d loss(net(x), y) / dx, per example.

    Parameters
    ----------
    net : mxnet.gluon.Block
        Returns logits; evaluated with BatchNorm in inference mode.
    x : NDArray or array-like, shape (N, ...)
    y : NDArray or array-like of int, shape (N,)
        True labels.
    mc_samples : int, keyword-only, default 1
        Passes averaged (the paper's MC estimate uses 100). With 1 on a deterministic model this
        is the plain gradient.
    loss : str, keyword-only, default 'ce'
        A key of ``LOSSES``: 'ce' (softmax cross-entropy), 'margin' (Carlini-Wagner), 'dlr'
        (Croce & Hein's difference of logits ratio); each is to be maximised by an attack.
    max_rows : int, keyword-only, optional
        Rows per pass when Monte Carlo copies are stacked (see ``sap_mx.mc``).
    return_loss : bool, keyword-only, default False
        Also return the per-example loss and softmax, both averaged over the same passes:
        ``(gradient, loss, probabilities)`` (what iterative attacks track).
    """
    mc_samples = count_at_least_one("mc_samples", mc_samples)
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(sorted(LOSSES))}")
    loss_fn = LOSSES[loss]
    x = as_batch(x)
    labels = as_batch(y, ctx=x.context)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},), got {labels.shape}")
    view = gradient_view(net)
    b = x.shape[0]
    total = mx.nd.zeros_like(x)
    loss_sum = prob_sum = None
    for copies in copies_per_pass(net, b, mc_samples, max_rows):
        xt = tile(x, copies).copy()
        xt.attach_grad()
        with mx.autograd.record(train_mode=True):  # safe on the view, see the module docstring
            logits = view(xt)
            per_example = loss_fn(logits, tile(labels, copies))
            objective = per_example.sum()
        objective.backward(train_mode=True)
        total += xt.grad.reshape((copies, b) + x.shape[1:]).sum(axis=0)
        if return_loss:
            lsum = per_example.reshape((copies, b)).sum(axis=0)
            psum = mx.nd.softmax(logits, axis=-1).reshape((copies, b, -1)).sum(axis=0)
            loss_sum = lsum if loss_sum is None else loss_sum + lsum
            prob_sum = psum if prob_sum is None else prob_sum + psum
    if return_loss:
        return total / mc_samples, loss_sum / mc_samples, prob_sum / mc_samples
    return total / mc_samples
