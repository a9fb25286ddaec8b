"""Time of one FGSM-MC-100 evaluation of 512 examples on SAP-100 on this CPU.

The paper (section 4.4): "Computing a single backward pass of the SAP-100 model for 512 examples
takes ~20 seconds on 8 GPUs. Using 100 and 1000 MC samples would take ~0.6 and ~6 hours
respectively." Here one evaluation is what ``experiments.image_eval`` does per 512 test images
for one SAP-100 FGSM row: the MC-100 input gradient (100 stochastic forward+backward passes) and
the 100-pass mean-softmax prediction of the perturbed images. Both are timed once, on a
hybridized ResNet-20 with random weights and images (the time does not depend on them), in
chunks of the driver's batch of 128.

Run: ``python benchmarks/bench_eval.py [--quick] [--out results/bench/eval.csv]``
(``make bench`` runs it).
"""
from __future__ import annotations

import os
import sys
import time

import sap_mx  # first: MXNet's OpenMP threads, the project default

from sap_mx.attacks import fgsm_step, input_gradient

from children import parse_bench_args, timing_resnet, write_rows

EXAMPLES, CHUNK = 512, 128


def measure(mc: int) -> dict:
    _, sap, x, y = timing_resnet(EXAMPLES, CHUNK)
    # warm the graphs of every shape used below
    input_gradient(sap, x[:CHUNK], y[:CHUNK], mc_samples=2).wait_to_read()
    sap_mx.predict_proba(sap, x[:CHUNK], mc_samples=2).wait_to_read()

    grad_s = predict_s = 0.0
    for start in range(0, EXAMPLES, CHUNK):
        xb, yb = x[start:start + CHUNK], y[start:start + CHUNK]
        t0 = time.perf_counter()
        g = input_gradient(sap, xb, yb, mc_samples=mc)
        g.wait_to_read()
        t1 = time.perf_counter()
        sap_mx.predict_proba(sap, fgsm_step(xb, g, 2.0), mc_samples=mc).wait_to_read()
        t2 = time.perf_counter()
        grad_s, predict_s = grad_s + t1 - t0, predict_s + t2 - t1
    total = grad_s + predict_s
    return {
        "metric": f"fgsm_mc{mc}_evaluation_512_examples_sap100_s", "value": round(total, 1),
        "gradient_s": round(grad_s, 1), "prediction_s": round(predict_s, 1),
        "examples": EXAMPLES, "mc_samples": mc,
        "test_set_10000_h_extrapolated": round(total * 10_000 / EXAMPLES / 3600, 2),
        "detail": "one timed run; gradient = MC input gradient; prediction = mean softmax of "
                  f"{mc} passes on the FGSM images (lambda = 2); chunks of {CHUNK}; the 10,000 "
                  "image figure is extrapolated (x 10000/512), not run"}


def main(argv=None) -> int:
    args = parse_bench_args(argv, __doc__, "eval", "10 MC samples instead of 100")
    row = measure(10 if args.quick else 100)
    print(f"FGSM-MC-{row['mc_samples']} evaluation of 512 examples on SAP-100: {row['value']} s "
          f"(gradient {row['gradient_s']} s, prediction {row['prediction_s']} s); 10,000 test "
          f"images ~{row['test_set_10000_h_extrapolated']} h per row (extrapolated)", flush=True)
    write_rows(args.out, [row], args.quick,
               omp_num_threads=os.environ.get("OMP_NUM_THREADS", "unset"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
