"""Put our CIFAR-10 results next to the numbers the paper quotes: ``REPORT.md``.

The paper's numbers are typed once, by hand, in ``experiments/paper_numbers/cifar.csv`` (one row
per number, with its sentence). Our numbers are the tidy result CSVs of the CIFAR-10 evaluation
(``<results_dir>/<experiment>.csv``, accuracy as a fraction). Each paper row is matched to our
rows on the experiment file, model, defense, SAP percentage, attack, attack model and lambda;
the adversary's MC samples should match too, but a run that used fewer (a reduced profile) is
still shown, with its own count. When several profiles have the row, ``paper`` is preferred over
``quick`` over ``smoke``, and the accuracy is averaged over that profile's seeds. A ``points`` row
(a difference the paper quotes, e.g. SAP-100 minus dense) is compared with the same difference
of our accuracies, both taken from one profile.

Usage::

    python -m experiments.report --profile smoke    # results/smoke/cifar -> results/smoke/REPORT.md
    python -m experiments.report --profile paper    # results/cifar       -> results/REPORT.md

User mistakes (no results yet, no CSVs, a malformed file) are reported in one line starting with
``error:`` and exit status 2.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Iterable, Mapping, Sequence

from .profiles import ROOT, UsageError

__all__ = [
    "AGREE_POINTS",
    "PAPER_NUMBERS",
    "PROFILE_ORDER",
    "Comparison",
    "build_report",
    "compare",
    "default_paths",
    "latest_rows",
    "load_paper_numbers",
    "load_results",
    "main",
    "render_report",
]

PAPER_NUMBERS = Path(__file__).resolve().parent / "paper_numbers" / "cifar.csv"
"""The paper's CIFAR-10 numbers, transcribed by hand (see its README)."""

PROFILE_ORDER = ("paper", "quick", "smoke")
"""Profiles in order of preference when several have the same row."""

AGREE_POINTS = 2.0
"""A gap of at most this many percentage points reads as agreement."""

PAPER_COLUMNS = ("id", "figure", "experiment", "model", "defense", "param", "attack",
                 "attack_model", "mc_samples", "eps", "value", "unit", "reference", "sentence")

#: columns of a result CSV that the report reads
RESULT_COLUMNS = ("model", "defense", "param", "attack", "attack_model", "mc_samples", "eps",
                  "accuracy", "n", "seed", "profile", "data", "git_sha")

#: files in the results folder that are not accuracy tables
NOT_RESULTS = ("calibration.csv", "adaptive.csv")

FIGURE_TITLES = {
    "fig1_sap": "Fig. 1a, 1b: SAP models against random perturbation and FGSM",
    "fig1c_iterative": "Fig. 1c: iterative attack on dense and SAP-100",
    "fig2_dropout": "Fig. 2: dropout",
    "fig3_adv": "Fig. 3: dense, SAP-100, ADV and ADV+SAP-100",
    "fig4_calibration": "Fig. 4: calibration",
    "fig5_baselines": "Fig. 5: additional baselines",
    "fig6_mc": "Fig. 6: adversary's MC samples",
}

PROFILE_NOTES = {"smoke": "(smoke: generated data)", "quick": "(quick: reduced profile)"}


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def _number(text: str, what: str, where: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: {what} {text!r} is not a number") from None


def _param(text: str | None, where: str) -> float | None:
    text = (text or "").strip()
    return None if text == "" else _number(text, "param", where)


def _read_csv(path: Path, required: Sequence[str]) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or ())]
            if missing:
                raise UsageError(f"{path}: missing columns {', '.join(missing)}")
            return list(reader)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_paper_numbers(path: str | os.PathLike = PAPER_NUMBERS) -> list[dict]:
    """Read the paper numbers file.

    Parameters
    ----------
    path : path-like
        A CSV with the columns of ``PAPER_COLUMNS``.

    Returns
    -------
    list of dict
        One dict per quoted number: the text columns as strings, plus ``param`` (float or None),
        ``mc_samples`` (int), ``eps`` and ``value`` (float) parsed.

    Raises
    ------
    UsageError
        When the file is missing or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"paper numbers file {path} does not exist")
    rows = []
    for line, raw in enumerate(_read_csv(path, PAPER_COLUMNS), start=2):
        where = f"{path}:{line}"
        row = dict(raw)
        row["param"] = _param(raw["param"], where)
        row["mc_samples"] = int(_number(raw["mc_samples"], "mc_samples", where))
        row["eps"] = _number(raw["eps"], "eps", where)
        row["value"] = _number(raw["value"], "value", where)
        if row["unit"] not in ("percent", "points"):
            raise UsageError(f"{where}: unit must be 'percent' or 'points', got {row['unit']!r}")
        if (row["unit"] == "points") != bool(row["reference"].strip()):
            raise UsageError(f"{where}: a reference is needed for, and only for, 'points' rows")
        rows.append(row)
    return rows


def load_results(results_dir: str | os.PathLike) -> list[dict]:
    """Read every result CSV of a results folder.

    Parameters
    ----------
    results_dir : path-like
        Folder with ``<experiment>.csv`` files (``calibration.csv`` is skipped).

    Returns
    -------
    list of dict
        One dict per row: the columns as written, with ``experiment`` set to the file's stem,
        ``param`` (float or None), ``eps``, ``accuracy`` (fraction), ``ece`` (float or None),
        ``mc_samples`` and ``n`` (int or None) parsed, and ``file`` (the file name).

    Raises
    ------
    UsageError
        When the folder does not exist, holds no result CSV, or a file is malformed.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results directory {results_dir} does not exist "
                         "(run the CIFAR-10 evaluations first: python -m experiments.cifar_eval)")
    files = sorted(p for p in results_dir.glob("*.csv") if p.name not in NOT_RESULTS)
    if not files:
        if (results_dir / "adaptive.csv").is_file():
            return []  # only the adaptive evaluation has run: the report shows that
        raise UsageError(f"no result CSVs in {results_dir}")
    rows = []
    for path in files:
        for line, raw in enumerate(_read_csv(path, RESULT_COLUMNS), start=2):
            where = f"{path}:{line}"
            row = dict(raw)
            row["experiment"] = path.stem
            row["file"] = path.name
            row["param"] = _param(raw["param"], where)
            row["eps"] = _number(raw["eps"], "eps", where)
            row["mc_samples"] = int(_number(raw["mc_samples"], "mc_samples", where))
            row["accuracy"] = _number(raw["accuracy"], "accuracy", where)
            if not 0.0 <= row["accuracy"] <= 1.0:
                raise UsageError(f"{where}: accuracy {raw['accuracy']} is not a fraction in [0, 1]")
            n = (raw.get("n") or "").strip()
            row["n"] = int(_number(n, "n", where)) if n else None
            ece = (raw.get("ece") or "").strip()
            row["ece"] = _number(ece, "ece", where) if ece else None
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """One paper number next to ours.

    Attributes
    ----------
    paper : dict
        The paper row (see `load_paper_numbers`).
    quantity : str
        Readable description, e.g. ``"SAP-100 - dense, FGSM (MC 100), lambda=2"``.
    ours : float or None
        Our number in the paper row's unit (percent, or percentage points for ``points`` rows);
        None when not run.
    delta : float or None
        ``ours - paper`` in percentage points.
    profile : str or None
        The profile our number comes from.
    n : int or None
        Test examples per seed behind our accuracy (of the evaluated model for ``points``).
    seeds : int
        Number of seeds averaged.
    mc_samples : int or None
        The adversary's MC samples in our run (may be fewer than the paper's in reduced runs).
    se : float or None
        Binomial standard error of ours, in percentage points (of the difference, treating the
        two accuracies as independent, for ``points`` rows).
    reading : str
        One short line that reads the gap.
    """

    paper: dict
    quantity: str
    ours: float | None = None
    delta: float | None = None
    profile: str | None = None
    n: int | None = None
    seeds: int = 0
    mc_samples: int | None = None
    se: float | None = None
    reading: str = "not run"


def _profile_rank(profile: str) -> int:
    return PROFILE_ORDER.index(profile) if profile in PROFILE_ORDER else len(PROFILE_ORDER)


def _same_param(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b)


def _candidates(results: Iterable[Mapping], spec: Mapping) -> list[Mapping]:
    """Our rows matching ``spec`` on everything but the adversary's MC samples."""
    return [r for r in results
            if r["experiment"] == spec["experiment"] and r["model"] == spec["model"]
            and r["defense"] == spec["defense"] and _same_param(r["param"], spec["param"])
            and r["attack"] == spec["attack"] and r["attack_model"] == spec["attack_model"]
            and math.isclose(r["eps"], spec["eps"], abs_tol=1e-9)]


def _pick(candidates: Sequence[Mapping], mc_samples: int, profile: str) -> list[Mapping]:
    """The rows of ``profile`` with the wanted MC samples, else with the closest count.

    0 and 1 both mean a deterministic adversary (no MC estimate) and count as equal.
    """
    rows = [r for r in candidates if r["profile"] == profile]
    if not rows:
        return []
    counts = {r["mc_samples"] for r in rows}
    best = min(counts, key=lambda c: (abs(max(c, 1) - max(mc_samples, 1)), -c))
    return [r for r in rows if r["mc_samples"] == best]


@dataclass
class _Summary:
    accuracy: float      # fraction, mean over seeds
    n: int | None        # examples per seed (mean)
    seeds: int
    mc_samples: int

    @property
    def se(self) -> float | None:
        """Binomial standard error in percentage points."""
        if not self.n:
            return None
        p = self.accuracy
        return 100.0 * math.sqrt(max(p * (1.0 - p), 0.0) / self.n)


def _summarise(rows: Sequence[Mapping]) -> _Summary:
    by_seed: dict[str, list[Mapping]] = defaultdict(list)
    for r in rows:
        by_seed[str(r["seed"])].append(r)
    accuracy = mean(mean(r["accuracy"] for r in group) for group in by_seed.values())
    ns = [r["n"] for r in rows if r["n"]]
    return _Summary(accuracy, round(mean(ns)) if ns else None, len(by_seed), rows[0]["mc_samples"])


def _default_mc(defense: str, attack: str) -> int:
    """The adversary's MC samples the paper used for a model attacked through its own gradients."""
    if defense == "none":
        return 1
    return 10 if attack == "iterative" else 100


def _reference_spec(row: Mapping) -> dict:
    try:
        model, defense, param = row["reference"].split("/")
    except ValueError:
        raise UsageError(f"paper row {row['id']}: reference {row['reference']!r} is not "
                         "'model/defense/param'") from None
    return {**row, "model": model, "defense": defense,
            "param": _param(param, f"paper row {row['id']}"), "attack_model": "self",
            "mc_samples": _default_mc(defense, row["attack"])}


def _fmt_num(x: float) -> str:
    return f"{x:g}"


def _model_name(model: str, defense: str, param: float | None) -> str:
    base = "dense" if model == "dense" else model.upper()
    if defense == "none":
        return base
    label = {"sap": "SAP", "dropout": "DRO"}.get(defense, defense.upper())
    if param is not None:
        label = f"{label}-{_fmt_num(param)}"
    return label if model == "dense" else f"{base}+{label}"


def _quantity(row: Mapping) -> str:
    name = _model_name(row["model"], row["defense"], row["param"])
    if row["unit"] == "points":
        ref = _reference_spec(row)
        name = f"{name} − {_model_name(ref['model'], ref['defense'], ref['param'])}"
    attack = {"fgsm": "FGSM"}.get(row["attack"], row["attack"])
    if row["attack_model"] != "self":
        attack += f" computed on {row['attack_model']}"
    if row["mc_samples"] > 1:
        attack += f" (MC {row['mc_samples']})"
    return f"{name}, {attack}, λ={_fmt_num(row['eps'])}"


def _reading(c: Comparison) -> str:
    if c.ours is None:
        return c.reading
    gap = abs(c.delta)
    if gap <= AGREE_POINTS + 1e-9:
        parts = [f"agrees (|Δ| ≤ {_fmt_num(AGREE_POINTS)} pts)"]
    else:
        parts = [f"ours {'higher' if c.delta > 0 else 'lower'} by {gap:.1f} pts"]
    if c.se and gap <= 2 * c.se:
        parts.append(f"within 2 s.e. (s.e. {c.se:.1f} pts)")
    if c.mc_samples is not None and max(c.mc_samples, 1) != max(c.paper["mc_samples"], 1):
        parts.append(f"adversary MC {c.mc_samples} (paper {c.paper['mc_samples']})")
    text = "; ".join(parts)
    note = PROFILE_NOTES.get(c.profile or "")
    return f"{text} {note}" if note else text


def compare(results: Sequence[Mapping], paper_rows: Sequence[Mapping]) -> list[Comparison]:
    """Match every paper number with ours.

    Parameters
    ----------
    results : sequence of dict
        Our rows, as `load_results` returns them.
    paper_rows : sequence of dict
        The paper's numbers, as `load_paper_numbers` returns them.

    Returns
    -------
    list of Comparison
        One per paper row, in the paper file's order. For ``percent`` rows ``ours`` is the mean
        accuracy (in percent) over the seeds of the most preferred profile that has the row; for
        ``points`` rows it is our accuracy minus the reference row's, both from the most preferred
        profile that has both. Rows of replaced models or settings are left out first
        (`latest_rows`).
    """
    results = latest_rows(results)
    profiles = sorted({r["profile"] for r in results}, key=lambda p: (_profile_rank(p), p))
    out = []
    for row in paper_rows:
        c = Comparison(paper=dict(row), quantity=_quantity(row))
        target = _candidates(results, row)
        ref_spec = _reference_spec(row) if row["unit"] == "points" else None
        reference = _candidates(results, ref_spec) if ref_spec else []
        for profile in profiles:
            picked = _pick(target, row["mc_samples"], profile)
            if not picked:
                continue
            ours = _summarise(picked)
            if ref_spec is None:
                c.ours, c.se = 100.0 * ours.accuracy, ours.se
            else:
                ref_rows = _pick(reference, ref_spec["mc_samples"], profile)
                if not ref_rows:
                    continue
                ref = _summarise(ref_rows)
                c.ours = 100.0 * (ours.accuracy - ref.accuracy)
                c.se = (math.hypot(ours.se, ref.se)
                        if ours.se is not None and ref.se is not None else None)
            c.delta = c.ours - row["value"]
            c.profile, c.n, c.seeds, c.mc_samples = profile, ours.n, ours.seeds, ours.mc_samples
            break
        else:
            if target and ref_spec is not None:
                c.reading = "not run (no profile has both this row and its reference)"
        c.reading = _reading(c)
        out.append(c)
    return out


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------


def _display(path: Path) -> str:
    """A path relative to the repository when it lies inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _signed(x: float) -> str:
    text = f"{x:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped."""
    return str(text).replace("|", "\\|")


def _value(x: float, unit: str) -> str:
    return f"{x:.1f}%" if unit == "percent" else f"{_signed(x)} pts"


def _sort_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _provenance(results: Sequence[Mapping], results_dir: Path) -> list[str]:
    files = sorted({r["file"] for r in results})
    by_profile: dict[str, list[Mapping]] = defaultdict(list)
    for r in results:
        by_profile[r["profile"]].append(r)
    parts = []
    for profile in sorted(by_profile, key=lambda p: (_profile_rank(p), p)):
        rows = by_profile[profile]
        data = ", ".join(sorted({r["data"] or "?" for r in rows}))
        seeds = ", ".join(sorted({str(r["seed"]) for r in rows}, key=_sort_key))
        shas = ", ".join(f"`{s}`" for s in sorted({r["git_sha"] or "unknown" for r in rows}))
        parts.append(f"profile **{profile}** ({len(rows)} rows; data: {data}; seeds: {seeds}; "
                     f"commits: {shas})")
    if results:
        text = (f"The numbers below come from {len(results)} result rows in "
                f"{', '.join(f'`{f}`' for f in files)} (folder `{_display(results_dir)}`): "
                + "; ".join(parts) + ".")
    else:
        text = f"The result files in `{_display(results_dir)}` hold no rows yet."
    lines = [text, ""]
    profiles = set(by_profile)
    if "smoke" in profiles:
        lines += ["**Warning: some rows come from the smoke profile: generated data, not CIFAR-10, "
                  "tiny models; their numbers are not comparable with the paper's.**", ""]
    if "quick" in profiles:
        lines += ["**Warning: some rows come from the quick profile: real CIFAR-10 but reduced "
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
        top = min(rows, key=lambda r: _profile_rank(r["profile"]))["profile"]
        best[key] = [r for r in rows if r["profile"] == top]
    for key in sorted(best):
        rows = best[key]
        r0 = rows[0]
        param = "" if r0["param"] is None else _fmt_num(r0["param"])
        attack = r0["attack"]
        if r0["attack_model"] != "self":
            attack += f" on {r0['attack_model']}"
        lines.append(f"| {r0['model']} | {r0['defense']} | {param} | {attack} | "
                     f"{_fmt_num(r0['eps'])} | {mean(r['ece'] for r in rows):.3f} | "
                     f"{r0['profile']} |")
    return lines + [""]


def _figures(results_dir: Path, out: Path) -> list[str]:
    pngs = sorted((results_dir / "figures").glob("*.png"))
    lines = ["## Figures", ""]
    if not pngs:
        return lines + [f"No figures in `{_display(results_dir / 'figures')}`.", ""]
    for png in pngs:
        title = FIGURE_TITLES.get(png.stem)
        lines.append(f"### {title} (`{png.name}`)" if title else f"### `{png.name}`")
        rel = Path(os.path.relpath(png.resolve(), out.resolve().parent)).as_posix()
        lines += ["", f"![{png.stem}]({rel.replace(' ', '%20')})", ""]
    return lines


def render_report(comparisons: Sequence[Comparison], results: Sequence[Mapping],
                  results_dir: Path, paper_csv: Path, out: Path) -> str:
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

    Returns
    -------
    str
    """
    results_dir, paper_csv, out = Path(results_dir), Path(paper_csv), Path(out)
    lines = ["# CIFAR-10: our results against the paper's numbers", ""]
    lines += _provenance(results, results_dir)
    lines += [
        "## The paper's numbers and ours", "",
        f"Column *paper*: the number as the paper's text quotes it (sections 4.1 and 4.5), typed "
        f"by hand with its sentence in `{_display(paper_csv)}`. Column *ours*: our accuracy "
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
    lines += _ece_table(results)
    lines += _adaptive_section([results_dir / "adaptive.csv",
                                results_dir.parent / "mnist" / "adaptive.csv"])
    if (results_dir / "calibration.csv").is_file():
        lines += [f"Calibration bins (Fig. 4): `{_display(results_dir / 'calibration.csv')}`.", ""]
    lines += _figures(results_dir, out)
    return "\n".join(lines).rstrip("\n") + "\n"


ADAPTIVE_ATTACKS = ("paper", "pgd", "apgd-ce", "apgd-dlr", "pgd-bpda")


def _adaptive_section(paths: Sequence[Path]) -> list[str]:
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
        lines += [f"## Adaptive evaluation ({family}): the paper's attack and stronger ones", "",
                  f"From `{_display(path)}` (`experiments/adaptive.py`). Accuracy in %; *paper*: "
                  "the paper's attack; pgd / apgd-*: with expectation over the randomness (EOT); "
                  "pgd-bpda: PGD through SAP's expectation. *sanity*: an unbounded attack "
                  "brings accuracy to about 0% (<= 1%, or one image) and more steps or EOT samples "
                  "do not raise it.", ""]
        if any(r["profile"] == "smoke" for r in rows):
            lines += ["**Smoke rows: generated data, not results.**", ""]
        lines += ["| model | λ | " + " | ".join(ADAPTIVE_ATTACKS) + " | sanity | profile |",
                  "| --- | --- |" + " --- |" * (len(ADAPTIVE_ATTACKS) + 2)]
        cells: dict[tuple, dict] = defaultdict(dict)
        meta: dict[tuple, dict] = {}
        for r in rows:
            name = r["model"] if r["defense"] == "none" else (
                f"{r['model']}+{r['defense']}-{r['param']}")
            key = (name, float(r["eps"]))
            cells[key][r["attack"]] = 100 * float(r["accuracy"])
            meta[key] = r
        verdicts: dict[str, list[Mapping]] = defaultdict(list)
        for key, r in meta.items():
            verdicts[key[0]].append(r)
        for key in sorted(cells):
            r = meta[key]
            values = [f"{cells[key][a]:.1f}" if a in cells[key] else "" for a in ADAPTIVE_ATTACKS]
            failed = [v for v in verdicts[key[0]] if v.get("sanity_ok") != "True"]
            sanity = "ok" if not failed else f"FAILED: {failed[0].get('sanity', '')}"
            lines.append(f"| {key[0]} | {key[1]:g} | " + " | ".join(values)
                         + f" | {_cell(sanity)} | {r['profile']} |")
        lines.append("")
    return lines


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; a report is for everyone to read
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def latest_rows(results: Sequence[Mapping]) -> list[Mapping]:
    """Only the newest configuration of each model: within (experiment, profile, seed, model,
    deterministic or not), rows made with another checkpoint, test-set size or number of
    prediction passes than the most recent ones (by ``utc``) are left out, so that a retrained
    model or a rerun with other settings does not get averaged with what it replaced."""
    def group(r):
        return (r["experiment"], r["profile"], str(r["seed"]), r["model"],
                str(r.get("predict_mc", "")) == "1")

    def config(r):
        return (r.get("checkpoint", ""), r.get("n"), str(r.get("predict_mc", "")))

    newest: dict[tuple, dict[tuple, str]] = defaultdict(dict)
    for r in results:
        seen = newest[group(r)].get(config(r), "")
        newest[group(r)][config(r)] = max(seen, str(r.get("utc", "")))
    chosen = {g: max(configs, key=configs.get) for g, configs in newest.items()}
    return [r for r in results if config(r) == chosen[group(r)]]


def build_report(results_dir: Path, paper_csv: Path, out: Path) -> Path:
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
    text = render_report(compare(results, paper_rows), results, results_dir, paper_csv, out)
    _write_atomic(out, text)
    return out


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def default_paths(profile: str) -> tuple[Path, Path]:
    """The results folder and report file of a profile: ``smoke`` has its own."""
    if profile == "smoke":
        return ROOT / "results" / "smoke" / "cifar", ROOT / "results" / "smoke" / "REPORT.md"
    return ROOT / "results" / "cifar", ROOT / "results" / "REPORT.md"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):   # one line, exit status 2 (via main)
        raise UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the report; returns the exit status (2 for user mistakes)."""
    parser = _Parser(prog="python -m experiments.report",
                     description="Compare our CIFAR-10 results with the paper's numbers.")
    parser.add_argument("--profile", choices=PROFILE_ORDER, default="paper",
                        help="which default folders to use (smoke has its own); default: paper")
    parser.add_argument("--results-dir", type=Path, help="folder of result CSVs")
    parser.add_argument("--paper", type=Path, default=PAPER_NUMBERS,
                        help=f"paper numbers file (default: {_display(PAPER_NUMBERS)})")
    parser.add_argument("--out", type=Path, help="report file to write")
    try:
        args = parser.parse_args(argv)
        results_dir, out = default_paths(args.profile)
        path = build_report(args.results_dir or results_dir, args.paper, args.out or out)
    except UsageError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
