"""Fashion-MNIST: where it is looked for, what is checked, how rows are labelled, the dataset
entry of the image drivers, and that it never passes for MNIST."""
from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from experiments import datasets
from experiments.profiles import MNIST
from runkit import UsageError
from sap_mx.data import DataNotFound, load_fashion_mnist, write_idx, write_mnist
from sap_mx.data import fashion_mnist as fm

REAL = fm.DEBIAN_DIR


@pytest.fixture
def no_default_places(monkeypatch, tmp_path):
    """Only the folders a test names: no $SAP_DATA_DIR, no Gluon folder, no Debian folder."""
    monkeypatch.delenv("SAP_DATA_DIR", raising=False)
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr(fm, "online", lambda: False)


def test_search_order(monkeypatch, tmp_path):
    monkeypatch.setenv("SAP_DATA_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "home"))
    assert fm.fashion_mnist_places(tmp_path / "mine") == [
        tmp_path / "mine", tmp_path / "home" / "datasets" / "fashion-mnist", fm.DEBIAN_DIR]
    assert fm.fashion_mnist_places(None) == [
        tmp_path / "shared", tmp_path / "shared" / "fashion-mnist",
        tmp_path / "home" / "datasets" / "fashion-mnist", fm.DEBIAN_DIR]


def test_missing_data_is_one_line_naming_the_fix(no_default_places, tmp_path):
    with pytest.raises(DataNotFound) as err:
        load_fashion_mnist(tmp_path / "empty")
    message = str(err.value)
    assert "\n" not in message and "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "empty") in message


def test_files_in_the_format_load_but_are_not_labelled_official(no_default_places, tmp_path):
    write_mnist(tmp_path / "f", n_train=30, n_test=10, seed=0)
    (x, y), (xt, yt) = load_fashion_mnist(tmp_path / "f", check=False)[0]
    assert x.shape == (30, 28, 28) and xt.shape == (10, 28, 28) and y.dtype == np.int32
    assert load_fashion_mnist(tmp_path / "f", check=False)[1] == \
        "fashion-mnist-format files (not the official contents)"
    with pytest.raises(DataNotFound, match="hold 30 images, not Fashion-MNIST's 60,000"):
        load_fashion_mnist(tmp_path / "f")


def test_damaged_files_are_refused(no_default_places, tmp_path):
    write_mnist(tmp_path / "f", n_train=30, n_test=10, seed=0)
    write_idx(tmp_path / "f" / "t10k-labels-idx1-ubyte.gz", np.full(10, 12, np.uint8))
    with pytest.raises(DataNotFound, match="labels above 9"):
        load_fashion_mnist(tmp_path / "f", check=False)
    target = tmp_path / "f" / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-40])
    with pytest.raises(DataNotFound, match="corrupt or truncated"):
        load_fashion_mnist(tmp_path / "f", check=False)


def test_generated_smoke_data_goes_through_the_dataset_entry(tmp_path, monkeypatch):
    entry = datasets.get_dataset("fashion-mnist")
    assert (entry.channels, entry.size, entry.crops, entry.results) == (1, 28, (28,),
                                                                        "fashion-mnist")
    from experiments.profiles import TRAIN
    monkeypatch.setattr(datasets, "results_dir", lambda profile, *parts: tmp_path.joinpath(*parts))
    ((x, y), (xt, yt)), label = datasets.load(entry, "smoke", TRAIN["smoke"], 0)
    assert x.shape[1:] == (1, 28, 28) and label == "generated-fashion-mnist-format(seed=0)"


needs_real = pytest.mark.skipif(not (REAL / "t10k-labels-idx1-ubyte.gz").is_file(),
                                reason=f"Fashion-MNIST is not installed at {REAL} (make install "
                                       "installs it where apt-get is usable)")


@needs_real
def test_the_real_files_are_the_official_contents():
    ((x, y), (xt, yt)), label = load_fashion_mnist(REAL)
    assert label == "fashion-mnist"
    assert x.shape == (60_000, 28, 28) and xt.shape == (10_000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    # the mean the model subtracts is the training set's
    assert datasets.DATASETS["fashion-mnist"].mean[0] == pytest.approx(x.mean(), abs=0.01)


@needs_real
def test_a_changed_byte_loses_the_official_label(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(REAL, folder)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(raw)))
    assert load_fashion_mnist(folder)[1] == \
        "fashion-mnist-format files (not the official contents)"


@needs_real
def test_fashion_mnist_never_passes_for_mnist(tmp_path):
    with pytest.raises(UsageError, match="are Fashion-MNIST"):
        datasets.load_mnist_data(MNIST["quick"], "quick", 0, str(REAL), tmp_path)


def test_khans_table_on_fashion_mnist_keeps_the_papers_numbers_marked_mnist(tmp_path,
                                                                          monkeypatch):
    from experiments import mnist_sdr as ms
    from experiments.profiles import MnistProfile

    monkeypatch.setitem(MNIST.table, "smoke", MnistProfile(
        epochs=1, learnable_epochs=1, n_attack=4, eot=2, n_attack_eot=4, fgsm_grid=5,
        deepfool_steps=2, localsearch_rounds=1, batch=32, n_train=96, n_test=16))
    ms.run(ms.Args(profile="smoke", dataset="fashion-mnist", out=str(tmp_path),
                   models="mlp_vanilla", progress=False))
    table = (tmp_path / "table1.md").read_text()
    assert table.startswith("# Fashion-MNIST, Khan et al. Table 1: ours (the paper's, on MNIST)")
    assert "They are MNIST numbers; ours are Fashion-MNIST" in table
    paper = ms.load_paper_numbers()[("Vanilla MLP", "clean")]["value"]
    assert f"({paper}%, MNIST)" in table  # the paper's vanilla MLP, clean, beside ours
    rows = (tmp_path / "table1.csv").read_text()
    assert "generated-fashion-mnist-format(seed=0)" in rows and ",mnist," not in rows
    assert datasets.mlp_results_dir("fashion-mnist", "cpu").parts[-2:] == ("fashion-mnist", "sdr")


# ---------------------------------------------------------------------------------------------
# the cpu profile: what it runs and what it costs
# ---------------------------------------------------------------------------------------------
def test_cpu_profile_holds_what_the_real_data_track_needs():
    from experiments import adaptive, image_eval
    from experiments.profiles import ADAPTIVE, EVAL
    s = EVAL.get("cpu")
    assert s.n_test >= 1000 and max(s.mc_grid) >= 100
    by_figure = {}
    for name, make in image_eval.EXPERIMENTS.items():
        for t in make(s, (0.1, 0.3, 0.5)):
            by_figure.setdefault(t.figure, []).append(t)
    # the paper's 100 MC samples for the SAP adversary in Figs. 1b and 3 ("the SAP adversary
    # used 100 MC samples"), on every SAP curve, SAP-100 included
    for figure in ("1b", "3"):
        sap = [t for t in by_figure[figure] if t.defense == "sap"]
        assert any(t.param == 100 for t in sap) and all(t.mc_samples == 100 for t in sap), figure
    b = ADAPTIVE.get("cpu")
    assert b.n_test >= 1000
    keys = {adaptive.model_key(*m): m for m in adaptive.IMAGE_MODELS}
    for main in ("dense", "dense+sap-100", "adv", "adv+sap-100"):
        grid = adaptive.model_eps(b, keys[main], adaptive.IMAGE_FAMILY.eps)
        assert {1, 2, 4, 8, 16} <= set(grid)
    for key, m in keys.items():  # every other stochastic defense at (at least) one lambda > 0
        assert any(e > 0 for e in adaptive.model_eps(b, m, adaptive.IMAGE_FAMILY.eps)), key


def test_model_eps_gives_the_family_grid_without_a_per_model_grid():
    from dataclasses import replace

    from experiments import adaptive
    from experiments.profiles import ADAPTIVE
    smoke = ADAPTIVE.get("smoke")
    grid = (0.0, 1.0, 2.0)
    assert adaptive.model_eps(smoke, ("dense", "rna", 0.5), grid) == grid
    picky = replace(smoke, eps_grid=(0, 1), main_models=("dense",), other_eps=(2,))
    assert adaptive.model_eps(picky, ("dense", "none", None), grid) == (0, 1)
    assert adaptive.model_eps(picky, ("dense", "rna", 0.5), grid) == (2,)
    assert adaptive.model_eps(replace(picky, main_models=()), ("dense", "rna", 0.5), grid) == (0, 1)


def test_cost_counts_the_passes_the_drivers_make():
    from experiments import cost, image_eval
    from experiments.profiles import EVAL
    s = EVAL.get("cpu")
    grid = image_eval.EPS
    # SAP-100 under FGSM with 100 MC samples: one 100-sample gradient, then 20 passes per lambda
    t = image_eval.Task("1b", "dense", "sap", 100, "fgsm", "self", 100)
    k = s.predict_mc
    assert cost.task_passes(t, s, grid).astuple() == (0, 100, 0, k * len(grid))
    # dense: one exact gradient, one pass per lambda
    t = image_eval.Task("1b", "dense")
    assert cost.task_passes(t, s, grid).astuple() == (1, 0, len(grid), 0)
    # SAP-100 attacked with the dense model's gradient: a deterministic gradient
    t = image_eval.Task("6", "dense", "sap", 100, "fgsm", "dense", 1)
    assert cost.task_passes(t, s, grid).astuple() == (1, 0, 0, k * len(grid))
    # random noise: no gradient
    t = image_eval.Task("1a", "dense", "sap", 100, "random", "self", 0)
    assert cost.task_passes(t, s, grid).astuple() == (0, 0, 0, k * len(grid))
    # the iterative attack: ceil(lambda) steps of 5 samples each (0+1+2+4+8+16+32+64 = 127)
    t = image_eval.Task("1c", "dense", "sap", 100, "iterative", "self", 5)
    assert cost.task_passes(t, s, grid).astuple() == (0, 5 * 127, 0, k * len(grid))
    # APGD: n_iter + 1 gradients per restart, each with its EOT samples
    spec = {"attack": "apgd-ce", "steps": 20, "eot_samples": 4, "restarts": 2}
    assert cost.attack_passes(spec, True, 20, 4.0).astuple() == (0, 2 * 21 * 4, 0, 20)
    assert cost.attack_passes(spec, True, 20, 0.0).astuple() == (0, 0, 0, 20)
