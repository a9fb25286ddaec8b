"""The paper's image-experiment numbers next to ours: matching, summarising, reading the gap.

The paper's numbers are typed once, by hand, in ``experiments/paper_numbers/cifar.csv`` (one row
per number, with its sentence). Our numbers are the tidy result CSVs of the image evaluation
(``<results_dir>/<experiment>.csv``, accuracy as a fraction). Each paper row is matched to our
rows on the experiment file, model, defense, SAP percentage, attack, attack model and lambda;
the adversary's MC samples should match too, but a run that used fewer (a reduced profile) is
still shown, with its own count. When several profiles have the row, ``paper`` is preferred over
``quick`` over ``smoke``, and the accuracy is averaged over that profile's seeds. A ``points`` row
(a difference the paper quotes, e.g. SAP-100 minus dense) is compared with the same difference
of our accuracies, both taken from one profile. ``experiments.report`` renders the result.
"""
from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Iterable, Mapping, Sequence

from runkit import UsageError

from .zoo import model_label

__all__ = ["AGREE_POINTS", "PAPER_NUMBERS", "PROFILE_ORDER", "Comparison", "compare",
           "latest_rows", "load_paper_numbers", "load_results", "profile_rank", "fmt_num"]

PAPER_NUMBERS = Path(__file__).resolve().parent / "paper_numbers" / "cifar.csv"
"""The paper's CIFAR-10 numbers, transcribed by hand (see its README)."""

PROFILE_ORDER = ("paper", "cpu", "quick", "smoke")
"""Profiles in order of preference when several have the same row."""

AGREE_POINTS = 2.0
"""A gap of at most this many percentage points reads as agreement."""

PAPER_COLUMNS = ("id", "figure", "experiment", "model", "defense", "param", "attack",
                 "attack_model", "mc_samples", "eps", "value", "unit", "reference", "sentence")

#: columns of a result CSV that the report reads
RESULT_COLUMNS = ("model", "defense", "param", "attack", "attack_model", "mc_samples", "eps",
                  "accuracy", "n", "seed", "profile", "data", "git_sha")

#: files in the results folder that are not accuracy tables
NOT_RESULTS = ("calibration.csv", "adaptive.csv", "track.csv")

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
        ``mc_samples`` and ``n`` (int or None) parsed, ``offset`` (int: the first test image;
        0 when the file has no such column), and ``file`` (the file name).

    Raises
    ------
    UsageError
        When the folder does not exist, holds no result CSV, or a file is malformed.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results directory {results_dir} does not exist "
                         "(run the image evaluations first: python -m experiments.image_eval)")
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
            offset = (raw.get("offset") or "").strip()   # rows written before it: 0
            row["offset"] = int(_number(offset, "offset", where)) if offset else 0
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


def profile_rank(profile: str) -> int:
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


def fmt_num(x: float) -> str:
    return f"{x:g}"


def _quantity(row: Mapping) -> str:
    name = model_label(row["model"], row["defense"], row["param"])
    if row["unit"] == "points":
        ref = _reference_spec(row)
        name = f"{name} − {model_label(ref['model'], ref['defense'], ref['param'])}"
    attack = {"fgsm": "FGSM"}.get(row["attack"], row["attack"])
    if row["attack_model"] != "self":
        attack += f" computed on {row['attack_model']}"
    if row["mc_samples"] > 1:
        attack += f" (MC {row['mc_samples']})"
    return f"{name}, {attack}, λ={fmt_num(row['eps'])}"


def _reading(c: Comparison) -> str:
    if c.ours is None:
        return c.reading
    gap = abs(c.delta)
    if gap <= AGREE_POINTS + 1e-9:
        parts = [f"agrees (|Δ| ≤ {fmt_num(AGREE_POINTS)} pts)"]
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
    profiles = sorted({r["profile"] for r in results}, key=lambda p: (profile_rank(p), p))
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


def latest_rows(results: Sequence[Mapping]) -> list[Mapping]:
    """Only the newest configuration of each model: within (experiment, profile, seed, model,
    deterministic or not, first test image), rows made with another checkpoint, test-set size
    or number of prediction passes than the most recent ones (by ``utc``) are left out, so that
    a retrained model or a rerun with other settings does not get averaged with what it
    replaced. Fig. 5's selection images (``offset`` > 0) are a group of their own."""
    def group(r):
        return (r["experiment"], r["profile"], str(r["seed"]), r["model"],
                str(r.get("predict_mc", "")) == "1", int(r.get("offset") or 0))

    def config(r):
        return (r.get("checkpoint", ""), r.get("n"), str(r.get("predict_mc", "")))

    newest: dict[tuple, dict[tuple, str]] = defaultdict(dict)
    for r in results:
        seen = newest[group(r)].get(config(r), "")
        newest[group(r)][config(r)] = max(seen, str(r.get("utc", "")))
    chosen = {g: max(configs, key=configs.get) for g, configs in newest.items()}
    return [r for r in results if config(r) == chosen[group(r)]]


