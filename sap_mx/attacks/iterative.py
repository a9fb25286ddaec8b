"""The iterative attack of section 4.5 (basic iterative method, Kurakin et al. 2016)."""
from __future__ import annotations

import math

import mxnet as mx

from .._checks import clip_range, non_negative, positive
from ..predict import as_batch
from .gradients import input_gradient

__all__ = ["bim", "project"]


def project(x_adv, x, eps: float, clip) -> mx.nd.NDArray:
    """Projection onto the L-infinity ball of radius eps around x, then onto the box ``clip``."""
    lo, hi = clip
    return mx.nd.clip(mx.nd.minimum(mx.nd.maximum(x_adv, x - eps), x + eps), lo, hi)


def bim(net, x, y, eps: float, *, step: float = 1.0, mc_samples: int = 10, clip=(0.0, 255.0),
        max_rows: int | None = None) -> mx.nd.NDArray:
    """x_0 = x, x_t = project(x_{t-1} + step * sign(g(x_{t-1}))) for ceil(eps / step) steps.

    g is the Monte Carlo input gradient (``mc_samples`` passes per step; the paper uses 10 for
    SAP-100 and k = step = 1). eps = 0 returns x (clipped).
    """
    eps = non_negative("eps", eps)
    step = positive("step", step)
    clip = clip_range("clip", clip)
    x = mx.nd.clip(as_batch(x), *clip)
    x_adv = x
    for _ in range(math.ceil(eps / step)):
        g = input_gradient(net, x_adv, y, mc_samples=mc_samples, max_rows=max_rows)
        x_adv = project(x_adv + step * mx.nd.sign(g), x, eps, clip)
    return x_adv
