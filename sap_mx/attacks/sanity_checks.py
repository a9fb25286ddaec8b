"""Sanity checks of an attack's strength (Carlini et al. 2019, "On Evaluating Adversarial
Robustness"; AutoAttack keeps its checks beside its attacks in the same way).

``sanity(net, x, y, ...)`` runs PGD (with EOT on a stochastic model) and says whether

1. an unbounded attack (lambda = the whole pixel range) brings accuracy to about 0%: at most
   1%, or one image of a small set;
2. the attack has converged at the check lambda: accuracy neither rises nor falls (beyond 2
   standard errors of the difference) when the steps double or when the EOT samples double.
   A rise means the attack misbehaves; a fall means it had not converged (Carlini et al. ask
   that more iterations not change the result), so the model's accuracies are
   upper bounds that a longer attack lowers: a model that looks robust may only look it.

The ladder of check 2 keeps accuracies only, so its test is unpaired (binomial standard errors:
on 1,000 images it sees a fall of about 4 points at 30% accuracy). ``convergence`` judges longer
runs of one attack, whose rows keep each image's result: given those masks it tests paired
(McNemar's exact test on the images where the two runs disagree), which sees a fall of 1-2
points: disagreements from the defense's randomness go both ways and cancel, a real fall does
not.

A failure means the attack, not the defense, is the weak link: the accuracies it reports are
not numbers to rely on. ``judge`` is the rule, applied to the measurements; ``rejudge`` applies
the current rule again to the measurements recorded in an earlier verdict's text (rows written
when check 2 only looked for a rise), so a report never shows a verdict of an older rule.
"""
from __future__ import annotations

import math
import re
from typing import Callable, Mapping, Sequence

import mxnet as mx
import numpy as np

from ..evaluate import accuracy
from ..metrics import paired_difference
from .pgd import pgd

__all__ = ["pgd_attack", "sanity", "judge", "rejudge", "convergence", "below", "lowered",
           "NO_LADDER"]

P_PAIRED = 0.05  # a paired fall counts when McNemar's two-sided p is below this


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
           ladder: bool = True, what: str = "") -> tuple[bool, str]:
    """Checks 1 and 2 of the module docstring (with ``ladder=False`` check 1 only, for an
    evaluation that cannot afford the ladder's three PGD runs on every model); returns (ok,
    one-line reason).

    Each measurement has a tag (``unbounded``, ``ladder/<steps>/<eot>``): ``reseed(tag)`` is
    called before it so that a caller can give each its own random stream, or ``measure(tag,
    eps, steps, eot_samples)`` computes it instead (PGD accuracy; a driver that keeps per-batch
    progress, or judges the worst case of several attacks, passes its own; ``what`` then
    names what it measures in the verdict's text)."""
    lo, hi = clip

    def acc(tag, eps, s, e):
        if measure is not None:
            return measure(tag, eps, s, e)
        reseed(tag)
        return accuracy(net, x, y, pgd_attack(net, eps, steps=s, eot_samples=e, clip=clip),
                        mc_samples=predict_mc, batch=batch)

    unbounded = acc("unbounded", hi - lo, steps, eot_samples)
    rungs = None
    if ladder:
        rungs = [acc(f"ladder/{s}/{e}", check_eps, s, e)
                 for s, e in ((steps, eot_samples), (2 * steps, eot_samples),
                              (steps, 2 * eot_samples))]
    return judge(unbounded, rungs, len(x), what=what)


def below(b: float, a: float, n: int) -> bool:
    """Is accuracy ``b`` below accuracy ``a`` (both on ``n`` images) by more than 2 standard
    errors of the difference (binomial variances, each p floored at one image)?"""
    v = [min(max(p, 1 / n), 1 - 1 / n) for p in (a, b)]
    return b < a - 2 * math.sqrt(sum(p * (1 - p) / n for p in v))


def lowered(b, a) -> tuple[bool, str]:
    """Paired: does the run with per-image results ``b`` get fewer of the same images right
    than the run ``a`` beyond chance (McNemar's exact two-sided p < ``P_PAIRED``)? Returns
    (lowered, "N images lost, M won; McNemar p = ...")."""
    d = paired_difference(np.asarray(b, dtype=bool), np.asarray(a, dtype=bool))
    lost, won, p = d.only_b, d.only_a, d.p
    return lost > won and p < P_PAIRED, f"{lost} images lost, {won} won; McNemar p = {p:.2g}"


# in a verdict's text: only check 1 ran (no ladder), so whether the attack converged is unknown
NO_LADDER = "no steps/EOT ladder"


def _measured(unbounded: float, rungs: Sequence[float] | None, what: str = "") -> str:
    head = f"{what}: " if what else ""
    if rungs is None:
        return f"{head}unbounded {100 * unbounded:.1f}% ({NO_LADDER})"
    return (f"{head}unbounded {100 * unbounded:.1f}%, steps/EOT ladder "
            + "/".join(f"{100 * a:.1f}" for a in rungs))


def judge(unbounded: float, rungs: Sequence[float] | None, n: int, *,
          what: str = "") -> tuple[bool, str]:
    """The verdict of checks 1 and 2 on their measurements: the unbounded attack's accuracy and
    the ladder's three accuracies (steps x eot, 2 steps x eot, steps x 2 eot; None without the
    ladder) on ``n`` images. Returns (ok, one line): the measurements when ok, else each
    problem followed by the measurements in parentheses."""
    problems = []
    limit = max(0.01, 1 / n)  # about 0%: at most 1%, or one image of a small set
    if unbounded > limit + 1e-12:
        problems.append(f"unbounded PGD leaves {100 * unbounded:.1f}% (> {100 * limit:.1f}%)")

    if rungs is not None:
        base, fell = rungs[0], False
        for name, a in (("doubling steps", rungs[1]), ("doubling EOT samples", rungs[2])):
            if below(base, a, n):
                problems.append(f"{name} raised accuracy {100 * base:.1f}% -> {100 * a:.1f}%")
            elif below(a, base, n):
                problems.append(f"{name} lowered accuracy {100 * base:.1f}% -> {100 * a:.1f}%")
                fell = True
        if fell:
            problems.append("the attack had not converged")
    measured = _measured(unbounded, rungs, what)
    if not problems:
        return True, measured
    return False, "; ".join(problems) + f" ({measured})"


_UNBOUNDED = re.compile(r"unbounded (?:PGD leaves )?(\d+(?:\.\d+)?)%")
_WHAT = re.compile(r"(?:^|\()([^():;]+): unbounded \d")
_LADDER = re.compile(r"steps/EOT ladder (\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)")


def rejudge(ok: bool, reason: str, n: int) -> tuple[bool, str]:
    """``judge`` on the measurements recorded in a verdict's text (``ok``, ``reason``: a row's
    ``sanity_ok`` and ``sanity``): the current rule on old rows, with the measurements as
    recorded (to 0.1 points). A text that does not record its measurements (a failure of the
    older rule, which named only the failing rung) keeps its verdict; so does one whose ladder
    the text lacks although the rule ran it."""
    found = _UNBOUNDED.search(reason or "")
    if found is None or n <= 0:
        return ok, reason
    ladder = _LADDER.search(reason)
    if ladder is None and NO_LADDER not in reason:
        return ok, reason
    rungs = None if ladder is None else [float(g) / 100 for g in ladder.groups()]
    what = _WHAT.search(reason)
    return judge(float(found.group(1)) / 100, rungs, n, what=what.group(1) if what else "")


def convergence(accuracies: Mapping[tuple[int, int], float], n: int,
                name: str = "the attack",
                masks: Mapping[tuple[int, int], Sequence[bool]] | None = None
                ) -> tuple[bool, str] | None:
    """Has one attack converged at one lambda? ``accuracies``: its accuracy on ``n`` images by
    (steps, EOT samples). Compares the most steps with the next fewer (both with the fewest EOT
    samples) and the most EOT samples with the next fewer (both with the fewest steps), and
    the run with the most steps *and* the most EOT samples together with the stronger of those
    two (the lower accuracy):
    converged when no such increase lowers accuracy (an attack still falling from 4 to 16 EOT
    samples may level off from 16 to 32; only the last rung of each ladder counts). Without
    the joint run the attack is "not shown converged": one dimension at a time does not show
    that their combination finds nothing more. With
    ``masks`` (each run's per-image results, same keys) the test is paired (``lowered``:
    McNemar); without, unpaired (``below``: 2 standard errors of the difference).
    "Converged" means no fall this test detects on ``n`` images (on 1,000, paired, about 2
    points per doubling): a smaller one may remain, so an accuracy judged converged is still
    an upper bound, a tighter one. Returns (converged, one line with the measurements), or
    None without both comparisons."""
    eot0 = min(e for _, e in accuracies)
    steps0 = min(s for s, _ in accuracies)
    steps = sorted(s for s, e in accuracies if e == eot0)
    eots = sorted(e for s, e in accuracies if s == steps0)
    if len(steps) < 2 or len(eots) < 2:
        return None

    ladder = [accuracies[(s, eot0)] for s in steps]
    more_eot = [accuracies[(steps0, e)] for e in eots]
    text = (f"{name}, {'/'.join(map(str, steps))} steps: "
            + "/".join(f"{100 * a:.1f}" for a in ladder)
            + f"%; {' -> '.join(map(str, eots))} EOT samples: "
            + " -> ".join(f"{100 * a:.1f}" for a in more_eot) + "%")
    pairs = (((steps[-1], eot0), (steps[-2], eot0), f"{steps[-2]} -> {steps[-1]} steps"),
             ((steps0, eots[-1]), (steps0, eots[-2]),
              "more EOT samples" if len(eots) == 2 else f"{eots[-2]} -> {eots[-1]} EOT samples"))
    joint = (max(s for s, _ in accuracies), max(e for _, e in accuracies))
    if joint in ((steps[-1], eot0), (steps0, eots[-1])):
        joint = None  # one ladder holds the longest run of both: nothing ran together
    elif joint in accuracies:
        text += (f"; {joint[0]} steps x {joint[1]} EOT samples together: "
                 f"{100 * accuracies[joint]:.1f}%")
        # against the stronger end of the two ladders: together they must find no more
        stronger = min(((steps[-1], eot0), (steps0, eots[-1])), key=accuracies.get)
        pairs += ((joint, stronger, f"{joint[0]} steps x {joint[1]} EOT samples together"),)
    problems = []
    for longer, shorter, what in pairs:
        if masks is not None:
            fell, counts = lowered(masks[longer], masks[shorter])
            if fell:
                problems.append(f"{what} still lowered it: {counts}")
        elif below(accuracies[longer], accuracies[shorter], n):
            problems.append(f"{what} still lowered it")
    if problems:
        return False, text + ": not converged (" + "; ".join(problems) + ")"
    if joint is None or joint not in accuracies:
        return False, text + (": not shown converged (the most steps and the most EOT samples "
                              f"never ran together: run {steps[-1]} x {eots[-1]})")
    return True, text + ": converged"
