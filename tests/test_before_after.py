"""Before -> after (experiments.before_after): the earlier run read from git, the block."""
import subprocess

import pytest

from experiments import before_after as ba
from runkit import UsageError


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_extract_reads_the_folder_as_it_was_at_that_commit(tmp_path):
    repo = tmp_path / "repo"
    (repo / "results" / "ds").mkdir(parents=True)
    (repo / "results" / "ds" / "sap.csv").write_text("old\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "add", ".")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "first run")
    (repo / "results" / "ds" / "sap.csv").write_text("new\n")        # the rerun's file
    got = ba.extract("HEAD", "results/ds", tmp_path / "out", repo=repo)
    assert (got / "sap.csv").read_text() == "old\n"
    with pytest.raises(UsageError, match=r"^--before nope: git has no results/ds there"):
        ba.extract("nope", "results/ds", tmp_path / "out2", repo=repo)


def test_render_lists_both_runs_numbers_and_only_the_verdicts_that_changed():
    before = {("paper", "dense", 4): 52.5, ("paper", "SAP-100", 4): 57.5,
              ("worst", "SAP-100", 4): 26.6}
    after = {("paper", "dense", 4): 40.0, ("paper", "SAP-100", 4): 47.0}
    b_v = {("paper's attack", "a"): ("holds", "A."), ("paper's attack", "b"): ("holds", "B.")}
    a_v = {("paper's attack", "a"): ("holds", "A."),
           ("paper's attack", "b"): ("does not hold", "B."),
           ("adaptive worst case", "c"): ("inconclusive at this n", "C.")}
    lines = ba.render(before, after, b_v, a_v, rev="abc", dataset_title="Fashion-MNIST")
    assert "| paper's attack | 4 | 52.5 -> 40.0 | 57.5 -> 47.0 | — -> — | — -> — |" in lines
    assert "| adaptive worst case | 4 | — -> — | 26.6 -> — | — -> — | — -> — |" in lines
    assert not any(line.startswith("| paper's attack | 1 |") for line in lines)  # no rows
    assert "Verdicts that changed (2 of 3):" in lines
    assert "| paper's attack | `b` | B. | holds | does not hold |" in lines
    assert "| adaptive worst case | `c` | C. | not measured | inconclusive at this n |" in lines
    assert not any("`a`" in line for line in lines)


def test_the_doc_block_is_replaced_between_its_markers(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\ntext\n")
    ba.update_doc(doc, "ds", ["one"])
    ba.update_doc(doc, "ds", ["two", "lines"])
    text = doc.read_text()
    assert text == ("# Title\n\ntext\n\n<!-- before-after:ds:begin -->\ntwo\nlines\n"
                    "<!-- before-after:ds:end -->\n")


def test_before_is_required(capsys):
    assert ba.main(["--dataset", "fashion-mnist"]) == 2
    assert capsys.readouterr().err.strip() == ("error: give --before <commit>: the commit whose "
                                               "CSVs are the earlier run")
