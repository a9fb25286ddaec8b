"""The paper's claims (sections 4.1, 4.3-4.5), each tested on our result rows: the claims table.

Each claim is a row of ``experiments/paper_numbers/claims.csv`` (the paper's sentence, verbatim)
and a check here, ``CHECKS[id]``, that turns our rows into a measurement and a verdict. Every
check compares accuracies **on the same test images**, from the per-image ``correct`` column of
the rows (``sap_mx.metrics.paired_difference``: the difference, its paired standard error, a 95%
interval and McNemar's exact p). A claim over several lambdas averages each image's correctness
over them first.

Verdicts (``MARGIN`` = 2 percentage points, our choice, not the paper's; docs/image-experiments.md
has the same rules under "Verdicts"):

* *A is higher than B*: **holds** when the 95% interval of A - B lies above 0 and McNemar's p,
  **Holm-adjusted** over the table (below), is below ``ALPHA`` = 0.05 (the first rule wins: a
  small but sure gain holds); **does not hold** when the interval lies below +MARGIN (any gain
  is smaller than the margin, or a loss); else **inconclusive at this n**.
* *A is lower than B*: the mirror image.
* *A is similar to B*: **holds** when the interval lies inside (-MARGIN, +MARGIN); **does not
  hold** when it lies entirely outside; else inconclusive.
* *A adds little over B*: **holds** when the interval lies below +MARGIN; **does not hold** when
  it lies above +MARGIN; else inconclusive.
* A claim made of several comparisons (*best of four*, *every baseline*) holds when all of them
  hold, does not hold when any does not, else is inconclusive; it is not judged (None, "not
  measured yet") until every comparison has its rows.
* Calibration (ECE) has no per-image pairing: its interval uses ``ece_standard_error`` of each
  model, added in quadrature, and the same rules with a margin of 0.02.
* **Holm's correction.** Each table (the paper's attack; the adaptive worst case) is one family:
  every distinct directional comparison computed in it (one that two claims share counts once)
  is one test, and a direction holds only on its Holm-adjusted p (``holm``, ``as_family``: the
  checks run twice, once to collect the p-values, once to judge). The table shows both p's.
  Only 'holds' rests on a p-value; the other verdicts rest on the interval.
* **Size.** Where the sentence quotes a size (``SIZES``: SAP-100 - dense at lambda 0, 1, 2, 4,
  16; ADV+SAP-100 - ADV at 16, 32; the figures in ``paper_numbers/cifar.csv``), a direction that
  holds becomes **holds in direction, smaller in size** when the paper's figure lies beyond the
  95% interval in the claimed direction, **larger in size** when it lies short of it. The
  figures are CIFAR-10's: on another dataset this says how the effect there compares with the
  paper's, not whether it reproduces it (the measurement names the figure as CIFAR-10's).
* **Few samples** ("accuracy diminishes for lambda = 0, but is higher for lambda != 0"): judged per
  k < 100 (``few_samples``): a k whose clean accuracy is at most ``CHANCE_MARGIN`` above chance
  (1/classes) cannot show the trade-off and is reported, not judged; at every other k the
  trade-off holds when SAP-k is lower than dense at lambda 0 *and* higher over lambda 1, 2, 4.
  The claim holds when some k shows it, does not hold when it fails at every k above chance,
  else (or when every k is at chance) is inconclusive; its two rows share that verdict.
* **MC budget.** A stochastic model's curve (dropout, the baselines) is compared only at
  SAP-100's FGSM budget (``at_budget``: the paper's 100 MC samples in the ``cpu`` and ``paper``
  profiles); rows attacked with fewer samples are not measured.
* **Fig. 5's parameters** are chosen on other test images than those the verdict uses
  (``chosen_baseline``: ``selection.best_param`` on the selection rows, ``offset`` > 0, the rule
  ``image_eval`` attacks by). Rows without selection images (a parameter that would be picked on
  the images it is judged on) make the claim **not judged**, with the reason.
* Tallies (``tally``): holds / holds in direction only (smaller or larger) / does not hold /
  inconclusive / not judged / not measured yet.

The second part puts the claims that the adaptive evaluation can measure under its worst case
(``experiments.adaptive``: the per-image AND over every attack, the robust accuracy). At lambda =
0 it compares one prediction of each model (``Rows.clean``: the paper attack's clean row), never
the AND of several random draws of a stochastic model, which would charge SAP for the worst of
its draws. A worst
case is an upper bound on a model's robust accuracy, and a loose one when the attacks on that
model fail their sanity checks (``sap_mx.attacks.sanity_checks``: e.g. PGD-EOT had not
converged). Where the profile ran longer attacks at a lambda (``long_attacks``), whether they
settle the worst case there decides instead (``adaptive_table.convergence_of``); at lambda = 0
nothing is attacked and no side is suspect. A verdict that such a bound could overturn becomes
*inconclusive*, with the reason. A model checked only with the unbounded attack (the profile's
other defenses: no steps/EOT ladder) has a bound of unknown looseness and is treated the same
way:
"A is higher than B" cannot hold while A's attack failed (A's true accuracy may be lower), nor
fail while B's did; "lower" is the mirror image; "similar" is not judged when either failed.
"""
from __future__ import annotations

import csv
import math
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from sap_mx import metrics

from .adaptive_table import convergence_of, row_mask, sanity_of, unchecked
from .paper_compare import PAPER_NUMBERS, latest_rows, load_paper_numbers, load_results
from .selection import BASELINE_GRIDS, best_param
from .zoo import DETERMINISTIC, model_label

# why a model's worst case is suspect when only the unbounded check ran on it (Rows.suspect)
UNCHECKED = "only the unbounded check ran: whether its attacks converged is unknown"

__all__ = ["CLAIMS", "MARGIN", "Verdict", "Rows", "Table", "load_claims", "evaluate_claims",
           "claims_section", "holm", "tally", "tally_text"]

CLAIMS = Path(__file__).resolve().parent / "paper_numbers" / "claims.csv"
MARGIN = 0.02       # 2 percentage points
ECE_MARGIN = 0.02
CHANCE_MARGIN = 0.02  # a clean accuracy at most this far above 1/classes is at chance
ALPHA = 0.05          # McNemar's p, Holm-adjusted over the table, must be below it
HOLDS, FAILS, OPEN = "holds", "does not hold", "inconclusive at this n"
SMALLER, LARGER = "holds in direction, smaller in size", "holds in direction, larger in size"
NOT_JUDGED = "not judged"   # the rows exist but cannot decide the claim (the reason says why)
# claims whose sentence quotes a size, and the id of that figure in paper_numbers/cifar.csv
SIZES = {"sap100_gain_eps1": "sap100_vs_dense_fgsm_eps1",
         "sap100_gain_eps2": "sap100_vs_dense_fgsm_eps2",
         "sap100_gain_eps4": "sap100_vs_dense_fgsm_eps4",
         "sap100_cost_eps0": "sap100_vs_dense_fgsm_eps0",
         "sap100_cost_eps16": "sap100_vs_dense_fgsm_eps16",
         "adv_sap_gain_eps16": "advsap100_vs_adv_fgsm_eps16",
         "adv_sap_gain_eps32": "advsap100_vs_adv_fgsm_eps32"}


def load_claims(path=CLAIMS) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {r["id"]: r for r in csv.DictReader(handle)}


# ---------------------------------------------------------------------------------------------
# our rows, as per-image masks
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """One evaluated curve: (experiment file, base model, defense, param, attack, adversary,
    MC samples; None = whichever the rows have, the largest)."""

    experiment: str
    model: str = "dense"
    defense: str = "none"
    param: float | None = None
    attack: str = "fgsm"
    attack_model: str = "self"
    mc: int | None = None
    offset: int = 0     # first test image: > 0 for Fig. 5's selection images

    def label(self) -> str:
        text = model_label(self.model, self.defense, self.param)
        if self.attack_model != "self":
            text += f" (attack made on {self.attack_model})"
        return text


class Rows:
    """The newest rows of one profile and seed, looked up by curve and lambda; ``classes``:
    the dataset's number of classes (its chance accuracy is 1/classes)."""

    def __init__(self, results: Sequence[Mapping], adaptive: Sequence[Mapping] = (), *,
                 profile: str, seed: int = 0, classes: int = 10):
        mine = [dict(r, offset=int(r.get("offset") or 0)) for r in results
                if r["profile"] == profile and str(r["seed"]) == str(seed)]
        self.rows = latest_rows(mine)
        self.classes = classes
        ad = [dict(r, experiment="adaptive") for r in adaptive
              if r["profile"] == profile and str(r["seed"]) == str(seed)]
        for r in ad:
            r["n"] = int(r["n"]) if r.get("n") else None
        self.adaptive = latest_rows(ad)
        self.profile, self.seed = profile, seed

    def _curve(self, spec: Spec) -> list[Mapping]:
        """The rows of one curve, at one adversary MC count: ``spec.mc``, or the largest the
        rows have (so a curve averaged over lambdas never mixes two attacks)."""
        found = [r for r in self.rows
                 if r["experiment"] == spec.experiment and r["model"] == spec.model
                 and r["defense"] == spec.defense
                 and _same(r["param"], spec.param) and r["attack"] == spec.attack
                 and r["attack_model"] == spec.attack_model and r["offset"] == spec.offset
                 and r.get("correct")]
        if not found:
            return []
        mc = spec.mc if spec.mc is not None else max(int(r["mc_samples"]) for r in found)
        return [r for r in found if int(r["mc_samples"]) == mc]

    def mask(self, spec: Spec, eps: float) -> np.ndarray | None:
        found = [r for r in self._curve(spec) if float(r["eps"]) == eps]
        return _decode(found[0]) if found else None

    def sap_budget(self) -> int | None:
        """The FGSM MC samples of SAP-100's Fig. 1b curve (the largest the rows have; the
        paper's 100), the budget every stochastic model's comparison is held to; None without
        those rows."""
        found = self._curve(Spec("sap", defense="sap", param=100))
        return int(found[0]["mc_samples"]) if found else None

    def worst(self, model: str, defense: str, param, eps: float) -> np.ndarray | None:
        """A model's worst-case mask at ``eps``; at lambda 0 its clean accuracy as one
        prediction (``clean``), never the AND of several draws."""
        if eps == 0:
            return self.clean(model, defense, param)
        found = [r for r in self.adaptive
                 if r["attack"] == "worst-case" and r["model"] == model
                 and r["defense"] == defense and _same(_num(r["param"]), param)
                 and float(r["eps"]) == eps and r.get("correct")]
        return _decode(found[0]) if found else None

    def clean(self, model: str, defense: str, param) -> np.ndarray | None:
        """A model's clean mask in the adaptive rows, one prediction: the paper attack's row
        at lambda 0 (each attack's clean row of a stochastic model is its own draw, so their
        AND, an older worst-case row, is below the accuracy of any one), else a worst-case row
        that combines a single attack; None when neither exists."""
        here = [r for r in self.model_rows(model, defense, param)
                if float(r["eps"]) == 0 and r.get("correct")]
        found = [r for r in here if r["attack"] == "paper"] or [
            r for r in here if r["attack"] == "worst-case" and r.get("combines")
            and "+" not in str(r["combines"])]
        return _decode(found[0]) if found else None

    def model_rows(self, model: str, defense: str, param) -> list[Mapping]:
        """The adaptive rows of one model."""
        return [r for r in self.adaptive if r["model"] == model and r["defense"] == defense
                and _same(_num(r["param"]), param)]

    def suspect(self, model: str, defense: str, param, eps: Sequence[float] = ()) -> str | None:
        """Why the adaptive attacks on a model are not to be trusted at ``eps`` (every lambda
        when empty), or None. At a lambda with longer runs of its strongest attack, their
        convergence decides (``adaptive_table.convergence_of``); elsewhere its sanity verdict
        under the current rule (``adaptive_table.sanity_of``), and a model that passed only
        the unbounded check (no steps/EOT ladder: whether its attacks converged was never
        tested) is ``UNCHECKED``."""
        if eps and all(e == 0 for e in eps):
            return None   # no attack at lambda 0: the clean accuracy is not a bound
        mine = self.model_rows(model, defense, param)
        by_sanity = False  # some lambda without longer runs: the sanity verdict decides
        for e in eps or [None]:
            verdict = convergence_of(mine, e) if e is not None else None
            if verdict is None:
                by_sanity = True
            elif not verdict[0]:
                return verdict[1]
        if by_sanity:
            for r in mine:
                if r.get("sanity_ok"):
                    ok, reason = sanity_of(r)
                    if not ok:
                        return reason or "failed"
            if unchecked(mine):
                return UNCHECKED
        return None

    def ece(self, calibration: Sequence[Mapping], model: str, defense: str, param, eps: float):
        """(ECE, its standard error, n) of one Fig. 4 panel from its bins: the newest
        configuration and the largest adversary MC count only."""
        bins = [b for b in calibration
                if b["profile"] == self.profile and str(b["seed"]) == str(self.seed)
                and b["model"] == model and b["defense"] == defense
                and _same(_num(b["param"]), param) and float(b["eps"]) == eps
                and b["attack"] == "fgsm" and b["attack_model"] == "self"]
        if not bins:
            return None
        mc = max(int(b["mc_samples"]) for b in bins)
        bins = [b for b in bins if int(b["mc_samples"]) == mc]
        newest = max(b.get("utc", "") for b in bins)
        config = {(b["checkpoint"], b["n"], b["predict_mc"]) for b in bins
                  if b.get("utc", "") == newest}
        bins = [b for b in bins if (b["checkpoint"], b["n"], b["predict_mc"]) in config]
        bins = [{"count": int(b["count"]), "accuracy": float(b["accuracy"] or "nan"),
                 "confidence": float(b["confidence"] or "nan")} for b in bins]
        n = sum(b["count"] for b in bins)
        if n == 0:
            return None
        value = sum(b["count"] / n * abs(b["accuracy"] - b["confidence"])
                    for b in bins if b["count"])
        return value, metrics.ece_standard_error(bins), n


def _decode(row: Mapping) -> np.ndarray | None:
    """A row's per-image mask (``adaptive_table.row_mask``)."""
    return row_mask(row)


def _num(text):
    text = "" if text is None else str(text).strip()
    return None if text == "" else float(text)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b))


# ---------------------------------------------------------------------------------------------
# verdicts
# ---------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    """What a check measured and what it concludes; a single comparison keeps its paired
    difference and kind (for the size of ``SIZES`` claims)."""

    verdict: str
    measurement: str
    n: int | None = None
    parts: list = field(default_factory=list)
    paired: metrics.Paired | None = None
    kind: str | None = None


# ---------------------------------------------------------------------------------------------
# Holm's correction: every directional comparison of one table is one test of a family
# ---------------------------------------------------------------------------------------------
def holm(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest of m is
    multiplied by m - i + 1, then made non-decreasing, capped at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


@dataclass
class _Family:
    """The McNemar p-values of one table's directional comparisons. A first pass records
    them (one per distinct comparison: one that two claims share is one test); a second
    hands each comparison its Holm-adjusted p (``adjusted``)."""

    adjusted: dict | None = None
    raw: dict = field(default_factory=dict)

    def p(self, key: tuple, p: float) -> float:
        self.raw.setdefault(key, p)
        return p if self.adjusted is None else self.adjusted[key]


_FAMILY: ContextVar[_Family | None] = ContextVar("claims_family", default=None)


def as_family(evaluate: Callable[[], list]) -> tuple[list, int]:
    """``evaluate()`` (the checks of one table) with its directional comparisons judged on
    Holm-adjusted p-values over all of them; returns its result and the family's size. The
    checks run twice: once to collect the p-values, once to judge."""
    first = _Family()
    token = _FAMILY.set(first)
    try:
        evaluate()
    finally:
        _FAMILY.reset(token)
    keys = list(first.raw)
    second = _Family(adjusted=dict(zip(keys, holm([first.raw[k] for k in keys]))))
    token = _FAMILY.set(second)
    try:
        return evaluate(), len(keys)
    finally:
        _FAMILY.reset(token)


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _directional(r: metrics.Paired, higher: bool, margin: float = MARGIN,
                 p: float | None = None) -> str:
    """A direction: holds when the interval is on the claimed side of 0 and McNemar agrees
    (``p``, default ``r.p``, below ``ALPHA``; in a table, Holm-adjusted over it; the normal
    interval is too narrow when few images disagree); otherwise does not hold when the
    interval excludes a gain of ``margin`` in the claimed direction."""
    lo, hi = (r.lo, r.hi) if higher else (-r.hi, -r.lo)
    if lo > 0 and (r.p if p is None else p) < ALPHA:
        return HOLDS
    if hi < margin:
        return FAILS
    return OPEN


def _little_gain(r: metrics.Paired, margin: float = MARGIN) -> str:
    """'A adds little over B': holds when A's gain is surely under the margin, fails when it is
    surely over it."""
    if r.hi < margin:
        return HOLDS
    if r.lo > margin:
        return FAILS
    return OPEN


def _similar(r: metrics.Paired, margin: float = MARGIN) -> str:
    if -margin < r.lo and r.hi < margin:
        return HOLDS
    if r.lo >= margin or r.hi <= -margin:
        return FAILS
    return OPEN


def _combine(verdicts: Sequence[str]) -> str:
    if any(v == FAILS for v in verdicts):
        return FAILS
    return HOLDS if verdicts and all(v == HOLDS for v in verdicts) else OPEN


def _describe(r: metrics.Paired, a: str, b: str, where: str, adjusted: float | None = None
              ) -> str:
    holm_p = "" if adjusted is None else f", Holm {adjusted:.2g}"
    return (f"{a} − {b}{where}: {_pts(r.diff)} pts (95% CI {_pts(r.lo)} to {_pts(r.hi)}; "
            f"McNemar p = {r.p:.2g}{holm_p})")


def _eps_text(eps: Sequence[float]) -> str:
    return "λ = " + ", ".join(f"{e:g}" for e in eps)


MaskFn = Callable[[float], "np.ndarray | None"]


def _score(get: MaskFn, eps: Sequence[float]) -> np.ndarray | None:
    masks = [get(e) for e in eps]
    if any(m is None for m in masks) or not masks:
        return None
    return np.mean(masks, axis=0)


def _unsafe(verdict: str, kind: str, suspects: tuple[str | None, str | None]) -> list[int]:
    """Which sides' loose upper bounds could overturn ``verdict`` (indices into ``suspects``):
    a side whose true accuracy may be lower than measured."""
    if verdict == OPEN:
        return []
    if kind == "similar":
        sides = [0, 1]
    elif kind == "lower":
        sides = [1] if verdict == HOLDS else [0]
    else:  # higher, and little-gain ("A is not much higher than B")
        sides = [0] if (verdict == HOLDS) == (kind == "higher") else [1]
    return [i for i in sides if suspects[i]]


def compare(a: MaskFn, b: MaskFn, eps: Sequence[float], kind: str, names: tuple[str, str],
            margin: float = MARGIN, where: str | None = None,
            suspects: tuple[str | None, str | None] = (None, None)) -> Verdict | None:
    """``a`` against ``b`` (mask getters by lambda) over ``eps``: kind is ``higher``, ``lower``,
    ``similar`` or ``little-gain``. ``suspects``: for accuracies that are upper bounds (the
    adaptive worst case), why each side's bound may be loose (its attacks failed their sanity
    checks, or ``UNCHECKED``: only the unbounded check ran), or None; a verdict that a side's
    loose bound could overturn is inconclusive instead."""
    sa, sb = _score(a, eps), _score(b, eps)
    if sa is None or sb is None or len(sa) != len(sb) or len(sa) < 2:
        return None
    r = metrics.paired_difference(sa, sb)
    if where is None:
        where = f" at {_eps_text(eps)}" + (" (mean over them)" if len(eps) > 1 else "")
    adjusted = None
    if kind == "similar":
        verdict = _similar(r, margin)
    elif kind == "little-gain":
        verdict = _little_gain(r, margin)
    else:
        family = _FAMILY.get()
        if family is not None:   # one test of the table's family: Holm-adjusted
            adjusted = family.p((names, where, r.n, r.diff, r.lo, r.p, r.only_a, r.only_b),
                                r.p)
        verdict = _directional(r, kind == "higher", margin, adjusted)
    text = _describe(r, *names, where, adjusted)
    # an accuracy of 0 on every image is exact: no stronger attack lowers it
    unsafe = [i for i in _unsafe(verdict, kind, suspects) if (sa, sb)[i].any()]
    if unsafe:
        text += "".join(f"; not judged: {names[i]}'s attacks were not checked for convergence "
                        "(only the unbounded check ran on it), so its accuracy may be a loose "
                        "upper bound" if suspects[i] == UNCHECKED else
                        f"; not judged: {names[i]}'s attacks failed their sanity check (the "
                        "adaptive table says why), so its accuracy is a loose upper bound"
                        for i in unsafe)
        verdict = OPEN
    return Verdict(verdict, text, r.n, paired=r, kind=kind)


def all_of(parts: Sequence[Verdict | None], prefix: str = "") -> Verdict | None:
    """Every part of a claim, or None (not measured yet) when any part lacks its rows: a claim
    is never judged on part of its comparisons."""
    parts = list(parts)
    if not parts or any(p is None for p in parts):
        return None
    return Verdict(_combine([p.verdict for p in parts]),
                   prefix + "; ".join(p.measurement for p in parts), parts[0].n, parts)


# ---------------------------------------------------------------------------------------------
# the checks of the figure experiments
# ---------------------------------------------------------------------------------------------
SAP_K = (5, 10, 20, 50, 100, 200, 500)
ATTACKED = (1, 2, 4)
SMALL = (1, 2)
BASELINES = {"rnw": "RNW", "rsw": "RSW", "dwp": "DWP", "swp": "SWP", "rna": "RNA", "rsa": "RSA"}


def _get(rows: Rows, spec: Spec) -> MaskFn:
    return lambda eps: rows.mask(spec, eps)


def _fig(experiment: str):
    dense = Spec(experiment)
    return dense, Spec(experiment, defense="sap", param=100)


def check_sap_k(rows: Rows, claim: str) -> Verdict | None:
    """'With few samples drawn, accuracy diminishes for lambda = 0, but is higher for lambda !=
    0' is judged per k < 100 (``few_samples``); 'with many samples SAP converges to dense' on
    the largest k, similar to dense at lambda = 0, 1, 2, 4."""
    dense = Spec("sap")
    if claim == "sap_many_samples_dense":
        many = [k for k in SAP_K if k > 100
                and rows.mask(Spec("sap", defense="sap", param=k), 0) is not None][-1:]
        if not many:
            return None
        s = Spec("sap", defense="sap", param=many[0])
        return all_of([compare(_get(rows, s), _get(rows, dense), (e,), "similar",
                               (s.label(), "dense")) for e in (0, 1, 2, 4)])
    return few_samples(rows, "clean" if claim == "sap_few_samples_clean" else "attacked")


def few_samples(rows: Rows, half: str) -> Verdict | None:
    """The trade-off of few samples, per k < 100 with rows: SAP-k lower than dense at lambda =
    0 *and* higher over lambda = 1, 2, 4 (each image averaged over them). A k whose clean
    accuracy is at chance (at most ``CHANCE_MARGIN`` above 1/classes) cannot show it and is
    reported as such, unjudged; at any other k the trade-off holds when both halves hold, does
    not hold when either does not, else is inconclusive. The claim holds when the trade-off
    holds at some k, does not hold when it does not hold at every k above chance, and is
    inconclusive otherwise, or when every k is at chance. ``half`` (``clean`` or ``attacked``)
    picks the comparisons the row shows; the verdict is the claim's, the same on both rows."""
    dense = Spec("sap")
    ks = [k for k in SAP_K if k < 100
          and rows.mask(Spec("sap", defense="sap", param=k), 0) is not None]
    if not ks:
        return None
    chance = 1 / rows.classes
    lines, shows, n = [], {}, None
    for k in ks:
        s = Spec("sap", defense="sap", param=k)
        clean = float(rows.mask(s, 0).mean())
        if clean <= chance + CHANCE_MARGIN:
            lines.append(f"{s.label()} at chance clean ({100 * clean:.1f}%, chance "
                         f"{100 * chance:.0f}%): cannot show it")
            continue
        low = compare(_get(rows, s), _get(rows, dense), (0,), "lower", (s.label(), "dense"))
        high = compare(_get(rows, s), _get(rows, dense), ATTACKED, "higher",
                       (s.label(), "dense"))
        if low is None or high is None:
            return None
        shows[k] = _combine([low.verdict, high.verdict])
        n = low.n
        lines.append(f"{(low if half == 'clean' else high).measurement}: trade-off {shows[k]}")
    if any(v == HOLDS for v in shows.values()):
        verdict = HOLDS
    elif shows and all(v == FAILS for v in shows.values()):
        verdict = FAILS
    else:
        verdict = OPEN
    where = ", ".join(f"SAP-{k}" for k, v in shows.items() if v == HOLDS) or "no k"
    summary = (f"the trade-off (lower at λ = 0 and higher over λ = 1, 2, 4) holds at {where}"
               + ("" if shows else " (every k < 100 is at chance clean)") + ": ")
    return Verdict(verdict, summary + "; ".join(lines), n)


def check_best_k(rows: Rows) -> Verdict | None:
    """SAP-100 against every other k, each image's correctness averaged over lambda = 0..16
    (the lambdas the paper focuses on): "~100%" holds when SAP-100 beats the far settings
    (5, 10, 20, 500) and neither neighbour (50, 200) is clearly better than it."""
    eps = (0, 1, 2, 4, 8, 16)
    sap100 = _get(rows, Spec("sap", defense="sap", param=100))
    parts = []
    for k in SAP_K:
        if k == 100:
            continue
        other = Spec("sap", defense="sap", param=k)
        if k in (50, 200):  # a neighbour may be as good, not clearly better (gain < 2 points)
            parts.append(compare(_get(rows, other), sap100, eps, "little-gain",
                                 (other.label(), "SAP-100")))
        else:
            parts.append(compare(sap100, _get(rows, other), eps, "higher",
                                 ("SAP-100", other.label())))
    return all_of(parts, "SAP-100 higher than SAP-5/10/20/500, and SAP-50/200 less than 2 "
                         "points above SAP-100, each image averaged over λ = 0..16: ")


def check_dense_degrades(rows: Rows) -> Verdict | None:
    dense = Spec("sap")
    return all_of([compare(_get(rows, dense), lambda e, d=dense: rows.mask(d, 0), (e,), "lower",
                           (f"dense at λ = {e:g}", "dense at λ = 0"), where=" (FGSM)")
                   for e in SMALL])


def check_sap100(rows: Rows, eps: float, kind: str) -> Verdict | None:
    dense, sap = _fig("sap")
    return compare(_get(rows, sap), _get(rows, dense), (eps,), kind, ("SAP-100", "dense"))


def at_budget(rows: Rows, spec: Spec) -> Spec:
    """``spec`` held to SAP-100's FGSM budget (``Rows.sap_budget``: the paper's 100 MC
    samples) when its model is stochastic: a dropout or baseline curve attacked with fewer
    samples than SAP is not compared (it would meet a weaker attack); deterministic models
    keep their exact gradient."""
    budget = rows.sap_budget()
    if spec.defense in DETERMINISTIC or budget is None:
        return spec
    return replace(spec, mc=budget)


def check_dropout(rows: Rows, claim: str) -> Verdict | None:
    """Fig. 2: every stochastic curve at SAP-100's FGSM budget (``at_budget``)."""
    dense = Spec("dropout")
    if claim == "dropout_low_rate_small_eps":
        low = at_budget(rows, Spec("dropout", defense="dropout", param=0.1))
        return all_of([compare(_get(rows, low), _get(rows, dense), (e,), "similar",
                               (low.label(), "dense")) for e in (0, *SMALL)]
                      + [compare(_get(rows, low), _get(rows, dense), (8,), "lower",
                                 (low.label(), "dense"))])
    if claim == "dropout_little_advantage":
        rates = sorted({r["param"] for r in rows.rows if r["experiment"] == "dropout"
                        and r["model"] == "dense" and r["defense"] == "dropout"})
        parts = []
        for rate in rates:
            s = at_budget(rows, Spec("dropout", defense="dropout", param=rate))
            parts.append(compare(_get(rows, s), _get(rows, dense), ATTACKED, "little-gain",
                                 (s.label(), "dense")))
        return all_of(parts, "every rate's gain over dense under 2 points (its interval "
                             "below +2): ")
    if claim == "dropout_trained_no_robustness":
        models = sorted({r["model"] for r in rows.rows if r["experiment"] == "dropout"
                         and r["model"].startswith("dropout")})
        parts = []
        for model in models:
            rate = float(model[len("dropout"):])
            s = at_budget(rows, Spec("dropout", model=model, defense="dropout", param=rate))
            parts.append(compare(_get(rows, s), _get(rows, dense), ATTACKED, "little-gain",
                                 (model_label(model, "dropout", rate), "dense")))
        return all_of(parts, "every dropout-trained model's gain over dense under 2 points "
                             "(its interval below +2): ")
    return None


FIG3 = {"dense": Spec("adv"), "SAP-100": Spec("adv", defense="sap", param=100),
        "ADV": Spec("adv", model="adv"), "ADV+SAP-100": Spec("adv", model="adv", defense="sap",
                                                             param=100)}


def check_adv(rows: Rows, claim: str) -> Verdict | None:
    adv, adv_sap = _get(rows, FIG3["ADV"]), _get(rows, FIG3["ADV+SAP-100"])
    if claim == "adv_similar_small_eps":
        return all_of([compare(adv_sap, adv, (e,), "similar", ("ADV+SAP-100", "ADV"))
                       for e in SMALL])
    if claim in ("adv_sap_gain_eps16", "adv_sap_gain_eps32"):
        eps = 16 if claim.endswith("16") else 32
        return compare(adv_sap, adv, (eps,), "higher", ("ADV+SAP-100", "ADV"))
    if claim == "sap100_best_small_eps":
        return _best_of(rows, "SAP-100", SMALL)
    if claim == "adv_sap_best_large_eps":
        return _best_of(rows, "ADV+SAP-100", (16, 32))
    return None


def _best_of(rows: Rows, name: str, eps: Sequence[float]) -> Verdict | None:
    parts = [compare(_get(rows, FIG3[name]), _get(rows, FIG3[other]), (e,), "higher",
                     (name, other))
             for e in eps for other in FIG3 if other != name]
    if any(p is None for p in parts):
        return None
    return all_of(parts)


def check_calibration(rows: Rows, calibration: Sequence[Mapping], claim: str
                      ) -> Verdict | None:
    eps_list, target = ((1, 2, 4), "dense") if claim == "dense_worst_calibrated" else (
        (8, 16, 32), "ADV+SAP-100")
    worse = claim == "dense_worst_calibrated"   # dense: the largest ECE; ADV+SAP-100: smallest
    parts = []
    for eps in eps_list:
        values = {}
        for name, spec in FIG3.items():
            got = rows.ece(calibration, spec.model, spec.defense, spec.param, eps)
            if got is None:
                return None
            values[name] = got
        t, t_se, n = values[target]
        for other, (v, se, _) in values.items():
            if other == target:
                continue
            diff = (t - v) if worse else (v - t)   # > 0 when the claim is right
            s = math.hypot(t_se, se)
            lo, hi = diff - 1.96 * s, diff + 1.96 * s
            verdict = HOLDS if lo > 0 else FAILS if hi < ECE_MARGIN else OPEN
            a, b = (target, other) if worse else (other, target)
            parts.append(Verdict(verdict, f"ECE {a} − {b} at λ = {eps:g}: {diff:+.3f} "
                                          f"(± {1.96 * s:.3f})", n))
    return all_of(parts)


def chosen_baseline(rows: Rows, name: str) -> tuple[Spec | None, str | None]:
    """The curve a baseline is judged on: its parameter chosen on the selection images
    (``selection.best_param``, the rule ``image_eval`` attacks by; rows with ``offset`` > 0,
    the newest of them, at their largest MC count), on the evaluation images (offset 0) at
    SAP-100's FGSM budget (``at_budget``). Returns (spec, None); (None, why) when the choice
    cannot be trusted: no selection rows (a parameter picked on the rows it is judged on), or
    selection images that overlap the evaluation images; (None, None) while the baseline has
    no rows or the grid on the selection images is incomplete."""
    label = BASELINES[name]
    mine = [r for r in rows.rows if r["experiment"] == "baselines" and r["defense"] == name
            and r["attack"] == "fgsm" and r["attack_model"] == "self"]
    chosen = [r for r in mine if r["offset"] > 0]
    if not mine:
        return None, None   # not measured yet
    if not chosen:
        return None, (f"{label}'s parameter has no selection rows (offset > 0): it would be "
                      "chosen on the images it is judged on")
    offset = max(chosen, key=lambda r: str(r.get("utc", "")))["offset"]
    chosen = [r for r in chosen if r["offset"] == offset]
    mc = max(int(r["mc_samples"]) for r in chosen)
    best = best_param([r for r in chosen if int(r["mc_samples"]) == mc], BASELINE_GRIDS[name])
    if best is None:
        return None, None
    judged = [r for r in mine if r["offset"] == 0 and r.get("n")]
    if judged and offset < max(int(r["n"]) for r in judged):
        return None, (f"{label}'s selection images (from test image {offset}) overlap the "
                      "images it is judged on")
    return at_budget(rows, Spec("baselines", defense=name, param=best)), None


def check_baselines(rows: Rows, claim: str) -> Verdict | None:
    """Per baseline, the parameter most favourable to it, chosen on other images than those it
    is judged on (``chosen_baseline``), against dense at each lambda 1..32 or against SAP-100
    (mean over lambda = 1, 2, 4). "Worse than dense at most levels": holds when it is lower
    (its own verdict) at more than half of the six lambdas, does not hold when it is not lower
    (the interval excludes a 2-point loss) at half or more, else inconclusive. Every baseline
    must have its rows; a baseline whose parameter was chosen on the images it would be judged
    on makes the claim ``NOT_JUDGED``."""
    dense = Spec("baselines")
    picked = {name: chosen_baseline(rows, name) for name in BASELINES}
    refused = [why for _, why in picked.values() if why]
    if refused:
        return Verdict(NOT_JUDGED, "; ".join(refused) + " (rerun Fig. 5, `--experiment "
                                   "baselines`, with a profile that has selection images)")
    if any(best is None for best, _ in picked.values()):
        return None
    parts = []
    for name, (best, _) in picked.items():
        if claim == "baselines_below_dense":
            eps = (1, 2, 4, 8, 16, 32)
            each = [compare(_get(rows, best), _get(rows, dense), (e,), "lower",
                            (best.label(), "dense")) for e in eps]
            if any(c is None for c in each):
                return None
            below = sum(c.verdict == HOLDS for c in each)
            not_below = sum(c.verdict == FAILS for c in each)
            verdict = HOLDS if below > len(eps) / 2 else (
                FAILS if not_below >= len(eps) / 2 else OPEN)
            parts.append(Verdict(verdict, f"{best.label()} below dense at {below} of "
                                          f"{len(eps)} λ (1..32)", each[0].n))
        else:
            sap = Spec("sap", defense="sap", param=100)
            parts.append(compare(_get(rows, best), _get(rows, sap), ATTACKED, "lower",
                                 (best.label(), "SAP-100")))
    return all_of(parts, "each parameter chosen on the selection images: ")


def check_mc(rows: Rows, claim: str) -> Verdict | None:
    mcs = sorted({int(r["mc_samples"]) for r in rows.rows if r["experiment"] == "mc"
                  and r["defense"] == "sap" and r["attack_model"] == "self"})
    if not mcs:
        return None
    def sap(m):
        return _get(rows, Spec("mc", defense="sap", param=100, mc=m))

    if claim == "mc_dense_adversary":
        via_dense = _get(rows, Spec("mc", defense="sap", param=100, attack_model="dense"))
        return compare(via_dense, sap(mcs[-1]), ATTACKED, "lower",
                       ("SAP-100 attacked via dense", f"SAP-100 attacked with MC-{mcs[-1]}"))
    if claim == "mc_more_samples_stronger":
        return all_of([compare(sap(b), sap(a), ATTACKED, "lower",
                               (f"SAP-100 vs MC-{b}", f"SAP-100 vs MC-{a}"))
                       for a, b in zip(mcs, mcs[1:])])
    if claim == "mc_sap_beats_dense":
        return compare(sap(mcs[-1]), _get(rows, Spec("mc")), SMALL, "higher",
                       (f"SAP-100 vs MC-{mcs[-1]} (the paper: 1000)", "dense"))
    return None


def check_iterative(rows: Rows, claim: str) -> Verdict | None:
    dense = Spec("iterative", attack="iterative")
    sap = Spec("iterative", defense="sap", param=100, attack="iterative")
    via_dense = Spec("iterative", defense="sap", param=100, attack="iterative",
                     attack_model="dense")
    if claim == "iterative_sap_beats_dense":
        return all_of([compare(_get(rows, sap), _get(rows, dense), (e,), "higher",
                               ("SAP-100", "dense")) for e in ATTACKED])
    return compare(_get(rows, via_dense), _get(rows, sap), ATTACKED, "lower",
                   ("SAP-100 (attack made on dense)", "SAP-100 (attack made on itself)"))


CHECKS: dict[str, Callable] = {
    "dense_degrades": lambda r, c: check_dense_degrades(r),
    "sap_few_samples_clean": lambda r, c: check_sap_k(r, "sap_few_samples_clean"),
    "sap_few_samples_attacked": lambda r, c: check_sap_k(r, "sap_few_samples_attacked"),
    "sap_many_samples_dense": lambda r, c: check_sap_k(r, "sap_many_samples_dense"),
    "sap_best_near_100": lambda r, c: check_best_k(r),
    "sap100_gain_eps1": lambda r, c: check_sap100(r, 1, "higher"),
    "sap100_gain_eps2": lambda r, c: check_sap100(r, 2, "higher"),
    "sap100_gain_eps4": lambda r, c: check_sap100(r, 4, "higher"),
    "sap100_cost_eps0": lambda r, c: check_sap100(r, 0, "lower"),
    "sap100_cost_eps16": lambda r, c: check_sap100(r, 16, "lower"),
    "dropout_low_rate_small_eps": lambda r, c: check_dropout(r, "dropout_low_rate_small_eps"),
    "dropout_little_advantage": lambda r, c: check_dropout(r, "dropout_little_advantage"),
    "dropout_trained_no_robustness": lambda r, c: check_dropout(r,
                                                                "dropout_trained_no_robustness"),
    "adv_similar_small_eps": lambda r, c: check_adv(r, "adv_similar_small_eps"),
    "adv_sap_gain_eps16": lambda r, c: check_adv(r, "adv_sap_gain_eps16"),
    "adv_sap_gain_eps32": lambda r, c: check_adv(r, "adv_sap_gain_eps32"),
    "sap100_best_small_eps": lambda r, c: check_adv(r, "sap100_best_small_eps"),
    "adv_sap_best_large_eps": lambda r, c: check_adv(r, "adv_sap_best_large_eps"),
    "dense_worst_calibrated": lambda r, c: check_calibration(r, c, "dense_worst_calibrated"),
    "adv_sap_best_calibrated": lambda r, c: check_calibration(r, c, "adv_sap_best_calibrated"),
    "baselines_below_dense": lambda r, c: check_baselines(r, "baselines_below_dense"),
    "baselines_below_sap": lambda r, c: check_baselines(r, "baselines_below_sap"),
    "mc_dense_adversary": lambda r, c: check_mc(r, "mc_dense_adversary"),
    "mc_more_samples_stronger": lambda r, c: check_mc(r, "mc_more_samples_stronger"),
    "mc_sap_beats_dense": lambda r, c: check_mc(r, "mc_sap_beats_dense"),
    "iterative_sap_beats_dense": lambda r, c: check_iterative(r, "iterative_sap_beats_dense"),
    "iterative_dense_adversary": lambda r, c: check_iterative(r, "iterative_dense_adversary"),
}


# ---------------------------------------------------------------------------------------------
# the same claims under the adaptive evaluation's worst case
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Worst:
    """One model's worst-case masks by lambda, and why its attacks are suspect at some
    lambdas (or None)."""

    get: MaskFn
    suspect: Callable[[Sequence[float]], "str | None"]


def _worst(rows: Rows, model: str, defense: str = "none", param=None) -> _Worst:
    return _Worst(lambda eps: rows.worst(model, defense, param, eps),
                  lambda eps: rows.suspect(model, defense, param, eps))


def _vs(a: _Worst, b: _Worst, eps, kind: str, names: tuple[str, str]) -> Verdict | None:
    where = (" at λ = 0 (clean: one prediction of each, the paper attack's λ = 0 row)"
             if tuple(eps) == (0,) else None)
    return compare(a.get, b.get, eps, kind, names, where=where,
                   suspects=(a.suspect(eps), b.suspect(eps)))


def adaptive_checks(rows: Rows) -> dict[str, Verdict | None]:
    dense, sap = _worst(rows, "dense"), _worst(rows, "dense", "sap", 100.0)
    adv, adv_sap = _worst(rows, "adv"), _worst(rows, "adv", "sap", 100.0)
    four = {"dense": dense, "SAP-100": sap, "ADV": adv, "ADV+SAP-100": adv_sap}
    out = {}
    for eps in ATTACKED:
        out[f"sap100_gain_eps{eps}"] = _vs(sap, dense, (eps,), "higher", ("SAP-100", "dense"))
    out["sap100_cost_eps0"] = _vs(sap, dense, (0,), "lower", ("SAP-100", "dense"))
    out["sap100_cost_eps16"] = _vs(sap, dense, (16,), "lower", ("SAP-100", "dense"))
    out["adv_similar_small_eps"] = all_of([_vs(adv_sap, adv, (e,), "similar",
                                               ("ADV+SAP-100", "ADV")) for e in SMALL])
    out["adv_sap_gain_eps16"] = _vs(adv_sap, adv, (16,), "higher", ("ADV+SAP-100", "ADV"))
    for claim, name, eps in (("sap100_best_small_eps", "SAP-100", SMALL),
                             ("adv_sap_best_large_eps", "ADV+SAP-100", (16,))):
        parts = [_vs(four[name], four[o], (e,), "higher", (name, o))
                 for e in eps for o in four if o != name]
        out[claim] = None if any(p is None for p in parts) else all_of(parts)
    others = sorted({(r["model"], r["defense"], _num(r["param"])) for r in rows.adaptive
                     if r["defense"] not in ("none", "sap") and r["attack"] == "worst-case"})
    parts = []
    for model, defense, param in others:
        eps = sorted({float(r["eps"]) for r in rows.adaptive if r["defense"] == defense
                      and r["attack"] == "worst-case" and float(r["eps"]) > 0})
        for e in eps:
            parts.append(_vs(_worst(rows, model, defense, param), sap, (e,), "lower",
                             (model_label(model, defense, param), "SAP-100")))
    out["baselines_below_sap"] = all_of(parts)
    out["iterative_sap_beats_dense"] = all_of([_vs(sap, dense, (e,), "higher",
                                                   ("SAP-100", "dense")) for e in ATTACKED])
    return out


# ---------------------------------------------------------------------------------------------
# evaluation and rendering
# ---------------------------------------------------------------------------------------------
def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class Table(list):
    """One claims table: (claim row, Verdict or None) pairs; ``tests``: the number of
    directional comparisons its Holm correction ran over."""

    tests: int = 0


def _size(v: Verdict | None, figure: float) -> Verdict | None:
    """A holding direction set against the size the paper's sentence quotes (``figure``, in
    points, CIFAR-10's): ``SMALLER`` when the figure lies beyond the 95% interval in the
    claimed direction, ``LARGER`` when short of it, unchanged when inside."""
    if v is None or v.verdict != HOLDS or v.paired is None or v.kind not in ("higher", "lower"):
        return v
    sign = 1 if v.kind == "higher" else -1
    lo, hi = sorted((sign * 100 * v.paired.lo, sign * 100 * v.paired.hi))
    claimed = sign * figure
    text = f"; the paper's figure (CIFAR-10), {figure:+.1f} pts,"
    if lo <= claimed <= hi:
        return replace(v, measurement=v.measurement + text + " lies inside the interval")
    smaller = claimed > hi
    return replace(v, verdict=SMALLER if smaller else LARGER,
                   measurement=v.measurement + text + " lies outside the interval: the effect "
                               f"here is {'smaller' if smaller else 'larger'}")


def _judge(checks: Callable[[], list], figures: Mapping[str, float]) -> Table:
    """One table: its checks judged as one Holm family, then sized (``SIZES``)."""
    items, tests = as_family(checks)
    table = Table((claim, _size(v, figures[claim["id"]]) if claim["id"] in figures else v)
                  for claim, v in items)
    table.tests = tests
    return table


def evaluate_claims(results_dir: Path, *, profile: str, seed: int = 0,
                    claims_csv: Path = CLAIMS, paper_csv: Path = PAPER_NUMBERS,
                    classes: int = 10) -> tuple[Table, Table]:
    """``(figure_rows, adaptive_rows)``: per claim (claim row, Verdict or None when our rows
    cannot measure it). Each table is one family for Holm's correction; the paper's figures
    (``SIZES``, from ``paper_csv``) size the directions that hold; ``classes``: the dataset's
    (chance is 1/classes)."""
    results_dir = Path(results_dir)
    try:
        results = load_results(results_dir)
    except Exception:  # noqa: BLE001 - no figure results yet: only the adaptive part
        results = []
    rows = Rows(results, _read(results_dir / "adaptive.csv"), profile=profile, seed=seed,
                classes=classes)
    calibration = _read(results_dir / "calibration.csv")
    claims = load_claims(claims_csv)
    paper = {r["id"]: r["value"] for r in load_paper_numbers(paper_csv)}
    figures = {cid: paper[pid] for cid, pid in SIZES.items() if pid in paper}
    figure = _judge(lambda: [(c, CHECKS[cid](rows, calibration)) for cid, c in claims.items()],
                    figures)
    adaptive = _judge(lambda: [(claims[cid], v) for cid, v in adaptive_checks(rows).items()],
                      figures)
    return figure, adaptive


TALLY = (HOLDS, "hold in direction only", FAILS, OPEN, NOT_JUDGED, "not measured yet")


def tally(items: Sequence) -> dict[str, int]:
    """How many claims of a table got each verdict (``TALLY``: the two sized directions
    together as 'hold in direction only'; None as 'not measured yet')."""
    def kind(v):
        if v is None:
            return "not measured yet"
        return "hold in direction only" if v.verdict in (SMALLER, LARGER) else v.verdict
    counts = dict.fromkeys(TALLY, 0)
    for _, v in items:
        counts[kind(v)] += 1
    return counts


def tally_text(counts: Mapping[str, int]) -> str:
    """'11 hold, 3 hold in direction only, 6 do not hold, 5 inconclusive at this n' (the
    first four always; 'not judged' and 'not measured yet' when there are any)."""
    words = {HOLDS: ("holds", "hold"), FAILS: ("does not hold", "do not hold")}
    return ", ".join(f"{counts[k]} {words.get(k, (k, k))[counts[k] != 1]}" for k in TALLY
                     if counts[k] or k in TALLY[:4])


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def _table(items, dataset_title: str) -> list[str]:
    lines = ["| § | claim (the paper's sentence, CIFAR-10) | our measurement "
             f"({dataset_title}) | verdict |", "| --- | --- | --- | --- |"]
    for claim, v in items:
        if v is None:
            measurement, verdict = "not measured yet (the rows it needs are missing)", "—"
        else:
            measurement = v.measurement + (f" (n = {v.n})" if v.n else "")
            verdict = f"**{v.verdict}**"
        lines.append(f"| {claim['section']} | {_cell(claim['sentence'])} | {_cell(measurement)} "
                     f"| {verdict} |")
    return lines


def claims_section(results_dir: Path, *, profile: str, dataset_title: str, seed: int = 0,
                   claims_csv: Path = CLAIMS, classes: int = 10) -> list[str]:
    """The Markdown of the claims tables (empty when nothing can be measured)."""
    figure, adaptive = evaluate_claims(results_dir, profile=profile, seed=seed,
                                       claims_csv=claims_csv, classes=classes)
    if all(v is None for _, v in figure + adaptive):
        return []
    margin = f"{100 * MARGIN:.0f}"
    lines = [f"## The paper's claims on {dataset_title}", "",
             f"Generated from the result CSVs (profile {profile}, seed {seed}) by "
             "`experiments/claims.py`; the sentences are the paper's (CIFAR-10), verbatim, from "
             "`experiments/paper_numbers/claims.csv`. Every comparison is paired, on the same "
             "test images (per-image `correct` column): the difference in percentage points, "
             "its 95% interval and McNemar's exact p. Verdicts: *holds* when the interval "
             "lies on the claimed side of 0 and McNemar's p, Holm-adjusted over every "
             f"directional comparison of the table (shown as *Holm*), is below {ALPHA:g}; "
             f"*does not hold* when the interval excludes an effect of {margin} points in the "
             f"claimed direction (for 'similar': holds inside ±{margin} points, does not hold "
             f"outside; for 'adds little': holds below +{margin}, does not hold above); "
             f"otherwise *inconclusive at this n*. The {margin}-point margin is ours, not the "
             "paper's. Where the sentence quotes a size (the SAP-100 and ADV+SAP-100 "
             "differences), a direction that holds is set against it: *holds in direction, "
             "smaller in size* (or *larger*) when the paper's figure lies outside our "
             "interval. The paper's figures are CIFAR-10's"
             + ("" if dataset_title == "CIFAR-10" else
                f", so on {dataset_title} this says how the effect here compares with the "
                  "paper's, not whether it reproduces it")
             + ". *Not judged*: rows that cannot decide the claim (the measurement says why). "
             "Stochastic models are compared at SAP-100's FGSM budget (the paper's 100 MC "
             "samples); Fig. 5's baselines at the parameter chosen on other test images than "
             f"those they are judged on. Tally: {tally_text(tally(figure))} (Holm over "
             f"{figure.tests} comparisons).", ""]
    lines += _table(figure, dataset_title) + [""]
    if any(v is not None for _, v in adaptive):
        lines += [f"### The same claims under the adaptive attacks ({dataset_title})", "",
                  "Each accuracy is the *worst case* of the adaptive evaluation (an image counts "
                  "as correct only if every attack, the paper's FGSM, PGD-EOT, APGD-CE/DLR-EOT "
                  "and for SAP PGD through BPDA, leaves it correct), on the same images; at "
                  "λ = 0 the clean accuracy of one prediction (the paper attack's λ = 0 row), "
                  "never the AND of several random draws. The same rules; this table is its own "
                  f"Holm family ({adaptive.tests} comparisons). Tally: "
                  f"{tally_text(tally(adaptive))}.", ""]
        lines += _table(adaptive, dataset_title) + [""]
    return lines
