"""Core performance targets, measured as ratios in one process on this machine's CPU.

1. SAP-100 forward / dense forward: hybridized ResNet-20, batch 128.  Target <= 2.0.
2. FGSM with 100 MC samples on SAP-100 / (100 x dense forward+backward), batch 128.  Target <= 1.5.

Both models are the same ResNet-20 (``defend(net, 'sap')`` shares the dense model's weights).
Its BatchNorm statistics are first set by train-mode passes over random images so that the
activation maps have a realistic share of zeros (the sampler's work depends on it); the
weights are the initial ones (the timing does not depend on them). Timings alternate between
the two models and the ratio uses medians, which keeps a noisy shared CPU from biasing it.

Threads: MXNet 1.9.1 runs each CPU operator on one OpenMP thread unless OMP_NUM_THREADS is set;
``import sap_mx`` sets it to the core count when it comes first (the project's default). Both
configurations are measured, each in its own process: ``omp_all_cores`` (the project default:
MXNet and the SAP operator on every core) and ``mxnet_default`` (OMP_NUM_THREADS unset, MXNet
imported first: MXNet operators on one thread, the SAP operator still on every core).

Run: ``python benchmarks/bench_core.py [--quick] [--out results/bench/core.csv]``.
"""
from __future__ import annotations

import os
import resource
import statistics
import sys
import time

import mxnet as mx  # first, so that the parent's environment decides MXNet's threads
import numpy as np

import sap_mx
from sap_mx import ops
from sap_mx.attacks import fgsm, input_gradient
from sap_mx.models import initialize, resnet20

from children import parse_bench_args, run_per_config

BATCH = 128


def timed(fn) -> float:
    start = time.perf_counter()
    out = fn()
    (out[0] if isinstance(out, (list, tuple)) else out).wait_to_read()
    return time.perf_counter() - start


def build(seed: int = 0):
    mx.random.seed(seed)
    np.random.seed(seed)
    dense = resnet20()
    initialize(dense, seed=seed)
    dense.hybridize(static_alloc=True, static_shape=True)
    with mx.autograd.train_mode():  # BatchNorm statistics from random images
        for _ in range(20):
            dense(mx.nd.random.uniform(0, 255, (BATCH, 3, 32, 32)))
    x = mx.nd.random.uniform(0, 255, (BATCH, 3, 32, 32))
    y = mx.nd.array(np.random.randint(0, 10, BATCH))
    return dense, x, y


def forward_ratio(dense, sap, x, reps: int):
    for net in (dense, sap):
        for _ in range(3):
            net(x).wait_to_read()
    t_dense, t_sap, faults = [], [], 0
    for _ in range(reps):
        t_dense.append(timed(lambda: dense(x)))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t_sap.append(timed(lambda: sap(x)))
        faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return statistics.median(t_sap) / statistics.median(t_dense), t_dense, t_sap, faults / reps


def fgsm_ratio(dense, sap, x, y, mc: int, reps: int):
    def grad():
        return input_gradient(dense, x, y, mc_samples=1)

    for _ in range(3):
        grad().wait_to_read()
    fgsm(sap, x, y, 2.0, mc_samples=min(mc, 8)).wait_to_read()  # warm the SAP graphs
    t_dense, t_fgsm = [], []
    for _ in range(reps):
        t_dense += [timed(grad) for _ in range(3)]
        t_fgsm.append(timed(lambda: fgsm(sap, x, y, 2.0, mc_samples=mc)))
        t_dense += [timed(grad) for _ in range(3)]
    unit = statistics.median(t_dense)
    return statistics.median(t_fgsm) / (mc * unit), t_dense, t_fgsm


def measure(quick: bool) -> list[dict]:
    """Both ratios in this process; returns CSV rows without provenance."""
    reps_fwd, reps_fgsm, mc = (10, 1, 20) if quick else (30, 2, 100)
    dense, x, y = build()
    backend = ops.backend()
    sap = sap_mx.defend(dense, "sap", frac=1.0)
    r_fwd, td, ts, faults = forward_ratio(dense, sap, x, reps_fwd)
    r_fgsm, tg, tf = fgsm_ratio(dense, sap, x, y, mc, reps_fgsm)
    common = {"batch": BATCH, "sap_backend": backend,
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset")}
    # the portable backend, for reference (no target)
    ops.set_backend("python")
    sap_py = sap_mx.defend(dense, "sap", frac=1.0)
    r_py, tpd, tps, _ = forward_ratio(dense, sap_py, x, 3)
    ops.set_backend(backend)
    return [
        {"metric": "sap100_python_backend_forward_over_dense_forward", "value": round(r_py, 3),
         "target": "", "met": "", "reps": 3,
         "detail": f"median dense {statistics.median(tpd) * 1e3:.1f} ms; "
                   f"median SAP-100 (python backend) {statistics.median(tps) * 1e3:.1f} ms",
         **{**common, "sap_backend": "python"}},
        {"metric": "sap100_forward_over_dense_forward", "value": round(r_fwd, 3), "target": 2.0,
         "met": r_fwd <= 2.0, "reps": reps_fwd,
         "detail": f"median dense {statistics.median(td) * 1e3:.1f} ms; "
                   f"median SAP-100 {statistics.median(ts) * 1e3:.1f} ms (max "
                   f"{max(ts) * 1e3:.1f}); minor page faults per SAP-100 forward {faults:.0f}",
         **common},
        {"metric": f"fgsm_mc{mc}_sap100_over_{mc}x_dense_fwd_bwd", "value": round(r_fgsm, 3),
         "target": 1.5, "met": r_fgsm <= 1.5, "reps": reps_fgsm,
         "detail": f"median dense fwd+bwd {statistics.median(tg) * 1e3:.1f} ms; "
                   f"median FGSM {statistics.median(tf):.2f} s", **common},
    ]


CONFIGS = {  # name -> environment changes for the measuring process
    "omp_all_cores": {"OMP_NUM_THREADS": str(os.cpu_count() or 1)},
    "mxnet_default": {"OMP_NUM_THREADS": None},
}


def main(argv=None) -> int:
    args = parse_bench_args(argv, __doc__, "core", "fewer repetitions, 20 MC samples", child=True)
    return run_per_config(args, __file__, CONFIGS, measure, width=50)


if __name__ == "__main__":
    sys.exit(main())
