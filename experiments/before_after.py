"""Before -> after: the front page's numbers and every claim verdict of two runs of a track.

A track's results are rerun when the code that made them was wrong (the Fashion-MNIST track after
the cross-entropy sign fix, docs/fashion-mnist.md). This compares the committed CSVs of an
earlier commit (``--before``, read from git history) with today's, both judged by today's code:

* the front page's numbers (``experiments.headline``): dense, SAP-100, ADV and ADV+SAP-100 under
  the paper's attack at each of its lambdas, and their adaptive worst case;
* every claim whose verdict differs (``experiments.claims``), in either table.

Both runs are judged by today's rules, so a changed verdict is a change of the data (the fixed
gradient, the stronger attacks, the new protocols), not of the rules; the verdicts as the earlier
run published them, under its own rules, are in its REPORT.md at that commit. The block it
writes sits between ``<!-- before-after:<dataset>:begin/end -->`` in ``--doc``.

Usage: ``python -m experiments.before_after --dataset fashion-mnist --profile cpu --before
121d40e [--doc docs/fashion-mnist.md]``; ``make before-after DATASET=... PROFILE=... BEFORE=...``.
"""
from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from runkit import UsageError, arg, cli_main, parse_dataclass_args, rel
from runkit.markdown import replace_block

from . import claims, datasets
from .headline import ADAPTIVE_EPS, PAPER_ATTACK, PAPER_EPS, WORST, _read_csv, _results

__all__ = ["extract", "front_numbers", "verdicts", "render", "update_doc", "main"]

ROOT = Path(__file__).resolve().parent.parent
DASH = "—"


# ---------------------------------------------------------------------------------------------
# the two runs
# ---------------------------------------------------------------------------------------------
def extract(rev: str, folder: Path, dest: Path, *, repo: Path = ROOT) -> Path:
    """The files of ``folder`` (relative to the repository) at commit ``rev``, unpacked under
    ``dest``; returns the folder's path there. A revision git does not know, or one without the
    folder, is the user's one-line error."""
    folder = Path(folder)
    done = subprocess.run(["git", "archive", "--format=tar", rev, str(folder)], cwd=repo,
                          capture_output=True, timeout=120)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"--before {rev}: git has no {folder} there "
                         f"({reason[-1] if reason else 'git archive failed'}); give a commit "
                         "that has the earlier run's CSVs")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return Path(dest) / folder


def front_numbers(results_dir: Path, *, profile: str, seed: int = 0
                  ) -> dict[tuple[str, str, float], float]:
    """The front page's accuracies (%): ``(table, model, lambda) -> accuracy`` for the paper's
    attack (``'paper'``) and the adaptive worst case (``'worst'``); cells without rows are
    absent."""
    rows = claims.Rows(_results(results_dir), _read_csv(results_dir / "adaptive.csv"),
                       profile=profile, seed=seed)
    out = {}
    for name in PAPER_ATTACK:
        for eps in PAPER_EPS:
            mask = rows.mask(PAPER_ATTACK[name], eps)
            if mask is not None:
                out[("paper", name, eps)] = 100 * float(mask.mean())
        for eps in ADAPTIVE_EPS:
            mask = rows.worst(*WORST[name], eps)
            if mask is not None:
                out[("worst", name, eps)] = 100 * float(mask.mean())
    return out


def verdicts(results_dir: Path, *, profile: str, seed: int = 0, classes: int = 10
             ) -> dict[tuple[str, str], tuple[str, str]]:
    """``(table, claim id) -> (verdict, the claim's sentence)``, today's rules; a claim the rows
    cannot measure reads 'not measured'."""
    figure, adaptive = claims.evaluate_claims(results_dir, profile=profile, seed=seed,
                                              classes=classes)
    out = {}
    for table, items in (("paper's attack", figure), ("adaptive worst case", adaptive)):
        for claim, verdict in items:
            out[(table, claim["id"])] = (verdict.verdict if verdict is not None
                                         else "not measured", claim["sentence"])
    return out


# ---------------------------------------------------------------------------------------------
# the block
# ---------------------------------------------------------------------------------------------
def _cell(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def render(before: Mapping, after: Mapping, before_verdicts: Mapping, after_verdicts: Mapping,
           *, rev: str, dataset_title: str) -> list[str]:
    """The block's Markdown lines: the front page's accuracies of both runs (``before ->
    after``, in %), then the verdicts that changed."""
    lines = [f"*Generated by `experiments/before_after.py` from the CSVs at {rev} (before) and "
             "the committed ones (after), both judged by today's code.*", "",
             f"{dataset_title}, accuracy in %, before -> after:", "",
             "| | λ | " + " | ".join(WORST) + " |", "|" + " --- |" * (len(WORST) + 2)]
    for table, label, grid in (("paper", "paper's attack", PAPER_EPS),
                               ("worst", "adaptive worst case", ADAPTIVE_EPS)):
        for eps in grid:
            cells = [f"{_cell(before.get((table, m, eps)))} -> {_cell(after.get((table, m, eps)))}"
                     for m in WORST]
            if any((table, m, eps) in before or (table, m, eps) in after for m in WORST):
                lines.append(f"| {label} | {eps:g} | " + " | ".join(cells) + " |")
    changed = [(key, before_verdicts.get(key, ("not measured", ""))[0], after_verdicts[key])
               for key in after_verdicts
               if before_verdicts.get(key, ("not measured", ""))[0] != after_verdicts[key][0]]
    lines += ["", f"Verdicts that changed ({len(changed)} of {len(after_verdicts)}):", ""]
    if changed:
        lines += ["| table | claim | sentence (the paper's) | before | after |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {table} | `{cid}` | {sentence} | {b} | {a} |"
                  for (table, cid), b, (a, sentence) in changed]
    else:
        lines.append("None.")
    return lines


def update_doc(doc: Path, dataset: str, lines: list[str]) -> Path:
    """Replace the block between the dataset's markers in ``doc`` (appended at its end the
    first time)."""
    replace_block(doc, f"<!-- before-after:{dataset}:begin -->",
                  f"<!-- before-after:{dataset}:end -->", lines, append=True,
                  what="the before -> after table")
    return Path(doc)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    dataset: str = arg("fashion-mnist", "dataset of the track (experiments/datasets.py)")
    profile: str = arg("cpu", "profile whose rows are compared")
    seed: int = arg(0, "seed whose rows are compared")
    before: str = arg("", "the commit of the earlier run (its CSVs are read from git)")
    doc: str = arg("", "Markdown file whose before-after block is rewritten (default: print)")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.before_after",
                                __doc__.split("\n\n")[0])


def run(args: Args) -> list[Path]:
    if not args.before:
        raise UsageError("give --before <commit>: the commit whose CSVs are the earlier run")
    entry = datasets.get_dataset(args.dataset)
    after_dir = entry.results_dir(args.profile)
    classes = entry.classes
    with tempfile.TemporaryDirectory() as tmp:
        before_dir = extract(args.before, after_dir.resolve().relative_to(ROOT), Path(tmp))
        lines = render(front_numbers(before_dir, profile=args.profile, seed=args.seed),
                       front_numbers(after_dir, profile=args.profile, seed=args.seed),
                       verdicts(before_dir, profile=args.profile, seed=args.seed,
                                classes=classes),
                       verdicts(after_dir, profile=args.profile, seed=args.seed,
                                classes=classes),
                       rev=args.before, dataset_title=entry.title)
    if not args.doc:
        print("\n".join(lines))
        return []
    doc = Path(args.doc)
    if not doc.is_file():
        raise UsageError(f"--doc {rel(doc)}: no such file")
    return [update_doc(doc, args.dataset, lines)]


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
