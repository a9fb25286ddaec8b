"""The README's generated headline: the committed block is what the committed CSVs give, and the
block's numbers follow from rows built to known answers."""
import csv
import dataclasses
import subprocess
import tarfile
import io

import numpy as np
import pytest

from experiments import headline, report
from experiments.datasets import get_dataset
from runkit import ROOT, UsageError
from runkit.rows import mask_hex
from sap_mx import metrics

from image_rows import row as _row, write_rows as _write

BEGIN, END = "<!-- headline:fashion-mnist:begin -->", "<!-- headline:fashion-mnist:end -->"
NO_COST = {"bench_csv": "/nonexistent/bench.csv", "models_dir": "/nonexistent/models"}


def _git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, timeout=60)


def test_the_committed_readme_headline_is_generated_from_the_committed_results(tmp_path):
    """The README's block against the rows it reports. While a run writes to
    results/fashion-mnist (uncommitted changes there), both come from the last commit instead
    of the working tree, so a running track does not turn the suite red."""
    entry = get_dataset("fashion-mnist")
    folder, readme = entry.results_dir("cpu"), headline.README
    models, bench = entry.models_dir("cpu"), headline.BENCH["fashion-mnist"]
    busy = _git("status", "--porcelain", "--", str(folder))
    if busy.returncode == 0 and busy.stdout.strip():
        paths = [str(p.relative_to(ROOT)) for p in (folder, readme, bench)]
        archive = _git("archive", "--format=tar", "HEAD", *paths)
        assert archive.returncode == 0, archive.stderr
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp_path)
        folder, readme = tmp_path / paths[0], tmp_path / paths[1]
        models, bench = folder / models.relative_to(entry.results_dir("cpu")), tmp_path / paths[2]
    text = readme.read_text(encoding="utf-8")
    i, j = headline.readme_block(text, "fashion-mnist")
    block = headline.render(folder, dataset="fashion-mnist", profile="cpu", models_dir=models,
                            bench_csv=bench)
    rendered = "\n".join(block)
    if folder.is_relative_to(tmp_path):             # paths in the block are the repository's
        rendered = rendered.replace(f"{tmp_path.resolve()}/", "")
    assert text[i:j].strip("\n") == rendered, (
        "README.md's Fashion-MNIST headline does not match results/fashion-mnist/; run make "
        "report DATASET=fashion-mnist PROFILE=cpu and commit README.md with the CSVs")


def _adaptive_rows(masks):
    return [{"family": "fashion-mnist", "model": model, "defense": defense,
             "param": "" if param is None else f"{param:g}", "attack": "worst-case", "eps": eps,
             "n": len(m), "accuracy": m.mean(), "predict_mc": 10, "seed": 0, "profile": "cpu",
             "checkpoint": "c", "correct": mask_hex(m), "utc": "2026-12-01T00:00:00Z"}
            for (model, defense, param, eps), m in masks.items()]


@pytest.fixture()
def folder(tmp_path):
    """sap.csv with dense and SAP-100 at lambda 0, 1, 16 (n = 500); adv.csv with ADV and
    ADV+SAP-100 at lambda 16 only; adaptive.csv with dense and SAP-100 worst cases at 4."""
    rng = np.random.default_rng(7)
    n = 500
    m = {e: rng.random(n) < p for e, p in ((0, 0.9), (1, 0.5), (16, 0.2))}
    s = {0: m[0] & (rng.random(n) < 0.95), 1: m[1] | (rng.random(n) < 0.3), 16: m[16].copy()}
    rows = [_row("dense", "none", None, e, v) for e, v in m.items()]
    rows += [_row("dense", "sap", 100, e, v, mc=100) for e, v in s.items()]
    _write(tmp_path / "sap.csv", rows)
    adv = rng.random(n) < 0.3
    adv_sap = adv | (rng.random(n) < 0.1)
    _write(tmp_path / "adv.csv",
           [_row("adv", "none", None, 16, adv, experiment="adv"),
            _row("adv", "sap", 100, 16, adv_sap, experiment="adv", mc=100)])
    worst = {("dense", "none", None, 4): rng.random(n) < 0.1,
             ("dense", "sap", 100, 4): rng.random(n) < 0.12}
    rows = _adaptive_rows(worst)
    with open(tmp_path / "adaptive.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path, m, s, adv, adv_sap, worst


def _line(lines, start):
    found = [x for x in lines if x.startswith(start)]
    assert len(found) == 1, (start, lines)
    return [c.strip() for c in found[0].strip("|").split("|")]


def _interval(a, b):
    r = metrics.paired_difference(a, b)
    return f"{100 * r.diff:+.1f} ({100 * r.lo:+.1f} to {100 * r.hi:+.1f})"


def test_the_block_holds_paired_differences_and_the_papers_cifar10_numbers(folder):
    path, m, s, adv, adv_sap, worst = folder
    lines = headline.render(path, dataset="fashion-mnist", profile="cpu", **NO_COST)
    text = "\n".join(lines)
    assert "Fashion-MNIST" in text and "first 500 test images" in text
    for line in lines:       # CIFAR-10 only labels the paper's columns and figures, never ours
        if "CIFAR-10" in line:
            assert line.startswith(("| λ |", "**The paper's attack** on Fashion-MNIST",
                                    "**The paper's claims, tested on Fashion-MNIST**")), line
    assert "not a number Fashion-MNIST should match" in text
    paper_attack = lines[:lines.index(next(x for x in lines if x.startswith("**The adaptive")))]
    one = _line(paper_attack, "| 1 |")
    assert one[1:4] == [f"{100 * m[1].mean():.1f}", f"{100 * s[1].mean():.1f}",
                        _interval(s[1], m[1])]
    assert one[4] == "+12.2"                          # the paper's CIFAR-10 gain at lambda 1
    assert one[5:] == ["—", "—", "—", "—"]            # no ADV rows at lambda 1
    zero = _line(paper_attack, "| 0 |")
    assert zero[4] == "-6.5"
    sixteen = _line(paper_attack, "| 16 |")
    assert sixteen[5:8] == [f"{100 * adv.mean():.1f}", f"{100 * adv_sap.mean():.1f}",
                            _interval(adv_sap, adv)]
    assert sixteen[8] == "+7.8" and sixteen[4] == "-5.2"
    assert not [x for x in paper_attack if x.startswith("| 2 |")]  # no rows: no line
    worst_part = lines[lines.index(next(x for x in lines if x.startswith("**The adaptive"))):]
    four = _line(worst_part, "| 4 |")
    d, sp = worst[("dense", "none", None, 4)], worst[("dense", "sap", 100, 4)]
    assert four[1:4] == [f"{100 * d.mean():.1f}", f"{100 * sp.mean():.1f}", _interval(sp, d)]
    assert len(four) == 7                             # no paper column under the worst case
    assert "Not run yet: ADV, ADV+SAP-100." in worst_part
    assert not any(x.startswith("![") for x in lines)  # no figure files: no links
    (path / "figures").mkdir()
    (path / "figures" / "fig3_adv.png").write_bytes(b"png")
    linked = [x for x in headline.render(path, dataset="fashion-mnist", profile="cpu", **NO_COST)
              if x.startswith("![")]
    figure = (path / "figures" / "fig3_adv.png").resolve()
    assert linked == [f"![Fig. 3 on Fashion-MNIST]({figure})"]


def test_a_model_whose_attacks_failed_their_sanity_check_is_named_under_the_table(folder):
    path = folder[0]
    with open(path / "adaptive.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert not any("sanity check" in x for x in headline.render(path, dataset="fashion-mnist",
                                                                profile="cpu", **NO_COST))
    for r in rows:   # written as ok by the older rule; the ladder fell: not converged
        r["sanity_ok"] = "True"
        r["sanity"] = ("unbounded 0.0%, steps/EOT ladder " +
                       ("17.9/11.0/11.7" if r["defense"] == "sap" else "2.3/2.2/1.8"))
    with open(path / "adaptive.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = headline.render(path, dataset="fashion-mnist", profile="cpu", **NO_COST)
    flagged = [x for x in lines if "failed their sanity check" in x]
    assert len(flagged) == 1 and flagged[0].startswith(
        "**SAP-100: its attacks failed their sanity check** at the check λ = 8: doubling "
        "steps lowered accuracy 17.9% -> 11.0%;") and "upper bound" in flagged[0]
    assert "except at" not in flagged[0] and "judges no comparison this bound could" in flagged[0]
    # longer BPDA runs at lambda 4 that levelled off: named, and lambda 4 is judged
    template = next(r for r in rows if r["defense"] == "sap")
    for (steps, eot), acc in {(10, 4): 0.12, (20, 4): 0.11, (40, 4): 0.11, (10, 16): 0.12,
                              (40, 16): 0.11}.items():
        rows.append({**template, "attack": "pgd-bpda" if steps == 10 and eot == 4 else
                     f"pgd-bpda@{steps}x{eot}", "steps": steps, "eot_samples": eot,
                     "accuracy": acc, "correct": ""})
    with open(path / "adaptive.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) + ["steps", "eot_samples"])
        writer.writeheader()
        writer.writerows(rows)
    lines = headline.render(path, dataset="fashion-mnist", profile="cpu", **NO_COST)
    flagged = [x for x in lines if "failed their sanity check" in x]
    assert ("At λ = 4, longer runs of its strongest attack: pgd-bpda, 10/20/40 steps: "
            "12.0/11.0/11.0%; 4 -> 16 EOT samples: 12.0 -> 12.0%; 40 steps x 16 EOT samples "
            "together: 11.0%: converged.") in flagged[0]
    assert "So its worst case (except at λ = 4, where the longer runs settled it) is an upper " \
           "bound" in flagged[0]


def test_a_model_checked_only_with_the_unbounded_attack_is_not_called_failed(folder):
    path = folder[0]
    with open(path / "adaptive.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for r in rows:   # a profile that ran no ladder on SAP-100
        r["sanity_ok"] = "True"
        r["sanity"] = ("unbounded 0.0% (no steps/EOT ladder)" if r["defense"] == "sap" else
                       "unbounded 0.0%, steps/EOT ladder 2.3/2.2/1.8")
    with open(path / "adaptive.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = headline.render(path, dataset="fashion-mnist", profile="cpu", **NO_COST)
    assert not any("failed their sanity check" in x for x in lines)
    flagged = [x for x in lines if x.startswith("**SAP-100: only the unbounded check ran on it**")]
    assert len(flagged) == 1 and "an upper bound that a longer attack may lower" in flagged[0]


def test_update_rewrites_only_the_block_and_check_reports_a_stale_one(folder, tmp_path):
    path = folder[0]
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{BEGIN}\nold numbers\n{END}\nafter\n")
    assert not headline.update_readme(path, dataset="fashion-mnist", profile="cpu",
                                      readme=readme, check=True, **NO_COST)
    assert "old numbers" in readme.read_text()        # check never writes
    assert not headline.update_readme(path, dataset="fashion-mnist", profile="cpu",
                                      readme=readme, **NO_COST)
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n" + BEGIN + "\n")
    assert text.endswith(END + "\nafter\n")
    assert "old numbers" not in text and "| 1 |" in text
    assert headline.update_readme(path, dataset="fashion-mnist", profile="cpu", readme=readme,
                                  check=True, **NO_COST)
    readme.write_text("# no block\n")
    with pytest.raises(UsageError, match="no '<!-- headline:fashion-mnist:begin -->'"):
        headline.update_readme(path, dataset="fashion-mnist", profile="cpu", readme=readme,
                               **NO_COST)


def test_the_command_line_check_fails_in_one_line_on_a_stale_readme(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEGIN}\nstale\n{END}\n")
    assert headline.main(["--readme", str(readme), "--check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out of date; run make report DATASET=fashion-mnist" in err[0]
    assert headline.main(["--dataset", "cifar10"]) == 2
    assert "no README headline for dataset 'cifar10'" in capsys.readouterr().err


def test_the_report_of_the_track_profile_rewrites_the_headline(folder, tmp_path, monkeypatch):
    path = folder[0]
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEGIN}\n{END}\n")
    monkeypatch.setattr(headline, "README", readme)
    monkeypatch.setattr(headline, "BENCH", {})
    monkeypatch.setattr(report, "default_paths", lambda profile, dataset: (path,
                                                                           path / "REPORT.md"))
    written = report.run(report.parse_args(["--dataset", "fashion-mnist", "--profile", "cpu"]))
    assert written == [path / "REPORT.md", readme] and "| 1 |" in readme.read_text()
    assert report.run(report.parse_args(["--dataset", "fashion-mnist",
                                         "--profile", "cpu"])) == [path / "REPORT.md"]
    readme.write_text(f"{BEGIN}\n{END}\n")            # another profile leaves the README alone
    report.run(report.parse_args(["--dataset", "fashion-mnist", "--profile", "quick"]))
    assert readme.read_text() == f"{BEGIN}\n{END}\n"


def test_step_costs_put_the_bench_estimate_beside_the_measured_time(tmp_path):
    bench = tmp_path / "bench.csv"
    bench.write_text("part,seconds,kind,detail,hours,profile\n"
                     "train dense-cpu-seed0,100,measured,30 epochs in its log.csv,0,cpu\n"
                     "train adv-cpu-seed0,50,extrapolated,20 epochs x 2.5 s,0,cpu\n"
                     "eval sap,40,extrapolated,passes,0,cpu\n"
                     "eval sap,999,extrapolated,passes,0,quick\n"
                     "adaptive dense,30,extrapolated,passes,0,cpu\n"
                     "adaptive dense+sap-100,70,extrapolated,passes,0,cpu\n"
                     "train dropout-p0.1-cpu-seed0,10,extrapolated,2 epochs x 5 s,0,cpu\n"
                     "train dropout-p0.5-cpu-seed0,10,extrapolated,2 epochs x 5 s,0,cpu\n")
    models = tmp_path / "models"
    for run, seconds, final in (("dense-cpu-seed0", (60, 30), True),
                                ("adv-cpu-seed0", (7, 8, 9), False),
                                ("dropout-p0.1-cpu-seed0", (4, 4), True),
                                ("dropout-p0.5-cpu-seed0", (6,), False)):
        (models / run).mkdir(parents=True)
        (models / run / "log.csv").write_text(
            "epoch,seconds\n" + "".join(f"{i + 1},{s}\n" for i, s in enumerate(seconds)))
        if final:
            (models / run / "final.json").write_text("{}")
    (tmp_path / "track.csv").write_text(
        "step,target,exit,seconds\nfig1-sap,cifar-sap,0,11.5\nadaptive,cifar-adaptive,-15,20\n"
        "fig1-sap,cifar-sap,0,3.5\nsdr-table1,mnist-sdr,0,5\nadaptive,cifar-adaptive,0,10\n"
        "fig6-mc,cifar-mc,0,1\nfig6-mc,cifar-mc,-15,2\n")
    costs = {c.step: c for c in headline.step_costs(
        tmp_path, models, bench, profile="cpu",
        steps=["train-dense", "fig1-sap", "train-adv", "adaptive", "fig6-mc", "fig2-dropout",
               "train-dropout", "sdr-table1"])}
    assert costs["train-dense"] == headline.StepCost("train-dense", 100, 90, "done", False)
    assert costs["train-adv"] == headline.StepCost("train-adv", 50, 24, "3 of 20 epochs")
    assert costs["fig1-sap"] == headline.StepCost("fig1-sap", 40, 15, "done")
    assert costs["adaptive"] == headline.StepCost("adaptive", 100, 30, "done")
    assert costs["fig6-mc"] == headline.StepCost("fig6-mc", None, 3, "stopped, resumes")
    assert costs["fig2-dropout"] == headline.StepCost("fig2-dropout", None, None, "not run")
    assert costs["train-dropout"] == headline.StepCost("train-dropout", 20, 14, "3 of 4 epochs")
    assert costs["sdr-table1"] == headline.StepCost("sdr-table1", None, 5, "done")
    table = headline._cost_table(list(costs.values()), bench)
    assert "| **total** | 0.09 h | 0.05 h so far | |" in table   # 310 s, 181 s
    # every step done: the total is the whole track's, not a running sum
    done = [dataclasses.replace(c, status="done") for c in costs.values()]
    assert "| **total** | 0.09 h | 0.05 h | |" in headline._cost_table(done, bench)


def test_curves_on_different_images_get_no_paired_difference(tmp_path):
    rng = np.random.default_rng(1)
    _write(tmp_path / "sap.csv", [_row("dense", "none", None, 1, rng.random(300) < 0.5),
                                  _row("dense", "sap", 100, 1, rng.random(200) < 0.6, mc=100)])
    lines = headline.render(tmp_path, dataset="fashion-mnist", profile="cpu", **NO_COST)
    assert _line(lines, "| 1 |")[3] == "—"
    assert "first 200/300 test images" in "\n".join(lines)


def test_no_rows_says_not_run_and_a_damaged_csv_is_the_users_error(tmp_path):
    lines = headline.render(tmp_path, dataset="fashion-mnist", profile="cpu", **NO_COST)
    text = "\n".join(lines)
    assert text.count("Not run yet.") == 2 and "test images" not in text
    (tmp_path / "sap.csv").write_text("experiment,model\nsap\n")
    with pytest.raises(UsageError):
        headline.render(tmp_path, dataset="fashion-mnist", profile="cpu", **NO_COST)


def test_step_status_and_a_bench_without_the_profile(tmp_path):
    bench = tmp_path / "bench.csv"
    bench.write_text("part,seconds,kind,detail,hours,profile,cores\n"
                     "eval sap,40,extrapolated,passes,0,cpu,2\n"
                     "train adv-cpu-seed0,50,extrapolated,no epoch count,0,cpu,2\n")
    (tmp_path / "track.csv").write_text("step,target,exit,seconds,profile,seed\n"
                                        "fig1-sap,cifar-sap,2,3,cpu,0\n"
                                        "fig1-sap,cifar-sap,0,9,cpu,1\n"
                                        "fig1-sap,cifar-sap,0,9,quick,0\n")
    (tmp_path / "models" / "adv-cpu-seed0").mkdir(parents=True)
    (tmp_path / "models" / "adv-cpu-seed0" / "log.csv").write_text("epoch,seconds\n1,5\n")
    costs = {c.step: c for c in headline.step_costs(tmp_path, tmp_path / "models", bench,
                                                    profile="cpu", steps=["fig1-sap",
                                                                          "train-adv"])}
    assert costs["fig1-sap"] == headline.StepCost("fig1-sap", 40, 3, "failed (exit 2)")
    assert costs["train-adv"] == headline.StepCost("train-adv", 50, 5, "1 epochs")
    assert headline.step_costs(tmp_path, tmp_path / "models", bench, profile="quick",
                               steps=["fig1-sap"]) == []
    assert "(2 CPU cores;" in headline._cost_table(list(costs.values()), bench)[0]
    (tmp_path / "track.csv").write_text("step,target,exit,seconds\nfig1-sap,cifar-sap,0,\n")
    with pytest.raises(UsageError, match="no number in column 'seconds'"):
        headline.step_costs(tmp_path, tmp_path / "models", bench, profile="cpu",
                            steps=["fig1-sap"])
