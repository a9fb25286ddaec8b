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


def test_bench_fashion_costs_every_part_of_the_profile(monkeypatch, tmp_path, capsys):
    import csv

    from experiments import adaptive, image_eval
    bench = _load("bench_fashion", monkeypatch)
    monkeypatch.setattr(bench, "unit_costs", lambda examples, mc: bench.cost.UnitCost(
        grad_det=1e-3, grad_sto=2e-3, pred_det=3e-4, pred_sto=5e-4))
    out = tmp_path / "fashion.csv"
    assert bench.main(["--quick", "--profile", "cpu", "--out", str(out)]) == 0
    rows = {r["part"]: r for r in csv.DictReader(open(out))}
    for name in image_eval.EXPERIMENTS:
        assert f"eval {name}" in rows
    for m in adaptive.IMAGE_MODELS:
        assert f"adaptive {adaptive.model_key(*m)}" in rows
    parts = [float(r["seconds"]) for p, r in rows.items() if p not in ("total",)
             and not p.startswith("unit")]
    assert abs(float(rows["total"]["seconds"]) - sum(parts)) < 1.0
    # by hand for Fig. 1b's SAP-100: 100 MC gradients (2 ms each) + 8 lambdas x k passes
    # (0.5 ms each) per image
    s = image_eval.EVAL.get("cpu")
    sap100 = bench.cost.task_passes(image_eval.Task("1b", "dense", "sap", 100, "fgsm", "self",
                                                    100), s, image_eval.EPS)
    assert abs(bench.cost.seconds(sap100, bench.cost.UnitCost(1e-3, 2e-3, 3e-4, 5e-4))
               - (100 * 2e-3 + 8 * s.predict_mc * 5e-4)) < 1e-9
    assert {r["profile"] for r in rows.values()} == {"cpu"}
