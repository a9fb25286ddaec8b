"""The MNIST Table 1 driver on generated MNIST-format files: every model, both protocols, the
table with the paper's numbers, resume, the SDR-Learnable variance schedule, errors."""
import csv

import pytest

from experiments import mnist_sdr as ms
from experiments.profiles import MNIST, MnistProfile

TINY = MnistProfile(epochs=1, learnable_epochs=2, n_attack=6, eot=2, n_attack_eot=4,
                   fgsm_grid=10,
                   deepfool_steps=3, localsearch_rounds=2, batch=32, n_train=192, n_test=48)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(MNIST.table, "smoke", TINY)


def test_smoke_run_writes_every_cell_and_resumes(tmp_path, tiny, monkeypatch, capsys):
    args = ms.Args(profile="smoke", out=str(tmp_path), progress=False)
    written = ms.run(args)
    assert [p.name for p in written] == ["table1.csv", "table1.md"]
    with open(tmp_path / "table1.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    attacks = {"clean", "fgsm", "deepfool", "localsearch", "fgsm_eps0.1", "fgsm_eps0.2",
               "fgsm_eps0.3"}
    cells = {(r["model"], r["protocol"], r["attack"]) for r in rows}
    assert cells == {("mlp_vanilla", "paper", a) for a in attacks} | {
        (m, p, a) for m in ("mlp_sdr_decay", "mlp_sdr_learnable", "mlp_dropconnect")
        for p in ("paper", "eot") for a in attacks}
    assert {r["profile"] for r in rows} == {"smoke"} and rows[0]["data"].startswith("generated")
    assert {r["eot_samples"] for r in rows if r["protocol"] == "eot"} == {"2"}
    assert {(r["protocol"], r["n"]) for r in rows} == {("paper", "6"), ("eot", "4")}
    table = (tmp_path / "table1.md").read_text()
    assert "SMOKE" in table and "| FGSM Attack |" in table and "(94.86%)" in table
    assert table.count("not run") == 0

    # a run of one model keeps the other models' cells in the table
    ms.run(ms.Args(profile="smoke", out=str(tmp_path), progress=False, models="mlp_vanilla"))
    assert (tmp_path / "table1.md").read_text().count("not run") == 0

    assert {r["predict_mc"] for r in rows} == {"1"}   # one pass per prediction, every row

    # a rerun trains nothing and attacks nothing
    attack_model = ms.attack_model
    monkeypatch.setattr(ms, "attack_model", lambda *a, **k: pytest.fail("attacked again"))
    capsys.readouterr()
    ms.run(args)
    assert "epoch" not in capsys.readouterr().err

    # a new SDR-Learnable schedule refuses its checkpoint alone (the others resume)...
    monkeypatch.setitem(ms.SDR_LEARNABLE, "recovery_tol", 0.01)
    others = "mlp_vanilla,mlp_sdr_decay,mlp_dropconnect"
    ms.run(ms.Args(profile="smoke", out=str(tmp_path), progress=False, models=others))
    assert "epoch" not in capsys.readouterr().err
    assert ms.main(["--profile", "smoke", "--out", str(tmp_path), "--no-progress",
                    "--models", "mlp_sdr_learnable"]) == 2
    assert "different configuration; pass --fresh" in capsys.readouterr().err
    # ... and once retrained (other weights, as many epochs) it is attacked again
    monkeypatch.setitem(ms.SDR_LEARNABLE, "sigma_init", 0.1)
    attacked = []
    monkeypatch.setattr(ms, "attack_model", lambda name, *a, **k: attacked.append(name)
                        or attack_model(name, *a, **k))
    ms.run(ms.Args(profile="smoke", out=str(tmp_path), progress=False, fresh=True,
                   models="mlp_sdr_learnable"))
    assert attacked == ["mlp_sdr_learnable"] * 2
    assert (tmp_path / "table1.md").read_text().count("not run") == 0


def raises(accuracies, bounds=(0.0, 1.0)):
    """The epochs (0-based) after which the schedule raised the bounds, and the last bounds,
    for a run whose test accuracies are ``accuracies``."""
    history, bounds, last, out = [], list(bounds), -10**9, []
    for epoch, acc in enumerate(accuracies):
        history.append({"test_acc": acc})
        bounds, new_last = ms.variance_schedule(history, bounds, last, epoch)
        if new_last != last:
            out.append(epoch)
        last = new_last
    return out, bounds


def test_variance_schedule_raises_both_bounds_on_a_plateau(monkeypatch):
    # level over plateau_window = 3 epochs: two windows under the same bounds are needed
    assert raises([0.9] * 12) == ([5, 11], [0.1, 1.1])
    assert raises([0.5 + 0.01 * e for e in range(20)]) == ([], [0.0, 1.0])   # still rising
    # and at most once every five epochs
    monkeypatch.setitem(ms.SDR_LEARNABLE, "plateau_window", 1)
    assert raises([0.9] * 12) == ([1, 6, 11], [0.15, 1.15])


def test_a_fall_is_never_a_plateau():
    # a raise at a plateau, then the accuracy falls and stays 3 points down: never raised again
    # (the reading before 2026-12 raised here every five epochs: 17 raises in 100 epochs)
    fell = [0.6, 0.7, 0.8] + [0.85] * 6 + [0.82] * 40
    assert raises(fell)[0] == [8]
    # ... it is raised again once the accuracy is back to its pre-raise level and flat
    back = [0.6, 0.7, 0.8] + [0.85] * 6 + [0.82, 0.83, 0.84] + [0.848] * 10
    assert raises(back)[0] == [8, 17]
    # a steady fall (0.6 points an epoch) before any raise is no plateau either
    assert raises([0.9 - 0.006 * e for e in range(30)])[0] == []


@pytest.mark.parametrize("argv, match", [
    (["--models", "mlp_x"], "unknown model 'mlp_x'; valid: mlp_vanilla"),
    (["--n-attack", "-2"], "--n-attack must be >= 0"),
    (["--profile", "smoke", "--n-attack", "100000"], "--n-attack 100000 is more than the"),
    (["--profile", "big"], "unknown profile 'big'"),
])
def test_usage_errors_are_one_line(tmp_path, capsys, argv, match):
    assert ms.main(["--out", str(tmp_path), "--no-progress"] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_no_mnist_and_no_network_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SAP_MX_OFFLINE", "1")
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "home"))
    assert ms.main(["--profile", "quick", "--data-dir", str(tmp_path), "--out",
                    str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: MNIST not found")


def test_paper_numbers_file_is_table_1():
    paper = ms.load_paper_numbers()
    assert len(paper) == 16  # 4 models x 4 rows; the values: tests/test_paper_numbers.py
    assert set(ms.MODELS) == {m for m, _ in paper}


def test_checkpoint_id_names_the_weights(tmp_path):
    from experiments.zoo import mlp_checkpoint_id
    from sap_mx import checkpoint
    from sap_mx.sdr import build_mlp

    net = build_mlp("mlp_vanilla")

    def save():
        checkpoint.save(tmp_path / "checkpoint", {"net.params": net.save_parameters},
                        {"epoch": 3})

    save()
    first = mlp_checkpoint_id(tmp_path)
    assert "@epoch3#" in first
    save()
    assert mlp_checkpoint_id(tmp_path) == first            # the same weights: the same id
    weight = next(iter(net.collect_params().values()))
    weight.set_data(weight.data() + 1)
    save()
    assert mlp_checkpoint_id(tmp_path) != first            # retrained: rows of the old go stale
