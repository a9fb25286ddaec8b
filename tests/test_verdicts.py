"""The verdict rules of the claims table (issue 26, part 3), each on rows built to a known answer:
one prediction at lambda 0, the few-samples trade-off per k, Holm's correction, the size of a
holding direction, the MC budget of stochastic baselines, Fig. 5's parameter chosen on other
images, and the two tallies of the README's block."""
import csv

import numpy as np
import pytest

from experiments import claims, headline, selection
from runkit.rows import mask_hex
from sap_mx import metrics

from image_rows import row as _row, write_rows as _write

N = 1000
NO_COST = {"bench_csv": "/nonexistent/bench.csv", "models_dir": "/nonexistent/models"}


def _by_id(items):
    return {c["id"]: v for c, v in items}


def _with(base, gained=0, lost=0):
    """``base`` with ``gained`` of its wrong images made right and ``lost`` right ones wrong."""
    out = base.copy()
    out[np.flatnonzero(~base)[:gained]] = True
    out[np.flatnonzero(base)[:lost]] = False     # of the images right in ``base``
    return out


def _write_adaptive(path, rows):
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _adaptive(model, defense, param, attack, eps, mask, **extra):
    return {"family": "image", "model": model, "defense": defense, "param": param,
            "attack": attack, "eps": eps, "n": len(mask), "accuracy": mask.mean(),
            "predict_mc": 10, "seed": 0, "profile": "cpu", "checkpoint": "c",
            "sanity_ok": "True", "sanity": "unbounded 0.0%, steps/EOT ladder 2.3/2.2/1.8",
            "correct": mask_hex(mask), "utc": "2026-12-01T00:00:00Z", **extra}


# ---------------------------------------------------------------------------------------------
# lambda = 0 under the adaptive worst case: one prediction per model
# ---------------------------------------------------------------------------------------------
def test_lambda_zero_compares_one_prediction_never_the_and_of_several_draws(tmp_path):
    """SAP-100's clean draws each match dense's 94%, but an older worst-case row at lambda 0 is
    the AND of five draws, 3 points lower: the claim 'SAP-100 costs accuracy clean' must be
    judged on one draw (no cost: does not hold), not on the AND (a cost that holds)."""
    rng = np.random.default_rng(0)
    dense = rng.random(N) < 0.94
    draw = dense.copy()
    anded = _with(dense, lost=30)
    rows = [_adaptive("dense", "none", "", a, 0, dense) for a in ("paper", "worst-case")]
    rows += [_adaptive("dense", "sap", "100", "paper", 0, draw),
             _adaptive("dense", "sap", "100", "worst-case", 0, anded,
                       combines="paper+pgd+apgd-ce+apgd-dlr+pgd-bpda")]
    _write_adaptive(tmp_path / "adaptive.csv", rows)
    v = _by_id(claims.evaluate_claims(tmp_path, profile="cpu")[1])["sap100_cost_eps0"]
    assert v.verdict == claims.FAILS, v.measurement
    assert "one prediction of each" in v.measurement and "+0.0 pts" in v.measurement

    # no paper row: a worst-case row of one attack is one draw; one of several is never used
    only_worst = [r for r in rows if r["attack"] == "worst-case"]
    _write_adaptive(tmp_path / "adaptive.csv", only_worst)
    assert _by_id(claims.evaluate_claims(tmp_path, profile="cpu")[1])["sap100_cost_eps0"] is None
    for r in only_worst:
        r["combines"] = "paper"
    _write_adaptive(tmp_path / "adaptive.csv", only_worst)
    rows_ = claims.Rows([], only_worst, profile="cpu")
    assert rows_.worst("dense", "sap", 100.0, 0).sum() == anded.sum()


# ---------------------------------------------------------------------------------------------
# 'With few samples...': per k, and never by a k at chance
# ---------------------------------------------------------------------------------------------
def _sap_k_rows(ks):
    """dense at 94% clean and 80/70/50% at lambda 1/2/4; SAP-5 at chance (9%); SAP-20 lower
    clean and lower attacked; SAP-50 9 points lower clean and 6 points higher attacked."""
    rng = np.random.default_rng(1)
    dense = {0: rng.random(N) < 0.94, 1: rng.random(N) < 0.8, 2: rng.random(N) < 0.7,
             4: rng.random(N) < 0.5}
    sap = {5: {e: rng.random(N) < 0.09 for e in dense},
           20: {e: _with(m, lost=300) for e, m in dense.items()},
           50: {e: _with(m, lost=90) if e == 0 else _with(m, gained=60)
                for e, m in dense.items()}}
    rows = [_row("dense", "none", None, e, m) for e, m in dense.items()]
    rows += [_row("dense", "sap", k, e, m, mc=100) for k in ks for e, m in sap[k].items()]
    return rows


@pytest.mark.parametrize("ks, verdict, where", [
    ((5, 20, 50), claims.HOLDS, "holds at SAP-50"),       # shown by SAP-50, not by SAP-5
    ((5, 20), claims.FAILS, "holds at no k"),             # SAP-20 above chance, no trade-off
    ((5,), claims.OPEN, "every k < 100 is at chance clean"),
])
def test_few_samples_is_judged_per_k_and_a_k_at_chance_cannot_show_it(tmp_path, ks, verdict,
                                                                      where):
    _write(tmp_path / "sap.csv", _sap_k_rows(ks))
    v = _by_id(claims.evaluate_claims(tmp_path, profile="cpu")[0])
    for claim in ("sap_few_samples_clean", "sap_few_samples_attacked"):
        assert v[claim].verdict == verdict, v[claim].measurement
        assert where in v[claim].measurement
        assert "SAP-5 at chance clean (8.6%, chance 10%): cannot show it" in \
            v[claim].measurement
    if 50 in ks:     # each row shows its half: the clean cost, the attacked gain
        assert "SAP-50 − dense at λ = 0: -9.0 pts" in v["sap_few_samples_clean"].measurement
        assert "SAP-50 − dense at λ = 1, 2, 4 (mean over them): +6.0 pts" in \
            v["sap_few_samples_attacked"].measurement


# ---------------------------------------------------------------------------------------------
# Holm's correction over a table
# ---------------------------------------------------------------------------------------------
def test_holm_adjusts_as_the_step_down_procedure_does():
    # sorted: 0.005 x 4, 0.01 x 3, 0.03 x 2 = 0.06, 0.04 x 1 -> kept at 0.06 (monotone)
    assert claims.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert claims.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert claims.holm([]) == []


def test_a_direction_holds_only_on_its_holm_adjusted_p():
    """A 1.5-point gain (30 images won, 15 lost: McNemar p ~ 0.04) holds on its own; among
    nine null comparisons of the same table its Holm-adjusted p is ~10 times that, and it no
    longer holds."""
    rng = np.random.default_rng(2)
    base = rng.random(N) < 0.5
    gain = _with(base, gained=30, lost=15)
    lone = claims.compare(lambda e: gain, lambda e: base, (1,), "higher", ("A", "B"))
    assert lone.verdict == claims.HOLDS and lone.paired.p < 0.05
    nulls = [(rng.random(N) < 0.5) for _ in range(9)]

    def table():
        out = [claims.compare(lambda e: gain, lambda e: base, (1,), "higher", ("A", "B"))]
        out += [claims.compare(lambda e, m=m: m, lambda e: base, (1,), "higher", (f"N{i}", "B"))
                for i, m in enumerate(nulls)]
        # the same comparison again (as two claims may share it): one test, not two
        out.append(claims.compare(lambda e: gain, lambda e: base, (1,), "higher", ("A", "B")))
        return out

    judged, tests = claims.as_family(table)
    assert tests == 10
    assert judged[0].verdict == claims.OPEN and judged[-1].verdict == claims.OPEN
    adjusted = claims.holm([lone.paired.p] + [metrics.paired_difference(m, base).p
                                              for m in nulls])[0]
    assert adjusted > 0.05 and f"Holm {adjusted:.2g}" in judged[0].measurement


def test_the_table_states_its_holm_family(tmp_path):
    _write(tmp_path / "sap.csv", _sap_k_rows((5, 20, 50)))
    figure, adaptive = claims.evaluate_claims(tmp_path, profile="cpu")
    assert figure.tests > 0 and adaptive.tests == 0
    text = "\n".join(claims.claims_section(tmp_path, profile="cpu",
                                           dataset_title="Fashion-MNIST"))
    assert f"(Holm over {figure.tests} comparisons)" in text and ", Holm " in text


# ---------------------------------------------------------------------------------------------
# the size of a direction that holds
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, shift, figure, verdict", [
    ("higher", 50, 12.2, claims.SMALLER),   # +5 (about +3.6 to +6.4): short of the paper's
    ("higher", 120, 12.2, claims.HOLDS),    # +12 (about +10 to +14): the paper's inside
    ("higher", 250, 12.2, claims.LARGER),   # +25
    ("lower", 30, -6.5, claims.SMALLER),    # a 3-point cost where the paper had 6.5
    ("lower", 120, -6.5, claims.LARGER),    # a 12-point cost
])
def test_a_holding_direction_is_set_against_the_papers_figure(kind, shift, figure, verdict):
    rng = np.random.default_rng(3)
    base = rng.random(N) < 0.5
    other = _with(base, gained=shift) if kind == "higher" else _with(base, lost=shift)
    v = claims.compare(lambda e: other, lambda e: base, (1,), kind, ("A", "B"))
    assert v.verdict == claims.HOLDS
    sized = claims._size(v, figure)
    assert sized.verdict == verdict, sized.measurement
    assert f"the paper's figure (CIFAR-10), {figure:+.1f} pts" in sized.measurement
    # only a holding direction is sized
    failed = claims.compare(lambda e: base, lambda e: base, (1,), kind, ("A", "B"))
    assert claims._size(failed, figure).verdict == claims.FAILS


def test_the_sized_claims_name_figures_the_paper_quotes():
    ids = {r["id"] for r in claims.load_paper_numbers()}
    assert set(claims.SIZES.values()) <= ids
    assert set(claims.SIZES) <= set(claims.load_claims())


# ---------------------------------------------------------------------------------------------
# stochastic models at SAP-100's FGSM budget
# ---------------------------------------------------------------------------------------------
def test_dropout_is_compared_only_at_sap100s_mc_budget(tmp_path):
    rng = np.random.default_rng(4)
    sap = [_row("dense", "sap", 100, e, rng.random(N) < 0.8, mc=100) for e in (0, 1, 2, 4)]
    _write(tmp_path / "sap.csv", sap)
    dense = {e: rng.random(N) < p for e, p in ((0, 0.9), (1, 0.6), (2, 0.5), (4, 0.4),
                                                (8, 0.3))}
    rows = [_row("dense", "none", None, e, m, experiment="dropout") for e, m in dense.items()]
    weak = [_row("dense", "dropout", 0.1, e, m.copy(), experiment="dropout", mc=20)
            for e, m in dense.items()]
    _write(tmp_path / "dropout.csv", rows + weak)
    v = _by_id(claims.evaluate_claims(tmp_path, profile="cpu")[0])
    assert v["dropout_low_rate_small_eps"] is None       # 20 MC samples: a weaker attack
    assert v["dropout_little_advantage"] is None
    full = [dict(r, mc_samples=100) for r in weak]
    _write(tmp_path / "dropout.csv", rows + weak + full)
    v = _by_id(claims.evaluate_claims(tmp_path, profile="cpu")[0])
    assert v["dropout_little_advantage"].verdict == claims.HOLDS   # identical: no gain


# ---------------------------------------------------------------------------------------------
# Fig. 5: the parameter chosen on other images than those it is judged on
# ---------------------------------------------------------------------------------------------
def test_best_param_is_the_highest_mean_over_lambda_1_2_4_ties_to_the_first():
    rows = [{"param": p, "eps": e, "accuracy": a}
            for p, accs in ((0.1, (0.5, 0.4, 0.3)), (0.2, (0.6, 0.5, 0.1)),
                            (0.5, (0.3, 0.3, 0.3)))
            for e, a in zip((1, 2, 4), accs)]
    assert selection.best_param(rows, (0.1, 0.2, 0.5)) == 0.1      # 0.4 = 0.4: the first
    assert selection.best_param(rows, (0.2, 0.1, 0.5)) == 0.2
    assert selection.best_param(rows + [{"param": 0.5, "eps": 8, "accuracy": 0.9}],
                                (0.1, 0.2, 0.5)) == 0.1             # lambda 8 does not count
    assert selection.best_param(rows[:-1], (0.1, 0.2, 0.5)) is None  # grid incomplete


def _baseline_rows(*, selection_offset=N, chosen_mc=100):
    """baselines.csv: dense at lambda 1..32; per baseline its grid on the selection images
    (the second parameter best there) and on the evaluation images with 20 MC samples (the
    first best there: what a choice on the evaluation images would pick), and the second at
    ``chosen_mc``; sap.csv: SAP-100 at 100 MC samples."""
    rng = np.random.default_rng(5)
    eps = (1, 2, 4, 8, 16, 32)
    dense = {e: rng.random(N) < 0.5 for e in eps}
    rows = [_row("dense", "none", None, e, m, experiment="baselines", offset=0)
            for e, m in dense.items()]
    for name, grid in selection.BASELINE_GRIDS.items():
        mc = 1 if name == "dwp" else 20
        for i, p in enumerate(grid):
            for e in eps:
                picked = rng.random(N) < (0.7 if i == 1 else 0.4)
                rows.append(_row("dense", name, p, e, picked, experiment="baselines",
                                 mc=mc, offset=selection_offset))
                looks = rng.random(N) < (0.7 if i == 0 else 0.4)
                rows.append(_row("dense", name, p, e, looks, experiment="baselines", mc=mc,
                                 offset=0))
        for e in eps:
            rows.append(_row("dense", name, grid[1], e, dense[e].copy(), experiment="baselines",
                             mc=1 if name == "dwp" else chosen_mc, offset=0))
    sap = [_row("dense", "sap", 100, e, rng.random(N) < 0.6, mc=100) for e in (1, 2, 4)]
    return rows, sap


def test_baselines_are_judged_at_the_parameter_chosen_on_the_selection_images(tmp_path):
    rows, sap = _baseline_rows()
    _write(tmp_path / "baselines.csv", rows)
    _write(tmp_path / "sap.csv", sap)
    v = _by_id(claims.evaluate_claims(tmp_path, profile="cpu")[0])
    text = v["baselines_below_sap"].measurement
    for name, grid in selection.BASELINE_GRIDS.items():
        assert f"{name.upper()}-{grid[1]:g} − SAP-100" in text        # chosen on the selection
        assert f"{name.upper()}-{grid[0]:g} − SAP-100" not in text
    # the chosen curve is dense's own images: below dense at no lambda
    assert v["baselines_below_dense"].verdict == claims.FAILS
    rows_ = claims.Rows(claims.load_results(tmp_path), profile="cpu")
    spec, why = claims.chosen_baseline(rows_, "rnw")
    assert why is None and spec.param == selection.BASELINE_GRIDS["rnw"][1] and spec.mc == 100


@pytest.mark.parametrize("change, reason", [
    ({"selection_offset": None}, "has no selection rows (offset > 0): it would be chosen on the "
                                 "images it is judged on"),
    ({"selection_offset": 500}, "overlap the images it is judged on"),
])
def test_a_baseline_chosen_on_the_images_it_is_judged_on_is_not_judged(tmp_path, change, reason):
    rows, sap = _baseline_rows(**{k: v for k, v in change.items() if v is not None})
    if change["selection_offset"] is None:   # an older file: the grid on the first images only
        rows = [{k: v for k, v in r.items() if k != "offset"} for r in rows
                if r.get("offset") != N]
    _write(tmp_path / "baselines.csv", rows)
    _write(tmp_path / "sap.csv", sap)
    figure, _ = claims.evaluate_claims(tmp_path, profile="cpu")
    for claim in ("baselines_below_dense", "baselines_below_sap"):
        v = _by_id(figure)[claim]
        assert v.verdict == claims.NOT_JUDGED and reason in v.measurement
    assert claims.tally(figure)[claims.NOT_JUDGED] == 2
    table = "\n".join(claims._table(figure, "Fashion-MNIST"))
    assert "| **not judged** |" in table


def test_a_chosen_baseline_without_rows_at_the_sap_budget_is_not_measured(tmp_path):
    rows, sap = _baseline_rows(chosen_mc=20)   # the chosen parameter attacked with 20 only
    rows = [r for r in rows if not (r["offset"] == 0 and r["defense"] not in ("none", "dwp"))]
    _write(tmp_path / "baselines.csv", rows)
    _write(tmp_path / "sap.csv", sap)
    v = _by_id(claims.evaluate_claims(tmp_path, profile="cpu")[0])
    assert v["baselines_below_sap"] is None and v["baselines_below_dense"] is None


def test_baselines_without_any_rows_are_not_measured_yet(tmp_path):
    """Fig. 5 not run yet (only SAP's rows): not measured, not 'not judged'."""
    _, sap = _baseline_rows()
    _write(tmp_path / "sap.csv", sap)
    v = _by_id(claims.evaluate_claims(tmp_path, profile="cpu")[0])
    assert v["baselines_below_sap"] is None and v["baselines_below_dense"] is None


# ---------------------------------------------------------------------------------------------
# the tallies: the report's and the README's block
# ---------------------------------------------------------------------------------------------
def test_tally_counts_each_verdict_and_directions_only_together():
    v = {k: claims.Verdict(k, "") for k in (claims.HOLDS, claims.SMALLER, claims.LARGER,
                                            claims.FAILS, claims.OPEN, claims.NOT_JUDGED)}
    items = [(None, v[claims.HOLDS]), (None, v[claims.SMALLER]), (None, v[claims.LARGER]),
             (None, v[claims.FAILS]), (None, v[claims.OPEN]), (None, None)]
    counts = claims.tally(items)
    assert counts == {claims.HOLDS: 1, "hold in direction only": 2, claims.FAILS: 1,
                      claims.OPEN: 1, claims.NOT_JUDGED: 0, "not measured yet": 1}
    assert claims.tally_text(counts) == ("1 holds, 2 hold in direction only, 1 does not hold, "
                                         "1 inconclusive at this n, 1 not measured yet")


def test_the_readme_block_states_both_tallies(tmp_path):
    rng = np.random.default_rng(6)
    dense = {e: rng.random(N) < p for e, p in ((0, 0.9), (1, 0.5), (4, 0.3))}
    sap = {0: dense[0].copy(), 1: _with(dense[1], gained=50), 4: _with(dense[4], gained=40)}
    _write(tmp_path / "sap.csv", [_row("dense", "none", None, e, m) for e, m in dense.items()]
           + [_row("dense", "sap", 100, e, m, mc=100) for e, m in sap.items()])
    worst = [_adaptive("dense", "none", "", a, e, m) for e, m in dense.items()
             for a in (("paper", "worst-case") if e == 0 else ("worst-case",))]
    worst += [_adaptive("dense", "sap", "100", a, e, m) for e, m in sap.items()
              for a in (("paper", "worst-case") if e == 0 else ("worst-case",))]
    _write_adaptive(tmp_path / "adaptive.csv", worst)
    lines = headline.render(tmp_path, dataset="fashion-mnist", profile="cpu", **NO_COST)
    line = next(x for x in lines if x.startswith("**The paper's claims, tested on"))
    figure, adaptive = claims.evaluate_claims(tmp_path, profile="cpu")
    assert (f"under the paper's attack ({len(figure)} claims), "
            f"{claims.tally_text(claims.tally(figure))}; under the adaptive worst case (the "
            f"{len(adaptive)} claims it can measure), "
            f"{claims.tally_text(claims.tally(adaptive))}.") in line
    assert claims.tally(adaptive)[claims.FAILS] >= 1      # e.g. no clean cost: measured
