"""The adaptive-evaluation driver on tiny MNIST models: every attack per model, the sanity
columns, resume, the figure, errors."""
import csv
import re

import numpy as np
import pytest

from experiments import adaptive as ad
from experiments import mnist_sdr as ms
from experiments.profiles import ADAPTIVE, MNIST, AdaptiveProfile, MnistProfile
from experiments.zoo import MLP_MODELS

TINY_MNIST = MnistProfile(epochs=2, learnable_epochs=2, n_attack=4, eot=2, n_attack_eot=4,
                         fgsm_grid=5, deepfool_steps=2, localsearch_rounds=1, batch=32,
                         n_train=256, n_test=64)
TINY = AdaptiveProfile(n_test=12, predict_mc=2, paper_mc=2, steps=3, eot_samples=2, apgd_iter=3,
                 batch=12)


@pytest.fixture
def trained(tmp_path, monkeypatch):
    monkeypatch.setitem(MNIST.table, "smoke", TINY_MNIST)
    monkeypatch.setitem(ADAPTIVE.table, "smoke", TINY)
    ms.run(ms.Args(profile="smoke", out=str(tmp_path / "mnist"), progress=False))
    return tmp_path


def test_every_model_gets_every_attack_with_sanity_and_resumes(trained, monkeypatch, capsys):
    args = ad.Args(family="mnist", profile="smoke", models=str(trained / "mnist" / "models"),
                   out=str(trained / "adaptive"), progress=False)
    from experiments import adaptive_figure

    captions = []
    real_save = adaptive_figure.save_figure
    monkeypatch.setattr(adaptive_figure, "save_figure",
                        lambda fig, path, caption, **kw: (captions.append(caption),
                                                          real_save(fig, path, caption, **kw))[1])
    written = ad.run(args)
    assert [p.name for p in written] == ["adaptive.csv", "adaptive_mnist.png"]
    # the family's caption names the models and the data, never 'mnist' as if it were the data
    assert captions[-1].startswith("Adaptive evaluation of Khan et al.'s MLPs on "
                                   "generated-mnist-format(seed=0): profile smoke")
    # make figures reads the same panels back from the CSV alone: the same file
    from experiments import redraw

    again = redraw.redraw_adaptive(trained / "adaptive" / "adaptive.csv",
                                   trained / "again.png", title=redraw.MLP_TITLE,
                                   profile="smoke", seed=0)
    assert again[0].read_bytes() == written[1].read_bytes()
    with open(trained / "adaptive" / "adaptive.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    eps = ad.MNIST_FAMILY.eps
    attacks = {"paper", "pgd", "apgd-ce", "apgd-dlr", "worst-case"}
    # stochastic MLPs also face PGD (CE and margin) transferred from their mean-weights twin
    transfer = {"transfer-pgd", "transfer-pgd-margin"}
    expected = {(m, a, e) for m in MLP_MODELS.values()
                for a in attacks | (transfer if m != "mlp_vanilla" else set()) for e in eps
                if e > 0 or a in ("paper", "worst-case")}  # lambda 0: one clean prediction
    assert {(r["model"], r["attack"], float(r["eps"])) for r in rows} == expected
    by_attack = {(r["model"], r["attack"]): r for r in rows}
    assert by_attack[("mlp_sdr_decay", "transfer-pgd-margin")]["attack_model"] == "twin"
    assert by_attack[("mlp_sdr_decay", "transfer-pgd-margin")]["loss"] == "margin"
    # the worst case: per example, correct under every attack of its lambda
    for model in MLP_MODELS.values():
        for e in eps:
            mine = {r["attack"]: r for r in rows if r["model"] == model and float(r["eps"]) == e}
            worst = mine.pop("worst-case")
            assert worst["combines"].split("+") == list(mine)
            masks = [ad.hex_mask(r["correct"], 12) for r in mine.values()]
            assert (ad.hex_mask(worst["correct"], 12) == np.logical_and.reduce(masks)).all()
            assert all(float(worst["accuracy"]) <= float(r["accuracy"]) for r in mine.values())
            # Khan et al.'s protocol: every MLP predicts with one stochastic pass
            assert {r["predict_mc"] for r in mine.values()} == {"1"}
            if e == 0:
                assert list(mine) == ["paper"]  # one draw, never an AND of several
    for column in ("steps", "eot_samples", "loss", "sanity_ok", "accuracy", "profile", "data"):
        assert column in rows[0]
    by = {(r["model"], r["attack"]): r for r in rows}
    assert by[("mlp_vanilla", "pgd")]["eot_samples"] == "1"         # deterministic: no EOT
    assert by[("mlp_sdr_learnable", "pgd")]["eot_samples"] == "2"
    assert by[("mlp_sdr_learnable", "apgd-dlr")]["loss"] == "dlr"
    assert all(r["sanity_ok"] in ("True", "False") and r["sanity"] for r in rows)
    zero = [float(r["accuracy"]) for r in rows if float(r["eps"]) == 0 and r["model"] ==
            "mlp_vanilla"]
    assert len(set(zero)) == 1  # lambda 0 is the clean accuracy for every attack

    monkeypatch.setattr(ad, "sanity", lambda *a, **k: pytest.fail("recomputed"))
    ad.run(args)  # everything is there: nothing runs

    # a longer run added to the profile later: only it runs, the sanity verdict is reused,
    # and it joins the worst case at its lambda
    real_tasks = ad.model_tasks
    longer = {"attack": "pgd@6x2", "loss": "ce", "steps": 6, "eot_samples": 2}

    def with_longer(b, model, family_eps, **kw):
        return real_tasks(b, model, family_eps, **kw) + [(longer, eps[2])]

    monkeypatch.setattr(ad, "model_tasks", with_longer)
    ad.run(args)
    with open(trained / "adaptive" / "adaptive.csv", newline="") as handle:
        after = list(csv.DictReader(handle))
    added = [r for r in after if r["attack"] == "pgd@6x2"]
    assert sorted(r["model"] for r in added) == sorted(MLP_MODELS.values())
    assert all(float(r["eps"]) == eps[2] and r["steps"] == "6" for r in added)
    worst = {(r["model"], float(r["eps"])): r for r in after if r["attack"] == "worst-case"}
    assert worst[("mlp_sdr_decay", eps[2])]["combines"].endswith("+pgd@6x2")
    assert "pgd@6x2" not in worst[("mlp_sdr_decay", eps[1])]["combines"]


def test_sanity_flags_an_attack_that_cannot_reach_zero(monkeypatch):
    """A 'model' whose prediction ignores its input: the unbounded attack cannot fool it."""
    import mxnet as mx
    import numpy as np
    from mxnet.gluon import nn

    net = nn.Dense(10, in_units=784)
    net.initialize(mx.init.Zero())
    net.bias.set_data(mx.nd.array(np.eye(10)[3] * 5))
    x = np.random.default_rng(0).uniform(0, 1, (10, 784)).astype(np.float32)
    y = np.full(10, 3)
    ok, reason = ad.sanity(net, x, y, check_eps=ad.MNIST_FAMILY.check_eps,
                           clip=ad.MNIST_FAMILY.clip, steps=TINY.steps, eot_samples=1,
                           predict_mc=1, batch=TINY.batch)
    assert not ok and "unbounded PGD leaves 100.0%" in reason


def test_sanity_flags_accuracy_that_rises_with_more_steps(monkeypatch):
    """The ladder: if doubling the steps raises accuracy well beyond noise, the run fails."""
    import numpy as np

    import sap_mx.attacks.sanity_checks as sanity_module

    def fake_attack(net, eps, *, steps, eot_samples, clip):
        return eps, steps

    def fake_accuracy(net, x, y, attack, **kw):
        eps, steps = attack
        if eps > 0.5:
            return 0.0                      # unbounded: fine
        return 0.9 if steps == 2 * TINY.steps else 0.1

    monkeypatch.setattr(sanity_module, "pgd_attack", fake_attack)
    monkeypatch.setattr(sanity_module, "accuracy", fake_accuracy)
    x, y = np.zeros((100, 784), np.float32), np.zeros(100)
    ok, reason = ad.sanity(None, x, y, check_eps=ad.MNIST_FAMILY.check_eps,
                           clip=ad.MNIST_FAMILY.clip, steps=TINY.steps, eot_samples=2,
                           predict_mc=2, batch=TINY.batch)
    assert not ok and reason == ("doubling steps raised accuracy 10.0% -> 90.0% (unbounded 0.0%, "
                                 "steps/EOT ladder 10.0/90.0/10.0)")


@pytest.mark.parametrize("rungs, ok, text", [
    # Fashion-MNIST's SAP-100 at lambda 8 (n = 1,000): more steps and more EOT samples both
    # lower PGD-EOT's accuracy far beyond noise: the attack had not converged
    ((0.179, 0.110, 0.117), False,
     "doubling steps lowered accuracy 17.9% -> 11.0%; doubling EOT samples lowered accuracy "
     "17.9% -> 11.7%; the attack had not converged (unbounded 0.0%, steps/EOT ladder "
     "17.9/11.0/11.7)"),
    # its dense model: the changes are within 2 standard errors of the difference
    ((0.023, 0.022, 0.018), True, "unbounded 0.0%, steps/EOT ladder 2.3/2.2/1.8"),
    ((0.30, 0.27, 0.30), True, "unbounded 0.0%, steps/EOT ladder 30.0/27.0/30.0"),
    ((0.30, 0.25, 0.30), False, "doubling steps lowered accuracy 30.0% -> 25.0%; the attack "
                                "had not converged (unbounded 0.0%, steps/EOT ladder "
                                "30.0/25.0/30.0)"),
    (None, True, "unbounded 0.0% (no steps/EOT ladder)"),
])
def test_judge_fails_an_attack_that_more_steps_or_samples_make_stronger(rungs, ok, text):
    from sap_mx.attacks import judge

    assert judge(0.0, rungs, 1000) == (ok, text)


def test_rejudge_applies_the_current_rule_to_recorded_measurements():
    from sap_mx.attacks import rejudge

    old = "unbounded 0.0%, steps/EOT ladder 17.9/11.0/11.7"   # the older rule said ok
    ok, reason = rejudge(True, old, 1000)
    assert not ok and reason.endswith("the attack had not converged (" + old + ")")
    assert rejudge(ok, reason, 1000) == (ok, reason)           # the new text judges the same
    assert rejudge(True, "unbounded 0.0%, steps/EOT ladder 2.3/2.2/1.8", 1000)[0]
    assert rejudge(True, "unbounded 3.0% (no steps/EOT ladder)", 1000) == (
        False, "unbounded PGD leaves 3.0% (> 1.0%) (unbounded 3.0% (no steps/EOT ladder))")
    # a failure of the older rule named only its failing rung: it keeps its verdict
    assert rejudge(False, "doubling steps raised accuracy 10.0% -> 90.0%", 100) == (
        False, "doubling steps raised accuracy 10.0% -> 90.0%")


def test_the_driver_rewrites_verdicts_of_an_older_rule(tmp_path):
    from runkit import KeyedRows

    store = KeyedRows(tmp_path / "adaptive.csv", ad.KEY_FIELDS)
    base = {k: "x" for k in ad.KEY_FIELDS}
    store.add([{**base, "model": "sap", "n": 1000, "sanity_ok": True,
                "sanity": "unbounded 0.0%, steps/EOT ladder 17.9/11.0/11.7"},
               {**base, "model": "dense", "n": 1000, "sanity_ok": True,
                "sanity": "unbounded 0.0%, steps/EOT ladder 2.3/2.2/1.8"}])
    before = (tmp_path / "adaptive.csv").read_text()
    ad.rejudge_rows(KeyedRows(tmp_path / "adaptive.csv", ad.KEY_FIELDS))
    store = KeyedRows(tmp_path / "adaptive.csv", ad.KEY_FIELDS)
    rows = {r["model"]: r for r in store.rows.values()}
    assert rows["sap"]["sanity_ok"] == "False" and "not converged" in rows["sap"]["sanity"]
    assert rows["dense"]["sanity_ok"] == "True"
    assert "17.9/11.0/11.7" in before and before != (tmp_path / "adaptive.csv").read_text()


@pytest.mark.parametrize("argv, match", [
    (["--family", "imagenet"], "unknown family 'imagenet'; valid: image, cifar, mnist"),
    (["--n-test", "-1"], "--n-test must be >= 0"),
    (["--dense", "mine"], "--dense must be 'gluoncv' or empty"),
    (["--dataset", "fashion-mnist", "--dense", "gluoncv"],
     "--dense gluoncv is GluonCV's CIFAR-10 model (32x32 RGB); Fashion-MNIST needs our trained"),
    (["--crop", "28", "--dense", "gluoncv"], "--dense gluoncv takes whole 32x32 images"),
    (["--family", "mnist", "--model", "cifar_resnet20_v1"], "--model is for the image family"),
    (["--model", "resnet99"], "unknown model 'resnet99'; valid: "),
    (["--dataset", "fashion-mnist", "--model", "cifar_resnet20_v1"],
     "--model cifar_resnet20_v1 takes RGB images; Fashion-MNIST has 1 channel(s)"),
    (["--family", "mnist", "--dense", "gluoncv"], "--dense is for the image family"),
])
def test_usage_errors_are_one_line(tmp_path, capsys, argv, match):
    assert ad.main(["--profile", "smoke", "--out", str(tmp_path), "--no-progress"] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_model_flag_picks_the_trained_runs_it_reads(tmp_path, capsys):
    """--model reaches the trained models (make cifar-adaptive MODEL=... passes it): the run it
    looks for is that architecture's, and the error names it."""
    assert ad.main(["--profile", "smoke", "--models", str(tmp_path / "none"), "--out",
                    str(tmp_path / "out"), "--no-progress", "--n-test", "4",
                    "--model", "cifar_resnet20_v1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no trained dense model at") and \
        "dense-cifar_resnet20_v1-smoke-seed0" in err[-1]
    assert "make cifar-dense PROFILE=smoke SEED=0 MODEL=cifar_resnet20_v1` first" in err[-1]


def test_missing_mnist_models_name_the_target(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(MNIST.table, "smoke", TINY_MNIST)
    assert ad.main(["--family", "mnist", "--profile", "smoke", "--models", str(tmp_path / "m"),
                    "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no trained mlp_vanilla") and "make mnist-sdr" in err[-1]


def test_an_interrupted_run_resumes_mid_task_to_the_same_numbers(trained, monkeypatch):
    """Every batch's correctness is kept (runkit.partial): a run stopped inside a task (as
    kill -9 would) continues from its last batch, and, each batch drawing from its own seed,
    the rows equal those of an uninterrupted run."""
    monkeypatch.setitem(ADAPTIVE.table, "smoke", AdaptiveProfile(
        n_test=12, predict_mc=2, paper_mc=2, steps=2, eot_samples=2, apgd_iter=2, batch=4))
    common = dict(family="mnist", profile="smoke", models=str(trained / "mnist" / "models"),
                  progress=False)
    real, calls = ad.robust, []

    def counted(*a, **k):
        calls.append(1)
        if len(calls) == stop_at:
            raise KeyboardInterrupt("stopped mid-task")
        return real(*a, **k) if a else None

    real_single = ad.single_pass

    def counted_single(net):   # the stochastic MLPs are judged one draw per image
        predict = real_single(net)
        return lambda batch: counted() or predict(batch)

    monkeypatch.setattr(ad, "robust", counted)
    monkeypatch.setattr(ad, "single_pass", counted_single)
    stop_at = None
    ad.run(ad.Args(**common, out=str(trained / "straight")))
    batches = len(calls)
    calls.clear()
    # vanilla: 4 sanity measurements x 2 losses and 17 attack tasks (the paper's at 5 lambdas,
    # PGD and APGD-CE/DLR at the 4 non-zero ones), 3 batches each (75 calls); SDR-Decay: the
    # same sanity runs (24 calls), then its attacks: stop inside them
    stop_at = 75 + 24 + 5
    with pytest.raises(KeyboardInterrupt):
        ad.run(ad.Args(**common, out=str(trained / "resumed")))
    assert list((trained / "resumed" / ".partial").glob("*.npz"))  # kept batch by batch
    calls.clear()
    stopped, stop_at = stop_at, None
    ad.run(ad.Args(**common, out=str(trained / "resumed")))
    assert len(calls) == batches - (stopped - 1)  # finished batches are not computed again

    def table(folder):
        with open(trained / folder / "adaptive.csv", newline="") as handle:
            return sorted((r["model"], r["attack"], r["eps"], r["accuracy"], r["correct"],
                           r["sanity"]) for r in csv.DictReader(handle))

    assert table("resumed") == table("straight")
    assert not list((trained / "resumed" / ".partial").glob("*.npz"))  # cleared when done


def test_each_batch_draws_from_its_own_seed_so_a_resumed_task_is_exact(tmp_path, monkeypatch):
    """robust_resumable on an attack whose outcome is pure chance (noise added to the input of
    a 2-class identity model): stopped after its second batch and resumed, it gives the same
    per-example results as an uninterrupted run; that needs a seed per batch, not per task."""
    import mxnet as mx
    from mxnet.gluon import nn

    from runkit import seed_all
    from runkit.partial import Partial

    net = nn.Lambda(lambda x: x)
    x, y = np.zeros((40, 2), np.float32), np.zeros(40, np.int64)

    def attack(xb, yb):
        return mx.nd.array(xb) + mx.nd.random.normal(shape=xb.shape)

    def reseed(start):
        seed_all(0, 1000 + start)

    straight = ad.robust_resumable(net, x, y, attack, predict_mc=1, batch=8,
                                   partial=Partial(tmp_path / "a", "task"), reseed=reseed)
    assert 0.1 < straight.mean() < 0.9

    real, calls = ad.robust, []

    def stopping(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    partial = Partial(tmp_path / "b", "task")
    monkeypatch.setattr(ad, "robust", stopping)
    with pytest.raises(KeyboardInterrupt):
        ad.robust_resumable(net, x, y, attack, predict_mc=1, batch=8, partial=partial,
                            reseed=reseed)
    monkeypatch.setattr(ad, "robust", real)
    assert partial.load()[0] == 16  # two batches kept
    mx.random.seed(12345)  # whatever the state, the resumed batches draw from their own seeds
    resumed = ad.robust_resumable(net, x, y, attack, predict_mc=1, batch=8, partial=partial,
                                  reseed=reseed)
    np.testing.assert_array_equal(resumed, straight)


def test_the_mlp_family_on_fashion_mnist_keeps_khans_protocol_and_says_its_data(tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setitem(MNIST.table, "smoke", TINY_MNIST)
    monkeypatch.setitem(ADAPTIVE.table, "smoke", TINY)
    ms.run(ms.Args(profile="smoke", dataset="fashion-mnist", out=str(tmp_path / "fm"),
                   progress=False))
    ad.run(ad.Args(family="mnist", dataset="fashion-mnist", profile="smoke",
                   models=str(tmp_path / "fm" / "models"), out=str(tmp_path / "ad"),
                   progress=False))
    with open(tmp_path / "ad" / "adaptive.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["data"] for r in rows} == {"generated-fashion-mnist-format(seed=0)"}
    assert all(r["predict_mc"] == "1" for r in rows if r["attack"] == "paper")
    assert {r["model"] for r in rows} == set(MLP_MODELS.values())


@pytest.mark.parametrize("runs, verdict", [
    # SAP-100 on Fashion-MNIST at lambda 4, if the longer BPDA runs had levelled off
    ({(10, 4): 0.327, (20, 4): 0.300, (40, 4): 0.290, (10, 16): 0.310, (40, 16): 0.285}, True),
    # still falling from 20 to 40 steps: not converged
    ({(10, 4): 0.327, (20, 4): 0.250, (40, 4): 0.180, (10, 16): 0.310, (40, 16): 0.180}, False),
    # more EOT samples still lower it: not converged
    ({(10, 4): 0.327, (20, 4): 0.300, (40, 4): 0.290, (10, 16): 0.200, (40, 16): 0.200}, False),
    # 10 -> 20 steps may fall (the profile's run is short); only the last doubling counts
    ({(10, 4): 0.400, (20, 4): 0.300, (40, 4): 0.290, (10, 16): 0.380, (40, 16): 0.285}, True),
    # each ladder levelled off, but the longest steps with the most EOT samples find more
    ({(10, 4): 0.327, (20, 4): 0.300, (40, 4): 0.290, (10, 16): 0.310, (40, 16): 0.230}, False),
])
def test_convergence_compares_the_longest_runs(runs, verdict):
    from sap_mx.attacks import convergence

    ok, text = convergence(runs, 1000, "pgd-bpda")
    assert ok is verdict
    assert text.startswith("pgd-bpda, 10/20/40 steps: ")
    assert "40 steps x 16 EOT samples together: " in text
    assert text.endswith(": converged") if verdict else "not converged" in text


def test_convergence_is_not_shown_without_the_joint_run():
    """Doubling steps and EOT samples one at a time does not show that their combination
    finds nothing more: without the run of both, the verdict says which run is missing."""
    from sap_mx.attacks import convergence

    ok, text = convergence({(10, 4): 0.327, (20, 4): 0.300, (40, 4): 0.290, (10, 16): 0.310},
                           1000, "pgd-bpda")
    assert ok is False
    assert text.endswith("not shown converged (the most steps and the most EOT samples never "
                         "ran together: run 40 x 16)")


def _runs_with_masks(n, lost_won):
    """Masks of the runs (10, 4), (20, 4), (40, 4), (10, 16) on ``n`` images: the profile's run
    gets the first 300 right; each other run loses ``lost`` of those and wins ``won`` others,
    relative to its reference run (the next fewer steps, or the profile's run)."""
    base = np.zeros(n, bool)
    base[:300] = True
    masks, start = {(10, 4): base}, 0
    for key, ref in (((20, 4), (10, 4)), ((40, 4), (20, 4)), ((10, 16), (10, 4)),
                     ((40, 16), (40, 4))):
        lost, won = lost_won.get(key, (0, 0))
        m = masks[ref].copy()
        right, wrong = np.flatnonzero(m), np.flatnonzero(~m)
        m[right[start:start + lost]] = False
        m[wrong[start:start + won]] = True
        start += 40
        masks[key] = m
    return {k: float(m.mean()) for k, m in masks.items()}, masks


def test_paired_convergence_sees_a_fall_the_unpaired_rule_misses():
    """The lost/won counts of SAP-100 on Fashion-MNIST at lambda 4 (20 -> 40 steps lost 25
    images and won 9, 16 EOT samples lost 35 and won 5). The 2-standard-error rule on the
    accuracies alone calls that converged; McNemar on the same images does not."""
    from sap_mx.attacks import convergence

    runs, masks = _runs_with_masks(1000, {(20, 4): (26, 15), (40, 4): (25, 9),
                                          (10, 16): (35, 5)})
    assert convergence(runs, 1000, "pgd-bpda")[0] is True           # unpaired: blind to it
    ok, text = convergence(runs, 1000, "pgd-bpda", masks)
    assert ok is False
    assert ("20 -> 40 steps still lowered it: 25 images lost, 9 won; McNemar p = 0.009; more "
            "EOT samples still lowered it: 35 images lost, 5 won; McNemar p = 1.4e-06") in text
    # the same accuracies with disagreements both ways are only the defense's randomness
    runs, masks = _runs_with_masks(1000, {(20, 4): (20, 20), (40, 4): (20, 20),
                                          (10, 16): (25, 25)})
    assert convergence(runs, 1000, "pgd-bpda", masks) == (True, convergence(runs, 1000,
                                                                            "pgd-bpda")[1])


@pytest.mark.parametrize("lost, won, fell", [(6, 0, True), (5, 0, False), (30, 14, True),
                                             (30, 16, False), (0, 0, False), (0, 9, False)])
def test_lowered_is_mcnemars_test_in_one_direction(lost, won, fell):
    from sap_mx.attacks.sanity_checks import lowered

    a = np.zeros(100, bool)
    a[:lost] = True
    b = np.zeros(100, bool)
    b[50:50 + won] = True
    assert lowered(b, a)[0] is fell
    assert lowered(b, a)[1].startswith(f"{lost} images lost, {won} won; McNemar p = ")


def test_convergence_judges_the_last_rung_of_each_ladder():
    """With EOT samples 4, 16 and 32 the verdict is 16 -> 32, as 20 -> 40 -> 80 steps is judged
    on 40 -> 80: a fall at the first rung says only that the profile's run was short."""
    from sap_mx.attacks import convergence

    runs = {(10, 4): 0.327, (20, 4): 0.316, (40, 4): 0.300, (80, 4): 0.298,
            (10, 16): 0.297, (10, 32): 0.296, (80, 32): 0.296}
    base = np.zeros(1000, bool)
    base[:327] = True

    def fewer(lost, won, ref):
        m = ref.copy()
        right, wrong = np.flatnonzero(m), np.flatnonzero(~m)
        m[right[:lost]] = False
        m[wrong[-won:] if won else []] = True
        return m

    masks = {(10, 4): base}
    masks[(20, 4)] = fewer(20, 9, base)
    masks[(40, 4)] = fewer(25, 9, masks[(20, 4)])
    masks[(80, 4)] = fewer(10, 8, masks[(40, 4)])
    masks[(10, 16)] = fewer(35, 5, base)
    masks[(10, 32)] = fewer(12, 11, masks[(10, 16)])
    masks[(80, 32)] = fewer(6, 4, masks[(80, 4)])
    ok, text = convergence(runs, 1000, "pgd-bpda", masks)
    assert ok is True, text
    assert "4 -> 16 -> 32 EOT samples: 32.7 -> 29.7 -> 29.6%" in text
    masks[(10, 32)] = fewer(30, 5, masks[(10, 16)])        # still falling at the last rung
    ok, text = convergence(runs, 1000, "pgd-bpda", masks)
    assert ok is False
    assert "16 -> 32 EOT samples still lowered it: 30 images lost, 5 won" in text


def test_convergence_needs_both_ladders():
    from sap_mx.attacks import convergence

    assert convergence({(10, 4): 0.3, (20, 4): 0.3}, 1000) is None       # no EOT rung
    assert convergence({(10, 4): 0.3, (10, 16): 0.3}, 1000) is None      # no steps rung


def test_longer_attacks_go_to_the_main_sap_models_at_their_lambdas_only():
    from experiments.profiles import ADAPTIVE

    b = ADAPTIVE.get("cpu")
    grid = ad.IMAGE_FAMILY.eps

    def longer(model, is_sap, stochastic=True, mnist=False):
        return sorted((spec["attack"], eps) for spec, eps in
                      ad.model_tasks(b, model, grid, is_sap=is_sap, stochastic=stochastic,
                                     mnist=mnist) if "@" in spec["attack"])

    # on SAP-100 only (an entry's fourth item names its models): each ladder doubled twice,
    # then the longest steps with the most EOT samples, with both losses
    assert longer(("dense", "sap", 100), True) == sorted(
        [("pgd-bpda@20x4", 4), ("pgd-bpda@40x4", 4), ("pgd-bpda@10x8", 4),
         ("pgd-bpda@10x16", 4), ("pgd-bpda@40x16", 4), ("pgd-bpda-margin@40x16", 4)])
    assert longer(("adv", "sap", 100), True) == [("pgd-bpda-margin@20x8", 4),
                                                 ("pgd-bpda@20x8", 4)]
    assert longer(("dense", "sap", 20), True) == []           # not a main model
    assert longer(("dense", "none", None), False, False) == []
    assert longer(("vanilla", "none", None), False, mnist=True) == []
    spec = next(s for s, _ in ad.model_tasks(b, ("dense", "sap", 100), grid, is_sap=True,
                                             stochastic=True, mnist=False)
                if s["attack"] == "pgd-bpda@40x4")
    assert (spec["steps"], spec["eot_samples"]) == (40, 4)
    assert ad.base_attack(spec["attack"]) == "pgd-bpda"
    margin = next(s for s, _ in ad.model_tasks(b, ("dense", "sap", 100), grid, is_sap=True,
                                               stochastic=True, mnist=False)
                  if s["attack"] == "pgd-bpda-margin@40x16")
    assert margin["loss"] == "margin" and ad.attack_model(margin["attack"]) == "bpda"


def test_the_worst_case_takes_each_lambdas_own_attacks(tmp_path):
    from runkit import KeyedRows
    from runkit.rows import hex_mask, mask_hex

    store = KeyedRows(tmp_path / "adaptive.csv", ad.KEY_FIELDS)
    meta = {"family": "image", "model": "dense", "defense": "sap", "param": "100", "n": 4,
            "predict_mc": 2, "seed": 0, "profile": "cpu", "checkpoint": "c"}
    short = {"attack": "pgd-bpda", "loss": "ce", "steps": 10, "eot_samples": 4}
    long_ = {"attack": "pgd-bpda@40x4", "loss": "ce", "steps": 40, "eot_samples": 4}
    masks = {("pgd-bpda", 2): [1, 1, 1, 0], ("pgd-bpda", 4): [1, 1, 0, 0],
             ("pgd-bpda@40x4", 4): [0, 1, 1, 0]}
    store.add([{**meta, **(short if a == "pgd-bpda" else long_), "eps": e,
                "sanity_ok": True, "sanity": "ok", "data": "d",
                "correct": mask_hex(np.array(m, bool))} for (a, e), m in masks.items()])
    tasks = [(short, 2), (short, 4), (long_, 4)]
    worst = {r["eps"]: r for r in ad.worst_case_rows(store, meta, tasks, 4)}
    assert hex_mask(worst[2]["correct"], 4).tolist() == [True, True, True, False]
    assert hex_mask(worst[4]["correct"], 4).tolist() == [False, True, False, False]
    assert worst[4]["combines"] == "pgd-bpda+pgd-bpda@40x4" and worst[2]["combines"] == "pgd-bpda"


def test_a_model_with_recorded_rows_is_not_checked_again(tmp_path):
    from runkit import KeyedRows

    store = KeyedRows(tmp_path / "adaptive.csv", ad.KEY_FIELDS)
    meta = {"family": "image", "model": "dense", "defense": "sap", "param": "100", "n": 1000,
            "predict_mc": 10, "seed": 0, "profile": "cpu", "checkpoint": "c"}
    assert ad.recorded_sanity(store, meta) is None
    base = {k: "x" for k in ad.KEY_FIELDS}
    store.add([{**base, **meta, "attack": "pgd", "sanity_ok": True,
                "sanity": "unbounded 0.0%, steps/EOT ladder 17.9/11.0/11.7"}])
    ok, reason = ad.recorded_sanity(store, meta)
    assert not ok and "not converged" in reason                      # the current rule
    assert ad.recorded_sanity(store, {**meta, "checkpoint": "other"}) is None


@pytest.mark.parametrize("entry, message", [
    (("pgd-bpda", 80, 4, "dense+sap-100"), "must be a non-empty tuple of model keys"),
    (("pgd-bpda", 80, 4, ("dense+sap100",)), "dense+sap100 not in main_models"),
    (("pgd-bpda", 80), "give (attack, steps, EOT samples)"),
])
def test_a_long_attack_entry_that_would_silently_run_nowhere_is_refused(entry, message):
    """A string (a missing trailing comma) would make 'key in models' a substring test, and a
    misspelt key would drop the run from the driver, the cost and the convergence ladder."""
    from experiments.profiles import AdaptiveProfile

    with pytest.raises(ValueError, match=re.escape(message)):
        AdaptiveProfile(n_test=10, predict_mc=1, paper_mc=1, steps=1, eot_samples=1,
                        apgd_iter=1, main_models=("dense+sap-100",), long_attacks=(entry,),
                        long_eps=(4,))


@pytest.mark.parametrize("sanity_ok, sanity, title", [
    ("True", "ladder flat", "SAP-100"),
    ("False", "PGD-EOT still falling", "SAP-100  [SANITY FAILED]"),
    ("True", "unbounded 0.0% (no steps/EOT ladder)", "SAP-100  [unbounded check only]"),
    ("False", "unbounded 8.7% (no steps/EOT ladder)", "SAP-100  [SANITY FAILED]"),
])
def test_a_panel_title_says_how_far_its_model_was_checked(sanity_ok, sanity, title):
    assert ad.panel_title("SAP-100", [{"sanity_ok": sanity_ok, "sanity": sanity}] * 2) == title


@pytest.mark.parametrize("is_sap, names", [(False, ("pgd", "pgd-margin")),
                                           (True, ("pgd-bpda", "pgd-bpda-margin"))])
def test_sanity_judges_the_worst_case_of_both_losses(tmp_path, monkeypatch, is_sap, names):
    """Each loss alone leaves 5% after the unbounded attack (a stalled CE, as on the MLPs); the
    check is on their per-image AND, which leaves none: it passes, and its text says so."""
    n = 100
    left = {names[0]: range(0, 5), names[1]: range(5, 10)}
    made = []

    def fake_make_attack(net, eps, spec, clip, twin=None):
        made.append((spec["attack"], eps))
        return spec["attack"]

    def fake_robust(net, x, y, attack, **kw):
        ok = np.zeros(n, bool)
        ok[list(left[attack])] = True
        return ok

    monkeypatch.setattr(ad, "make_attack", fake_make_attack)
    monkeypatch.setattr(ad, "robust_resumable", fake_robust)
    x, y = np.zeros((n, 1, 28, 28), np.float32), np.zeros(n, np.int64)
    ok, reason, partials = ad.check_model(None, x, y, ad.IMAGE_FAMILY, TINY, True, 2, 0, "m",
                                          tmp_path, {"model": "m"}, ladder=False,
                                          is_sap=is_sap)
    assert {a for a, _ in made} == set(names)
    assert ok is True, reason
    assert reason == f"worst of {names[0]}+{names[1]}: unbounded 0.0% (no steps/EOT ladder)"
    left[names[1]] = range(3, 8)  # together they leave 2 images: 2% > 1%
    ok, reason, _ = ad.check_model(None, x, y, ad.IMAGE_FAMILY, TINY, True, 2, 0, "m",
                                   tmp_path, {"model": "m"}, ladder=False, is_sap=is_sap)
    assert ok is False and reason.startswith("unbounded PGD leaves 2.0% (> 1.0%)")


def test_transfer_attacks_run_on_the_twin_and_bpda_margin_on_sap(monkeypatch):
    seen = []
    monkeypatch.setattr(ad, "pgd", lambda net, x, y, eps, **kw: seen.append((net, kw["loss"]))
                        or x)
    net, twin = object(), object()
    monkeypatch.setattr(ad, "bpda", lambda n: ("bpda", n))
    for name in ("transfer-pgd", "transfer-pgd-margin", "pgd-bpda-margin", "pgd"):
        spec = {"attack": name, "steps": 2, "eot_samples": 1}
        ad.make_attack(net, 4.0, spec, (0, 255), twin)(np.zeros((1, 2)), np.zeros(1))
    assert seen == [(twin, "ce"), (twin, "margin"), (("bpda", net), "margin"), (net, "ce")]
    with pytest.raises(ValueError, match="needs the model's deterministic twin"):
        ad.make_attack(net, 4.0, {"attack": "transfer-pgd", "steps": 2, "eot_samples": 1},
                       (0, 255))
    b = ADAPTIVE.get("cpu")
    names = [s["attack"] for s in ad.attacks_for(True, True, False, b, twin=True)]
    assert names[-4:] == ["pgd-bpda", "pgd-bpda-margin", "transfer-pgd", "transfer-pgd-margin"]
    transfer = ad.attacks_for(False, True, False, b, twin=True)[-1]
    assert (transfer["steps"], transfer["eot_samples"]) == (b.transfer_steps, 1)
    # a deterministic model has no twin to transfer from
    assert not any(s["attack"].startswith("transfer") for s in
                   ad.attacks_for(False, False, False, b, twin=True))


def test_the_mean_twin_of_an_sdr_or_dropconnect_mlp_is_its_expectation():
    import mxnet as mx

    from sap_mx.models import mlp as M

    x = mx.nd.random.uniform(0, 1, (5, 1, 28, 28))
    for build in (M.mlp_sdr_decay, M.mlp_dropconnect):
        net = build()
        net.initialize()
        net.hybridize()
        twin = ad.mean_twin(net)
        a, b = twin(x).asnumpy(), twin(x).asnumpy()
        np.testing.assert_array_equal(a, b)                   # deterministic
        assert not np.allclose(net(x).asnumpy(), net(x).asnumpy())  # the model is not
        plain = M.mlp_vanilla()
        plain.initialize()
        params = net.collect_params()
        for (name, p), (_, q) in zip(sorted(plain.collect_params().items(),
                                            key=lambda kv: kv[0].split("_", 1)[1]),
                                     sorted(((k, v) for k, v in params.items()
                                             if "sigma" not in k),
                                            key=lambda kv: kv[0].split("_", 1)[1]), strict=True):
            p.set_data(q.data())
        np.testing.assert_allclose(a, plain(x).asnumpy(), rtol=1e-5, atol=1e-5)


def test_the_mlps_are_judged_one_draw_per_image(trained, monkeypatch):
    """Khan et al. classified one image at a time: a stochastic MLP's rows come from
    ``sap_mx.sdr.single_pass`` (a weight draw per image), the vanilla MLP's from the plain
    prediction."""
    judged = []
    real = ad.single_pass

    def spy(net):
        predict = real(net)

        def counted(batch):
            judged.append(type(net.body[0]).__name__)
            return predict(batch)
        return counted

    monkeypatch.setattr(ad, "single_pass", spy)
    ad.run(ad.Args(family="mnist", profile="smoke", models=str(trained / "mnist" / "models"),
                   out=str(trained / "adaptive"), progress=False))
    assert set(judged) == {"GaussianDense", "DropConnectDense"}
