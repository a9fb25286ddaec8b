"""What a profile costs: forward and backward passes counted per part, times measured unit costs.

The figure experiments and the adaptive evaluation are counted from the same task lists and
attack settings the drivers run (``image_eval.EXPERIMENTS``, ``adaptive.model_tasks``), so a
change of profile or grid changes the estimate with it. A *gradient* is one forward and one
backward pass of one image (one MC / EOT sample); a *prediction* is one forward pass of one
image. Stochastic models (SAP, noise, dropout on) and deterministic ones are counted apart,
because a stochastic pass costs more (SAP's sampling). ``benchmarks/bench_fashion.py`` measures
the four unit costs on this machine and prints the estimate of every part; the training time
comes from the runs' own logs.

What is not counted (a few per cent): data loading, the PGD/APGD arithmetic outside the
network, the DLR loss, writing rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import adaptive, image_eval
from .profiles import ADAPTIVE, EVAL, AdaptiveProfile, EvalProfile
from .zoo import DETERMINISTIC

__all__ = ["Passes", "UnitCost", "eval_passes", "adaptive_passes", "seconds"]


@dataclass
class Passes:
    """Per-image pass counts, summed over everything a part does (then times n images)."""

    grad_det: float = 0.0      # forward+backward, deterministic model
    grad_sto: float = 0.0      # forward+backward, stochastic model (one sample)
    pred_det: float = 0.0      # forward, deterministic model
    pred_sto: float = 0.0      # forward, stochastic model (one pass)

    def __add__(self, other: "Passes") -> "Passes":
        return Passes(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def __mul__(self, k: float) -> "Passes":
        return Passes(*(k * a for a in self.astuple()))

    def astuple(self) -> tuple:
        return (self.grad_det, self.grad_sto, self.pred_det, self.pred_sto)


@dataclass(frozen=True)
class UnitCost:
    """Seconds per image of each kind of pass (``benchmarks/bench_fashion.py`` measures them)."""

    grad_det: float
    grad_sto: float
    pred_det: float
    pred_sto: float


def seconds(p: Passes, unit: UnitCost) -> float:
    return (p.grad_det * unit.grad_det + p.grad_sto * unit.grad_sto
            + p.pred_det * unit.pred_det + p.pred_sto * unit.pred_sto)


def _grad(stochastic: bool, k: float) -> Passes:
    return Passes(grad_sto=k) if stochastic else Passes(grad_det=k)


def _pred(stochastic: bool, k: float) -> Passes:
    return Passes(pred_sto=k) if stochastic else Passes(pred_det=k)


# ---------------------------------------------------------------------------------------------
# the figure experiments
# ---------------------------------------------------------------------------------------------
def task_passes(task: image_eval.Task, s: EvalProfile, eps_grid) -> Passes:
    """Per-image passes of one task over the lambda grid (as ``image_eval.evaluate_task``)."""
    evaluated_sto = task.stochastic
    adversary_sto = task.stochastic if task.attack_model == "self" else False
    predict = s.predict_mc if evaluated_sto else 1
    out = _pred(evaluated_sto, predict * len(eps_grid))
    if task.attack == "fgsm" and any(e > 0 for e in eps_grid):
        out = out + _grad(adversary_sto, task.mc_samples)       # one gradient per sweep
    elif task.attack == "iterative":                            # ceil(lambda) steps of BIM
        out = out + _grad(adversary_sto, task.mc_samples * sum(math.ceil(e) for e in eps_grid))
    return out


# Fig. 5's second stage attacks one parameter per baseline, whichever the selection images
# pick: every parameter of a grid costs the same (one defense, stochastic or not), so the first
# stands in for it
PLACEHOLDER_CHOICE = {name: grid[0] for name, grid in image_eval.BASELINE_GRIDS.items()}


def eval_passes(profile: str, *, rates=(0.1, 0.3, 0.5), eps_grid=image_eval.EPS
                ) -> dict[str, Passes]:
    """Passes of each figure experiment of ``profile`` (already times the images of each task:
    ``n_test``, or ``select_n`` for Fig. 5's selection stage), both stages of Fig. 5 included."""
    s = EVAL.get(profile)
    return {name: sum((task_passes(t, s, eps_grid) * (s.select_n if t.offset else s.n_test)
                       for t in make(s, rates, PLACEHOLDER_CHOICE)), Passes())
            for name, make in image_eval.EXPERIMENTS.items()}


# ---------------------------------------------------------------------------------------------
# the adaptive evaluation
# ---------------------------------------------------------------------------------------------
def attack_passes(spec: dict, stochastic: bool, predict_mc: int, eps: float) -> Passes:
    """Per-image passes of one attack at one lambda, and the prediction after it (a transfer
    attack's gradients are the deterministic twin's)."""
    out = _pred(stochastic, predict_mc)
    if eps == 0:
        return out
    eot = spec["eot_samples"]
    method = adaptive.method_of(spec["attack"])
    if method.method == "fgsm":
        grads = eot
    elif method.method == "apgd":
        grads = (spec["steps"] + 1) * eot * spec.get("restarts", 1)
    else:                                                       # pgd, through BPDA or not
        grads = spec["steps"] * eot
    # BPDA's forward pass samples as the model's does; the twin is deterministic
    return out + _grad(stochastic and method.adversary != "twin", grads)


def sanity_passes(b: AdaptiveProfile, stochastic: bool, predict_mc: int,
                  ladder: bool = True) -> Passes:
    """The sanity checks, each run for every attack of the sanity set (``adaptive.SANITY_SET``,
    two losses): an unbounded PGD and, with ``ladder``, the steps / EOT ladder (1 + 1 + 2 + 2
    units of ``steps x eot`` gradients)."""
    eot = b.eot_samples if stochastic else 1
    runs, units = (4, 6) if ladder else (1, 1)
    attacks = len(adaptive.SANITY_SET[True])
    return (_grad(stochastic, units * b.steps * eot) + _pred(stochastic, runs * predict_mc)
            ) * attacks


def adaptive_passes(profile: str, *, eps_grid=adaptive.IMAGE_FAMILY.eps) -> dict[str, Passes]:
    """Passes of the adaptive evaluation of the image family, per model (times n images)."""
    b = ADAPTIVE.get(profile)
    out = {}
    for base, defense, param in adaptive.IMAGE_MODELS:
        stochastic = defense not in DETERMINISTIC
        predict_mc = b.predict_mc if stochastic else 1
        key = adaptive.model_key(base, defense, param)
        total = sanity_passes(b, stochastic, predict_mc,
                              ladder=not b.main_models or key in b.main_models)
        for spec, eps in adaptive.model_tasks(b, (base, defense, param), eps_grid,
                                              is_sap=defense == "sap", stochastic=stochastic,
                                              mnist=False, twin=stochastic):
            total = total + attack_passes(spec, stochastic, predict_mc, eps)
        out[key] = total * b.n_test
    return out
