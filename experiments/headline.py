"""The README's real-data headline, generated from the result CSVs, never typed by hand.

The README's Fashion-MNIST section holds a block between ``<!-- headline:<dataset>:begin -->``
and ``<!-- headline:<dataset>:end -->``. This module renders it from the committed rows of the
track's profile (``README_HEADLINES``): SAP-100 against dense and ADV+SAP-100 against ADV under
the paper's attack (the Fig. 1b / Fig. 3 analogue), the same four models under the adaptive
worst case, each difference paired on the same images with its 95% interval, the paper's
CIFAR-10 difference beside it where the paper quotes one, and the claims table's two tallies
(under the paper's attack and under the adaptive worst case).

``make report DATASET=fashion-mnist PROFILE=cpu`` (``experiments.report``) rewrites the block;
``tests/test_headline.py`` checks that the committed README's block is what the committed CSVs
give, so the front page cannot drift from ``results/``.

Usage::

    python -m experiments.headline --dataset fashion-mnist --profile cpu          # rewrite
    python -m experiments.headline --dataset fashion-mnist --profile cpu --check  # exit 2 if stale
"""
from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from runkit import ROOT, UsageError, arg, cli_main, parse_dataclass_args, rel
from sap_mx import metrics
from runkit.markdown import block_span, replace_block

from . import claims, datasets, track
from .adaptive import IMAGE_FAMILY
from .adaptive_table import convergence_of
from .claims import FIG3, UNCHECKED, Rows, Spec
from .paper_compare import NOT_RESULTS, PAPER_NUMBERS, load_paper_numbers, load_results

__all__ = ["README", "README_HEADLINES", "StepCost", "step_costs", "render", "update_readme",
           "readme_block", "main"]

README = Path(__file__).resolve().parent.parent / "README.md"
README_HEADLINES = {"fashion-mnist": "cpu"}    # dataset -> the profile its headline reports
PAPER_EPS = (0, 1, 2, 4, 8, 16, 32)            # lambdas of the paper's-attack table
ADAPTIVE_EPS = (1, 2, 4, 8, 16)                # lambdas of the worst-case table
DASH = "—"

# (label, spec) of the paper's-attack table: Fig. 1b for dense and SAP-100, Fig. 3 for ADV
# (SAP models at the paper's 100 adversary MC samples, as the text above the table says)
PAPER_ATTACK = {"dense": Spec("sap"), "SAP-100": Spec("sap", defense="sap", param=100, mc=100),
                "ADV": FIG3["ADV"], "ADV+SAP-100": Spec("adv", model="adv", defense="sap",
                                                        param=100, mc=100)}
# (label, (model, defense, param)) of the worst-case table
WORST = {"dense": ("dense", "none", None), "SAP-100": ("dense", "sap", 100.0),
         "ADV": ("adv", "none", None), "ADV+SAP-100": ("adv", "sap", 100.0)}
# figures shown when they exist: (caption, file name under figures/)
FIGURES = (("Fig. 1", "fig1_sap.png"), ("Fig. 3", "fig3_adv.png"),
           ("The adaptive evaluation", "adaptive_{results}.png"))
# pairs compared, with the paper-number id prefix of their CIFAR-10 difference
PAIRS = (("SAP-100", "dense", "sap100_vs_dense_fgsm_eps"),
         ("ADV+SAP-100", "ADV", "advsap100_vs_adv_fgsm_eps"))


def _markers(dataset: str) -> tuple[str, str]:
    return f"<!-- headline:{dataset}:begin -->", f"<!-- headline:{dataset}:end -->"


def _pct(mask) -> str:
    return DASH if mask is None else f"{100 * float(np.mean(mask)):.1f}"


def _diff(a, b) -> str:
    """``a - b`` paired, with its 95% interval; a dash unless both are on the same images."""
    if a is None or b is None or len(a) != len(b) or len(a) < 2:
        return DASH
    r = metrics.paired_difference(a, b)
    return f"{100 * r.diff:+.1f} ({100 * r.lo:+.1f} to {100 * r.hi:+.1f})"


def _paper_diffs(paper_csv: Path) -> dict[str, float]:
    return {r["id"]: r["value"] for r in load_paper_numbers(paper_csv)}


def _table(get: Callable[[str, float], np.ndarray | None], eps_grid: Sequence[float],
           paper: dict[str, float] | None) -> tuple[list[str], set[int]]:
    """One table: per lambda, the four accuracies and the two paired differences (with the
    paper's CIFAR-10 difference when ``paper`` is given); also the set of n seen."""
    head = ["λ", "dense", "SAP-100", "SAP-100 − dense (95% CI)"]
    if paper is not None:
        head.append("paper, CIFAR-10")
    head += ["ADV", "ADV+SAP-100", "ADV+SAP-100 − ADV (95% CI)"]
    if paper is not None:
        head.append("paper, CIFAR-10")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    sizes: set[int] = set()
    for eps in eps_grid:
        masks = {name: get(name, eps) for name in WORST}
        sizes |= {len(m) for m in masks.values() if m is not None}
        if all(m is None for m in masks.values()):
            continue
        cells = [f"{eps:g}"]
        for a, b, pid in PAIRS:
            cells += [_pct(masks[b]), _pct(masks[a]), _diff(masks[a], masks[b])]
            if paper is not None:
                value = paper.get(f"{pid}{eps:g}")
                cells.append(DASH if value is None else f"{value:+.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines, sizes


def _missing(get: Callable[[str, float], np.ndarray | None], eps_grid) -> list[str]:
    return [name for name in WORST if all(get(name, e) is None for e in eps_grid)]


def _results(results_dir: Path) -> list[dict]:
    """The figure rows; none when the folder has no result CSV yet (a malformed one is the
    user's one-line error, as in the report)."""
    if not any(p.name not in NOT_RESULTS for p in results_dir.glob("*.csv")):
        return []
    return load_results(results_dir)


def _first(sizes: set[int]) -> str:
    return "/".join(f"{s:,}" for s in sorted(sizes))


def render(results_dir: Path, *, dataset: str, profile: str, seed: int = 0,
           paper_csv: Path = PAPER_NUMBERS, models_dir: Path | None = None,
           bench_csv: Path | None = None) -> list[str]:
    """The block's Markdown lines (without the markers).

    Parameters
    ----------
    results_dir : Path
        The dataset's result CSVs (``sap.csv``, ``adv.csv``, ``adaptive.csv``, ``track.csv``)
        and ``figures/``.
    dataset, profile, seed : str, str, int
        Whose rows are reported.
    paper_csv : Path
        The paper's numbers (its CIFAR-10 differences go beside ours).
    models_dir, bench_csv : Path, optional
        The trained runs (their ``log.csv`` time the training) and ``make bench``'s estimate;
        default: the dataset's, and ``BENCH[dataset]``. No bench rows for ``profile``: no cost
        table.

    Returns
    -------
    list of str
    """
    results_dir = Path(results_dir)
    entry = datasets.get_dataset(dataset)
    title = entry.title
    rows = Rows(_results(results_dir), _read_csv(results_dir / "adaptive.csv"),
                profile=profile, seed=seed)
    paper = _paper_diffs(paper_csv)

    def attacked(name, eps):
        return rows.mask(PAPER_ATTACK[name], eps)

    def worst(name, eps):
        return rows.worst(*WORST[name], eps)

    table, sizes = _table(attacked, PAPER_EPS, paper)
    first = f"; first {_first(sizes)} test images" if sizes else ""
    lines = [f"*Generated from the CSVs in `{rel(results_dir)}` (profile {profile}, seed {seed}) "
             f"by `experiments/headline.py`; `make report DATASET={dataset} PROFILE={profile}` "
             "rewrites it.*", "",
             f"**The paper's attack** on {title} (FGSM; SAP models attacked with a 100-sample "
             f"Monte Carlo gradient, the paper's{first}): accuracy in %, and each difference in "
             "points, paired on the same images, with its 95% interval. The columns *paper, "
             "CIFAR-10* are the paper's differences on CIFAR-10 where its text quotes one: "
             f"another dataset, so they show the direction to expect, not a number {title} "
             "should match.", ""]
    missing = _missing(attacked, PAPER_EPS)
    lines += table if len(missing) < len(WORST) else ["Not run yet."]
    if 0 < len(missing) < len(WORST):
        lines += ["", "Not run yet: " + ", ".join(missing) + "."]
    table, sizes = _table(worst, ADAPTIVE_EPS, None)
    first = f"; first {_first(sizes)} test images" if sizes else ""
    missing = _missing(worst, ADAPTIVE_EPS)
    lines += ["", f"**The adaptive worst case** on {title} (an image counts only if every attack "
              "leaves it correct: the paper's FGSM, PGD and APGD-CE/DLR with EOT, PGD through "
              "BPDA for SAP with the cross-entropy and the margin loss, and PGD with both "
              f"losses transferred from the deterministic twin{first}):", ""]
    lines += table if len(missing) < len(WORST) else ["Not run yet."]
    if 0 < len(missing) < len(WORST):
        lines += ["", "Not run yet: " + ", ".join(missing) + "."]
    for name in WORST:
        if name in missing:
            continue
        reason = rows.suspect(*WORST[name])
        longer = [(e, convergence_of(rows.model_rows(*WORST[name]), e)) for e in ADAPTIVE_EPS]
        longer = [(e, v) for e, v in longer if v is not None]
        text = []
        if reason == UNCHECKED:
            text.append(f"**{name}: only the unbounded check ran on it**: whether its attacks "
                        "converged is unknown.")
        elif reason:
            text.append(f"**{name}: its attacks failed their sanity check** at the check "
                        f"λ = {IMAGE_FAMILY.check_eps:g}: {reason}.")
        for e, (converged, line) in longer:
            if reason or not converged:
                text.append(f"At λ = {e:g}, longer runs of its strongest attack: {line}.")
        if reason:
            cleared = [f"{e:g}" for e, (converged, _) in longer if converged]
            where = (f" (except at λ = {', '.join(cleared)}, where the longer runs settled it)"
                     if cleared else "")
            verb = "may" if reason == UNCHECKED else "would"
            text.append(f"So its worst case{where} is an upper bound that a longer attack {verb} "
                        "lower: a gain in its column is not established, and the claims table "
                        "judges no comparison this bound could overturn.")
        elif text:
            unsettled = ", ".join(f"{e:g}" for e, (converged, _) in longer if not converged)
            text.append(f"So at λ = {unsettled} its worst case is an upper bound that a longer "
                        "attack would lower, and the claims table judges no comparison there "
                        "that this bound could overturn.")
        if text:
            lines += ["", " ".join(text)]
    figure, adaptive = claims.evaluate_claims(results_dir, profile=profile, seed=seed,
                                              classes=entry.classes)
    paper_tally, worst_tally = (claims.tally_text(claims.tally(t)) for t in (figure, adaptive))
    lines += ["", f"**The paper's claims, tested on {title}** (sections 4.1, 4.3-4.5; "
              f"[the claims table]({rel(results_dir)}/REPORT.md)): under the paper's attack "
              f"({_count(len(figure), 'claim', 'claims')}), {paper_tally}; under the adaptive "
              f"worst case (the {_count(len(adaptive), 'claim', 'claims')} it can measure), "
              f"{worst_tally}. *In direction only*: the direction holds, but the paper's "
              "CIFAR-10 figure lies outside our 95% interval."]
    bench_csv = Path(bench_csv) if bench_csv is not None else BENCH.get(dataset)
    if bench_csv is not None and bench_csv.is_file():
        costs = step_costs(results_dir, Path(models_dir or entry.models_dir(profile)), bench_csv,
                           profile=profile, seed=seed, steps=[s for s, _ in track.STEPS])
        if costs:
            lines += [""] + _cost_table(costs, bench_csv)
    for caption, name in FIGURES:
        path = results_dir / "figures" / name.format(results=entry.results)
        if path.is_file():
            lines += ["", f"![{caption} on {title}]({rel(path)})"]
    return lines


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# ---------------------------------------------------------------------------------------------
# the cost of each part: the estimate of ``make bench`` beside the time it really took here
# ---------------------------------------------------------------------------------------------
# the cost estimates of benchmarks/bench_fashion.py
BENCH = {"fashion-mnist": ROOT / "results" / "bench" / "fashion.csv"}
# step of ``make fashion-track`` -> the parts of the bench's estimate that are that step
STEP_PARTS = {"train-dense": ("train dense-",), "fig1-sap": ("eval sap",),
              "train-adv": ("train adv-",), "fig3-4-adv": ("eval adv",),
              "adaptive": ("adaptive ",), "fig6-mc": ("eval mc",),
              "fig1c-iterative": ("eval iterative",), "fig5-baselines": ("eval baselines",),
              "train-dropout": ("train dropout-",), "fig2-dropout": ("eval dropout",),
              "sdr-table1": (), "sdr-adaptive": ()}     # not estimated: measured only


@dataclass(frozen=True)
class StepCost:
    """One track step: the bench's estimate and the time measured here (seconds; None: none).
    ``estimated``: False when the bench itself took the number from a finished run's log."""

    step: str
    estimate: float | None
    measured: float | None
    status: str
    estimated: bool = True


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _number(row: Mapping, column: str, path: Path) -> float:
    try:
        return float(row[column])
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{rel(path)}: no number in column {column!r} of row {dict(row)}; "
                         "regenerate the file") from None


def _training(models_dir: Path, runs: Sequence[str], epochs: Sequence[int | None]
              ) -> tuple[float, str]:
    """Training seconds from the runs' ``log.csv`` (every session's finished epochs) and a
    status."""
    total, logged, finished = 0.0, 0, 0
    for run in runs:
        path = models_dir / run / "log.csv"
        log = _read_csv(path)
        total += sum(_number(r, "seconds", path) for r in log)
        logged += len(log)
        finished += (models_dir / run / "final.json").is_file()
    if finished == len(runs):
        return total, "done"
    if not logged:
        return total, "not run"
    of = f" of {sum(epochs)}" if None not in epochs else ""
    return total, f"{logged}{of} epochs"


def _status(rows: Sequence[Mapping]) -> str:
    """The state of a step from its ``track.csv`` rows (the last one decides)."""
    if not rows:
        return "not run"
    code = int(float(rows[-1].get("exit") or 1))
    return "done" if code == 0 else "stopped, resumes" if code < 0 else f"failed (exit {code})"


def step_costs(results_dir: Path, models_dir: Path, bench_csv: Path, *, profile: str,
               steps: Sequence[str], seed: int = 0) -> list[StepCost]:
    """Per track step (``steps``): the estimate of ``bench_csv`` (its rows of ``profile``) and
    the time measured here: training from its runs' ``log.csv``, the other steps from
    ``track.csv`` (the wall time of every run of the step, interrupted ones included). Empty
    when the bench has no rows for ``profile``."""
    bench = [r for r in _read_csv(bench_csv) if r.get("profile") == profile]
    if not bench:
        return []
    track_csv = Path(results_dir) / "track.csv"
    track_rows = [r for r in _read_csv(track_csv)
                  if r.get("profile", profile) == profile and str(r.get("seed", seed)) == str(seed)]
    out = []
    for step in steps:
        prefixes = STEP_PARTS.get(step)
        if prefixes is None:
            continue
        parts = [r for r in bench if r.get("part", "").startswith(prefixes)]
        estimate = sum(_number(r, "seconds", bench_csv) for r in parts) if parts else None
        estimated = not parts or any(r.get("kind") != "measured" for r in parts)
        if step.startswith("train-") and parts:
            runs = [r["part"].split(" ", 1)[1] for r in parts]
            epochs = [int(m.group(1)) if (m := re.search(r"(\d+) epochs", r.get("detail", "")))
                      else None for r in parts]
            measured, status = _training(Path(models_dir), runs, epochs)
        else:
            mine = [r for r in track_rows if r.get("step") == step]
            measured = sum(_number(r, "seconds", track_csv) for r in mine) if mine else None
            status = _status(mine)
        out.append(StepCost(step, estimate, measured or None, status, estimated))
    return out


def _hours(seconds: float | None) -> str:
    return DASH if seconds is None else f"{seconds / 3600:.2f} h"


def _cost_table(costs: Sequence[StepCost], bench_csv: Path) -> list[str]:
    bench = _read_csv(bench_csv)
    cores = {r.get("cores") for r in bench if r.get("cores")}
    lines = ["| step of `make fashion-track` | estimate (`make bench`) | measured here | status |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {c.step} | {_hours(c.estimate)}{'' if c.estimated else ' (its log)'} "
              f"| {_hours(c.measured)} | {c.status} |" for c in costs]
    estimates = [c.estimate for c in costs if c.estimate is not None]
    total = _hours(sum(estimates)) if estimates else DASH
    spent = sum(c.measured or 0 for c in costs)
    so_far = " so far" if any(c.status != "done" for c in costs) else ""
    lines.append(f"| **total** | {total} | {_hours(spent)}{so_far} | |")
    return [f"**What it costs here** ({'/'.join(sorted(cores)) or '?'} CPU cores; estimate "
            f"from `{rel(bench_csv)}`, where *(its log)* marks a run the bench found finished; "
            "training measured from the runs' `log.csv` (finished epochs only), the other steps "
            "from `track.csv` (every run of the step, interrupted ones included); the bench "
            "does not estimate Khan et al.'s table):", ""] + lines


def readme_block(text: str, dataset: str) -> tuple[int, int]:
    """Start and end offsets of the block's content in the README ``text``."""
    return block_span(text, *_markers(dataset), what="the headline")


def update_readme(results_dir: Path, *, dataset: str, profile: str, readme: Path | None = None,
                  check: bool = False, seed: int = 0, models_dir: Path | None = None,
                  bench_csv: Path | None = None) -> bool:
    """Rewrite the README's block (or with ``check`` only compare); True when it was current.
    ``readme``: default ``README``, the repository's; the rest as `render`."""
    return replace_block(readme or README, *_markers(dataset),
                         render(results_dir, dataset=dataset, profile=profile, seed=seed,
                                models_dir=models_dir, bench_csv=bench_csv),
                         check=check, what="the headline")


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    dataset: str = arg("fashion-mnist", "dataset whose headline is rendered: "
                       + " | ".join(README_HEADLINES))
    profile: str = arg("", "profile whose rows it reports (default: the dataset's track profile)")
    readme: str = arg(str(README), "the README to rewrite")
    check: bool = arg(False, "only compare; exit status 2 when the block is out of date")


def run(args: Args) -> list[Path]:
    """Rewrite (or with ``--check`` compare) the README's block of ``args.dataset``."""
    if args.dataset not in README_HEADLINES:
        raise UsageError(f"no README headline for dataset {args.dataset!r}; valid: "
                         + ", ".join(README_HEADLINES))
    profile = args.profile or README_HEADLINES[args.dataset]
    folder = datasets.get_dataset(args.dataset).results_dir(profile)
    readme = Path(args.readme)
    current = update_readme(folder, dataset=args.dataset, profile=profile, readme=readme,
                            check=args.check)
    if args.check and not current:
        raise UsageError(f"{rel(readme)}: the {args.dataset} headline is out of date; run make "
                         f"report DATASET={args.dataset} PROFILE={profile}")
    if current:
        print(f"{rel(readme)}: the {args.dataset} headline is current")
    return [] if current else [readme]


def main(argv=None) -> int:
    """Rewrite (or check) the README's headline; returns the exit status."""
    return cli_main(run, lambda a: parse_dataclass_args(
        Args, a, "python -m experiments.headline",
        "Rewrite the README's real-data headline from the result CSVs."), argv)


if __name__ == "__main__":
    sys.exit(main())
