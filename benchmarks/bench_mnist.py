"""What a paper-profile ``make mnist-sdr`` costs on this CPU, measured on a few batches/images.

Times (a) one training epoch of each MLP (60,000 generated 28x28 images, batch 128, Adam; the
real MNIST costs the same) and (b) each attack of the paper profile on a handful of test images
for SDR-Learnable, under both protocols, and extrapolates to the paper profile (10,000 attacked
images; 50 epochs, SDR-Learnable 100). Extrapolations, not runs: the CSV says so in every row.

Run: ``python benchmarks/bench_mnist.py [--quick] [--out results/bench/mnist.csv]``
(``make bench`` runs it).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import sap_mx  # noqa: F401  (first: MXNet's OpenMP threads)
import numpy as np

from mxnet import gluon

from sap_mx import sdr
from sap_mx.data import load_mnist, write_mnist
from sap_mx.evaluate import accuracy
from sap_mx.models.mlp import SDRDecay

from children import parse_bench_args, write_rows

# What the paper profile of ``make mnist-sdr`` does (experiments/profiles.py, MNIST["paper"];
# tests/test_benchmarks.py checks that the two agree): epochs, attacked images, EOT passes and
# the attacks' budgets.
PAPER = {"epochs": 50, "learnable_epochs": 100, "n_attack": 10_000, "eot": 10,
         "n_attack_eot": 1_000, "fgsm_grid": 1000, "deepfool_steps": 50,
         "localsearch_rounds": 150, "batch": 128, "lr": 1e-3}
MODELS = ("mlp_vanilla", "mlp_sdr_decay", "mlp_sdr_learnable", "mlp_dropconnect")


def train_one_epoch(name: str, data) -> object:
    """One training epoch of ``name`` as the driver runs it (Adam, SDR rules, test accuracy)."""
    (x, y), (xt, yt) = data
    net = sdr.build_mlp(name)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": PAPER["lr"]})
    rule = SDRDecay(net, beta=sdr.SDR_DECAY["beta"], zeta=sdr.SDR_DECAY["zeta"],
                    tau=sdr.SDR_DECAY["tau"]) if name == "mlp_sdr_decay" else None
    bounds = ([sdr.SDR_LEARNABLE["min"], sdr.SDR_LEARNABLE["max"]]
              if name == "mlp_sdr_learnable" else None)
    sdr.train_epoch(net, trainer, gluon.loss.SoftmaxCrossEntropyLoss(), x, y,
                    batch=PAPER["batch"], order=np.random.default_rng(0).permutation(len(x)),
                    rule=rule, bounds=bounds)
    accuracy(net, xt, yt, batch=1000)
    return net


def main(argv=None) -> int:
    args = parse_bench_args(argv, __doc__, "mnist", "2 attacked images, 10,000 images per "
                            "training epoch")
    n_train, n_images = (10_000, 2) if args.quick else (60_000, 8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_mnist(tmp, n_train=n_train, n_test=200, seed=0)
        (x, y), (xt, yt) = load_mnist(tmp, download=False)
    data = ((x.astype(np.float32) / 255, y), (xt.astype(np.float32) / 255, yt))
    nets = {}
    for name in MODELS:
        start = time.perf_counter()
        nets[name] = train_one_epoch(name, data)
        seconds = (time.perf_counter() - start) * 60_000 / n_train
        epochs = PAPER["learnable_epochs"] if name == "mlp_sdr_learnable" else PAPER["epochs"]
        rows.append({"what": f"train {name}", "seconds_measured_unit": round(seconds, 2),
                     "unit": "one epoch of 60,000 images (incl. test evaluation)",
                     "paper_profile_h_extrapolated": round(seconds * epochs / 3600, 3),
                     "detail": f"{epochs} epochs; measured on {n_train} images, scaled"})
    name = "mlp_sdr_learnable"
    for protocol in ("paper", "eot"):
        start = time.perf_counter()
        sdr.table1_accuracies(nets[name], xt[:n_images], yt[:n_images].astype(np.int64),
                              eot=PAPER["eot"] if protocol == "eot" else 1,
                              fgsm_grid=PAPER["fgsm_grid"],
                              deepfool_steps=PAPER["deepfool_steps"],
                              localsearch_rounds=PAPER["localsearch_rounds"])
        per_image = (time.perf_counter() - start) / n_images
        paper_images = PAPER["n_attack"] if protocol == "paper" else PAPER["n_attack_eot"]
        rows.append({"what": f"attack {name} [{protocol}]",
                     "seconds_measured_unit": round(per_image, 3),
                     "unit": "one test image, all attacks (clean, FGSM search, fixed-eps FGSM, "
                             "DeepFool, LocalSearch)",
                     "paper_profile_h_extrapolated": round(per_image * paper_images / 3600, 2),
                     "detail": f"{paper_images} "
                               f"images; measured on {n_images} (an untrained-"
                               "for-long model: robust images cost more, so a lower bound)"})
    for r in rows:
        print(f"{r['what']:40s} {r['seconds_measured_unit']:9.3f} s per {r['unit'][:28]:28s} "
              f"paper profile ~{r['paper_profile_h_extrapolated']} h (extrapolated)", flush=True)
    write_rows(args.out, rows, args.quick,
               omp_num_threads=os.environ.get("OMP_NUM_THREADS", "unset"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
