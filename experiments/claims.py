"""The paper's claims (sections 4.1, 4.3-4.5), each tested on our result rows: the claims table.

Each claim is a row of ``experiments/paper_numbers/claims.csv`` (the paper's sentence, verbatim)
and a check here, ``CHECKS[id]``, that turns our rows into a measurement and a verdict. Every
check compares accuracies **on the same test images**, from the per-image ``correct`` column of
the rows (``sap_mx.metrics.paired_difference``: the difference, its paired standard error, a 95%
interval and McNemar's exact p). A claim over several lambdas averages each image's correctness
over them first.

Verdicts (``MARGIN`` = 2 percentage points, our choice, not the paper's):

* *A is higher than B*: **holds** when the 95% interval of A - B lies above 0 and McNemar's
  p < 0.05 (the first rule wins: a small but sure gain holds); **does not hold** when the
  interval lies below +MARGIN (any gain is smaller than the margin, or a loss); else
  **inconclusive at this n**. A verdict tests the direction, not the paper's magnitude.
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

The second part puts the claims that the adaptive evaluation can measure under its worst case
(``experiments.adaptive``: the per-image AND over every attack, the robust accuracy). A worst
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from sap_mx import metrics

from .adaptive_table import convergence_of, row_mask, sanity_of, unchecked
from .paper_compare import latest_rows, load_results
from .zoo import model_label

# why a model's worst case is suspect when only the unbounded check ran on it (Rows.suspect)
UNCHECKED = "only the unbounded check ran: whether its attacks converged is unknown"

__all__ = ["CLAIMS", "MARGIN", "Verdict", "Rows", "load_claims", "evaluate_claims",
           "claims_section"]

CLAIMS = Path(__file__).resolve().parent / "paper_numbers" / "claims.csv"
MARGIN = 0.02       # 2 percentage points
ECE_MARGIN = 0.02
HOLDS, FAILS, OPEN = "holds", "does not hold", "inconclusive at this n"


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

    def label(self) -> str:
        text = model_label(self.model, self.defense, self.param)
        if self.attack_model != "self":
            text += f" (attack made on {self.attack_model})"
        return text


class Rows:
    """The newest rows of one profile and seed, looked up by curve and lambda."""

    def __init__(self, results: Sequence[Mapping], adaptive: Sequence[Mapping] = (), *,
                 profile: str, seed: int = 0):
        mine = [r for r in results if r["profile"] == profile and str(r["seed"]) == str(seed)]
        self.rows = latest_rows(mine)
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
                 and r["attack_model"] == spec.attack_model and r.get("correct")]
        if not found:
            return []
        mc = spec.mc if spec.mc is not None else max(int(r["mc_samples"]) for r in found)
        return [r for r in found if int(r["mc_samples"]) == mc]

    def mask(self, spec: Spec, eps: float) -> np.ndarray | None:
        found = [r for r in self._curve(spec) if float(r["eps"]) == eps]
        return _decode(found[0]) if found else None

    def worst(self, model: str, defense: str, param, eps: float) -> np.ndarray | None:
        found = [r for r in self.adaptive
                 if r["attack"] == "worst-case" and r["model"] == model
                 and r["defense"] == defense and _same(_num(r["param"]), param)
                 and float(r["eps"]) == eps and r.get("correct")]
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
    """What a check measured and what it concludes."""

    verdict: str
    measurement: str
    n: int | None = None
    parts: list = field(default_factory=list)


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _directional(r: metrics.Paired, higher: bool, margin: float = MARGIN) -> str:
    """A direction: holds when the interval is on the claimed side of 0 and McNemar agrees
    (p < 0.05; the normal interval is too narrow when few images disagree); otherwise does not
    hold when the interval excludes a gain of ``margin`` in the claimed direction."""
    lo, hi = (r.lo, r.hi) if higher else (-r.hi, -r.lo)
    if lo > 0 and r.p < 0.05:
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


def _describe(r: metrics.Paired, a: str, b: str, where: str) -> str:
    return (f"{a} − {b}{where}: {_pts(r.diff)} pts (95% CI {_pts(r.lo)} to {_pts(r.hi)}; "
            f"McNemar p = {r.p:.2g})")


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
    if kind == "similar":
        verdict = _similar(r, margin)
    elif kind == "little-gain":
        verdict = _little_gain(r, margin)
    else:
        verdict = _directional(r, kind == "higher", margin)
    text = _describe(r, *names, where)
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
    return Verdict(verdict, text, r.n)


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
    dense = Spec("sap")
    few = [k for k in SAP_K if rows.mask(Spec("sap", defense="sap", param=k), 0) is not None
           and k < 100][:1]
    many = [k for k in SAP_K if rows.mask(Spec("sap", defense="sap", param=k), 0) is not None
            and k > 100][-1:]
    if claim == "sap_few_samples_clean" and few:
        s = Spec("sap", defense="sap", param=few[0])
        return compare(_get(rows, s), _get(rows, dense), (0,), "lower", (s.label(), "dense"))
    if claim == "sap_few_samples_attacked" and few:
        s = Spec("sap", defense="sap", param=few[0])
        return compare(_get(rows, s), _get(rows, dense), ATTACKED, "higher",
                       (s.label(), "dense"))
    if claim == "sap_many_samples_dense" and many:
        s = Spec("sap", defense="sap", param=many[0])
        return all_of([compare(_get(rows, s), _get(rows, dense), (e,), "similar",
                               (s.label(), "dense")) for e in (0, 1, 2, 4)])
    return None


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


def check_dropout(rows: Rows, claim: str) -> Verdict | None:
    dense = Spec("dropout")
    if claim == "dropout_low_rate_small_eps":
        low = Spec("dropout", defense="dropout", param=0.1)
        return all_of([compare(_get(rows, low), _get(rows, dense), (e,), "similar",
                               (low.label(), "dense")) for e in (0, *SMALL)]
                      + [compare(_get(rows, low), _get(rows, dense), (8,), "lower",
                                 (low.label(), "dense"))])
    if claim == "dropout_little_advantage":
        rates = sorted({r["param"] for r in rows.rows if r["experiment"] == "dropout"
                        and r["model"] == "dense" and r["defense"] == "dropout"})
        parts = []
        for rate in rates:
            s = Spec("dropout", defense="dropout", param=rate)
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
            s = Spec("dropout", model=model, defense="dropout", param=rate)
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


def check_baselines(rows: Rows, claim: str) -> Verdict | None:
    """Per baseline, the parameter most favourable to it (highest mean accuracy over lambda =
    1, 2, 4), against dense at each lambda 1..32 or against SAP-100 (mean over lambda = 1, 2,
    4). "Worse than dense at most levels": holds when it is lower (its own verdict) at more
    than half of the six lambdas, does not hold when it is not lower (the interval excludes a
    2-point loss) at half or more, else inconclusive. Every baseline must have its rows."""
    dense = Spec("baselines")
    parts = []
    for name, label in BASELINES.items():
        params = sorted({r["param"] for r in rows.rows if r["experiment"] == "baselines"
                         and r["defense"] == name})
        scored = [(float(_score(_get(rows, Spec("baselines", defense=name, param=p)),
                                ATTACKED).mean()), p)
                  for p in params
                  if _score(_get(rows, Spec("baselines", defense=name, param=p)), ATTACKED)
                  is not None]
        if not scored:
            return None
        best = Spec("baselines", defense=name, param=max(scored)[1])
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
    return all_of(parts)


def check_mc(rows: Rows, claim: str) -> Verdict | None:
    mcs = sorted({int(r["mc_samples"]) for r in rows.rows if r["experiment"] == "mc"
                  and r["defense"] == "sap" and r["attack_model"] == "self"})
    if not mcs:
        return None
    sap = lambda m: _get(rows, Spec("mc", defense="sap", param=100, mc=m))  # noqa: E731
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
    return compare(a.get, b.get, eps, kind, names, suspects=(a.suspect(eps), b.suspect(eps)))


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


def evaluate_claims(results_dir: Path, *, profile: str, seed: int = 0,
                    claims_csv: Path = CLAIMS) -> tuple[list, list]:
    """``(figure_rows, adaptive_rows)``: per claim (claim row, Verdict or None when our rows
    cannot measure it)."""
    results_dir = Path(results_dir)
    try:
        results = load_results(results_dir)
    except Exception:  # noqa: BLE001 - no figure results yet: only the adaptive part
        results = []
    rows = Rows(results, _read(results_dir / "adaptive.csv"), profile=profile, seed=seed)
    calibration = _read(results_dir / "calibration.csv")
    claims = load_claims(claims_csv)
    figure = [(c, CHECKS[cid](rows, calibration)) for cid, c in claims.items()]
    adaptive = adaptive_checks(rows)
    return figure, [(claims[cid], v) for cid, v in adaptive.items()]


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
                   claims_csv: Path = CLAIMS) -> list[str]:
    """The Markdown of the claims tables (empty when nothing can be measured)."""
    figure, adaptive = evaluate_claims(results_dir, profile=profile, seed=seed,
                                       claims_csv=claims_csv)
    if all(v is None for _, v in figure + adaptive):
        return []
    counts = {k: sum(1 for _, v in figure if v is not None and v.verdict == k)
              for k in (HOLDS, FAILS, OPEN)}
    lines = [f"## The paper's claims on {dataset_title}", "",
             f"Generated from the result CSVs (profile {profile}, seed {seed}) by "
             "`experiments/claims.py`; the sentences are the paper's (CIFAR-10), verbatim, from "
             "`experiments/paper_numbers/claims.csv`. Every comparison is paired, on the same "
             "test images (per-image `correct` column): the difference in percentage points, "
             "its 95% interval and McNemar's exact p. Verdicts: *holds* when the interval "
             "lies on the claimed side of 0; *does not hold* when it excludes an effect of "
             f"{100 * MARGIN:.0f} points in the claimed direction (for 'similar': holds "
             f"inside ±{100 * MARGIN:.0f} points, does not hold outside; for 'adds little': "
             f"holds below +{100 * MARGIN:.0f}, does not hold above); otherwise *inconclusive "
             f"at this n*; a direction also needs McNemar's p < 0.05. The "
             f"{100 * MARGIN:.0f}-point margin is ours, not the paper's. A verdict tests the "
             "claim's direction (for 'similar' and 'adds little', its size), not the paper's "
             "magnitude: compare the number in the sentence with ours. "
             f"Tally: {counts[HOLDS]} hold, {counts[FAILS]} do not hold, {counts[OPEN]} "
             "inconclusive.", ""]
    lines += _table(figure, dataset_title) + [""]
    if any(v is not None for _, v in adaptive):
        lines += [f"### The same claims under the adaptive attacks ({dataset_title})", "",
                  "Each accuracy is the *worst case* of the adaptive evaluation (an image counts "
                  "as correct only if every attack, the paper's FGSM, PGD-EOT, APGD-CE/DLR-EOT "
                  "and for SAP PGD through BPDA, leaves it correct), on the same images.", ""]
        lines += _table(adaptive, dataset_title) + [""]
    return lines
