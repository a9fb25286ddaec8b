"""The adaptive evaluation's table for the report: the paper's attack next to the adaptive ones
(``experiments.adaptive``), per model and lambda, with the sanity verdict."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from runkit import rel
from runkit.rows import hex_mask
from sap_mx.attacks.sanity_checks import NO_LADDER, below, convergence, lowered, rejudge

from .adaptive import base_attack
from .paper_compare import latest_rows
from .zoo import model_key

__all__ = ["ADAPTIVE_ATTACKS", "adaptive_section", "cell", "sanity_of", "convergence_of",
           "row_mask"]


def cell(text: str) -> str:
    """A Markdown table cell: pipes escaped."""
    return str(text).replace("|", "\\|")


def sanity_of(row: Mapping) -> tuple[bool, str]:
    """A row's sanity verdict under the current rule: ``rejudge`` on the measurements its
    ``sanity`` text records (a row written when the ladder only looked for a rise is judged
    again; its CSV cell is rewritten the next time the driver runs)."""
    return rejudge(str(row.get("sanity_ok")) == "True", str(row.get("sanity") or ""),
                   int(row.get("n") or 0))


def unchecked(rows: Sequence[Mapping]) -> bool:
    """Whether only the unbounded check ran on a model (``NO_LADDER`` in a row's ``sanity``
    text): whether its attacks converged is unknown."""
    return any(NO_LADDER in str(r.get("sanity") or "") for r in rows)


WORST_CASE = "worst-case"


def convergence_of(model_rows: Sequence[Mapping], eps: float) -> tuple[bool, str] | None:
    """Whether the worst case of one model at ``eps`` is settled by longer runs of an attack
    (``pgd-bpda@40x4`` ...): each such attack converged (``sap_mx.attacks.convergence`` on its
    runs, the profile's own one included; paired on the rows' per-image ``correct`` masks when
    every run has one), and the worst case, the AND over every attack, leaves no more images
    wrong than those runs together do, beyond chance: no other, unconverged attack fools images
    they do not. Paired, that is McNemar's test on the images only the worst case gets wrong
    (the runs' own AND is the reference, so the runs' randomness is not counted against
    them); unpaired, 2 standard errors below the lowest run. Returns (settled, one line), or
    None when no attack has longer runs there."""
    here = [r for r in model_rows if float(r["eps"]) == eps]
    runs_of = [r for r in here if r.get("steps")]
    bases = list(dict.fromkeys(base_attack(r["attack"]) for r in runs_of if "@" in r["attack"]))
    try:
        n = int(runs_of[0]["n"]) if bases else 0
    except (TypeError, ValueError):
        return None  # rows without their number of images: nothing to judge
    if not bases:
        return None
    found, lowest, joint, paired = [], 1.0, None, True
    for base in bases:
        mine = [r for r in runs_of if base_attack(r["attack"]) == base]
        runs = {(int(r["steps"]), int(r["eot_samples"])): float(r["accuracy"]) for r in mine}
        decoded = {(int(r["steps"]), int(r["eot_samples"])): row_mask(r, n) for r in mine}
        masks = decoded if all(m is not None for m in decoded.values()) else None
        verdict = convergence(runs, n, base, masks)
        if verdict is not None:
            found.append(verdict)
            lowest = min(lowest, *runs.values())
            if masks is None:
                paired = False  # the worst case is then compared with every run, unpaired
            else:
                every = np.logical_and.reduce(list(masks.values()))
                joint = every if joint is None else joint & every
    if not found:
        return None
    settled, text = all(ok for ok, _ in found), "; ".join(line for _, line in found)
    worst = [r for r in here if r["attack"] == WORST_CASE]
    if worst:
        accuracy, mask = float(worst[0]["accuracy"]), row_mask(worst[0], n)
        if paired and mask is not None:
            fell, counts = lowered(mask, joint)
            extra = f" ({counts})" if fell else ""
        else:
            fell, extra = below(accuracy, lowest, n), ""
        if fell:
            settled = False
            text += (f"; but the worst case, {100 * accuracy:.1f}%, is below them: other "
                     f"attacks fool images these do not{extra}")
    return settled, text


def row_mask(row: Mapping, n: int | None = None) -> np.ndarray | None:
    """A row's per-image ``correct`` mask, or None when its ``correct`` cell does not decode to
    ``n`` images (default: the row's own ``n``, which must match: a row written by another
    version, of another number of images, a damaged file)."""
    try:
        own = int(row["n"])
        n = own if n is None else n
        mask = hex_mask(row["correct"], n)
    except (TypeError, ValueError, KeyError):
        return None
    return mask if len(mask) == n == own else None


ADAPTIVE_ATTACKS = ("worst-case", "paper", "pgd", "apgd-ce", "apgd-dlr", "pgd-bpda",
                    "pgd-bpda-margin", "transfer-pgd", "transfer-pgd-margin")


def adaptive_section(paths: Sequence[Path]) -> list[str]:
    """The paper's attack next to the adaptive ones (``experiments/adaptive.py``), per model and
    lambda, with the sanity verdict; newest configuration of each model only."""
    lines = []
    for path in paths:
        if not path.is_file():
            continue
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            continue
        for r in rows:
            r["experiment"] = "adaptive"
            r["n"] = int(r["n"]) if r.get("n") else None
        rows = latest_rows(rows)
        family = rows[0].get("family", path.parent.name)
        if family == "mnist":
            family = "Khan et al.'s MLPs"
        data = ", ".join(sorted({r.get("data") or "?" for r in rows}))
        lines += [f"## Adaptive evaluation ({family}; data: {data}): the paper's attack and "
                  "stronger ones", "",
                  f"From `{rel(path)}` (`experiments/adaptive.py`). Accuracy in %; the λ = 0 "
                  "rows are the clean accuracy, one prediction draw (nothing is attacked there, "
                  "so only the paper's row runs). *worst-case*: the robust accuracy, examples "
                  "correct under every attack of the row (AutoAttack's measure; at or below "
                  "each of them; Khan et al.'s MLPs predict with one stochastic pass in every "
                  "row, as they did). For a stochastic model every attack's final prediction is "
                  "its own random draw, so the worst case also takes the worst of those draws "
                  "(AutoAttack's 'rand' version does the same). *paper*: the paper's attack; "
                  "pgd / apgd-*: with expectation over the randomness (EOT); pgd-bpda(-margin): "
                  "PGD through SAP's expectation, cross-entropy (margin) loss; transfer-pgd"
                  "(-margin): PGD on the deterministic twin (the same weights, defense off; "
                  "SDR: the mean weights), its examples then shown to the stochastic model. "
                  "*sanity*: on the worst case of PGD-EOT with the CE and the margin loss "
                  "(through BPDA on SAP models), an unbounded attack brings accuracy to about "
                  "0% (<= 1%, or one image) and the attack has converged: doubling the steps or "
                  "the EOT samples neither raises nor lowers its accuracy (beyond 2 standard "
                  "errors) at the check λ. A model that fails "
                  "keeps its numbers, but they are upper bounds a stronger attack may lower. "
                  "*unbounded check only*: the profile ran no steps/EOT ladder on the model, "
                  "so whether its attacks converged is unknown; the claims table lets no such "
                  "bound decide a verdict it could overturn.", ""]
        if any(r["profile"] == "smoke" for r in rows):
            lines += ["**Smoke rows: generated data, not results.**", ""]
        lines += ["| model | λ | " + " | ".join(ADAPTIVE_ATTACKS) + " | sanity | profile |",
                  "| --- | --- |" + " --- |" * (len(ADAPTIVE_ATTACKS) + 2)]
        cells: dict[tuple, dict] = defaultdict(dict)
        meta: dict[tuple, dict] = {}
        verdicts: dict[str, list[Mapping]] = defaultdict(list)   # every row of each model
        for r in rows:
            name = model_key(r["model"], r["defense"], r["param"])
            key = (name, float(r["eps"]))
            cells[key][r["attack"]] = 100 * float(r["accuracy"])
            meta[key] = r
            verdicts[name].append(r)
        for key in sorted(cells):
            r = meta[key]
            values = [f"{cells[key][a]:.1f}" if a in cells[key] else "" for a in ADAPTIVE_ATTACKS]
            failed = [reason for ok, reason in map(sanity_of, verdicts[key[0]]) if not ok]
            if failed:
                sanity = f"FAILED: {failed[0]}"
            elif unchecked(verdicts[key[0]]):
                sanity = "ok (unbounded check only: convergence not tested)"
            else:
                sanity = "ok"
            lines.append(f"| {key[0]} | {key[1]:g} | " + " | ".join(values)
                         + f" | {cell(sanity)} | {r['profile']} |")
        lines.append("")
        longer = []
        for key in sorted(cells):
            verdict = convergence_of(verdicts[key[0]], key[1])
            if verdict is not None:
                longer.append(f"| {key[0]} | {key[1]:g} | {cell(verdict[1])} |")
        if longer:
            lines += ["Longer runs of the strongest attack (`long_attacks` of the profile; they "
                      "also join the worst case at their λ): converged when neither the last "
                      "doubling of the steps nor that of the EOT samples lowers accuracy, and "
                      "the most steps run with the most EOT samples together find no more than "
                      "the stronger of those two runs, by "
                      "McNemar's test on the same images (p < 0.05, more images lost than won; "
                      "rows without per-image masks: 2 standard errors of the difference); the "
                      "worst case is then settled when it leaves no more images wrong than those "
                      "runs together do, by the same test (no other attack fools images they do "
                      "not). Where it is settled, the claims table judges the model's worst case "
                      "at that λ even if its sanity check failed elsewhere.",
                      "", "| model | λ | runs (accuracy %) and verdict |", "| --- | --- | --- |"]
            lines += longer + [""]
    return lines
