"""The figures: one style per label (experiments/styles.py), Wilson intervals on every curve,
reliability diagrams with their counts, the adaptive figure's lambda axis, and ``make
figures`` (experiments/redraw.py): every figure from the CSVs alone, twice the same bytes."""
import csv
import math

import numpy as np
import pytest

from experiments import adaptive_figure, image_figures, redraw
from experiments.styles import STYLES, curve_style, legend_label, near_chance
from image_rows import row, write_rows
from runkit.rows import mask_hex
from sap_mx.metrics import wilson_interval

EPS = (0, 1, 2, 4)


def wilson_by_hand(k, n, z=1.959963984540054):
    """Wilson's score interval, written out: (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) /
    (1 + z^2/n)."""
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def _mask(n, right, seed=0):
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).permutation(n)[:right]] = True
    return mask


def _curve_rows(figure, model, defense, param, rights, *, n=50, attack="fgsm", mc=1,
                experiment="sap"):
    out = []
    for eps, right in zip(EPS, rights):
        r = row(model, defense, param, eps, _mask(n, right, seed=int(eps)),
                experiment=experiment, attack=attack, mc=mc)
        out.append({**r, "figure": figure})
    return out


@pytest.fixture
def captured(monkeypatch):
    """The figures ``image_figures`` would save: (figure, caption), left open."""
    import matplotlib.pyplot as plt

    saved = []
    monkeypatch.setattr(image_figures, "_save",
                        lambda fig, path, caption: saved.append((fig, caption)) or path)
    yield saved
    for fig, _ in saved:
        plt.close(fig)


def _draw(experiment, tmp_path, rows, **kw):
    path = tmp_path / f"{experiment}.csv"
    write_rows(path, rows)
    checkpoints = {r["model"]: r["checkpoint"] for r in rows}
    return image_figures.draw(experiment, path, tmp_path / "figures", seed=0, profile="cpu",
                              n=50, checkpoints=checkpoints, predict_mc=20,
                              title="Fashion-MNIST", **kw)


def _legend(ax):
    handles, labels = ax.get_legend_handles_labels()
    return {label: (h.get_color(), h.get_marker(), h.get_linestyle())
            for h, label in zip(handles, labels)}


# ---------------------------------------------------------------------------------------------
# one style per label
# ---------------------------------------------------------------------------------------------
def test_a_model_has_the_same_style_in_both_panels(tmp_path, captured):
    """Fig. 1's panels hold different curves (here SAP-50 only in (a); in the issue's figure,
    the tasks' orders differed): a colour cycle gives SAP-100 and SAP-200 one colour in (a)
    and another in (b); the registry gives each label one look everywhere."""
    a = (_curve_rows("1a", "dense", "none", None, (47, 46, 45, 44), attack="random", mc=0)
         + [r for k in (50, 100, 200) for r in _curve_rows(
             "1a", "dense", "sap", k, (45, 44, 43, 42), attack="random", mc=0)])
    b = (_curve_rows("1b", "dense", "none", None, (47, 40, 30, 20))
         + [r for k in (200, 100) for r in _curve_rows("1b", "dense", "sap", k,
                                                       (45, 40, 30, 20), mc=20)])
    _draw("sap", tmp_path, a + b)
    (fig, _), = captured
    left, right = (_legend(ax) for ax in fig.axes[:2])
    assert set(left) == {"dense", "SAP-50", "SAP-100", "SAP-200"}
    assert set(right) == {"dense", "SAP-100", "SAP-200"}
    for label in right:
        assert left[label] == right[label], label
    for label in left:
        style = STYLES(label)
        assert left[label] == (style.color, style.marker, style.linestyle)
    assert len({v[0] for v in left.values()}) == 4   # and no two share a colour


def test_every_curve_the_drivers_draw_has_its_own_registered_style():
    """Each label of every experiment's panels (every profile's grids) has an entry or a
    family of the registry, not the CRC-32 fallback, and no two curves of one panel look the
    same; the adaptive evaluation's attacks likewise."""
    from experiments import adaptive
    from experiments.image_eval import EXPERIMENTS
    from experiments.profiles import EVAL
    from experiments.selection import BASELINE_GRIDS
    from experiments.zoo import model_label

    chosen = {name: grid[1] for name, grid in BASELINE_GRIDS.items()}
    for profile in EVAL.table.values():
        for experiment, tasks_of in EXPERIMENTS.items():
            panels = {}
            for t in tasks_of(profile, (0.1, 0.3, 0.5), chosen):
                label = model_label(t.model, t.defense, t.param)
                assert STYLES.known(label), label
                adversary = None if t.attack_model == "self" else model_label(t.attack_model)
                versus = experiment in ("iterative", "mc")
                style = curve_style(label, adversary=adversary if versus else None,
                                    mc=t.mc_samples if versus and t.stochastic else None,
                                    selection=bool(t.offset))
                panels.setdefault(t.figure, []).append(style)
            for figure, styles in panels.items():
                assert len(set(styles)) == len(styles), (experiment, figure)
    names = list(adaptive.ATTACKS) + [adaptive.WORST]
    assert all(STYLES.known(name) for name in names)
    assert len({STYLES(name) for name in names}) == len(names)


def test_a_label_looks_the_same_whatever_was_drawn_before():
    first = STYLES("RNA-0.5")
    for label in ("SAP-5", "dense", "never-registered", "RSA-1"):
        STYLES(label)
    assert STYLES("RNA-0.5") == first
    assert STYLES("never-registered") == STYLES.fallback("never-registered")
    assert not STYLES.known("never-registered")


def test_variants_keep_the_models_colour_and_say_what_changed():
    sap = STYLES("SAP-100")
    assert curve_style("SAP-100", mc=100) == sap          # the paper's budget: SAP-100 itself
    fewer = curve_style("SAP-100", mc=1)
    assert fewer.color != sap.color and fewer.linestyle == sap.linestyle
    transfer = curve_style("SAP-100", adversary="dense")
    assert transfer.color == sap.color and transfer.linestyle == ":"
    assert transfer.marker == STYLES("dense").marker
    selection = curve_style("RNW-0.02", selection=True)
    assert selection.color == STYLES("RNW-0.02").color and selection.linestyle == "--"


# ---------------------------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (943, 1000), (1, 1000)])
def test_wilson_interval_is_the_formula(k, n):
    assert wilson_interval(k, n) == pytest.approx(wilson_by_hand(k, n), abs=1e-12)


def test_wilson_interval_refuses_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_each_point_is_drawn_with_its_wilson_interval(tmp_path, captured):
    """The band under a curve spans, at each lambda, Wilson's interval of that point's count
    of correct images (from its ``correct`` mask), in %."""
    rights = (47, 30, 12, 0)
    _draw("adv", tmp_path, _curve_rows("3", "dense", "none", None, rights, experiment="adv"))
    fig, _ = captured[0]
    ax = fig.axes[0]
    band, = ax.collections
    vertices = band.get_paths()[0].vertices
    for x, right in enumerate(rights):
        ys = vertices[np.isclose(vertices[:, 0], x), 1]
        lo, hi = wilson_by_hand(right, 50)
        assert sorted(set(np.round(ys, 9))) == pytest.approx(sorted({100 * lo, 100 * hi}))


def test_a_point_without_neighbours_gets_an_error_bar_and_no_line(tmp_path):
    import matplotlib.pyplot as plt

    from runkit.figures import interval_curve

    fig, ax = plt.subplots()
    interval_curve(ax, [0, 1, 3], [90, 80, 40], [85, 75, 35], [95, 85, 45], STYLES("dense"),
                   "dense", joined=[True, False])
    lines = [ln for ln in ax.lines if len(ln.get_xdata()) > 1]
    assert [list(ln.get_xdata()) for ln in lines] == [[0, 1]]   # nothing drawn from 1 to 3
    assert len(ax.containers) == 1                               # the lone point's error bar
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# near chance, captions
# ---------------------------------------------------------------------------------------------
def test_a_model_near_chance_is_marked_in_its_legend(tmp_path, captured):
    rows = (_curve_rows("1b", "dense", "none", None, (47, 40, 30, 20))
            + _curve_rows("1b", "dense", "sap", 5, (5, 5, 5, 5), mc=20)      # 10% clean
            + _curve_rows("1b", "dense", "sap", 50, (15, 10, 8, 5), mc=20))  # 30% clean
    _draw("sap", tmp_path, rows)
    fig, caption = captured[0]
    labels = set(_legend(fig.axes[1]))
    assert labels == {"dense", "SAP-5: near chance (10.0% clean)", "SAP-50"}
    assert "faded: clean accuracy near chance (below 20%" in caption
    assert near_chance(0.199) and not near_chance(0.2) and near_chance(0.3, classes=100) is False
    assert legend_label("SAP-20", 0.154) == "SAP-20: near chance (15.4% clean)"


def test_the_caption_names_the_dataset_once_with_profile_images_and_seed(tmp_path, captured):
    _draw("sap", tmp_path, _curve_rows("1b", "dense", "none", None, (47, 40, 30, 20)))
    _, caption = captured[0]
    assert caption.startswith("Fashion-MNIST, Fig. 1a-b (SAP-k): profile cpu, first 50 test "
                              "images, seed 0")
    assert "fashion-mnist" not in caption.lower().replace("fashion-mnist,", "", 1)


# ---------------------------------------------------------------------------------------------
# Fig. 4: reliability diagrams with their counts
# ---------------------------------------------------------------------------------------------
def _bins(model, defense, param, rows_of_bins, *, eps=0, mc=1):
    meta = row(model, defense, param, eps, np.ones(50, bool), experiment="adv", mc=mc)
    return [{**{k: meta[k] for k in ("experiment", "model", "defense", "param", "attack",
                                      "attack_model", "mc_samples", "n", "predict_mc", "seed",
                                      "profile", "data", "checkpoint")},
             "figure": "3", "eps": eps, "bin": b, "lo": (b - 1) / 10, "hi": b / 10,
             "count": count, "confidence": conf, "accuracy": acc, "git_sha": "x",
             "utc": "2026-12-01T00:00:00Z"} for b, count, conf, acc in rows_of_bins]


def test_reliability_diagram_shows_counts_ece_and_hollow_small_bins(tmp_path, captured):
    bins = [(5, 3, 0.45, 1.0), (8, 17, 0.75, 0.6), (9, 20, 0.85, 0.8), (10, 10, 0.97, 1.0)]
    # 3 + 17 + 20 + 10 = 50 images; bins of 3, 17 and 10 are under MIN_BIN (20)
    with open(tmp_path / "calibration.csv", "w", newline="") as handle:
        rows = _bins("dense", "none", None, bins)
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _draw("adv", tmp_path, _curve_rows("3", "dense", "none", None, (40, 30, 12, 0),
                                       experiment="adv"))
    assert len(captured) == 2
    fig, caption = captured[1]
    assert f"fewer than {image_figures.MIN_BIN} images" in caption and "ECE" in caption
    diagram, hist = fig.axes[:2]
    ece = sum(c / 50 * abs(a - conf) for _, c, conf, a in bins)
    assert set(_legend(diagram)) == {f"dense (ECE {100 * ece:.1f}%)"}
    hollow = [ln for ln in diagram.lines if ln.get_markerfacecolor() in ("white", (1, 1, 1, 1))
              and len(ln.get_xdata())]
    assert len(hollow) == 1 and sorted(hollow[0].get_ydata()) == [60.0, 100.0, 100.0]
    assert hollow[0].get_linestyle() == "None"
    filled_bars = diagram.containers   # the bin of 20: one point with its Wilson bar
    assert len(filled_bars) == 1
    assert sorted(p.get_height() for p in hist.patches) == [3, 10, 17, 20]


# ---------------------------------------------------------------------------------------------
# the adaptive figure
# ---------------------------------------------------------------------------------------------
def _adaptive_row(model, attack, eps, right, n=40, combines=""):
    return {"family": "fashion-mnist", "model": model, "defense": "none", "param": "",
            "attack": attack, "eps": eps, "n": n, "accuracy": right / n,
            "correct": mask_hex(_mask(n, right, seed=int(eps))), "sanity_ok": "True",
            "sanity": "ladder flat", "combines": combines, "predict_mc": 1}


def test_adaptive_panels_share_one_lambda_axis_and_draw_lambda_0_once(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    full = [_adaptive_row("dense", a, e, r) for a, pts in (
        ("paper", ((0, 38), (1, 30), (2, 20), (4, 10))), ("pgd", ((0, 37), (1, 20), (2, 10),
                                                                  (4, 2))))
        for e, r in pts]
    # an older driver's worst case at 0: the AND of two clean draws, below either
    full += [_adaptive_row("dense", "worst-case", 0, 33, combines="paper+pgd")] + [
        _adaptive_row("dense", "worst-case", e, r, combines="paper+pgd")
        for e, r in ((1, 19), (2, 9), (4, 2))]
    sparse = [_adaptive_row("adv", a, e, r, combines=c) for a, e, r, c in (
        ("paper", 0, 36, ""), ("paper", 4, 30, ""), ("pgd", 4, 20, ""),
        ("worst-case", 0, 36, "paper"), ("worst-case", 4, 18, "paper+pgd"))]
    saved = []
    monkeypatch.setattr(adaptive_figure, "save_figure",
                        lambda fig, path, caption, **kw: saved.append((fig, caption)) or path)
    adaptive_figure.draw_panels([("dense", full), ("ADV", sparse)], tmp_path / "a.png",
                                title="fashion-mnist", data_label="fashion-mnist",
                                profile="cpu", seed=0)
    fig, caption = saved[0]
    assert caption.startswith("Adaptive evaluation on Fashion-MNIST: profile cpu, first 40 "
                              "test images, seed 0")
    assert caption.lower().count("fashion-mnist") == 1
    dense_ax, adv_ax = fig.axes[:2]
    assert [t.get_text() for t in dense_ax.get_xticklabels()] == ["0", "1", "2", "4"]
    assert [t.get_text() for t in adv_ax.get_xticklabels()] == ["0", "1", "2", "4"]
    worst = [ln for ln in dense_ax.lines if ln.get_color() == STYLES("worst-case").color
             and len(ln.get_xdata()) > 1]
    assert list(worst[0].get_ydata()) == pytest.approx([95.0, 47.5, 22.5, 5.0])  # 38/40 clean
    pgd = [ln for ln in dense_ax.lines if ln.get_color() == STYLES("pgd").color
           and len(ln.get_xdata()) > 1]
    assert list(pgd[0].get_xdata()) == [1, 2, 3]   # no attack at lambda 0
    # ADV was measured at 0 and 4 only: points with bars, no line between them
    assert not [ln for ln in adv_ax.lines if len(ln.get_xdata()) > 1]
    assert len(adv_ax.containers) == 5
    # the lone points of the attacks at one lambda sit side by side, each near its tick
    at4 = [c.lines[0].get_xdata()[0] for c in adv_ax.containers
           if abs(c.lines[0].get_xdata()[0] - 3) < 0.5]
    assert len(at4) == 3 and len(set(at4)) == 3
    plt.close(fig)


def test_an_apgd_run_with_restarts_is_drawn_as_its_attack():
    assert adaptive_figure.attack_style("apgd-dlr-r3") == STYLES("apgd-dlr")
    assert adaptive_figure.attack_style("pgd") == STYLES("pgd")


# ---------------------------------------------------------------------------------------------
# make figures: from the CSVs alone, the same bytes twice
# ---------------------------------------------------------------------------------------------
def _track(folder):
    """A small track: Fig. 1 and 3 rows, calibration bins and adaptive rows, as the driver
    writes them (profile cpu)."""
    folder.mkdir(parents=True, exist_ok=True)
    sap = (_curve_rows("1a", "dense", "none", None, (47, 46, 45, 44), attack="random", mc=0)
           + _curve_rows("1b", "dense", "none", None, (47, 40, 30, 20))
           + _curve_rows("1b", "dense", "sap", 100, (47, 44, 40, 35), mc=100))
    write_rows(folder / "sap.csv", sap)
    write_rows(folder / "adv.csv", _curve_rows("3", "dense", "none", None, (47, 30, 12, 0),
                                               experiment="adv"))
    rows = _bins("dense", "none", None, [(9, 20, 0.85, 0.8), (10, 30, 0.97, 1.0)])
    with open(folder / "calibration.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    adaptive = [{**_adaptive_row("dense", a, e, r), "seed": 0, "profile": "cpu",
                 "checkpoint": "dense@0", "loss": "ce", "steps": 1, "eot_samples": 1,
                 "data": "fashion-mnist", "utc": "2026-12-01T00:00:00Z"}
                for a, e, r in (("paper", 0, 38), ("paper", 4, 20), ("pgd", 4, 10),
                                ("worst-case", 0, 38), ("worst-case", 4, 9))]
    with open(folder / "adaptive.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(adaptive[0]))
        writer.writeheader()
        writer.writerows(adaptive)


def test_make_figures_redraws_every_figure_without_attacking_and_twice_the_same(tmp_path,
                                                                               monkeypatch):
    from experiments import adaptive, image_eval

    for module, name in ((image_eval, "evaluate_task"), (adaptive, "robust_resumable"),
                         (adaptive, "check_model"), (adaptive, "make_attack")):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("attacked"))
    _track(tmp_path / "csv")
    outputs = []
    for out in ("one", "two"):
        written = redraw.redraw(redraw.Args(dataset="fashion-mnist", profile="cpu",
                                            results_dir=str(tmp_path / "csv"),
                                            mlp_dir=str(tmp_path / "none"),
                                            out=str(tmp_path / out)))
        outputs.append({p.name: p.read_bytes() for p in written})
    assert set(outputs[0]) == {"fig1_sap.png", "fig3_adv.png", "fig4_calibration.png",
                               "adaptive_fashion-mnist.png"}
    assert outputs[0] == outputs[1]


def test_make_figures_draws_old_rows_at_their_own_budget_and_new_ones_as_the_driver(tmp_path):
    """A Fig. 5 file from before selection images (every grid parameter on the evaluation
    images, 20 MC samples where the profile now asks 100) draws as it was measured; one with
    selection rows draws each grid on them and only the chosen parameter on the evaluation
    images."""
    from experiments.selection import BASELINE_GRIDS

    def curve(defense, param, rights, **kw):
        rows = _curve_rows("5a", "dense", defense, param, rights, experiment="baselines",
                           mc=20 if defense != "none" else 1)
        return [{**r, **kw} for r in rows]

    grid = BASELINE_GRIDS["rnw"]
    old = curve("none", None, (47, 40, 30, 20)) + [
        r for p in grid for r in curve("rnw", p, (47, 41, 31, 21))]
    tasks = redraw.image_tasks("baselines", old, profile="cpu", seed=0)
    assert {(t["defense"], t["param"], t["mc_samples"], t["offset"]) for t in tasks} == (
        {("none", "", "1", "0")} | {("rnw", f"{p:g}", "20", "0") for p in grid})
    # new rows: the grid on images 1,000-1,999 (offset), the pick (the second) at 100 MC
    picked = grid[1]
    new = curve("none", None, (47, 40, 30, 20), offset=0)
    for i, p in enumerate(grid):
        best = (47, 45, 44, 43) if p == picked else (47, 41, 31, 21)
        new += [{**r, "offset": 1000} for r in curve("rnw", p, best)]
    new += [{**r, "mc_samples": 100, "offset": 0} for r in curve("rnw", picked,
                                                                 (47, 42, 32, 22))]
    tasks = redraw.image_tasks("baselines", new, profile="cpu", seed=0)
    rnw = {(t["param"], t["mc_samples"], t["offset"]) for t in tasks if t["defense"] == "rnw"}
    assert rnw == {(f"{p:g}", "20", "1000") for p in grid} | {(f"{picked:g}", "100", "0")}


def test_make_figures_on_a_track_without_rows_is_one_error_line(tmp_path, capsys):
    code = redraw.main(["--dataset", "cifar10", "--profile", "cpu", "--results-dir",
                        str(tmp_path), "--out", str(tmp_path / "figures")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["error: no rows of profile cpu, seed 0 to draw for cifar10: "
                                 "run its experiments first"]
    assert not (tmp_path / "figures").exists()


def test_the_caption_lists_the_mc_samples_of_the_models_own_gradients(tmp_path, captured):
    """Fig. 1c: SAP-100 attacked through itself with 5 MC samples, and through dense (one
    exact gradient of another model: the legend says 'vs dense'); the caption lists 5 only."""
    rows = (_curve_rows("1c", "dense", "none", None, (47, 40, 30, 20), attack="iterative",
                        experiment="iterative")
            + _curve_rows("1c", "dense", "sap", 100, (47, 44, 40, 35), attack="iterative",
                          mc=5, experiment="iterative")
            + [{**r, "attack_model": "dense"} for r in _curve_rows(
                "1c", "dense", "sap", 100, (47, 42, 33, 25), attack="iterative", mc=1,
                experiment="iterative")])
    _draw("iterative", tmp_path, rows)
    fig, caption = captured[0]
    assert "are attacked with 5 MC samples;" in caption
    assert set(_legend(fig.axes[0])) == {"dense vs dense", "SAP-100 vs SAP-100 (5 MC)",
                                         "SAP-100 vs dense"}


def test_curves_attacked_with_different_budgets_say_theirs_and_panels_list_grids_in_order(
        tmp_path, captured):
    rows = (_curve_rows("2a", "dense", "none", None, (47, 40, 30, 20), experiment="dropout")
            + _curve_rows("2a", "dense", "dropout", 0.3, (40, 35, 30, 20), mc=100,
                          experiment="dropout")
            + _curve_rows("2a", "dense", "dropout", 0.1, (46, 40, 30, 20), mc=20,
                          experiment="dropout"))
    _draw("dropout", tmp_path, rows)
    fig, caption = captured[0]
    assert fig.axes[0].get_legend_handles_labels()[1] == [
        "dense", "dropout-0.1 (20 MC)", "dropout-0.3 (100 MC)"]
    assert "attacked with 20/100 MC samples" in caption


def test_an_mlp_panel_is_titled_with_khans_table_1_column(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from types import SimpleNamespace

    from experiments import adaptive

    rows = [{**_adaptive_row("mlp_sdr_decay", a, e, r), "family": "mnist", "seed": "0",
             "profile": "cpu", "checkpoint": "c", "sanity": "ladder flat"}
            for a, e, r in (("paper", 0, 36), ("paper", 0.1, 20), ("worst-case", 0.1, 10))]
    meta = {k: rows[0][k] for k in ("family", "model", "defense", "param", "n", "predict_mc",
                                    "seed", "profile", "checkpoint")}
    saved = []
    monkeypatch.setattr(adaptive_figure, "save_figure",
                        lambda fig, path, caption, **kw: saved.append(fig) or path)
    adaptive.draw(SimpleNamespace(rows={i: r for i, r in enumerate(rows)}), [meta],
                  tmp_path / "a.png", adaptive.Args(profile="cpu"), redraw.MLP_TITLE,
                  "fashion-mnist")
    assert saved[0].axes[0].get_title() == "SDR-decay MLP"
    plt.close(saved[0])
