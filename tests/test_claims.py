"""The claims table: verdicts that follow from the numbers, on rows built to known answers."""
import csv

import numpy as np
import pytest

from experiments import claims, report
from runkit.rows import mask_hex

from image_rows import row as _row, write_rows as _write

def _mask(rng, n, p):
    return rng.random(n) < p


@pytest.fixture()
def folder(tmp_path):
    """sap.csv: dense at 0.9 / 0.4 / 0.3 / 0.2 (lambda 0, 1, 2, 4, 16); SAP-100 far better at
    lambda 1, the same images at lambda 2, slightly (not significantly) better at lambda 4 on
    the same images, worse at 0."""
    rng = np.random.default_rng(0)
    n = 1000
    dense = {0: _mask(rng, n, 0.9), 1: _mask(rng, n, 0.4), 2: _mask(rng, n, 0.3),
             4: _mask(rng, n, 0.2), 16: _mask(rng, n, 0.1)}
    sap = {0: dense[0] & (rng.random(n) < 0.9), 1: dense[1] | (rng.random(n) < 0.5),
           2: dense[2].copy(), 16: dense[16].copy()}
    flip = np.flatnonzero(~dense[4])[:15]    # +1.5 points: inside the margin, not significant
    sap[4] = dense[4].copy()
    sap[4][flip] = True
    sap[4][np.flatnonzero(dense[4])[:5]] = False
    rows = [_row("dense", "none", None, e, m) for e, m in dense.items()]
    rows += [_row("dense", "sap", 100, e, m, mc=100) for e, m in sap.items()]
    _write(tmp_path / "sap.csv", rows)
    return tmp_path


def _by_id(items):
    return {c["id"]: v for c, v in items}


def _direction(verdict):
    """A verdict with its size comparison dropped (holds in direction -> holds)."""
    return claims.HOLDS if verdict in (claims.SMALLER, claims.LARGER) else verdict


def test_verdicts_follow_from_the_numbers(folder):
    figure, adaptive = claims.evaluate_claims(folder, profile="cpu")
    v = _by_id(figure)
    # CI far above 0, and above the paper's (CIFAR-10) +12.2 points too
    assert v["sap100_gain_eps1"].verdict == claims.LARGER
    assert v["sap100_gain_eps2"].verdict == claims.FAILS          # identical: CI = [0, 0] < 2
    assert v["sap100_cost_eps0"].verdict == claims.HOLDS          # SAP-100 loses images
    assert v["sap100_cost_eps16"].verdict == claims.FAILS         # no loss at all
    assert v["sap100_gain_eps1"].n == 1000
    assert "SAP-100 − dense at λ = 1" in v["sap100_gain_eps1"].measurement
    # not measurable from these rows: None, never a made-up verdict
    assert v["adv_sap_gain_eps16"] is None and v["mc_more_samples_stronger"] is None
    assert all(a is None for _, a in adaptive)


def test_a_small_gain_at_small_n_is_inconclusive_and_a_large_n_settles_it():
    rng = np.random.default_rng(1)
    for n, expected in ((60, claims.OPEN), (20_000, claims.HOLDS)):
        dense = _mask(rng, n, 0.5)
        better = dense.copy()
        better[np.flatnonzero(~dense)[: n // 20]] = True      # +5 points on the same images
        v = claims.compare(lambda e, m=better: m, lambda e, m=dense: m, (1,), "higher",
                           ("a", "b"))
        assert v.verdict == expected, (n, v.measurement)


def test_similar_and_combined_verdicts():
    rng = np.random.default_rng(2)
    a = _mask(rng, 2000, 0.6)
    same = claims.compare(lambda e: a, lambda e: a, (1,), "similar", ("a", "a"))
    assert same.verdict == claims.HOLDS
    b = a.copy()
    b[np.flatnonzero(a)[:400]] = False                          # 20 points apart
    apart = claims.compare(lambda e: a, lambda e: b, (1,), "similar", ("a", "b"))
    assert apart.verdict == claims.FAILS
    assert claims.all_of([same, apart]).verdict == claims.FAILS
    assert claims.all_of([same, same]).verdict == claims.HOLDS


def test_adaptive_part_reads_the_worst_case_rows(folder):
    rng = np.random.default_rng(3)
    n = 1000
    dense = {e: _mask(rng, n, p) for e, p in ((0, 0.9), (1, 0.3), (2, 0.2), (4, 0.1))}
    rows = []
    for e, m in dense.items():
        for model, defense, param, mask in (("dense", "none", "", m),
                                            ("dense", "sap", "100", m.copy())):
            rows.append({"family": "fashion-mnist", "model": model, "defense": defense,
                         "param": param, "attack": "worst-case", "eps": e, "n": n,
                         "accuracy": mask.mean(), "predict_mc": 20, "seed": 0,
                         "profile": "cpu", "checkpoint": "c", "correct": mask_hex(mask),
                         "utc": "2026-12-01T00:00:00Z"})
    with open(folder / "adaptive.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _, adaptive = claims.evaluate_claims(folder, profile="cpu")
    v = _by_id(adaptive)
    # under the worst case SAP-100 is no better than dense: the gain claim does not hold
    assert v["sap100_gain_eps1"].verdict == claims.FAILS
    assert v["iterative_sap_beats_dense"].verdict == claims.FAILS


def test_the_fashion_report_tests_claims_and_never_says_cifar_result(folder):
    out = folder / "REPORT.md"
    (folder / "track.csv").write_text("step,target,exit,seconds\nfig1-sap,cifar-sap,0,9.0\n")
    report.build_report(folder, report.PAPER_NUMBERS, out, dataset="fashion-mnist",
                        profile="cpu")
    text = out.read_text()
    assert text.startswith("# Fashion-MNIST: the paper's claims tested on our results")
    assert "## The paper's claims on Fashion-MNIST" in text
    assert "none of our numbers is a CIFAR-10 result" in text
    assert "# CIFAR-10:" not in text
    line = next(x for x in text.splitlines() if "we observe a 12.2%" in x and "λ = 1:" in x)
    assert line.endswith("| **holds in direction, larger in size** |")
    assert "the paper's figure (CIFAR-10), +12.2 pts, lies outside the interval" in line
    assert "not measured yet" in text


def test_every_claim_has_a_check():
    assert set(claims.load_claims()) == set(claims.CHECKS)


def test_little_gain_holds_below_the_margin_and_fails_above_it():
    rng = np.random.default_rng(4)
    base = _mask(rng, 4000, 0.5)
    for gain, expected in ((0.0, claims.HOLDS), (0.10, claims.FAILS)):
        other = base.copy()
        other[np.flatnonzero(~base)[: int(gain * 4000)]] = True
        v = claims.compare(lambda e, m=other: m, lambda e: base, (1,), "little-gain", ("a", "b"))
        assert v.verdict == expected, (gain, v.measurement)


def test_few_disagreeing_images_do_not_make_a_claim_hold():
    """4 images only A gets right, none only B: the normal interval excludes 0 but McNemar's
    exact p is 0.125, so the direction is not established (and a 2-point gain is excluded)."""
    b = np.zeros(1000, bool)
    b[:500] = True
    a = b.copy()
    a[500:504] = True
    v = claims.compare(lambda e: a, lambda e: b, (1,), "higher", ("a", "b"))
    assert v.verdict == claims.FAILS and "p = 0.12" in v.measurement


def test_partial_or_damaged_rows_are_not_measured(folder):
    rows = list(csv.DictReader(open(folder / "sap.csv")))
    damaged = [dict(r, correct="zz") if r["defense"] == "sap" and r["eps"] == "1" else r
               for r in rows]
    _write(folder / "sap.csv", damaged)
    v = {c["id"]: x for c, x in claims.evaluate_claims(folder, profile="cpu")[0]}
    assert v["sap100_gain_eps1"] is None and v["sap100_gain_eps2"] is not None
    # a claim with several parts is not judged on some of them
    assert claims.all_of([v["sap100_gain_eps2"], None]) is None


def _adaptive_rows(folder, masks, sanity, clean=None):
    """adaptive.csv of worst-case rows: ``masks[(model, defense, param)][eps]``, each model's
    rows with ``sanity[(model, defense, param)]`` = (sanity_ok, sanity text); at lambda 0 also
    the paper attack's row (one prediction), ``clean[(model, defense, param)]`` or, by
    default, the worst case's mask."""
    rows = []
    for (model, defense, param), by_eps in masks.items():
        ok, text = sanity[(model, defense, param)]
        for e, mask in by_eps.items():
            attacks = {"worst-case": mask}
            if e == 0:
                attacks["paper"] = (clean or {}).get((model, defense, param), mask)
            for attack, m in attacks.items():
                rows.append({"family": "image", "model": model, "defense": defense,
                             "param": param, "attack": attack, "eps": e, "n": len(m),
                             "accuracy": m.mean(), "predict_mc": 10, "seed": 0,
                             "profile": "cpu", "checkpoint": "c", "sanity_ok": ok,
                             "sanity": text, "correct": mask_hex(m),
                             "utc": "2026-12-01T00:00:00Z"})
    with open(folder / "adaptive.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize("ladder, verdict", [
    # written as ok by the older rule, which looked only for a rise: judged again, it fails
    ("17.9/11.0/11.7", claims.OPEN),
    ("2.3/2.2/1.8", claims.HOLDS),          # flat within noise: converged
])
def test_a_gain_measured_with_an_unconverged_attack_is_not_judged(folder, ladder, verdict):
    rng = np.random.default_rng(4)
    n = 1000
    dense = {e: _mask(rng, n, p) for e, p in ((0, 0.9), (1, 0.3), (2, 0.2), (4, 0.1))}
    dense[16] = np.zeros(n, bool)
    sap = {e: m | (rng.random(n) < 0.3) for e, m in dense.items()}   # far above dense
    sap[16] = np.zeros(n, bool)
    sap[0] = dense[0].copy()
    sap[0][np.flatnonzero(dense[0])[:30]] = False                    # 3 points lower, clean
    _adaptive_rows(folder, {("dense", "none", ""): dense, ("dense", "sap", "100"): sap},
                   {("dense", "none", ""): ("True", "unbounded 0.0%, steps/EOT ladder "
                                                     "2.3/2.2/1.8"),
                    ("dense", "sap", "100"): ("True", f"unbounded 0.0%, steps/EOT ladder "
                                                       f"{ladder}")})
    _, adaptive = claims.evaluate_claims(folder, profile="cpu")
    v = _by_id(adaptive)
    for claim in ("sap100_gain_eps1", "sap100_gain_eps4", "iterative_sap_beats_dense"):
        assert _direction(v[claim].verdict) == verdict
        assert ("not judged: SAP-100's attacks failed" in v[claim].measurement) == (
            verdict == claims.OPEN)
    # SAP-100 lower than dense at lambda 0: its accuracy can only fall further, dense's
    # attacks passed: the verdict stands either way
    assert _direction(v["sap100_cost_eps0"].verdict) == claims.HOLDS
    # 0% on every image is exact whatever the attack: judged either way
    assert v["sap100_cost_eps16"].verdict == claims.FAILS
    assert "not judged" not in v["sap100_cost_eps16"].measurement


def test_which_side_of_a_comparison_a_loose_bound_can_overturn():
    rng = np.random.default_rng(5)
    n = 1000
    low, high = _mask(rng, n, 0.2), _mask(rng, n, 0.2) | _mask(rng, n, 0.4)
    get = {"low": lambda e: low, "high": lambda e: high}
    names = ("A", "B")

    def verdict(a, b, kind, suspects):
        return claims.compare(get[a], get[b], (1,), kind, names, suspects=suspects).verdict

    # A higher than B, measured: only A's loose bound can overturn it
    assert verdict("high", "low", "higher", ("x", None)) == claims.OPEN
    assert verdict("high", "low", "higher", (None, "x")) == claims.HOLDS
    # A not higher than B, measured: only B's loose bound can overturn it
    assert verdict("low", "high", "higher", ("x", None)) == claims.FAILS
    assert verdict("low", "high", "higher", (None, "x")) == claims.OPEN
    # the mirror image
    assert verdict("low", "high", "lower", (None, "x")) == claims.OPEN
    assert verdict("low", "high", "lower", ("x", None)) == claims.HOLDS
    assert verdict("high", "low", "lower", ("x", None)) == claims.OPEN
    assert verdict("high", "low", "lower", (None, "x")) == claims.FAILS
    # 'adds little': a gain surely under the margin could grow if B falls
    assert verdict("low", "low", "little-gain", (None, "x")) == claims.OPEN
    assert verdict("low", "low", "little-gain", ("x", None)) == claims.HOLDS
    assert verdict("low", "low", "similar", ("x", None)) == claims.OPEN


@pytest.mark.parametrize("runs, verdict", [
    ({(10, 4): 0.40, (20, 4): 0.38, (40, 4): 0.37, (10, 16): 0.39, (40, 16): 0.37},
     claims.HOLDS),
    ({(10, 4): 0.40, (20, 4): 0.33, (40, 4): 0.25, (10, 16): 0.39, (40, 16): 0.25}, claims.OPEN),
    # one dimension at a time only: convergence not shown, the bound decides nothing
    ({(10, 4): 0.40, (20, 4): 0.38, (40, 4): 0.37, (10, 16): 0.39}, claims.OPEN),
])
def test_longer_runs_that_converged_settle_a_lambda_the_sanity_check_left_open(folder, runs,
                                                                               verdict):
    rng = np.random.default_rng(6)
    n = 1000
    dense = {e: _mask(rng, n, p) for e, p in ((0, 0.9), (1, 0.3), (2, 0.2), (4, 0.1))}
    sap = {e: m | (rng.random(n) < 0.3) for e, m in dense.items()}
    _adaptive_rows(folder, {("dense", "none", ""): dense, ("dense", "sap", "100"): sap},
                   {("dense", "none", ""): ("True", "unbounded 0.0%, steps/EOT ladder "
                                                     "2.3/2.2/1.8"),
                    ("dense", "sap", "100"): ("False", "doubling steps lowered accuracy 17.9% "
                                                        "-> 11.0%; the attack had not converged "
                                                        "(unbounded 0.0%, steps/EOT ladder "
                                                        "17.9/11.0/17.9)")})
    with open(folder / "adaptive.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    template = next(r for r in rows if r["defense"] == "sap" and r["eps"] == "4")
    for (steps, eot), acc in runs.items():
        name = "pgd-bpda" if (steps, eot) == (10, 4) else f"pgd-bpda@{steps}x{eot}"
        rows.append({**template, "attack": name, "steps": steps, "eot_samples": eot,
                     "accuracy": acc, "correct": ""})
    with open(folder / "adaptive.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) + ["steps", "eot_samples"])
        writer.writeheader()
        writer.writerows(rows)
    _, adaptive = claims.evaluate_claims(folder, profile="cpu")
    v = _by_id(adaptive)
    assert v["sap100_gain_eps1"].verdict == claims.OPEN      # no longer runs at lambda 1
    assert _direction(v["sap100_gain_eps4"].verdict) == verdict
    assert ("not judged" in v["sap100_gain_eps4"].measurement) == (verdict == claims.OPEN)


def test_lambda_zero_is_never_suspect():
    rows = claims.Rows([], [{"model": "dense", "defense": "sap", "param": "100", "eps": "0",
                             "attack": "worst-case", "n": "1000", "profile": "cpu", "seed": "0",
                             "sanity_ok": "False", "sanity": "unbounded PGD leaves 9.0% (> 1.0%)",
                             "checkpoint": "c", "predict_mc": "10",
                             "utc": "2026-12-01T00:00:00Z"}], profile="cpu")
    assert rows.suspect("dense", "sap", 100.0, (0,)) is None
    assert rows.suspect("dense", "sap", 100.0, (0, 1)).startswith("unbounded PGD leaves 9.0%")
    assert rows.suspect("dense", "sap", 100.0).startswith("unbounded PGD leaves 9.0%")


def test_a_model_checked_only_with_the_unbounded_attack_is_a_bound_of_unknown_looseness():
    """RSW on Fashion-MNIST passed the unbounded check, but no steps/EOT ladder ran on it: its
    worst case above SAP-100's cannot refute 'none matches SAP' (its attacks may not have
    converged), while one below SAP-100's still supports it."""
    base = {"eps": "4", "attack": "worst-case", "n": "1000", "profile": "cpu", "seed": "0",
            "checkpoint": "c", "predict_mc": "10", "utc": "2026-12-01T00:00:00Z",
            "model": "dense", "sanity_ok": "True"}
    rows = claims.Rows([], [{**base, "defense": "rsw", "param": "0.2",
                             "sanity": "unbounded 0.0% (no steps/EOT ladder)"},
                            {**base, "defense": "none", "param": "",
                             "sanity": "unbounded 0.0%, steps/EOT ladder 2.3/2.2/1.8"}],
                       profile="cpu")
    assert rows.suspect("dense", "rsw", 0.2, (4,)) == claims.UNCHECKED
    assert rows.suspect("dense", "rsw", 0.2, (0,)) is None
    assert rows.suspect("dense", "none", None, (4,)) is None

    rng = np.random.default_rng(7)
    sap = _mask(rng, 1000, 0.27)
    better = sap | _mask(rng, 1000, 0.1)
    worse = sap & _mask(rng, 1000, 0.6)
    for other, verdict in ((better, claims.OPEN), (worse, claims.HOLDS)):
        v = claims.compare(lambda e, m=other: m, lambda e: sap, (4,), "lower", ("RSW", "SAP"),
                           suspects=(claims.UNCHECKED, None))
        assert v.verdict == verdict
        assert ("RSW's attacks were not checked for convergence" in v.measurement) == (
            verdict == claims.OPEN)
