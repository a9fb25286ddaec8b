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
         restarts: int = 1, rho: float = 0.75, alpha: float = 0.75, clip=(0.0, 255.0),
         seed_start: bool = True, return_trace: bool = False):
    """Auto-PGD (L-inf), Croce & Hein 2020, Algorithm 1, with EOT over ``mc_samples`` passes,
    as AutoAttack's ``APGDAttack`` runs it (its 'rand' version: 1 restart, 20 EOT passes; the
    standard version: more restarts and no EOT).

    Step size eta starts at 2 eps; at each checkpoint w_j (``apgd_checkpoints``) it halves, and
    the iterate moves to the best point so far, when (1) the loss rose in at most
    rho * (w_j - w_{j-1}) of the steps since w_{j-1}, or (2) eta was not halved at w_{j-1} and
    the best loss did not improve since (off at the first checkpoint). Updates use momentum
    alpha: z = P(x_k + eta sign(g_k)), x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k -
    x_{k-1})); the first step is z itself.

    At a move to the best point, as in AutoAttack: x_{k-1} is kept (the next step still has
    momentum, towards the best point from the iterate before the one replaced), the gradient
    stored with the best point is reused (no extra evaluation), and the loss the next window's
    rises are counted from is the last evaluated one. Every restart therefore makes exactly
    ``n_iter + 1`` gradient evaluations (the start point and ``n_iter`` iterates; AutoAttack
    also evaluates its start point), each the mean of ``mc_samples`` passes. A restart starts
    from a new random point and attacks only the examples no earlier restart misclassified.

    Returns per example the last iterate found misclassified (by the mean softmax of the
    gradient passes; AutoAttack keeps the last one too), else the iterate with the highest loss
    over all restarts (AutoAttack: the clean input). With ``return_trace``, also a dict with the
    per-step ``eta``, ``loss``, ``best_loss`` (N, n_iter + 1) and the iterates ``x``
    (N, n_iter + 1, ...) of the first restart.
    """
    eps = non_negative("eps", eps)
    n_iter = count_at_least_one("n_iter", n_iter)
    mc_samples = count_at_least_one("mc_samples", mc_samples)
    restarts = count_at_least_one("restarts", restarts)
    loss = _check_loss(loss)
    clip = clip_range("clip", clip)
    x0 = mx.nd.clip(as_batch(x), *clip)
    labels = as_batch(y).asnumpy().astype(np.int64)
    x_out, best_out = x0.copy(), np.full(x0.shape[0], -np.inf)
    found = np.zeros(x0.shape[0], dtype=bool)
    first_trace = None
    for _ in range(restarts):
        todo = np.flatnonzero(~found)
        if len(todo) == 0:
            break
        index = mx.nd.array(todo, dtype="int64")
        x_adv, fooled, f_best, trace = _apgd_run(
            net, x0.take(index), labels[todo], eps, n_iter=n_iter, mc_samples=mc_samples,
            loss=loss, rho=rho, alpha=alpha, clip=clip, seed_start=seed_start,
            keep_trace=return_trace and first_trace is None)
        first_trace = first_trace or trace
        take = fooled | (f_best > best_out[todo])  # fooled, or a higher loss than before
        if take.any():
            rows = mx.nd.array(todo[take], dtype="int64")
            x_out[rows] = x_adv.take(mx.nd.array(np.flatnonzero(take), dtype="int64"))
        best_out[todo] = np.maximum(best_out[todo], f_best)
        found[todo] |= fooled
    if return_trace:
        return x_out, first_trace
    return x_out


def _apgd_run(net, x0, labels, eps, *, n_iter, mc_samples, loss, rho, alpha, clip, seed_start,
              keep_trace):
    """One APGD run (see ``apgd``) on the batch ``x0``; returns (points, fooled, best loss,
    trace or None)."""
    n = x0.shape[0]
    shape = (n,) + (1,) * (x0.ndim - 1)
    y = mx.nd.array(labels)

    def evaluate(point):
        g, f, p = input_gradient(net, point, y, mc_samples=mc_samples, loss=loss,
                                 return_loss=True)
        return g, f.asnumpy(), p.asnumpy().argmax(axis=1) != labels

    def rows(mask):
        return mx.nd.array(np.flatnonzero(mask), dtype="int64")

    if seed_start and eps > 0:
        t = mx.nd.random.uniform(-1, 1, shape=x0.shape)
        t = t / mx.nd.max(mx.nd.abs(t.reshape((n, -1))), axis=1).reshape(shape)
        x_cur = project(x0 + eps * t, x0, eps, clip)
    else:
        x_cur = x0
    eta = np.full(n, 2.0 * eps)
    g, f, fooled = evaluate(x_cur)
    x_best, g_best, f_best = x_cur.copy(), g.copy(), f.copy()
    x_adv, found = x_cur.copy(), fooled.copy()
    trace = {"eta": [eta.copy()], "loss": [f.copy()], "best_loss": [f_best.copy()],
             "x": [x_cur.asnumpy()]} if keep_trace else None
    x_prev = x_cur
    x_next = project(x_cur + mx.nd.array(eta.reshape(shape)) * mx.nd.sign(g), x0, eps, clip)
    checkpoints = set(apgd_checkpoints(n_iter)) - {0}
    last_check, increases = 0, np.zeros(n)
    halved_at_last, best_at_last = np.ones(n, dtype=bool), f_best.copy()
    for k in range(1, n_iter + 1):
        x_prev, x_cur = x_cur, x_next
        g, f_new, fooled = evaluate(x_cur)
        if fooled.any():  # keep the latest misclassified iterate
            x_adv[rows(fooled)] = x_cur.take(rows(fooled))
            found |= fooled
        increases += f_new > f
        f = f_new
        better = f > f_best
        if better.any():
            x_best[rows(better)] = x_cur.take(rows(better))
            g_best[rows(better)] = g.take(rows(better))
            f_best = np.where(better, f, f_best)
        if k in checkpoints:
            cond1 = increases <= rho * (k - last_check)
            cond2 = ~halved_at_last & (best_at_last >= f_best)
            halve = cond1 | cond2
            halved_at_last, best_at_last = halve, f_best.copy()
            eta = np.where(halve, eta / 2, eta)
            if halve.any():  # continue from the best point with its gradient; x_prev is kept
                x_cur[rows(halve)] = x_best.take(rows(halve))
                g[rows(halve)] = g_best.take(rows(halve))
            last_check, increases = k, np.zeros(n)
        if keep_trace:
            for key, value in (("eta", eta), ("loss", f), ("best_loss", f_best)):
                trace[key].append(value.copy())
            trace["x"].append(x_cur.asnumpy())
        if k == n_iter:
            break
        z = project(x_cur + mx.nd.array(eta.reshape(shape)) * mx.nd.sign(g), x0, eps, clip)
        x_next = project(x_cur + alpha * (z - x_cur) + (1 - alpha) * (x_cur - x_prev), x0, eps,
                         clip)
    if (~found).any():
        x_adv[rows(~found)] = x_best.take(rows(~found))
    if keep_trace:
        trace = {key: np.stack(value, axis=1) for key, value in trace.items()}
    return x_adv, found, f_best, trace
