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

    # a rerun trains nothing and attacks nothing
    monkeypatch.setattr(ms, "attack_model", lambda *a, **k: pytest.fail("attacked again"))
    capsys.readouterr()
    ms.run(args)
    assert "epoch" not in capsys.readouterr().err


def test_variance_schedule_raises_both_bounds_at_most_every_five_epochs():
    flat = [{"test_acc": 0.9}] * 12
    bounds, last = [0.0, 1.0], -10**9
    raised = []
    for epoch in range(12):
        bounds, new_last = ms.variance_schedule(flat[:epoch + 1], bounds, last, epoch)
        if new_last != last:
            raised.append(epoch)
        last = new_last
    assert raised == [3, 8]                      # plateau from epoch 3 on; then 5 epochs apart
    assert bounds == [0.1, 1.1]
    rising = [{"test_acc": 0.5 + 0.01 * e} for e in range(8)]
    assert ms.variance_schedule(rising, [0.0, 1.0], -10**9, 7) == ([0.0, 1.0], -10**9)


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
