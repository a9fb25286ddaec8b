"""The paper numbers files (`experiments/paper_numbers/`) against the papers they were typed from.

Each number is checked at its position in its source, not merely found somewhere in it:

* `cifar.csv`: the i-th row of a sentence (rows ordered by λ, column `eps`) must be the i-th
  percentage of that sentence, and the sentence must occur in the SAP paper's text (000);
* `mnist_table1.csv`: each cell must be the one at its row and column of Table 1 of the SDR paper's
  text (004), and every cell of that table must be in the file;
* `atari_table1.csv`: each cell must be the one at its λ row and game column of Table 1 of the SAP
  paper's text (000), and every cell of that table must be in the file.

No number is typed here a second time: the expected values come from the paper texts alone.
The paper texts lie outside the repository, in `../shared/papers/` relative to its root, where the
project's CI has them; a user's clone has no such folder, and the tests that need the texts skip.
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from experiments.report import PAPER_NUMBERS, load_paper_numbers
from runkit import ROOT

NUMBERS = ROOT / "experiments" / "paper_numbers"
CIFAR = NUMBERS / "cifar.csv"
MNIST = NUMBERS / "mnist_table1.csv"
ATARI = NUMBERS / "atari_table1.csv"

# The paper texts, beside the repository (see that folder's README.md for which file is which)
PAPERS = ROOT.parent / "shared" / "papers"
SAP_PAPER = PAPERS / "000_881b4ce8236a0495.txt"        # Dhillon et al. 2018, full text
SAP_POSTER = PAPERS / "001_217e3c63bd7ec774.txt"       # the same work as a poster: Table 1 again
SDR_PAPER = PAPERS / "004_84c8418431718b84.txt"        # Khan et al.: Table 1 (MNIST)


def _paper(path: Path) -> str:
    """A paper's text; skip where the paper folder is missing, fail where only the file is."""
    if not PAPERS.is_dir():
        pytest.skip(f"the paper texts are outside the repository, at "
                    f"{os.path.relpath(PAPERS, ROOT)} (relative to the repository root), which "
                    "the project's CI has; a user's clone does not")
    assert path.is_file(), f"{path.name} is missing from the paper folder {PAPERS}"
    return path.read_text(encoding="utf-8")


def _rows(path: Path, columns: list[str]) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == columns, path.name
        return list(reader)


def _cifar() -> list[dict]:
    return _rows(CIFAR, ["id", "figure", "experiment", "model", "defense", "param", "attack",
                         "attack_model", "mc_samples", "eps", "value", "unit", "reference",
                         "sentence"])


def _mnist() -> list[dict]:
    return _rows(MNIST, ["model", "attack", "value", "unit", "source"])


def _atari() -> list[dict]:
    return _rows(ATARI, ["game", "eps", "value", "unit", "source"])


def _caption(rows: list[dict]) -> str:
    """The table caption that every row's `source` quotes (the same for all rows)."""
    captions = {re.search(r'"(Table 1:[^"]*)"', r["source"]).group(1) for r in rows}
    assert len(captions) == 1, captions
    return captions.pop()


# ---------------------------------------------------------------------------------------------
# cifar.csv: numbers quoted in the SAP paper's sentences
# ---------------------------------------------------------------------------------------------

#: An accuracy (or a difference of accuracies) in a sentence: a number written with a '%' sign.
#: Derived from cifar.csv: every value is quoted as its absolute value with one decimal and a '%'
#: ("89.8%", "6.5% absolute decrease"), while the sentences' other numbers, the λ values
#: ("λ = 1, 2 and 4"), "10 MC samples" and "SAP-100", never carry one; those are left out.
PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")

#: The λ values a sentence names: "λ = 1", "λ = 16 and 32", "λ = 1, 2 and 4", "λ = 0, 1, 2, 4".
LAMBDAS = re.compile(r"λ = (\d+(?:(?:,| and|, and) \d+)*)")


def _sentences() -> dict[str, list[dict]]:
    """cifar.csv's rows grouped by sentence, each group ordered by λ (`eps`)."""
    groups: dict[str, list[dict]] = {}
    for r in _cifar():
        groups.setdefault(r["sentence"], []).append(r)
    return {s: sorted(rows, key=lambda r: float(r["eps"])) for s, rows in groups.items()}


def test_cifar_file_is_well_formed():
    rows = _cifar()
    assert PAPER_NUMBERS == CIFAR            # the file the report reads is the one checked here
    assert load_paper_numbers(PAPER_NUMBERS)   # parses
    assert len({r["id"] for r in rows}) == len(rows)
    figures = {"sap": "1b", "adv": "3", "iterative": "1c"}
    for r in rows:
        assert r["figure"] == figures[r["experiment"]], r["id"]
        assert r["unit"] in ("percent", "points"), r["id"]
        assert bool(r["reference"]) == (r["unit"] == "points"), r["id"]
    # one number per (comparison, λ): the report joins on these columns
    keys = [(r["experiment"], r["model"], r["defense"], r["param"], r["attack"],
             r["attack_model"], r["mc_samples"], float(r["eps"]), r["unit"]) for r in rows]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("sentence", list(_sentences()), ids=lambda s: _sentences()[s][0]["id"])
def test_cifar_numbers_are_at_their_position_in_their_sentence(sentence):
    """The i-th row of a sentence, by λ, holds the i-th percentage of the sentence.

    The sentence's λ values, where it names any, must be its rows' λ values in that same
    ascending order (so position i is λ_i); a sentence naming no λ is the unperturbed case (λ = 0).
    A difference of accuracies ('points') is negative exactly when the sentence says "decrease".
    """
    rows = _sentences()[sentence]
    percentages = PERCENT.findall(sentence)
    eps = [float(r["eps"]) for r in rows]
    ids = [r["id"] for r in rows]
    assert len(percentages) == len(rows), (ids, percentages)
    lambdas = [float(x) for m in LAMBDAS.findall(sentence) for x in re.findall(r"\d+", m)]
    assert (lambdas or [0.0]) == eps, (ids, lambdas, eps)
    for i, r in enumerate(rows):
        value = float(r["value"])
        assert abs(value) == float(percentages[i]), (
            f"{r['id']} (λ = {r['eps']}) is {r['value']}; position {i + 1} of its sentence "
            f"is {percentages[i]}%")
        if r["unit"] == "points":
            assert (value < 0) == ("decrease" in sentence), r["id"]
        else:
            assert value >= 0, r["id"]


def test_every_cifar_sentence_is_in_the_paper():
    # whitespace normalised; the PDF extraction writes '≠' as '6='
    text = " ".join(_paper(SAP_PAPER).replace("6=", "≠").split())
    missing = [rows[0]["id"] for s, rows in _sentences().items() if " ".join(s.split()) not in text]
    assert not missing, f"sentences not in {SAP_PAPER.name}: {missing}"


# ---------------------------------------------------------------------------------------------
# mnist_table1.csv: Table 1 of the SDR paper
# ---------------------------------------------------------------------------------------------


def _sdr_table1(text: str, caption: str) -> dict[tuple[str, str], str]:
    """{(row label, column name): cell} of the tab-separated table just above `caption`."""
    lines = text.splitlines()
    at = [i for i, line in enumerate(lines) if line.strip() == caption]
    assert len(at) == 1, f"caption {caption!r} found {len(at)} times in {SDR_PAPER.name}"
    end = at[0]
    while not lines[end - 1].strip():
        end -= 1
    start = end
    while "\t" in lines[start - 1]:
        start -= 1
    header, *body = [line.split("\t") for line in lines[start:end]]
    assert header[0] == "" and body, (header, body)   # a corner cell, then the column names
    cells = {}
    for label, *values in body:
        assert len(values) == len(header) - 1, (label, values)
        for column, value in zip(header[1:], values):
            cells[(label, column)] = re.sub(r"</?b>", "", value)   # bold marks the best
    return cells


def test_mnist_numbers_are_at_their_cell_of_table_1():
    rows = _mnist()
    table = _sdr_table1(_paper(SDR_PAPER), _caption(rows))
    seen = set()
    for r in rows:
        label, column = re.search(r"row '([^']+)', column '([^']+)'", r["source"]).groups()
        # the file's names for the table's rows: "Regular Samples" is `clean` (README), and
        # "<X> Attack" is x
        assert column == r["model"], r
        assert r["attack"] == ("clean" if label == "Regular Samples"
                               else label.removesuffix(" Attack").lower()), r
        assert r["unit"] == "percent", r
        cell = table[(label, column)]
        assert cell.endswith("%") and float(cell[:-1]) == float(r["value"]), (
            f"{r['model']}, {r['attack']} is {r['value']}; Table 1 row {label!r}, column "
            f"{column!r} is {cell}")
        seen.add((label, column))
    assert len(seen) == len(rows)                       # no cell twice
    assert seen == set(table), set(table) - seen        # every cell of the table


# ---------------------------------------------------------------------------------------------
# atari_table1.csv: Table 1 of the SAP paper
# ---------------------------------------------------------------------------------------------


def _sap_table1(text: str, caption: str) -> tuple[list[str], dict[int, list[str]]]:
    """(games, {λ: cells}) of the table after `caption` in the SAP paper's text.

    The extraction separates cells by spaces and drops empty ones; the poster's tab-separated
    copy (`test_atari_table_layout_matches_the_poster`) shows that the empty cells are the last
    ones of their rows, so a row's k-th cell is the k-th game's.
    """
    found = list(re.finditer(r"\s+".join(map(re.escape, caption.split())), text))
    assert len(found) == 1, f"caption {caption!r} found {len(found)} times in {SAP_PAPER.name}"
    lines = iter(text[found[0].end():].splitlines())
    header = next(line.split() for line in lines if line.strip())
    assert header[0] == "λ", header
    table = {}
    for line in lines:
        if not line.strip():
            break
        eps, *cells = line.split()
        table[int(eps)] = cells
    return header[1:], table


def test_atari_numbers_are_at_their_cell_of_table_1():
    rows = _atari()
    games, table = _sap_table1(_paper(SAP_PAPER), _caption(rows))
    seen = set()
    for r in rows:
        eps, game = re.search(r"row lambda=(\d+), column (\w+)", r["source"]).groups()
        assert (int(eps), game) == (int(r["eps"]), r["game"]), r
        assert r["unit"] == "percent", r
        cells = table[int(eps)]
        k = games.index(game)
        assert k < len(cells), f"{game}, λ = {eps}: the table has no such cell"
        assert cells[k].endswith("%") and float(cells[k][:-1]) == float(r["value"]), (
            f"{game}, λ = {eps} is {r['value']}; Table 1 row λ = {eps}, column {game} "
            f"is {cells[k]}")
        seen.add((int(eps), game))
    assert len(seen) == len(rows)                       # no cell twice
    every = {(eps, games[k]) for eps, cells in table.items() for k in range(len(cells))}
    assert seen == every, every - seen                  # every cell of the table


def test_atari_table_layout_matches_the_poster():
    """The poster's copy of Table 1 keeps its empty cells (tabs): they end their rows."""
    games, table = _sap_table1(_paper(SAP_PAPER), _caption(_atari()))
    lines = _paper(SAP_POSTER).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$\\lambda$\t"))
    assert lines[start].split("\t")[1:] == games
    poster = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        eps, *cells = line.split("\t")
        assert all(cells[:len([c for c in cells if c])]), line   # no gap before the last cell
        poster[int(eps)] = [c for c in cells if c]
    assert poster == {eps: [c.removesuffix("%") for c in cells] for eps, cells in table.items()}


# ---------------------------------------------------------------------------------------------
# claims.csv: the sentences the claims table tests
# ---------------------------------------------------------------------------------------------
def test_every_claim_sentence_is_in_the_paper_and_in_its_section():
    from experiments.claims import CLAIMS
    rows = _rows(CLAIMS, ["id", "section", "figure", "sentence"])
    assert len({r["id"] for r in rows}) == len(rows)
    text = " ".join(_paper(SAP_PAPER).replace("6=", "≠").split())
    starts = {}
    for section in ("3", "3.2", "4.1", "4.1.1", "4.1.2", "4.1.3", "4.2", "4.3", "4.4", "4.5",
                    "5"):
        heading = {"3": "3 STOCHASTIC ACTIVATION PRUNING", "3.2": "3.2 ADVERSARIAL ATTACK ON",
                   "4.1": "4.1 ADVERSARIAL ATTACKS", "4.1.1": "4.1.1 STOCHASTIC",
                   "4.1.2": "4.1.2 DROPOUT", "4.1.3": "4.1.3 ADVERSARIAL TRAINING",
                   "4.2": "4.2 ADVERSARIAL ATTACKS IN DEEP", "4.3": "4.3 ADDITIONAL",
                   "4.4": "4.4 SAP ATTACKS", "4.5": "4.5 ITERATIVE", "5": "5 RELATED WORK"}
        starts[section] = text.index(heading[section])
    order = list(starts)
    for r in rows:
        at = text.find(" ".join(r["sentence"].split()))
        assert at >= 0, f"{r['id']}: sentence not in {SAP_PAPER.name}"
        begin = starts[r["section"]]
        end = starts[order[order.index(r["section"]) + 1]]
        assert begin <= at < end, f"{r['id']}: not in section {r['section']}"
