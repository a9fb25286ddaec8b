"""What the Fashion-MNIST track costs on this machine, part by part, for one profile.

Measures four unit costs on the Fashion-MNIST ResNet-20 (one channel, 28x28; random weights and
images: the time does not depend on them), in chunks of the drivers' batch of 128:

* ``grad_det`` / ``grad_sto``: one input gradient (forward + backward) per image, of the dense
  model and of SAP-100 (per MC sample);
* ``pred_det`` / ``pred_sto``: one forward pass per image, dense and SAP-100 (per pass).

Then it multiplies them by the passes each part of the profile makes
(``experiments.cost``: the figure experiments' task lists, the adaptive evaluation's attacks
and lambdas) and adds the training time read from the runs' own ``log.csv`` (or, for a run not
trained yet, extrapolated from the dense run's epochs). Every row says which numbers are
measured and which extrapolated. The profile is chosen from this output (docs/fashion-mnist.md).

Run: ``python benchmarks/bench_fashion.py [--quick] [--profile cpu]
[--out results/bench/fashion.csv]`` (``make bench`` runs it).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time

import sap_mx  # first: MXNet's OpenMP threads, the project default

from experiments import cost, datasets
from experiments.image_train import run_name, Args as TrainArgs
from experiments.profiles import TRAIN
from runkit import ROOT
from sap_mx.attacks import input_gradient

from children import timing_resnet, write_rows

CHUNK = 128
RATES = (0.1, 0.5)  # the dropout-trained models of the Fashion-MNIST track (Makefile RATES)


def unit_costs(examples: int, mc: int) -> cost.UnitCost:
    """Seconds per image of each kind of pass, measured once after warming every graph."""
    dataset = datasets.get_dataset("fashion-mnist")
    net, sap, x, y = timing_resnet(examples, CHUNK, dataset.channels, dataset.size,
                                   **dataset.model_kwargs())
    for model in (net, sap):  # warm the graphs of every shape used below
        input_gradient(model, x[:CHUNK], y[:CHUNK], mc_samples=2).wait_to_read()
        sap_mx.predict_proba(model, x[:CHUNK], mc_samples=2).wait_to_read()

    def timed(fn) -> float:
        t0 = time.perf_counter()
        for start in range(0, examples, CHUNK):
            fn(x[start:start + CHUNK], y[start:start + CHUNK]).wait_to_read()
        return time.perf_counter() - t0

    return cost.UnitCost(
        grad_det=timed(lambda a, b: input_gradient(net, a, b, mc_samples=1)) / examples,
        grad_sto=timed(lambda a, b: input_gradient(sap, a, b, mc_samples=mc)) / examples / mc,
        pred_det=timed(lambda a, b: sap_mx.predict_proba(net, a, mc_samples=1)) / examples,
        pred_sto=timed(lambda a, b: sap_mx.predict_proba(sap, a, mc_samples=mc)) / examples / mc)


def training_rows(profile: str, rates) -> list[dict]:
    """Per recipe: the seconds its log records (measured) or, when it has no complete log, the
    dense run's mean epoch times its epochs (extrapolated)."""
    dataset = datasets.get_dataset("fashion-mnist")
    runs = [("dense", 0.0), ("adv", 0.0)] + [("dropout", r) for r in rates]
    epoch_s = {}
    out = []
    for recipe, rate in runs:
        name = run_name(TrainArgs(recipe=recipe, rate=rate, profile=profile,
                                  dataset="fashion-mnist"))
        log = dataset.models_dir(profile) / name / "log.csv"
        epochs = max(TRAIN.get(profile).min_epochs,
                     round(dataset.recipes[recipe].epochs * TRAIN.get(profile).epoch_scale))
        rows = list(csv.DictReader(log.open())) if log.is_file() else []
        seconds = [float(r["seconds"]) for r in rows]
        if seconds:
            epoch_s[recipe] = sum(seconds) / len(seconds)
        if len(seconds) >= epochs:
            out.append({"part": f"train {name}", "seconds": sum(seconds[:epochs]),
                        "kind": "measured", "detail": f"{epochs} epochs in its log.csv"})
        else:
            per_epoch = epoch_s.get(recipe) or epoch_s.get("dense")
            if per_epoch is None:
                continue
            source = recipe if recipe in epoch_s else "dense"
            out.append({"part": f"train {name}", "seconds": per_epoch * epochs,
                        "kind": "extrapolated",
                        "detail": f"{epochs} epochs x {per_epoch:.0f} s (mean epoch of the "
                                  f"{source} run's log; {len(seconds)} epochs logged)"})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 images, 4 MC samples")
    parser.add_argument("--profile", default="cpu", help="profile to cost (default: cpu)")
    parser.add_argument("--out", default="", help="CSV (default: results/bench/fashion.csv; "
                                                  "--quick: fashion-quick.csv)")
    parser.add_argument("--units-from", default="",
                        help="take the unit costs from this earlier CSV instead of measuring "
                             "them (recost a changed profile without a minute of MXNet)")
    args = parser.parse_args(argv)
    out = args.out or str(ROOT / "results" / "bench" / ("fashion-quick.csv" if args.quick
                                                        else "fashion.csv"))
    rates = RATES
    if args.units_from:
        with open(args.units_from, newline="") as handle:
            units = {r["part"][len("unit "):]: float(r["seconds"]) for r in csv.DictReader(handle)
                     if r["part"].startswith("unit ")}
        unit = cost.UnitCost(**units)
    else:
        unit = unit_costs(256 if args.quick else 512, 4 if args.quick else 10)
    rows = [{"part": f"unit {k}", "seconds": v, "kind": "measured",
             "detail": "seconds per image per pass (MC sample)"
                       + ("; measured by an earlier run of this script (--units-from)"
                          if args.units_from else "")}
            for k, v in vars(unit).items()]
    rows += training_rows(args.profile, rates)
    for name, passes in cost.eval_passes(args.profile, rates=rates).items():
        rows.append({"part": f"eval {name}", "seconds": cost.seconds(passes, unit),
                     "kind": "extrapolated", "detail": "passes counted x unit costs"})
    for model, passes in cost.adaptive_passes(args.profile).items():
        rows.append({"part": f"adaptive {model}", "seconds": cost.seconds(passes, unit),
                     "kind": "extrapolated", "detail": "passes counted x unit costs"})
    total = sum(r["seconds"] for r in rows if not r["part"].startswith("unit"))
    rows.append({"part": "total", "seconds": total, "kind": "sum", "detail": "every part above"})
    for r in rows:
        r["hours"] = round(r["seconds"] / 3600, 3)
        r["seconds"] = round(r["seconds"], 6 if r["part"].startswith("unit") else 1)
        print(f"{r['part']:34s} {r['seconds']:>12} s {r['hours']:>8.2f} h  {r['kind']}")
    write_rows(out, [{**r, "profile": args.profile} for r in rows], args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
