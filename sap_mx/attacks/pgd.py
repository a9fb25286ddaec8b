"""Adaptive L-inf attacks with expectation over the model's randomness (EOT): PGD, and APGD
(Croce & Hein 2020) as AutoAttack's 'rand' version runs it.

Both take every gradient as the mean of ``mc_samples`` stochastic passes (``input_gradient``),
which is what makes them adaptive against stochastic defenses (Athalye et al. 2018). With
``mc_samples=1`` on a deterministic model, ``pgd`` is plain PGD (Madry et al. 2018).
"""
from __future__ import annotations


import mxnet as mx
import numpy as np

from .._checks import clip_range, count_at_least_one, non_negative, positive
from ..predict import as_batch
from .gradients import LOSSES, input_gradient
from .iterative import project

__all__ = ["pgd", "apgd", "apgd_checkpoints"]


def _check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(sorted(LOSSES))}")
    return loss


def pgd(net, x, y, eps: float, steps: int, step_size: float, *, mc_samples: int = 1,
        random_start: bool = True, loss: str = "ce", clip=(0.0, 255.0)) -> mx.nd.NDArray:
    """L-inf projected gradient ascent on ``loss``: x_0 = x (+ U(-eps, eps) if ``random_start``),
    x_t = project(x_{t-1} + step_size * sign(g_t)), g_t the mean gradient of ``mc_samples``
    passes; ``steps`` steps. Randomness (start, passes) comes from MXNet's seeded generator."""
    eps = non_negative("eps", eps)
    steps = count_at_least_one("steps", steps)
    step_size = positive("step_size", step_size)
    mc_samples = count_at_least_one("mc_samples", mc_samples)
    loss = _check_loss(loss)
    clip = clip_range("clip", clip)
    x0 = mx.nd.clip(as_batch(x), *clip)
    x_adv = x0
    if random_start and eps > 0:
        x_adv = project(x0 + mx.nd.random.uniform(-eps, eps, shape=x0.shape), x0, eps, clip)
    for _ in range(steps):
        g = input_gradient(net, x_adv, y, mc_samples=mc_samples, loss=loss)
        x_adv = project(x_adv + step_size * mx.nd.sign(g), x0, eps, clip)
    return x_adv


def apgd_checkpoints(n_iter: int) -> list[int]:
    """APGD's iterations at which the step size is reconsidered, as AutoAttack computes them:
    the first after int(0.22 n) iterations, each next gap shorter by int(0.03 n) down to
    int(0.06 n) (each at least 1). For n = 100: 0, 22, 41, 57, 70, 80, 87, 93, 99, the paper's
    w_j = ceil(p_j n) with p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)."""
    gap, decrease, smallest = (max(int(f * n_iter), 1) for f in (0.22, 0.03, 0.06))
    points, at = [0], 0
    while at + gap <= n_iter:
        at += gap
        points.append(at)
        gap = max(gap - decrease, smallest)
    return points


def apgd(net, x, y, eps: float, *, n_iter: int = 100, mc_samples: int = 20, loss: str = "ce",
         rho: float = 0.75, alpha: float = 0.75, clip=(0.0, 255.0), seed_start: bool = True,
         return_trace: bool = False):
    """Auto-PGD (L-inf), Croce & Hein 2020, Algorithm 1, with EOT over ``mc_samples`` passes
    (AutoAttack 'rand': 20).

    Step size eta starts at 2 eps; at each checkpoint w_j (``apgd_checkpoints``) it halves, and
    the iterate restarts from the best point so far, when (1) the loss rose in fewer than
    rho * (w_j - w_{j-1}) of the steps since w_{j-1}, or (2) eta did not change at w_{j-1} and
    the best loss did not improve since. Updates use momentum alpha:
    z = P(x_k + eta sign(g)), x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1})).

    As in AutoAttack: halving condition 1 is "rises <= rho * window", condition 2 is off at the
    first checkpoint. Returns per example the last iterate found misclassified (by the mean
    softmax of the gradient passes; AutoAttack keeps the last one too), else the iterate with the
    highest loss (AutoAttack: the clean input); with ``return_trace`` also a dict with the
    per-step ``eta`` (N, n_iter + 1), ``loss`` and ``best_loss`` histories.
    """
    eps = non_negative("eps", eps)
    n_iter = count_at_least_one("n_iter", n_iter)
    mc_samples = count_at_least_one("mc_samples", mc_samples)
    loss = _check_loss(loss)
    clip = clip_range("clip", clip)
    x0 = mx.nd.clip(as_batch(x), *clip)
    labels = as_batch(y).asnumpy().astype(np.int64)
    n = x0.shape[0]
    shape = (n,) + (1,) * (x0.ndim - 1)

    def evaluate(point):
        g, f, p = input_gradient(net, point, y, mc_samples=mc_samples, loss=loss,
                                 return_loss=True)
        return g, f.asnumpy(), p.asnumpy().argmax(axis=1) != labels

    if seed_start and eps > 0:
        t = mx.nd.random.uniform(-1, 1, shape=x0.shape)
        t = t / mx.nd.max(mx.nd.abs(t.reshape((n, -1))), axis=1).reshape(shape)
        x_cur = project(x0 + eps * t, x0, eps, clip)
    else:
        x_cur = x0
    eta = np.full(n, 2.0 * eps)
    g, f, fooled = evaluate(x_cur)
    x_best, f_best = x_cur.copy(), f.copy()
    x_adv = x_cur.copy()
    found = fooled.copy()
    trace = {"eta": [eta.copy()], "loss": [f.copy()], "best_loss": [f_best.copy()]}
    x_prev = x_cur
    eta_nd = mx.nd.array(eta.reshape(shape))
    x_next = project(x_cur + eta_nd * mx.nd.sign(g), x0, eps, clip)
    checkpoints = set(apgd_checkpoints(n_iter)) - {0}
    last_check, increases = 0, np.zeros(n)
    eta_at_last, best_at_last = eta.copy(), f_best.copy()
    for k in range(1, n_iter + 1):
        x_prev, x_cur = x_cur, x_next
        g, f_new, fooled = evaluate(x_cur)
        if fooled.any():  # keep the latest misclassified iterate
            idx = mx.nd.array(np.flatnonzero(fooled), dtype="int64")
            x_adv[idx] = x_cur.take(idx)
            found |= fooled
        increases += f_new > f
        f = f_new
        better = f > f_best
        if better.any():
            idx = mx.nd.array(np.flatnonzero(better), dtype="int64")
            x_best[idx] = x_cur.take(idx)
            f_best = np.where(better, f, f_best)
        restarted = False
        if k in checkpoints:
            cond1 = increases <= rho * (k - last_check)
            cond2 = (eta_at_last == eta) & (best_at_last == f_best) & (last_check > 0)
            halve = cond1 | cond2
            eta_at_last, best_at_last = eta.copy(), f_best.copy()
            eta = np.where(halve, eta / 2, eta)
            if halve.any():  # restart those from their best point, without momentum
                idx = mx.nd.array(np.flatnonzero(halve), dtype="int64")
                x_cur[idx] = x_best.take(idx)
                x_prev[idx] = x_best.take(idx)
                restarted = True
            last_check, increases = k, np.zeros(n)
        trace["eta"].append(eta.copy())
        trace["loss"].append(f.copy())
        trace["best_loss"].append(f_best.copy())
        if k == n_iter:
            break
        if restarted:
            g, f, _ = evaluate(x_cur)  # gradients at the restart points
        eta_nd = mx.nd.array(eta.reshape(shape))
        z = project(x_cur + eta_nd * mx.nd.sign(g), x0, eps, clip)
        x_next = project(x_cur + alpha * (z - x_cur) + (1 - alpha) * (x_cur - x_prev), x0, eps,
                         clip)
    unfound = mx.nd.array(np.flatnonzero(~found), dtype="int64")
    if len(unfound):
        x_adv[unfound] = x_best.take(unfound)
    if return_trace:
        return x_adv, {key: np.stack(value, axis=1) for key, value in trace.items()}
    return x_adv
