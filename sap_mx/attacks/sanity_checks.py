"""Sanity checks of an attack's strength (Carlini et al. 2019, "On Evaluating Adversarial
Robustness"; AutoAttack keeps its checks beside its attacks in the same way).

``sanity(net, x, y, ...)`` runs PGD (with EOT on a stochastic model) and says whether

1. an unbounded attack (lambda = the whole pixel range) brings accuracy to about 0%: at most
   1%, or one image of a small set;
2. accuracy does not rise (beyond 2 standard errors of the difference) when the steps double or
   when the EOT samples double, at the check lambda.

A failure means the attack, not the defense, is the weak link: the accuracies it reports are
not upper bounds to rely on.
"""
from __future__ import annotations

import math
from typing import Callable

import mxnet as mx

from ..evaluate import accuracy
from .pgd import pgd

__all__ = ["pgd_attack", "sanity"]


def pgd_attack(net, eps: float, *, steps: int, eot_samples: int, clip, loss: str = "ce"):
    """An ``attack(xb, yb)`` for ``sap_mx.evaluate``: PGD with step 2.5 * eps / steps (Madry et
    al.'s rule) and ``eot_samples`` passes per gradient; the clean batch at eps = 0."""
    def attack(xb, yb):
        if eps == 0:
            return mx.nd.array(xb)
        return pgd(net, xb, yb, eps, steps=steps, step_size=2.5 * eps / steps,
                   mc_samples=eot_samples, loss=loss, clip=clip)
    return attack


def sanity(net, x, y, *, check_eps: float, clip, steps: int, eot_samples: int,
           predict_mc: int, batch: int,
           reseed: Callable[[str], object] = lambda tag: None,
           measure: Callable[[str, float, int, int], float] | None = None,
           ladder: bool = True) -> tuple[bool, str]:
    """Checks 1 and 2 of the module docstring (with ``ladder=False`` check 1 only, for an
    evaluation that cannot afford the ladder's three PGD runs on every model); returns (ok,
    one-line reason).

    Each measurement has a tag (``unbounded``, ``ladder/<steps>/<eot>``): ``reseed(tag)`` is
    called before it so that a caller can give each its own random stream, or ``measure(tag,
    eps, steps, eot_samples)`` computes it instead (PGD accuracy; a driver that keeps per-batch
    progress passes its own)."""
    lo, hi = clip

    def acc(tag, eps, s, e):
        if measure is not None:
            return measure(tag, eps, s, e)
        reseed(tag)
        return accuracy(net, x, y, pgd_attack(net, eps, steps=s, eot_samples=e, clip=clip),
                        mc_samples=predict_mc, batch=batch)

    unbounded = acc("unbounded", hi - lo, steps, eot_samples)
    problems = []
    limit = max(0.01, 1 / len(x))  # about 0%: at most 1%, or one image of a small set
    if unbounded > limit + 1e-12:
        problems.append(f"unbounded PGD leaves {100 * unbounded:.1f}% (> {100 * limit:.1f}%)")

    def var(p):  # binomial variance of an accuracy, p floored at one image
        p = min(max(p, 1 / len(x)), 1 - 1 / len(x))
        return p * (1 - p) / len(x)

    if not ladder:
        return (not problems), ("; ".join(problems) or
                                f"unbounded {100 * unbounded:.1f}% (no steps/EOT ladder)")
    rungs = []
    for s, e in ((steps, eot_samples), (2 * steps, eot_samples), (steps, 2 * eot_samples)):
        rungs.append(acc(f"ladder/{s}/{e}", check_eps, s, e))
    for name, a in (("doubling steps", rungs[1]), ("doubling EOT samples", rungs[2])):
        if a > rungs[0] + 2 * math.sqrt(var(rungs[0]) + var(a)):
            problems.append(f"{name} raised accuracy {100 * rungs[0]:.1f}% -> {100 * a:.1f}%")
    return (not problems), ("; ".join(problems) or
                            f"unbounded {100 * unbounded:.1f}%, steps/EOT ladder "
                            + "/".join(f"{100 * a:.1f}" for a in rungs))
