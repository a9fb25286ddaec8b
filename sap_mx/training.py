"""Training pieces the image recipes share (``sap_mx.recipes``): one SGD step over several
devices, and adversarial training's batch mix (Goodfellow et al. 2015; the paper's ADV).
"""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from .attacks import fgsm

__all__ = ["train_step", "adversarial_positions", "adversarial_mix", "copy_weights"]


def train_step(model, trainer, loss_fn, xb, yb, ctxs, batch: int) -> tuple[float, int]:
    """One SGD step on the batch ``xb, yb`` split over ``ctxs``; returns (loss sum, correct).

    ``batch`` is the global batch (all workers) that the gradient is normalised by."""
    parts = gluon.utils.split_and_load(xb, ctxs)
    labels = gluon.utils.split_and_load(yb, ctxs)
    with autograd.record(train_mode=True):
        outs = [model(p) for p in parts]
        losses = [loss_fn(o, lab) for o, lab in zip(outs, labels, strict=True)]
    for loss in losses:
        loss.backward()
    trainer.step(batch)
    loss_sum = sum(float(loss.sum().asscalar()) for loss in losses)
    correct = sum(int((o.argmax(axis=1) == lab).sum().asscalar())
                  for o, lab in zip(outs, labels, strict=True))
    return loss_sum, correct


def adversarial_positions(batch: int, fraction: float) -> np.ndarray:
    """round(fraction * batch) positions spread evenly over the batch (every 5th for 20%), so
    that each device's share of a split batch holds the same mix."""
    k = round(fraction * batch)
    return np.floor(np.arange(k) * batch / k).astype(np.int64) if k else np.zeros(0, np.int64)


def adversarial_mix(snapshot, xb, yb, *, fraction: float, eps: float):
    """Replace round(fraction * B) examples (``adversarial_positions``) of the (shuffled) batch
    by their FGSM versions at ``eps`` made on ``snapshot``; returns (batch, count)."""
    positions = adversarial_positions(xb.shape[0], fraction)
    if len(positions) == 0:
        return xb, 0
    index = mx.nd.array(positions, ctx=xb.context, dtype="int64")
    adv = fgsm(snapshot, xb.take(index), yb.take(index), eps)
    mixed = xb.copy()
    mixed[positions.tolist()] = adv
    return mixed, len(positions)


def copy_weights(src, dst) -> None:
    """Parameters (and BatchNorm statistics) of ``src`` into ``dst``, matched by structure."""
    dst_params = dst._collect_params_with_prefix()
    for name, param in src._collect_params_with_prefix().items():
        dst_params[name].set_data(param.list_data()[0])
