"""Training throughput of the CIFAR-10 recipes on this machine, and what a paper run would take.

For each recipe (dense, dropout-trained at rate 0.3, ADV) this times full training steps of the
driver (``sap_mx.training.train_step``, as ``experiments.image_train`` runs it: augmentation,
forward, backward, SGD update; ADV also makes its 20% FGSM examples) at the paper's batch of
512 on random CIFAR-shaped images, and the per-epoch test-set evaluation (10,000 images). From
the medians it **extrapolates** the time of one paper epoch (50,000 images: 97 steps plus
evaluation) and of a whole paper-profile run. These are extrapolations from a few steps, not
timed runs; the CSV says so in every row.

Run: ``python benchmarks/bench_train.py [--quick] [--out results/bench/train.csv]``
(``make bench`` runs it after ``bench_core.py``).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import sap_mx  # first: MXNet's OpenMP threads, the project default
import mxnet as mx
import numpy as np
from mxnet import gluon

from sap_mx.data import augment
from sap_mx.evaluate import accuracy
from sap_mx.models import initialize, resnet20
from sap_mx.recipes import PAPER_RECIPES

from children import parse_bench_args, write_rows
from sap_mx.training import adversarial_mix, copy_weights, train_step

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
RUNS = {"dense": 0.0, "dropout": 0.3, "adv": 0.0}   # recipe -> dropout rate timed


def prepare(recipe_name: str, rate: float, seed: int = 0):
    """A closure timing one full training step of ``recipe_name``, and its evaluation timer."""
    recipe = PAPER_RECIPES[recipe_name]
    batch = recipe.batch_size
    ctx = [mx.cpu()]
    net = initialize(resnet20(), ctx=ctx, seed=seed)  # as experiments.image_train builds it
    net.hybridize()
    model = sap_mx.defend(net, "dropout", rate=rate) if rate else net
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.05, "momentum": recipe.momentum, "wd": recipe.wd})
    snapshot = None
    if recipe.adv_fraction:
        snapshot = initialize(resnet20(), ctx=ctx[0])
        snapshot.hybridize()
        copy_weights(net, snapshot)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    rng = np.random.default_rng(seed)
    x_pool = rng.integers(0, 256, (2 * batch, 3, 32, 32), dtype=np.uint8)
    y_pool = rng.integers(0, 10, 2 * batch).astype(np.int32)

    def step() -> float:
        start = time.perf_counter()
        idx = rng.choice(len(x_pool), batch, replace=False)
        xb = mx.nd.array(augment(x_pool[idx], rng), dtype="float32")
        yb = mx.nd.array(y_pool[idx], dtype="float32")
        if snapshot is not None:
            xb, _ = adversarial_mix(snapshot, xb, yb, fraction=recipe.adv_fraction,
                                    eps=recipe.adv_eps)
        train_step(model, trainer, loss_fn, xb, yb, ctx, batch)  # syncs (asscalar)
        return time.perf_counter() - start

    x_eval = rng.integers(0, 256, (500, 3, 32, 32), dtype=np.uint8)
    y_eval = rng.integers(0, 10, 500)

    def evaluation() -> float:
        """Seconds for one epoch's test-set evaluation (dropout runs also score dropout-on)."""
        accuracy(net, x_eval, y_eval, batch=500, ctx=ctx[0])  # warm
        start = time.perf_counter()
        for _ in range(3):
            accuracy(net, x_eval, y_eval, batch=500, ctx=ctx[0])
        evals = 2 if recipe.dropout else 1
        return (time.perf_counter() - start) / 3 * (TEST_IMAGES / len(x_eval)) * evals

    return step, evaluation


def measure(steps: int, warmup: int) -> list[dict]:
    """Steps of the three recipes alternate (round robin), so that a noisy shared CPU slows all
    of them alike; each recipe's time is the median of its steps."""
    timers = {name: prepare(name, rate) for name, rate in RUNS.items()}
    for step, _ in timers.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in timers}
    for _ in range(steps):
        for name, (step, _) in timers.items():
            times[name].append(step())
    rows = []
    for name, (_, evaluation) in timers.items():
        recipe = PAPER_RECIPES[name]
        batch, step_s, eval_s = recipe.batch_size, statistics.median(times[name]), evaluation()
        steps_per_epoch = TRAIN_IMAGES // batch
        epoch_s = steps_per_epoch * step_s + eval_s
        rows.append({
            "recipe": name, "rate": RUNS[name], "batch": batch,
            "images_per_s": round(batch / step_s, 1), "step_ms": round(step_s * 1e3, 1),
            "eval_s_per_epoch": round(eval_s, 1), "epoch_s_extrapolated": round(epoch_s, 1),
            "paper_epochs": recipe.epochs,
            "paper_run_h_extrapolated": round(recipe.epochs * epoch_s / 3600, 2),
            "steps_timed": steps,
            "detail": f"median of {steps} steps (recipes alternating) after {warmup} warm-up, "
                      f"random images; epoch = {steps_per_epoch} steps + test evaluation; "
                      "extrapolated, not run"})
    return rows


def main(argv=None) -> int:
    args = parse_bench_args(argv, __doc__, "train", "3 timed steps per recipe")
    steps, warmup = (3, 1) if args.quick else (8, 2)
    rows = measure(steps, warmup)
    for row in rows:
        print(f"{row['recipe']:8s} {row['images_per_s']:7.1f} img/s  "
              f"step {row['step_ms']:7.1f} ms  "
              f"epoch ~{row['epoch_s_extrapolated'] / 60:5.1f} min  paper run "
              f"({row['paper_epochs']} epochs) ~{row['paper_run_h_extrapolated']:.1f} h "
              "(extrapolated)", flush=True)
    write_rows(args.out, rows, args.quick,
               omp_num_threads=os.environ.get("OMP_NUM_THREADS", "unset"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
