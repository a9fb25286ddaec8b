"""The adaptive-evaluation driver on tiny MNIST models: every attack per model, the sanity
columns, resume, the figure, errors."""
import csv

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
    written = ad.run(args)
    assert [p.name for p in written] == ["adaptive.csv", "adaptive_mnist.png"]
    with open(trained / "adaptive" / "adaptive.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    eps = ad.MNIST_FAMILY.eps
    attacks = {"paper", "pgd", "apgd-ce", "apgd-dlr"}
    assert {(r["model"], r["attack"], float(r["eps"])) for r in rows} == {
        (m, a, e) for m in MLP_MODELS.values() for a in attacks for e in eps}
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
    assert not ok and reason == "doubling steps raised accuracy 10.0% -> 90.0%"


@pytest.mark.parametrize("argv, match", [
    (["--family", "imagenet"], "unknown family 'imagenet'; valid: image, cifar, mnist"),
    (["--n-test", "-1"], "--n-test must be >= 0"),
])
def test_usage_errors_are_one_line(tmp_path, capsys, argv, match):
    assert ad.main(["--profile", "smoke", "--out", str(tmp_path), "--no-progress"] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_missing_mnist_models_name_the_target(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(MNIST.table, "smoke", TINY_MNIST)
    assert ad.main(["--family", "mnist", "--profile", "smoke", "--models", str(tmp_path / "m"),
                    "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no trained mlp_vanilla") and "make mnist-sdr" in err[-1]
