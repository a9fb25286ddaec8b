"""The image experiment driver (CIFAR-10): tasks and grids, the FGSM sweep, transfer attacks,
resumable keyed rows, calibration output, figures and errors. Models are trained for one smoke
epoch into a temp folder; evaluations use a handful of generated test images."""
import csv
import os
import re

import mxnet as mx
import numpy as np
import pytest

import sap_mx
from experiments import image_eval as ce
from experiments import image_train as ct
from sap_mx import metrics
from sap_mx.attacks import fgsm, fgsm_step, input_gradient
from sap_mx.models import get_model, initialize


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """'Trained' dense and ADV runs holding initial weights: their predictions vary with the input
    and the noise (a one-epoch smoke model predicts one class), so the tests below can see
    differences."""
    root = tmp_path_factory.mktemp("models")
    for seed, (recipe, rate) in enumerate((("dense", 0.0), ("adv", 0.0), ("dropout", 0.1))):
        net = get_model("resnet20")
        initialize(net, seed=seed)
        with mx.autograd.train_mode():  # BatchNorm statistics of image-like inputs
            for _ in range(30):
                net(mx.nd.random.uniform(0, 255, (32, 3, 32, 32)))
        run = root / ct.run_name(ct.Args(recipe=recipe, rate=rate, profile="smoke"))
        run.mkdir()
        net.save_parameters(str(run / "final.params"))
    return root


def eval_args(models_dir, out, **kw):
    base = dict(profile="smoke", models=str(models_dir), out=str(out), n_test=8, predict_mc=2,
                attack_mc=2, progress=False)
    base.update(kw)
    return ce.Args(**base)


def read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------------------------
# the experiments as the paper defines them
# ---------------------------------------------------------------------------------------------
def test_paper_settings_and_grids():
    assert ce.EPS == (0, 1, 2, 4, 8, 16, 32, 64)
    paper = ce.SETTINGS["paper"]
    assert (paper.n_test, paper.predict_mc, paper.attack_mc, paper.iterative_mc) == (
        10_000, 100, 100, 10)
    assert paper.mc_grid == (1, 10, 100, 1000)
    assert 100 in ce.SAP_PERCENTAGES
    assert min(ce.SAP_PERCENTAGES) <= 10 and max(ce.SAP_PERCENTAGES) >= 500
    assert set(ce.BASELINE_GRIDS) == {"rnw", "rsw", "dwp", "swp", "rna", "rsa"}


def test_task_lists_follow_the_figures():
    s = ce.SETTINGS["paper"]
    iterative = ce.iterative_tasks(s, (0.3,))
    assert [(t.defense, t.attack_model, t.mc_samples) for t in iterative] == [
        ("none", "self", 1), ("sap", "self", 10), ("sap", "dense", 1)]
    assert all(t.attack == "iterative" for t in iterative)
    adv = ce.adv_tasks(s, ())
    assert {(t.model, t.defense, t.param) for t in adv} == {
        ("dense", "none", None), ("dense", "sap", 100), ("adv", "none", None),
        ("adv", "sap", 100)}
    assert all(t.mc_samples == (100 if t.defense == "sap" else 1) for t in adv)
    dropout = ce.dropout_tasks(s, (0.1, 0.5))
    assert {t.figure for t in dropout} == {"2a", "2b", "2c"}
    assert [(t.model, t.defense) for t in dropout if t.figure == "2c"] == [
        ("dropout0.1", "none"), ("dropout0.5", "none")]
    sap = ce.sap_tasks(s, ())
    assert all(t.mc_samples == 0 for t in sap if t.attack == "random")
    baselines = ce.baseline_tasks(s, ())
    assert all(t.mc_samples == (1 if t.defense in ("none", "dwp") else 100) for t in baselines)
    mc = ce.mc_tasks(s, ())
    assert [t.mc_samples for t in mc if t.attack_model == "self" and t.defense == "sap"] == [
        1, 10, 100, 1000]


# ---------------------------------------------------------------------------------------------
# attacks as the driver uses them
# ---------------------------------------------------------------------------------------------
def test_one_gradient_serves_the_whole_fgsm_sweep():
    net = get_model("resnet20")
    initialize(net, seed=2)
    x = mx.nd.random.uniform(0, 255, (4, 3, 32, 32))
    y = mx.nd.array([1, 2, 3, 4])
    g = input_gradient(net, x, y)
    for eps in ce.EPS:
        np.testing.assert_allclose(fgsm_step(x, g, eps).asnumpy(), fgsm(net, x, y, eps).asnumpy(),
                                   atol=1e-4)


@pytest.mark.parametrize("attack", ["fgsm", "iterative"])
@pytest.mark.parametrize("attack_model", ["self", "dense"])
def test_transfer_attack_uses_the_adversary_models_gradients(models_dir, tmp_path, monkeypatch,
                                                              attack_model, attack):
    import sap_mx.attacks.iterative as iterative

    args = eval_args(models_dir, tmp_path)
    models = ce.models_for(args)
    task = ce.Task("6", "dense", "sap", 100, attack, attack_model,
                   3 if attack_model == "self" else 1)
    calls = []
    real = ce.input_gradient

    def spy(net, x, y, *, mc_samples=1, **kw):
        calls.append((net, mc_samples))
        return real(net, x, y, mc_samples=mc_samples, **kw)

    monkeypatch.setattr(ce, "input_gradient", spy)
    monkeypatch.setattr(iterative, "input_gradient", spy)
    x = np.random.default_rng(0).integers(0, 256, (8, 3, 32, 32)).astype(np.uint8)
    y = np.arange(8) % 10
    eps = ce.EPS if attack == "fgsm" else (0, 1, 2)
    ce.evaluate_task(task, models, x, y, ce.SETTINGS["smoke"], eps, progress=False)
    if attack == "iterative":
        assert len(calls) == 1 + 2   # ceil(eps) steps per lambda, one batch
    expected = (models.defend(task.model, task.defense, task.param) if attack_model == "self"
                else models.base("dense"))
    assert calls and all(net is expected for net, _ in calls)
    assert all(mc == task.mc_samples for _, mc in calls)
    assert models.defend(task.model, task.defense, task.param) is not models.base("dense")


# ---------------------------------------------------------------------------------------------
# runs: rows, resume, reproducibility, figures
# ---------------------------------------------------------------------------------------------
def test_run_writes_keyed_rows_and_figure_and_resumes_only_what_is_missing(models_dir, tmp_path,
                                                                            monkeypatch):
    args = eval_args(models_dir, tmp_path / "out", experiment="mc", n_test=32)
    written = ce.run(args)
    path = tmp_path / "out" / "mc.csv"
    assert path in written and (tmp_path / "out" / "figures" / "fig6_mc.png") in written
    rows = read(path)
    tasks = ce.mc_tasks(ce.settings_for(args), ())
    assert len(rows) == len(tasks) * len(ce.EPS)
    for column in ("defense", "param", "attack", "attack_model", "mc_samples", "eps", "accuracy",
                   "n", "seed", "profile", "data", "checkpoint", "git_sha"):
        assert column in rows[0], column
    assert {r["profile"] for r in rows} == {"smoke"} and rows[0]["data"].startswith("generated")
    assert re.fullmatch(r".+/dense-smoke-seed0/final\.params@[0-9a-f]{12}", rows[0]["checkpoint"])
    # per-example correctness (for paired comparisons): 32 bits whose mean is the accuracy
    from runkit.rows import hex_mask
    for r in rows:
        assert len(r["correct"]) == 8
        assert hex_mask(r["correct"], 32).mean() == float(r["accuracy"])

    # nothing missing: a rerun evaluates nothing
    calls = []
    real = ce.evaluate_task
    monkeypatch.setattr(ce, "evaluate_task", lambda task, *a, **k: calls.append(task) or real(
        task, *a, **k))
    ce.run(args)
    assert calls == []

    # drop one task's rows at two lambdas (as if interrupted): only that task runs, only those
    # lambdas are computed (that the numbers are the same is checked on the probabilities in
    # test_a_subset_of_lambdas_reproduces_the_full_sweep)
    dropped = [r for r in rows if r["mc_samples"] == "4" and r["eps"] in ("2", "16")]
    kept = [r for r in rows if r not in dropped]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    ce.run(args)
    assert [(t.attack_model, t.mc_samples) for t in calls] == [("self", 4)]
    again = {tuple(str(r[k]) for k in ce.KEY_FIELDS): r["accuracy"] for r in read(path)}
    assert again == {tuple(str(r[k]) for k in ce.KEY_FIELDS): r["accuracy"] for r in rows}


def test_a_subset_of_lambdas_reproduces_the_full_sweep(models_dir, tmp_path):
    """Each gradient and prediction has its own seed stream: computing only the missing lambdas
    (a resumed run) gives exactly the probabilities of the full sweep; another seed does not."""
    models = ce.models_for(eval_args(models_dir, tmp_path))
    task = ce.Task("6", "dense", "sap", 100, "fgsm", "self", 3)
    x = np.random.default_rng(3).integers(0, 256, (40, 3, 32, 32)).astype(np.uint8)
    y = np.arange(40) % 10
    s = ce.SETTINGS["smoke"]
    _, full = ce.evaluate_task(task, models, x, y, s, ce.EPS, calibrate=True, progress=False)
    _, part = ce.evaluate_task(task, models, x, y, s, (2, 16), calibrate=True, progress=False)
    for eps in (2, 16):
        np.testing.assert_array_equal(part[eps], full[eps])
    _, other = ce.evaluate_task(task, models, x, y, s, (2,), calibrate=True, progress=False,
                                seed=1)
    assert not np.array_equal(other[2], full[2])
    assert not np.array_equal(full[2], full[16])  # lambda changes the inputs


def test_dropout_experiment_reads_the_dropout_trained_runs(models_dir, tmp_path):
    ce.run(eval_args(models_dir, tmp_path, experiment="dropout", rates="0.1"))
    rows = read(tmp_path / "dropout.csv")
    trained = [r for r in rows if r["model"] == "dropout0.1"]
    assert {(r["figure"], r["defense"]) for r in trained} == {("2b", "dropout"), ("2c", "none")}
    assert all("dropout-p0.1-smoke-seed0/final.params@" in r["checkpoint"] for r in trained)
    assert (tmp_path / "figures" / "fig2_dropout.png").is_file()


def test_figures_leave_out_rows_of_replaced_models(models_dir, tmp_path, monkeypatch):
    from experiments import image_figures

    args = eval_args(models_dir, tmp_path, experiment="mc")
    ce.run(args)
    rows = read(tmp_path / "mc.csv")
    stale = [{**r, "checkpoint": "results/old/final.params@000000000000", "accuracy": "0.99"}
             for r in rows]
    with open(tmp_path / "mc.csv", "a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(rows[0])).writerows(stale)
    seen = []
    monkeypatch.setitem(image_figures.FIGURES, "mc",
                        lambda df, caption, out, **kw: seen.append(df) or [])
    ce.run(args)
    assert len(seen[0]) == len(rows) and "0.99" not in set(seen[0]["accuracy"].astype(str))


def test_adv_experiment_writes_calibration_bins_and_ece(models_dir, tmp_path):
    written = ce.run(eval_args(models_dir, tmp_path, experiment="adv"))
    rows, bins = read(tmp_path / "adv.csv"), read(tmp_path / "calibration.csv")
    assert {(r["model"], r["defense"]) for r in rows} == {
        ("dense", "none"), ("dense", "sap"), ("adv", "none"), ("adv", "sap")}
    assert len(bins) == 4 * len(ce.CALIBRATION_EPS) * ce.CALIBRATION_BINS
    for row in rows:
        eps = float(row["eps"])
        mine = [b for b in bins if b["model"] == row["model"] and b["defense"] == row["defense"]
                and float(b["eps"]) == eps]
        if eps not in ce.CALIBRATION_EPS:
            assert row["ece"] == "" and not mine
            continue
        counts = [int(b["count"]) for b in mine]
        assert sum(counts) == 8
        ece = sum(int(b["count"]) / 8 * abs(float(b["accuracy"]) - float(b["confidence"]))
                  for b in mine if int(b["count"]))
        assert float(row["ece"]) == pytest.approx(ece, abs=1e-5)
        correct = sum(int(b["count"]) * float(b["accuracy"]) for b in mine if int(b["count"]))
        assert float(row["accuracy"]) == pytest.approx(correct / 8, abs=1e-5)
    assert {p.name for p in written if p.suffix == ".png"} == {"fig3_adv.png",
                                                               "fig4_calibration.png"}


def test_ece_from_the_driver_matches_metrics_on_the_same_predictions(models_dir, tmp_path):
    args = eval_args(models_dir, tmp_path)
    models = ce.models_for(args)
    task = ce.Task("3", "dense")
    x = np.random.default_rng(1).integers(0, 256, (8, 3, 32, 32)).astype(np.uint8)
    y = np.arange(8) % 10
    acc, probs = ce.evaluate_task(task, models, x, y, ce.SETTINGS["smoke"], (0, 4),
                                  calibrate=True, progress=False)
    direct = sap_mx.predict_proba(models.base("dense"), x.astype(np.float32)).asnumpy()
    np.testing.assert_allclose(probs[0], direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(acc[0], direct.argmax(1) == y)  # per example
    assert acc[0].mean() == metrics.accuracy(direct, y)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def test_missing_model_is_a_one_line_error(tmp_path, capsys):
    code = ce.main(["--profile", "smoke", "--models", str(tmp_path / "none"), "--out",
                    str(tmp_path / "out"), "--no-progress", "--n-test", "4"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: no trained dense model at") and "make cifar-dense" in err[-1]


@pytest.mark.parametrize("argv, match", [
    (["--experiment", "fig7"], "unknown experiment 'fig7'; valid: sap, iterative, dropout, adv,"),
    (["--rates", "0.1,x"], "--rates must be numbers"),
    (["--rates", "1.5"], "--rates must be dropout rates in (0, 1)"),
    (["--dense", "mine"], "--dense must be 'gluoncv' or empty"),
    (["--dataset", "fashion-mnist", "--dense", "gluoncv"],
     "--dense gluoncv is GluonCV's CIFAR-10 model (32x32 RGB); Fashion-MNIST needs our trained"),
    (["--crop", "28", "--dense", "gluoncv"], "--dense gluoncv takes whole 32x32 images"),
    (["--n-test", "-1"], "--n-test must be >= 0"),
    (["--profile", "full"], "unknown profile 'full'"),
])
def test_usage_errors_are_one_line(tmp_path, capsys, argv, match):
    code = ce.main(["--out", str(tmp_path), "--no-progress"]
                   + ([] if "--profile" in argv else ["--profile", "smoke"]) + argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and match in err[0]
    assert not os.listdir(tmp_path)


def test_kill_minus_nine_inside_a_task_resumes_to_the_same_rows(models_dir, tmp_path):
    """A real kill -9 while a task is between batches: its counts so far are in a side file
    (runkit.partial), the rerun continues from the last finished batch, and the rows equal
    those of an uninterrupted run with the same seed."""
    import subprocess
    import sys
    import time

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def cmd(out):
        return [sys.executable, "-m", "experiments.image_eval", "--experiment", "adv",
                "--profile", "smoke", "--models", str(models_dir), "--out", str(out),
                "--n-test", "64", "--predict-mc", "2", "--attack-mc", "2", "--no-progress"]

    subprocess.run(cmd(tmp_path / "straight"), cwd=root, check=True, capture_output=True,
                   timeout=300)
    out = tmp_path / "killed"

    def side_files():  # not the temporary files of a write in progress (".<name>.tmp.npz")
        return list((out / ".partial").glob("[!.]*.npz"))

    def stopped_mid_task():  # the first of a task's two batches done, its rows not written
        return any(np.load(f)["__next"] == 32 for f in side_files())

    for _ in range(8):  # kill as soon as a task has a finished batch but not its rows
        proc = subprocess.Popen(cmd(out), cwd=root, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 240
            while not side_files():
                assert time.time() < deadline and proc.poll() is None
                time.sleep(0.01)
            proc.kill()
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
        if stopped_mid_task():
            break
    assert stopped_mid_task(), "never stopped inside a task"
    subprocess.run(cmd(out), cwd=root, check=True, capture_output=True, timeout=300)
    assert not list((out / ".partial").iterdir())  # cleared, temporary files included

    def rows(folder):
        return sorted(tuple(r[k] for k in ce.KEY_FIELDS + ("accuracy",))
                      for r in read(folder / "adv.csv"))

    assert rows(out) == rows(tmp_path / "straight")
    # the calibration bins too: their probabilities were kept per batch as well
    def bins(folder):
        return sorted(tuple((k, v) for k, v in sorted(r.items()) if k not in ("git_sha", "utc"))
                      for r in read(folder / "calibration.csv"))

    assert bins(out) == bins(tmp_path / "straight")


def test_weights_that_do_not_match_the_manifest_are_a_one_line_error(models_dir, tmp_path,
                                                                      capsys):
    import shutil

    from runkit import manifest
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    manifest.write_folder(copy)
    dense = copy / ct.run_name(ct.Args(recipe="dense", profile="smoke")) / "final.params"
    # matching weights load, and rows record the digest the manifest holds
    models = ce.models_for(eval_args(copy, tmp_path / "out"))
    models.base("dense")
    assert models.ids["dense"].endswith("@" + manifest.read(copy / "SHA256SUMS")[
        f"{dense.parent.name}/final.params"][:12])
    data = bytearray(dense.read_bytes())
    data[-1] ^= 1
    dense.write_bytes(bytes(data))
    assert ce.main(["--profile", "smoke", "--models", str(copy), "--out", str(tmp_path / "o"),
                    "--n-test", "4", "--experiment", "adv", "--no-progress"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "SHA-256" in errors[0]
    assert "git checkout" in errors[0]


def test_a_side_file_from_the_version_without_masks_is_not_resumed(models_dir, tmp_path):
    """Side files written before rows had per-image masks hold counts only: resuming one would
    leave the first batches' masks empty, so the task starts over instead."""
    from runkit.partial import Partial
    models = ce.models_for(eval_args(models_dir, tmp_path))
    task = ce.Task("1b", "dense")
    x = np.random.default_rng(5).integers(0, 256, (16, 3, 32, 32)).astype(np.uint8)
    # labels = the model's own clean predictions: every image is correct at lambda 0
    y = sap_mx.predict_proba(models.base("dense"), x.astype(np.float32)).asnumpy().argmax(1)
    s = ce.SETTINGS["smoke"]
    s = type(s)(**{**s.__dict__, "batch": 8})
    fresh, _ = ce.evaluate_task(task, models, x, y, s, (0, 2), progress=False)
    assert fresh[0].all()
    old = Partial(tmp_path, "old-format")
    old.save(8, correct=np.array([8, 8]))
    resumed, _ = ce.evaluate_task(task, models, x, y, s, (0, 2), progress=False, partial=old)
    for eps in (0, 2):
        np.testing.assert_array_equal(resumed[eps], fresh[eps])


def test_fig6_title_names_the_grid_that_ran(tmp_path, monkeypatch):
    """Fig. 6's title reads the adversary's MC grid from the rows (the paper's goes to 1000; a
    profile with a shorter grid must not claim 1000)."""
    import pandas as pd

    from experiments import image_figures

    titles = []
    monkeypatch.setattr(image_figures, "_curves",
                        lambda ax, df, label=None, title="", **kw: titles.append(title))
    monkeypatch.setattr(image_figures, "_save", lambda fig, path, caption: path)
    df = pd.DataFrame({"mc_samples": [1, 10, 100, 1], "eps": [0, 0, 0, 1]})
    image_figures.fig_mc(df, "caption", tmp_path)
    assert titles == ["SAP-100 against adversaries with 1..100 MC samples"]


# ---------------------------------------------------------------------------------------------
# Fig. 5 in two stages, and the MC budget of the stochastic baselines
# ---------------------------------------------------------------------------------------------
def test_the_cpu_profile_attacks_every_stochastic_model_with_100_mc_samples():
    """Dropout (post hoc and trained, on at test) and the baselines' chosen parameters get the
    paper's 100 MC samples, as SAP does; each grid is chosen on test images 1,000-1,999 with
    fewer, and only the chosen parameter is attacked on the first 1,000."""
    s = ce.SETTINGS["cpu"]
    dropout = [t for t in ce.dropout_tasks(s, (0.1, 0.5)) if t.stochastic]
    assert dropout and all(t.mc_samples == 100 and t.offset == 0 for t in dropout)
    chosen = {name: grid[2] for name, grid in ce.BASELINE_GRIDS.items()}
    tasks = ce.baseline_tasks(s, (), chosen)
    select = [t for t in tasks if t.offset]
    assert {t.offset for t in select} == {1000} and s.select_n == 1000
    assert sorted((t.defense, t.param) for t in select) == sorted(
        (name, p) for name, grid in ce.BASELINE_GRIDS.items() for p in grid)
    assert all(t.mc_samples == (1 if t.defense == "dwp" else s.select_mc) for t in select)
    judged = [t for t in tasks if not t.offset and t.defense != "none"]
    assert sorted((t.defense, t.param) for t in judged) == sorted(chosen.items())
    assert all(t.mc_samples == (1 if t.defense == "dwp" else 100) for t in judged)
    # before the choice only the selection stage (and dense) exists
    assert [t for t in ce.baseline_tasks(s, ()) if not t.offset and t.defense != "none"] == []
    # a selection task is another task than the same parameter on the evaluation images; the
    # tasks that existed before offsets keep their key (their seeds)
    task = ce.Task("5a", "dense", "rnw", 0.01, "fgsm", "self", 20)
    assert task.key() == ("dense", "rnw", "0.01", "fgsm", "self", "20")
    assert ce.Task("5a", "dense", "rnw", 0.01, "fgsm", "self", 20, 1000).key() != task.key()


def test_the_cost_counts_both_stages_of_fig5(monkeypatch):
    """Each task's passes times its own images: a profile with 1,000 evaluation and 300
    selection images, counted by hand for the stochastic gradients of Fig. 5."""
    from dataclasses import replace

    from experiments import cost
    s = replace(ce.SETTINGS["cpu"], select_n=300)
    monkeypatch.setitem(cost.EVAL.table, "cpu", s)
    got = cost.eval_passes("cpu", rates=(0.1, 0.5))["baselines"]
    tasks = ce.baseline_tasks(s, (), cost.PLACEHOLDER_CHOICE)
    # 24 grid curves on the selection images, 6 chosen ones and dense on the evaluation images
    assert len([t for t in tasks if t.offset]) == 24 and len(tasks) == 24 + 6 + 1
    # stochastic: RNW, RSW, SWP, RNA, RSA; 4 grid curves with 20 samples on 300 images each,
    # and the chosen one with 100 on 1,000
    assert got.grad_sto == 5 * (4 * 20 * 300 + 100 * 1000)
    # deterministic: dense and DWP's chosen one on 1,000 images, DWP's grid on 300
    assert got.grad_det == 2 * 1000 + 4 * 300


def test_older_rows_without_an_offset_column_are_rows_of_the_first_images(tmp_path):
    path = tmp_path / "baselines.csv"
    old = [k for k in ce.KEY_FIELDS if k != "offset"]
    row = {k: "x" for k in old}
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=old + ["accuracy"])
        writer.writeheader()
        writer.writerow({**row, "accuracy": "0.5"})
    store = ce.ResultRows(path)
    assert store.has({**row, "offset": 0}) and not store.has({**row, "offset": 32})
    store.add([{**row, "offset": 32, "accuracy": "0.4"}])
    again = ce.ResultRows(path)
    assert again.has({**row, "offset": 0}) and again.has({**row, "offset": 32})
    assert len(again.rows) == 2


def test_fig5_chooses_on_the_selection_images_then_attacks_the_choice(models_dir, tmp_path,
                                                                       monkeypatch):
    """Stage 1: each grid on test images 8-39; stage 2: the parameter ``best_param`` picks from
    those rows, on images 0-7, with the full MC budget; the claims table picks the same one;
    the figure gets both stages' rows."""
    from experiments import claims, image_figures, selection
    for name, grid in selection.BASELINE_GRIDS.items():   # a short run: a choice of two for
        monkeypatch.setitem(selection.BASELINE_GRIDS, name,  # a stochastic and a deterministic
                            grid[:2] if name in ("rnw", "dwp") else grid[:1])   # baseline
    seen, asked = [], []
    monkeypatch.setitem(image_figures.FIGURES, "baselines",
                        lambda df, caption, out, **kw: seen.append((df, caption)) or [])
    # the second stage attacks whatever the rule picks: here, forced, each grid's first
    assert ce.best_param is selection.best_param is claims.best_param   # one rule for both

    def first(rows, grid):
        asked.append((list(rows), grid))
        return selection.best_param(rows, grid) and grid[0]

    monkeypatch.setattr(ce, "best_param", first)
    args = eval_args(models_dir, tmp_path, experiment="baselines", attack_mc=3)
    s = ce.settings_for(args)
    ce.run(args)
    rows = read(tmp_path / "baselines.csv")
    picked = [r for r in rows if r["offset"] == "8"]
    assert {r["n"] for r in picked} == {"32"} and len(picked) == 8 * len(ce.EPS)
    assert {r["mc_samples"] for r in picked if r["defense"] != "dwp"} == {str(s.select_mc)}
    judged = [r for r in rows if r["offset"] == "0" and r["defense"] != "none"]
    assert {r["n"] for r in judged} == {"8"}
    assert {r["mc_samples"] for r in judged if r["defense"] != "dwp"} == {"3"}
    results = claims.load_results(tmp_path)
    mine = claims.Rows(results, profile="smoke")
    for name, grid in selection.BASELINE_GRIDS.items():
        assert {float(r["param"]) for r in judged if r["defense"] == name} == {grid[0]}, name
        spec, why = claims.chosen_baseline(mine, name)
        assert why is None and spec.param == selection.best_param(
            [r for r in picked if r["defense"] == name], grid)
    # the rule saw exactly each grid's selection rows
    assert len(asked) == len(selection.BASELINE_GRIDS)
    for rows_seen, grid in asked:
        assert {r["offset"] for r in rows_seen} == {"8"}
        assert len(rows_seen) == len(grid) * len(ce.EPS)
    df, caption = seen[-1]
    assert set(df["offset"]) == {0, 8} and "dashed: each grid on test images 8-39" in caption
    # a rerun evaluates nothing
    calls = []
    monkeypatch.setattr(ce, "evaluate_task", lambda *a, **k: calls.append(a) or ({}, {}))
    ce.run(args)
    assert calls == []


def test_selection_images_beyond_the_test_set_are_a_one_line_error(models_dir, tmp_path,
                                                                     capsys):
    code = ce.main(["--profile", "smoke", "--models", str(models_dir), "--out",
                    str(tmp_path / "out"), "--no-progress", "--n-test", "190",
                    "--experiment", "baselines"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == ("error: Fig. 5 chooses its parameters on test images "
                                     "190-221, but there are 200: lower --n-test to 168 or less")


def test_make_figures_redraws_the_drivers_figures_byte_for_byte(models_dir, tmp_path,
                                                                  monkeypatch):
    """``make figures`` (experiments.redraw) reads back the curves the driver drew, from the
    CSVs alone: after a run, redrawing changes no file (and attacks nothing)."""
    from experiments import redraw

    for experiment in ("mc", "adv"):
        ce.run(eval_args(models_dir, tmp_path / "run", experiment=experiment))
    monkeypatch.setattr(ce, "evaluate_task", lambda *a, **k: pytest.fail("attacked"))
    written = redraw.redraw(redraw.Args(dataset="cifar10", profile="smoke",
                                        results_dir=str(tmp_path / "run"),
                                        mlp_dir=str(tmp_path / "no-mlps"),
                                        out=str(tmp_path / "again")))
    assert sorted(p.name for p in written) == ["fig3_adv.png", "fig4_calibration.png",
                                               "fig6_mc.png"]
    for path in written:
        assert path.read_bytes() == (tmp_path / "run" / "figures" / path.name).read_bytes(), \
            path.name
