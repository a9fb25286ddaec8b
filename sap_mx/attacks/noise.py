"""Random perturbation (Fig. 1a): every input entry moved by +eps or -eps at random."""
from __future__ import annotations

import mxnet as mx

from .._checks import clip_range, non_negative
from ..predict import as_batch

__all__ = ["random_noise"]


def random_noise(x, eps: float, *, clip=(0.0, 255.0)) -> mx.nd.NDArray:
    """x + eps * s, s a uniformly random sign per entry (drawn from MXNet's generator), clipped.

    The paper says only "random perturbation" of magnitude lambda; a random sign at full
    magnitude is the L-infinity analogue of FGSM with a random direction, so the two attacks have
    the same budget.
    """
    eps = non_negative("eps", eps)
    lo, hi = clip_range("clip", clip)
    x = as_batch(x)
    sign = 2.0 * (mx.nd.random.uniform_like(x) < 0.5) - 1.0
    return mx.nd.clip(x + eps * sign, lo, hi)
