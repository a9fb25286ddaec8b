"""The benchmarks' extrapolations use the drivers' own settings."""
import dataclasses
import importlib.util

from experiments.profiles import MNIST
from runkit import ROOT


def _load(name, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as `python benchmarks/x.py` has it
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_mnist_extrapolates_to_the_paper_profile_of_mnist_sdr(monkeypatch):
    paper = dataclasses.asdict(MNIST["paper"])
    bench = _load("bench_mnist", monkeypatch).PAPER
    assert bench == {k: paper[k] for k in bench}
    assert set(bench) == set(paper) - {"n_train", "n_test"}
