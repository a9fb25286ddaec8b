"""What a paper-profile ``make mnist-sdr`` costs on this CPU, measured on a few batches/images.

Times (a) one training epoch of each MLP (60,000 generated 28x28 images, batch 128, Adam; the
real MNIST costs the same) and (b) each attack of the paper profile on a handful of test images
for SDR-Learnable, under both protocols, and extrapolates to the paper profile (10,000 attacked
images; 50 epochs, SDR-Learnable 100). Extrapolations, not runs: the CSV says so in every row.

Run: ``python benchmarks/bench_mnist.py [--quick] [--out results/bench/mnist.csv]``
(``make bench`` runs it).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import sap_mx  # noqa: F401  (first: MXNet's OpenMP threads)
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments import mnist_sdr as ms  # noqa: E402
from sap_mx.data import load_mnist, write_mnist  # noqa: E402
from sap_mx.results import provenance, write_csv  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 attacked images, 10,000 images "
                                                             "per training epoch")
    parser.add_argument("--out", default="", help="CSV to write (default: results/bench/"
                        "mnist.csv, with --quick mnist-quick.csv)")
    args = parser.parse_args(argv)
    args.out = args.out or str(ROOT / "results" / "bench" / ("mnist-quick.csv" if args.quick
                                                             else "mnist.csv"))
    paper = ms.SETTINGS["paper"]
    n_train, n_images = (10_000, 2) if args.quick else (60_000, 8)
    rows, meta = [], provenance()
    with tempfile.TemporaryDirectory() as tmp:
        write_mnist(tmp, n_train=n_train, n_test=200, seed=0)
        (x, y), (xt, yt) = load_mnist(tmp, download=False)
    data = ((x.astype(np.float32) / 255, y), (xt.astype(np.float32) / 255, yt))
    one_epoch = ms.Settings(**{**paper.__dict__, "epochs": 1, "learnable_epochs": 1})
    nets = {}
    for name in ms.MODELS.values():
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            nets[name], _ = ms.train(name, ms.Args(profile="paper"), one_epoch, data, Path(tmp),
                                     progress=False)
            seconds = (time.perf_counter() - start) * 60_000 / n_train
        epochs = paper.learnable_epochs if name == "mlp_sdr_learnable" else paper.epochs
        rows.append({"what": f"train {name}", "seconds_measured_unit": round(seconds, 2),
                     "unit": "one epoch of 60,000 images (incl. test evaluation)",
                     "paper_profile_h_extrapolated": round(seconds * epochs / 3600, 3),
                     "detail": f"{epochs} epochs; measured on {n_train} images, scaled"})
    name = "mlp_sdr_learnable"
    for protocol in ("paper", "eot"):
        start = time.perf_counter()
        ms.attack_model(name, nets[name], xt[:n_images], yt[:n_images].astype(np.int64),
                        protocol, paper, seed=0, progress=False)
        per_image = (time.perf_counter() - start) / n_images
        rows.append({"what": f"attack {name} [{protocol}]",
                     "seconds_measured_unit": round(per_image, 3),
                     "unit": "one test image, all attacks (clean, FGSM search, fixed-eps FGSM, "
                             "DeepFool, LocalSearch)",
                     "paper_profile_h_extrapolated": round(per_image * (
                         paper.n_attack if protocol == "paper" else paper.n_attack_eot) / 3600, 2),
                     "detail": f"{paper.n_attack if protocol == 'paper' else paper.n_attack_eot} "
                               f"images; measured on {n_images} (an untrained-"
                               "for-long model: robust images cost more, so a lower bound)"})
    common = {"omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
              "mode": "quick" if args.quick else "full", **meta}
    rows = [{**r, **common} for r in rows]
    for r in rows:
        print(f"{r['what']:40s} {r['seconds_measured_unit']:9.3f} s per {r['unit'][:28]:28s} "
              f"paper profile ~{r['paper_profile_h_extrapolated']} h (extrapolated)", flush=True)
    path = write_csv(args.out, rows)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
