"""Put our image-experiment results next to the numbers the paper quotes: ``REPORT.md``.

``experiments.paper_compare`` matches each number the paper quotes (typed once, with its
sentence, in ``experiments/paper_numbers/cifar.csv``) with ours; this module renders the table,
the ECE table, the adaptive evaluation's table (``experiments.adaptive_table``) and the figures.

For a dataset with a README headline (``experiments.headline``: Fashion-MNIST, profile cpu) it
also rewrites that block of README.md.

Usage::

    python -m experiments.report --profile smoke    # results/smoke/cifar -> results/smoke/REPORT.md
    python -m experiments.report --profile paper    # results/cifar       -> results/REPORT.md

User mistakes (no results yet, no CSVs, a malformed file) are reported in one line starting with
``error:`` and exit status 2.
"""
from __future__ import annotations

import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Mapping, Sequence

from runkit import UsageError, arg, cli_main, parse_dataclass_args, rel, results_dir
from sap_mx.io import write_text

from . import datasets, headline
from .adaptive_table import adaptive_section, cell as _cell
from .claims import claims_section
from .paper_compare import (AGREE_POINTS, PAPER_NUMBERS, PROFILE_ORDER, Comparison, compare,
                            fmt_num, latest_rows, load_paper_numbers, load_results, profile_rank)

__all__ = ["AGREE_POINTS", "PAPER_NUMBERS", "PROFILE_ORDER", "Comparison", "build_report",
           "compare", "default_paths", "latest_rows", "load_paper_numbers", "load_results",
           "main", "render_report"]

FIGURE_TITLES = {
    "fig1_sap": "Fig. 1a, 1b: SAP models against random perturbation and FGSM",
    "fig1c_iterative": "Fig. 1c: iterative attack on dense and SAP-100",
    "fig2_dropout": "Fig. 2: dropout",
    "fig3_adv": "Fig. 3: dense, SAP-100, ADV and ADV+SAP-100",
    "fig4_calibration": "Fig. 4: calibration",
    "fig5_baselines": "Fig. 5: additional baselines",
    "fig6_mc": "Fig. 6: adversary's MC samples",
}


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
def _signed(x: float) -> str:
    text = f"{x:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _value(x: float, unit: str) -> str:
    return f"{x:.1f}%" if unit == "percent" else f"{_signed(x)} pts"


def _sort_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _provenance(results: Sequence[Mapping], results_dir: Path,
                title: str = "CIFAR-10") -> list[str]:
    files = sorted({r["file"] for r in results})
    by_profile: dict[str, list[Mapping]] = defaultdict(list)
    for r in results:
        by_profile[r["profile"]].append(r)
    parts = []
    for profile in sorted(by_profile, key=lambda p: (profile_rank(p), p)):
        rows = by_profile[profile]
        data = ", ".join(sorted({r["data"] or "?" for r in rows}))
        seeds = ", ".join(sorted({str(r["seed"]) for r in rows}, key=_sort_key))
        shas = ", ".join(f"`{s}`" for s in sorted({r["git_sha"] or "unknown" for r in rows}))
        parts.append(f"profile **{profile}** ({len(rows)} rows; data: {data}; seeds: {seeds}; "
                     f"commits: {shas})")
    if results:
        text = (f"The numbers below come from {len(results)} result rows in "
                f"{', '.join(f'`{f}`' for f in files)} (folder `{rel(results_dir)}`): "
                + "; ".join(parts) + ".")
    else:
        text = f"The result files in `{rel(results_dir)}` hold no rows yet."
    lines = [text, ""]
    profiles = set(by_profile)
    if "smoke" in profiles:
        lines += [f"**Warning: some rows come from the smoke profile: generated data, not "
                  f"{title}, tiny models; their numbers are not comparable with the paper's.**",
                  ""]
    if "quick" in profiles:
        lines += [f"**Warning: some rows come from the quick profile: real {title} but reduced "
                  "training (a tenth of the epochs) and possibly fewer MC samples; expect gaps.**",
                  ""]
    return lines


def _ece_table(results: Sequence[Mapping]) -> list[str]:
    groups: dict[tuple, list[Mapping]] = defaultdict(list)
    for r in latest_rows(results):
        if r["ece"] is not None:
            key = (r["experiment"], r["model"], r["defense"],
                   -1.0 if r["param"] is None else r["param"], r["attack"], r["attack_model"],
                   r["mc_samples"], r["eps"])
            groups[key].append(r)
    if not groups:
        return []
    lines = ["## Expected calibration error", "",
             "Ours only: the paper gives no ECE (it shows calibration plots, Fig. 4). Mean over "
             "seeds of the most preferred profile.", "",
             "| model | defense | param | attack | λ | ECE | profile |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    best: dict[tuple, list[Mapping]] = {}
    for key, rows in groups.items():
        top = min(rows, key=lambda r: profile_rank(r["profile"]))["profile"]
        best[key] = [r for r in rows if r["profile"] == top]
    for key in sorted(best):
        rows = best[key]
        r0 = rows[0]
        param = "" if r0["param"] is None else fmt_num(r0["param"])
        attack = r0["attack"]
        if r0["attack_model"] != "self":
            attack += f" on {r0['attack_model']}"
        lines.append(f"| {r0['model']} | {r0['defense']} | {param} | {attack} | "
                     f"{fmt_num(r0['eps'])} | {mean(r['ece'] for r in rows):.3f} | "
                     f"{r0['profile']} |")
    return lines + [""]


def _figures(results_dir: Path, out: Path) -> list[str]:
    pngs = sorted((results_dir / "figures").glob("*.png"))
    lines = ["## Figures", ""]
    if not pngs:
        return lines + [f"No figures in `{rel(results_dir / 'figures')}`.", ""]
    for png in pngs:
        title = FIGURE_TITLES.get(png.stem)
        lines.append(f"### {title} (`{png.name}`)" if title else f"### `{png.name}`")
        link = Path(os.path.relpath(png.resolve(), out.resolve().parent)).as_posix()
        lines += ["", f"![{png.stem}]({link.replace(' ', '%20')})", ""]
    return lines


def render_report(comparisons: Sequence[Comparison], results: Sequence[Mapping],
                  results_dir: Path, paper_csv: Path, out: Path, *,
                  dataset: str = "cifar10", profile: str = "") -> str:
    """The Markdown text of the report.

    Parameters
    ----------
    comparisons : sequence of Comparison
        From `compare`.
    results : sequence of dict
        Our rows (for the provenance paragraph and the ECE table).
    results_dir, paper_csv : Path
        Where the results and the paper numbers were read (named in the text).
    out : Path
        Where the report will be written (figure links are relative to its folder).
    dataset : str
        The image dataset of the results (``experiments.datasets``). The paper's numbers are
        CIFAR-10's: on another dataset the report does not set them against ours number by
        number; it tests the paper's claims instead (``experiments.claims``).
    profile : str
        The profile whose rows the claims tables use (default: the most preferred present).

    Returns
    -------
    str
    """
    results_dir, paper_csv, out = Path(results_dir), Path(paper_csv), Path(out)
    title, classes = datasets.get_dataset(dataset).title, datasets.get_dataset(dataset).classes
    if not profile:
        profile = min({r["profile"] for r in results} or {"paper"}, key=profile_rank)
    if dataset != "cifar10":
        lines = [f"# {title}: the paper's claims tested on our results", "",
                 f"Every number below is ours, measured on {title} with this repository's code. "
                 "The paper's experiments are on CIFAR-10; its sentences are quoted as the "
                 f"claims we test, and none of our numbers is a CIFAR-10 result.", ""]
        lines += _provenance(results, results_dir, title)
        lines += claims_section(results_dir, profile=profile, dataset_title=title,
                                classes=classes)
        lines += _tail(results, results_dir, out, results_dir / "sdr" / "adaptive.csv")
        return "\n".join(lines).rstrip("\n") + "\n"
    lines = ["# CIFAR-10: our results against the paper's numbers", ""]
    lines += _provenance(results, results_dir)
    lines += [
        "## The paper's numbers and ours", "",
        f"Column *paper*: the number as the paper's text quotes it (sections 4.1 and 4.5), typed "
        f"by hand with its sentence in `{rel(paper_csv)}`. Column *ours*: our accuracy "
        f"(mean over the seeds of the most preferred profile, paper > quick > smoke), or for "
        f"rows in *pts* the difference of two of our accuracies in percentage points. "
        f"Δ = ours − paper in percentage points. *n*: test examples per seed (× seeds). "
        f"s.e.: binomial standard error √(p(1−p)/n) of our accuracy (of the difference for "
        f"*pts* rows).", "",
        "| figure | quantity | paper | ours | Δ | profile | n | reading |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in comparisons:
        unit = c.paper["unit"]
        paper = _value(c.paper["value"], unit)
        if c.ours is None:
            ours, delta, profile, n = "not run", "", "", ""
        else:
            ours, delta, profile = _value(c.ours, unit), _signed(c.delta), c.profile
            n = "" if c.n is None else str(c.n)
            if c.seeds > 1:
                n = f"{n} × {c.seeds} seeds"
        cells = (c.paper["figure"], c.quantity, paper, ours, delta, profile, n, c.reading)
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    lines.append("")
    lines += claims_section(results_dir, profile=profile, dataset_title=title,
                            classes=classes)
    lines += _tail(results, results_dir, out, results_dir.parent / "mnist" / "adaptive.csv")
    return "\n".join(lines).rstrip("\n") + "\n"


def _tail(results, results_dir: Path, out: Path, *more_adaptive: Path) -> list[str]:
    """ECE table, adaptive tables, calibration bins and figures."""
    lines = _ece_table(results)
    lines += adaptive_section([results_dir / "adaptive.csv", *more_adaptive])
    if (results_dir / "calibration.csv").is_file():
        lines += [f"Calibration bins (Fig. 4): `{rel(results_dir / 'calibration.csv')}`.", ""]
    lines += _figures(results_dir, out)
    return lines


def build_report(results_dir: Path, paper_csv: Path, out: Path, *, dataset: str = "cifar10",
                 profile: str = "") -> Path:
    """Compare our results with the paper's numbers and write the report.

    Parameters
    ----------
    results_dir : Path
        Folder with our result CSVs and ``figures/``.
    paper_csv : Path
        The paper numbers file (usually `PAPER_NUMBERS`).
    out : Path
        The Markdown file to write (atomically).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    UsageError
        When an input is missing or malformed, or ``out`` cannot be written.
    """
    results_dir, paper_csv, out = Path(results_dir), Path(paper_csv), Path(out)
    results = load_results(results_dir)
    paper_rows = load_paper_numbers(paper_csv)
    text = render_report(compare(results, paper_rows), results, results_dir, paper_csv, out,
                         dataset=dataset, profile=profile)
    try:
        write_text(out, text)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def default_paths(profile: str, dataset: str = "cifar10") -> tuple[Path, Path]:
    """The results folder and report file of a profile: ``smoke`` has its own; a dataset other
    than CIFAR-10 has its report in its results folder (``results/fashion-mnist/REPORT.md``)."""
    folder = datasets.get_dataset(dataset).results_dir(profile)
    return folder, (results_dir(profile, "REPORT.md") if dataset == "cifar10"
                    else folder / "REPORT.md")


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    profile: str = arg("paper", "which default folders to use (smoke has its own): "
                                + " | ".join(PROFILE_ORDER))
    dataset: str = arg("cifar10", "image dataset whose results are reported")
    results_dir: str = arg("", "folder of result CSVs (default: the dataset's for the profile)")
    paper: str = arg(str(PAPER_NUMBERS), f"paper numbers file (default: {rel(PAPER_NUMBERS)})")
    out: str = arg("", "report file to write (default: results[/smoke]/REPORT.md)")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.report",
                                "Compare our image-experiment results with the paper's numbers.")


def run(args: Args) -> list[Path]:
    if args.profile not in PROFILE_ORDER:
        raise UsageError(f"unknown profile {args.profile!r}; valid: {', '.join(PROFILE_ORDER)}")
    folder, out = default_paths(args.profile, args.dataset)
    written = [build_report(Path(args.results_dir) if args.results_dir else folder,
                            Path(args.paper), Path(args.out) if args.out else out,
                            dataset=args.dataset, profile=args.profile)]
    # the README's generated headline follows the track's own rows (experiments.headline)
    if (headline.README_HEADLINES.get(args.dataset) == args.profile and not args.results_dir
            and not args.out and Path(args.paper) == PAPER_NUMBERS
            and not headline.update_readme(folder, dataset=args.dataset, profile=args.profile)):
        written.append(headline.README)
    return written


def main(argv=None) -> int:
    """Build the report; returns the exit status (2 for user mistakes)."""
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
