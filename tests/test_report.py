"""The image-experiment report (CIFAR-10): joining the paper's numbers with ours.

The paper numbers files themselves are checked against the paper texts in
`tests/test_paper_numbers.py`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import report
from runkit import ROOT, UsageError, rel
from experiments.report import (PAPER_NUMBERS, build_report, compare, load_paper_numbers,
                                load_results, main)
from sap_mx.results import write_csv


# ---------------------------------------------------------------------------------------------
# synthetic results
# ---------------------------------------------------------------------------------------------


def _row(experiment="sap", model="dense", defense="none", param="", attack="fgsm",
         attack_model="self", mc_samples=1, eps=0, accuracy=0.5, n=10000, seed=0,
         profile="paper", **extra) -> dict:
    figure = {"sap": "1b", "adv": "3", "iterative": "1c"}.get(experiment, "")
    row = dict(experiment=experiment, figure=figure, model=model, defense=defense, param=param,
               attack=attack, attack_model=attack_model, mc_samples=mc_samples, eps=eps,
               accuracy=accuracy, n=n, predict_mc=100 if defense == "sap" else 1, seed=seed,
               profile=profile, data="generated" if profile == "smoke" else "cifar10",
               checkpoint=f"results/models/{model}", git_sha="0123abcd4567")
    row.update(extra)
    return row


def _sap(**kw) -> dict:
    return _row(**{"defense": "sap", "param": 100, "mc_samples": 100, **kw})


def _write(results_dir: Path, experiment: str, rows: list[dict]) -> None:
    write_csv(results_dir / f"{experiment}.csv", rows)


def _by_id(comparisons) -> dict:
    return {c.paper["id"]: c for c in comparisons}


def _compare(results_dir: Path) -> dict:
    return _by_id(compare(load_results(results_dir), load_paper_numbers(PAPER_NUMBERS)))


@pytest.fixture
def results_dir(tmp_path) -> Path:
    path = tmp_path / "results" / "cifar"
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------------------------------------
# the join
# ---------------------------------------------------------------------------------------------


def test_absolute_row_finds_the_right_row(results_dir):
    _write(results_dir, "sap", [
        _row(eps=1, accuracy=0.663),
        _row(eps=2, accuracy=0.100),                      # other lambda
        _row(eps=1, accuracy=0.200, attack_model="dense"),  # other attack model
        _sap(eps=1, accuracy=0.300),                      # other defense
    ])
    _write(results_dir, "iterative", [_row(experiment="iterative", attack="iterative", eps=1,
                                           accuracy=0.400)])
    c = _compare(results_dir)
    assert c["dense_fgsm_eps1"].ours == pytest.approx(66.3)
    assert c["dense_fgsm_eps1"].delta == pytest.approx(0.0, abs=1e-9)
    assert c["dense_fgsm_eps1"].profile == "paper"
    assert c["dense_fgsm_eps1"].reading.startswith("agrees")
    assert c["dense_fgsm_eps2"].delta == pytest.approx(10.0 - 56.4)
    assert c["dense_iter_eps1"].ours == pytest.approx(40.0)   # its own file, not sap.csv
    out = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md")
    text = out.read_text()
    assert "| 1b | dense, FGSM, λ=1 | 66.3% | 66.3% | 0.0 | paper | 10000 |" in text


def test_points_row_is_a_difference_of_our_accuracies(results_dir):
    _write(results_dir, "sap", [
        _row(eps=2, accuracy=0.564), _sap(eps=2, accuracy=0.727),
        _row(eps=4, accuracy=0.300), _sap(eps=4, accuracy=0.400),
    ])
    c = _compare(results_dir)
    eps2, eps4 = c["sap100_vs_dense_fgsm_eps2"], c["sap100_vs_dense_fgsm_eps4"]
    assert eps2.paper["value"] == 16.3
    assert eps2.ours == pytest.approx(72.7 - 56.4)
    assert eps2.delta == pytest.approx(0.0, abs=1e-9)
    assert eps4.ours == pytest.approx(10.0)
    assert eps4.delta == pytest.approx(10.0 - 12.8)
    assert eps4.reading == "ours lower by 2.8 pts"   # 2 s.e. of the difference is 1.3 pts
    assert eps4.mc_samples == 100
    text = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md").read_text()
    assert ("| SAP-100 − dense, FGSM (MC 100), λ=4 | +12.8 pts | +10.0 pts | -2.8 | paper |"
            in text)


def test_points_row_needs_the_reference_in_the_same_profile(results_dir):
    _write(results_dir, "sap", [_sap(eps=1, accuracy=0.8, profile="quick"),
                                _row(eps=1, accuracy=0.6, profile="smoke")])
    c = _compare(results_dir)["sap100_vs_dense_fgsm_eps1"]
    assert c.ours is None and c.reading.startswith("not run")


def test_reduced_mc_samples_still_match_and_are_shown(results_dir):
    _write(results_dir, "adv", [
        _row(experiment="adv", model="adv", eps=16, accuracy=0.20, profile="smoke", n=200),
        _row(experiment="adv", model="adv", defense="sap", param=100, mc_samples=8, eps=16,
             accuracy=0.30, profile="smoke", n=200),
    ])
    c = _compare(results_dir)["advsap100_vs_adv_fgsm_eps16"]
    assert c.ours == pytest.approx(10.0)
    assert c.mc_samples == 8
    assert "adversary MC 8 (paper 100)" in c.reading
    assert c.reading.endswith("(smoke: generated data)")


def test_exact_mc_samples_preferred_over_others(results_dir):
    _write(results_dir, "sap", [_row(eps=1, accuracy=0.5),
                                _sap(eps=1, accuracy=0.1, mc_samples=10),
                                _sap(eps=1, accuracy=0.7)])
    c = _compare(results_dir)["sap100_vs_dense_fgsm_eps1"]
    assert c.ours == pytest.approx(20.0) and c.mc_samples == 100


def test_paper_profile_preferred_over_quick_and_smoke(results_dir):
    _write(results_dir, "sap", [
        _row(eps=1, accuracy=0.20, profile="smoke"),
        _row(eps=1, accuracy=0.663, profile="paper"),
        _row(eps=1, accuracy=0.40, profile="quick"),
        _row(eps=2, accuracy=0.10, profile="smoke"),
        _row(eps=2, accuracy=0.50, profile="quick"),
    ])
    c = _compare(results_dir)
    assert (c["dense_fgsm_eps1"].ours, c["dense_fgsm_eps1"].profile) == (pytest.approx(66.3),
                                                                         "paper")
    assert (c["dense_fgsm_eps2"].ours, c["dense_fgsm_eps2"].profile) == (pytest.approx(50.0),
                                                                         "quick")
    assert c["dense_fgsm_eps2"].reading == "ours lower by 6.4 pts (quick: reduced profile)"


def test_accuracy_averaged_over_the_seeds_of_the_chosen_profile(results_dir):
    _write(results_dir, "iterative", [
        _row(experiment="iterative", attack="iterative", eps=2, accuracy=a, seed=s)
        for s, a in [(0, 0.49), (1, 0.50), (2, 0.54)]
    ] + [_row(experiment="iterative", attack="iterative", eps=2, accuracy=0.9, seed=7,
              profile="smoke")])
    c = _compare(results_dir)["dense_iter_eps2"]
    assert c.ours == pytest.approx(51.0) and c.seeds == 3 and c.n == 10000
    assert c.delta == pytest.approx(0.9)
    text = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md").read_text()
    assert "| 50.1% | 51.0% | +0.9 | paper | 10000 × 3 seeds |" in text


def test_missing_rows_read_not_run(results_dir):
    _write(results_dir, "sap", [_row(eps=1, accuracy=0.663)])
    comparisons = _compare(results_dir)
    assert len(comparisons) == 27
    c = comparisons["adv_fgsm_eps2"]
    assert c.ours is None and c.delta is None and c.reading == "not run"
    text = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md").read_text()
    assert "| 3 | ADV, FGSM, λ=2 | 70.9% | not run |  |  |  | not run |" in text


def test_standard_error_stated_when_the_gap_is_within_two(results_dir):
    # smoke, n=200: s.e. = sqrt(0.6 * 0.4 / 200) = 3.46 pts; gap 6.3 pts < 2 s.e.
    _write(results_dir, "sap", [_row(eps=1, accuracy=0.60, profile="smoke", n=200)])
    c = _compare(results_dir)["dense_fgsm_eps1"]
    assert c.reading == ("ours lower by 6.3 pts; within 2 s.e. (s.e. 3.5 pts) "
                         "(smoke: generated data)")


# ---------------------------------------------------------------------------------------------
# the report file
# ---------------------------------------------------------------------------------------------


def test_smoke_rows_give_a_bold_warning_and_paper_rows_none(results_dir, tmp_path):
    _write(results_dir, "sap", [_row(eps=1, accuracy=0.5, profile="smoke")])
    text = build_report(results_dir, PAPER_NUMBERS, tmp_path / "smoke.md").read_text()
    assert "**Warning: some rows come from the smoke profile: generated data, not CIFAR-10" in text
    _write(results_dir, "sap", [_row(eps=1, accuracy=0.5, profile="paper")])
    text = build_report(results_dir, PAPER_NUMBERS, tmp_path / "paper.md").read_text()
    assert "Warning" not in text
    assert "experiments/paper_numbers/cifar.csv" in text   # where the paper's numbers come from
    assert "`0123abcd4567`" in text and "data: cifar10" in text


def test_ece_table_figures_and_calibration(results_dir, tmp_path):
    _write(results_dir, "adv", [_row(experiment="adv", model="adv", eps=4, accuracy=0.675,
                                     ece=0.0421)])
    (results_dir / "calibration.csv").write_text("not,read\n")
    figures = results_dir / "figures"
    figures.mkdir()
    for name in ("fig3_adv.png", "fig1_sap.png"):
        (figures / name).write_bytes(b"\x89PNG")
    text = build_report(results_dir, PAPER_NUMBERS, tmp_path / "results" / "REPORT.md").read_text()
    assert "the paper gives no ECE" in text
    assert "| adv | none |  | fgsm | 4 | 0.042 | paper |" in text
    assert "calibration.csv" in text
    assert text.index("(cifar/figures/fig1_sap.png)") < text.index("(cifar/figures/fig3_adv.png)")


def test_report_is_written_atomically(results_dir, tmp_path, monkeypatch):
    _write(results_dir, "sap", [_row(eps=1, accuracy=0.5)])
    out_dir = tmp_path / "out"
    out = build_report(results_dir, PAPER_NUMBERS, out_dir / "REPORT.md")
    assert sorted(p.name for p in out_dir.iterdir()) == ["REPORT.md"]
    before = out.read_text()

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    import sap_mx.io

    monkeypatch.setattr(sap_mx.io.os, "replace", failing_replace)
    with pytest.raises(UsageError, match="cannot write"):
        build_report(results_dir, PAPER_NUMBERS, out)
    assert sorted(p.name for p in out_dir.iterdir()) == ["REPORT.md"]   # no temp file left
    assert out.read_text() == before                                   # old report intact


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def test_cli_missing_results_dir_is_one_error_line(tmp_path, capsys):
    status = main(["--results-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "R.md")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: results directory") and err.count("\n") == 1
    assert not (tmp_path / "R.md").exists()


@pytest.mark.parametrize("content, message", [
    (None, "no result CSVs"),
    ("model,eps\ndense,1\n", "missing columns"),
])
def test_cli_other_user_mistakes(tmp_path, capsys, content, message):
    results_dir = tmp_path / "cifar"
    results_dir.mkdir()
    if content is not None:
        (results_dir / "sap.csv").write_text(content)
    assert main(["--results-dir", str(results_dir), "--out", str(tmp_path / "R.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and err.count("\n") == 1


def test_cli_rejects_percentages_as_accuracy(results_dir, tmp_path, capsys):
    _write(results_dir, "sap", [_row(eps=1, accuracy=66.3)])
    assert main(["--results-dir", str(results_dir), "--out", str(tmp_path / "R.md")]) == 2
    assert "not a fraction" in capsys.readouterr().err


def test_cli_process_exit_status_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "experiments.report", "--results-dir",
                           str(tmp_path / "nowhere"), "--out", str(tmp_path / "R.md")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_cli_writes_and_prints_the_report(results_dir, tmp_path, capsys):
    _write(results_dir, "sap", [_row(eps=1, accuracy=0.663)])
    out = tmp_path / "R.md"
    assert main(["--results-dir", str(results_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {rel(out)}"
    assert out.is_file()


def test_default_paths():
    assert report.default_paths("smoke") == (ROOT / "results/smoke/cifar",
                                             ROOT / "results/smoke/REPORT.md")
    assert report.default_paths("quick") == (ROOT / "results/cifar", ROOT / "results/REPORT.md")
    assert report.default_paths("paper") == (ROOT / "results/cifar", ROOT / "results/REPORT.md")


# ---------------------------------------------------------------------------------------------
# replaced models and the adaptive evaluation
# ---------------------------------------------------------------------------------------------


def test_rows_of_a_replaced_model_are_left_out(results_dir):
    """A retrained dense model (new checkpoint, newer rows) replaces the old one's rows."""
    _write(results_dir, "sap", [
        _row(eps=1, accuracy=0.90, checkpoint="old@1", utc="2026-01-01T00:00:00Z"),
        _row(eps=1, accuracy=0.25, checkpoint="new@2", utc="2026-02-01T00:00:00Z"),
        _sap(eps=1, accuracy=0.40, checkpoint="new@2", utc="2026-02-01T00:00:00Z"),
    ])
    c = _compare(results_dir)
    assert c["dense_fgsm_eps1"].ours == pytest.approx(25.0)
    assert c["sap100_vs_dense_fgsm_eps1"].ours == pytest.approx(15.0)


def test_adaptive_section_puts_the_papers_attack_next_to_the_adaptive_ones(results_dir):
    _write(results_dir, "sap", [_row(eps=1, accuracy=0.66)])
    common = dict(family="cifar", model="dense", defense="sap", param="100", loss="ce",
                  steps=40, eot_samples=20, n=1000, predict_mc=100, seed=0, profile="paper",
                  checkpoint="c@1", data="cifar10", git_sha="abc", utc="2026-01-01T00:00:00Z",
                  sanity_ok="False", sanity="unbounded PGD leaves 9.0% (> 5%)")
    write_csv(results_dir / "adaptive.csv", [
        {**common, "attack": "paper", "eps": 8, "accuracy": 0.5},
        {**common, "attack": "pgd", "eps": 8, "accuracy": 0.02},
        {**common, "attack": "worst-case", "eps": 8, "accuracy": 0.01},
    ])
    text = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md").read_text()
    assert "## Adaptive evaluation (cifar; data: " in text
    # the worst case first, then the paper's attack and the adaptive ones
    assert ("| model | λ | worst-case | paper | pgd | apgd-ce | apgd-dlr | pgd-bpda | "
            "pgd-bpda-margin | transfer-pgd | transfer-pgd-margin |") in text
    row = ("| dense+sap-100 | 8 | 1.0 | 50.0 | 2.0 |  |  |  |  |  |  | FAILED: unbounded PGD "
           "leaves 9.0% (> 5%) | paper |")
    assert row in text
    assert "come from 1 result rows in `sap.csv`" in text  # adaptive.csv is not a result table


def test_the_adaptive_table_judges_older_rows_by_the_current_rule(results_dir):
    common = dict(family="image", model="dense", defense="sap", param="100", loss="ce",
                  steps=10, eot_samples=4, n=1000, predict_mc=10, seed=0, profile="cpu",
                  checkpoint="c@1", data="fashion-mnist", git_sha="abc",
                  utc="2026-01-01T00:00:00Z", sanity_ok="True",  # the older rule's verdict
                  sanity="unbounded 0.0%, steps/EOT ladder 17.9/11.0/11.7")
    write_csv(results_dir / "adaptive.csv", [{**common, "attack": "pgd", "eps": 8,
                                              "accuracy": 0.171}])
    text = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md").read_text()
    assert ("| dense+sap-100 | 8 |  |  | 17.1 |  |  |  |  |  |  | FAILED: doubling steps lowered "
            "accuracy "
            "17.9% -> 11.0%; doubling EOT samples lowered accuracy 17.9% -> 11.7%; the attack "
            "had not converged (unbounded 0.0%, steps/EOT ladder 17.9/11.0/11.7) | cpu |") in text


def test_the_adaptive_table_says_when_only_the_unbounded_check_ran(results_dir):
    common = dict(family="image", model="dense", loss="ce", steps=10, eot_samples=4, n=1000,
                  predict_mc=10, seed=0, profile="cpu", checkpoint="c@1", data="fashion-mnist",
                  git_sha="abc", utc="2026-01-01T00:00:00Z", sanity_ok="True", eps=4,
                  attack="pgd", accuracy=0.366)
    write_csv(results_dir / "adaptive.csv", [
        {**common, "defense": "rsw", "param": "0.2",
         "sanity": "unbounded 0.0% (no steps/EOT ladder)"},
        {**common, "defense": "none", "param": "",
         "sanity": "unbounded 0.0%, steps/EOT ladder 2.3/2.2/1.8"}])
    text = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md").read_text()
    assert ("| dense+rsw-0.2 | 4 |  |  | 36.6 |  |  |  |  |  |  | ok (unbounded check only: "
            "convergence "
            "not tested) | cpu |") in text
    assert "| dense | 4 |  |  | 36.6 |  |  |  |  |  |  | ok | cpu |" in text


@pytest.mark.parametrize("worst, verdict", [
    (0.290, "converged"),
    # the AND over every attack is far below the longer runs: another attack fools images
    (0.200, "converged; but the worst case, 20.0%, is below them: other attacks fool images "
            "these do not"),
])
def test_the_report_lists_the_longer_runs_with_their_verdict(results_dir, worst, verdict):
    common = dict(family="image", model="dense", defense="sap", param="100", loss="ce", n=1000,
                  predict_mc=10, seed=0, profile="cpu", checkpoint="c@1", data="fashion-mnist",
                  git_sha="abc", utc="2026-01-01T00:00:00Z", sanity_ok="True",
                  sanity="unbounded 0.0%, steps/EOT ladder 2.3/2.2/1.8")
    runs = {"pgd": (10, 4, 0.52), "pgd-bpda": (10, 4, 0.327), "pgd-bpda@20x4": (20, 4, 0.30),
            "pgd-bpda@40x4": (40, 4, 0.295), "pgd-bpda@10x16": (10, 16, 0.31),
            "pgd-bpda@40x16": (40, 16, 0.29)}
    rows = [{**common, "attack": a, "steps": st, "eot_samples": e, "eps": 4, "accuracy": acc}
            for a, (st, e, acc) in runs.items()]
    rows.append({**common, "attack": "worst-case", "steps": "", "eot_samples": "", "eps": 4,
                 "accuracy": worst})
    write_csv(results_dir / "adaptive.csv", rows)
    text = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md").read_text()
    assert ("| dense+sap-100 | 4 | pgd-bpda, 10/20/40 steps: 32.7/30.0/29.5%; 4 -> 16 EOT "
            "samples: 32.7 -> 31.0%; 40 steps x 16 EOT samples together: 29.0%: "
            f"{verdict} |") in text
    # the profile's own columns keep the profile's runs
    assert (f"| dense+sap-100 | 4 | {100 * worst:.1f} |  | 52.0 |  |  | 32.7 |  |  |  | ok | cpu |"
            in text)


@pytest.mark.parametrize("extra, settled", [(0, True), (5, True), (6, False), (40, False)])
def test_longer_runs_settle_the_worst_case_only_if_no_other_attack_fools_more(extra, settled):
    """With per-image masks the check is paired: the worst case (the AND over every attack)
    against the AND of the longer runs themselves, so the runs' own randomness is not counted
    against them; other attacks fooling 6 or more further images (McNemar p < 0.05) unsettle
    it, whatever the accuracies' standard errors say."""
    from experiments.adaptive_table import convergence_of
    from runkit.rows import mask_hex

    n = 1000
    right = np.zeros(n, bool)
    right[:330] = True
    masks = {}
    for i, key in enumerate(("pgd-bpda", "pgd-bpda@20x4", "pgd-bpda@40x4", "pgd-bpda@10x16",
                             "pgd-bpda@40x16")):
        m = right.copy()
        m[10 * i:10 * i + 8] = False         # each run misses a few images the others get
        masks[key] = m
    both = np.logical_and.reduce(list(masks.values()))
    worst = both.copy()
    worst[np.flatnonzero(both)[-extra:] if extra else []] = False
    masks["worst-case"] = worst
    masks["pgd"] = worst | ~right             # pgd fools the extra images (and the runs' own)
    shape = {"pgd": (10, 4), "pgd-bpda": (10, 4), "pgd-bpda@20x4": (20, 4),
             "pgd-bpda@40x4": (40, 4), "pgd-bpda@10x16": (10, 16), "pgd-bpda@40x16": (40, 16),
             "worst-case": ("", "")}
    rows = [{"attack": a, "eps": "4", "n": str(n), "steps": str(shape[a][0]),
             "eot_samples": str(shape[a][1]), "accuracy": str(m.mean()), "correct": mask_hex(m)}
            for a, m in masks.items()]
    ok, text = convergence_of(rows, 4.0)
    assert ok is settled
    assert text.endswith(": converged") if settled else text.endswith(
        f"other attacks fool images these do not ({extra} images lost, 0 won; McNemar p = "
        f"{2 * 0.5 ** extra:.2g})")
    # without masks the unpaired rule decides: blind to 6 further images, it sees 40
    unpaired = [{k: v for k, v in r.items() if k != "correct"} for r in rows]
    assert convergence_of(unpaired, 4.0)[0] is (extra < 40)


def test_settling_is_unpaired_when_one_attacks_runs_lack_masks():
    """Two attacks with longer runs, one of them without per-image masks (rows of an older
    version): the worst case is compared with every run, unpaired, not with the AND of the
    masked attack's runs alone (which would count the other attack's images as 'lost')."""
    from experiments.adaptive_table import convergence_of
    from runkit.rows import mask_hex

    n = 1000
    a = np.zeros(n, bool)
    a[:330] = True
    worst = a.copy()
    worst[300:330] = False                  # 30 images only attack b's runs fool
    rows = [{"attack": name, "eps": "4", "n": str(n), "steps": str(st), "eot_samples": str(e),
             "accuracy": str(acc), **({"correct": mask_hex(a)} if name.startswith("pgd-bpda")
                                      else {})}
            for name, st, e, acc in (
                ("pgd-bpda", 10, 4, 0.33), ("pgd-bpda@20x4", 20, 4, 0.33),
                ("pgd-bpda@10x16", 10, 16, 0.33), ("pgd-bpda@20x16", 20, 16, 0.33),
                ("apgd-ce", 10, 4, 0.30), ("apgd-ce@20x4", 20, 4, 0.30),
                ("apgd-ce@10x16", 10, 16, 0.30), ("apgd-ce@20x16", 20, 16, 0.30))]
    rows.append({"attack": "worst-case", "eps": "4", "n": str(n), "steps": "",
                 "eot_samples": "", "accuracy": str(worst.mean()), "correct": mask_hex(worst)})
    ok, text = convergence_of(rows, 4.0)
    assert ok is True and "is below them" not in text
    # rows without their number of images are not judged (and do not crash the report)
    assert convergence_of([{**r, "n": None} for r in rows], 4.0) is None


def test_a_folder_with_only_the_adaptive_evaluation_still_gets_a_report(results_dir):
    common = dict(family="cifar", model="dense", defense="none", param="", loss="ce", steps=4,
                  eot_samples=1, n=16, predict_mc=1, seed=0, profile="smoke", checkpoint="c@1",
                  data="generated", git_sha="abc", utc="2026-01-01T00:00:00Z", sanity_ok="True",
                  sanity="unbounded 0.0%")
    write_csv(results_dir / "adaptive.csv", [{**common, "attack": "pgd", "eps": 0,
                                              "accuracy": 0.25}])
    text = build_report(results_dir, PAPER_NUMBERS, results_dir.parent / "REPORT.md").read_text()
    assert text.count("| not run |") >= 27 and "## Adaptive evaluation (cifar; data: " in text
