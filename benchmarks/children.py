"""What the benchmark scripts share: their command line, their CSV, and running a script once
per thread configuration, each in its own process.

MXNet reads ``OMP_NUM_THREADS`` once, at import, so every configuration needs a fresh process:
the script is run again with ``--child`` (and ``--quick``), prints its rows as one JSON line,
and the parent labels them with the configuration's name.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from runkit import ROOT, rel
from sap_mx.results import provenance, write_csv

__all__ = ["parse_bench_args", "write_rows", "run_per_config", "run_configs", "verdict",
           "timing_resnet"]


def timing_resnet(examples: int, chunk: int, channels: int = 3, size: int = 32, **model_kwargs):
    """(net, its SAP-100 copy, x, y) for timing: a seeded, hybridized ResNet-20 with random
    weights whose BatchNorm statistics come from a few image-like batches (so SAP sees a
    realistic share of zeros), and random images on 0..255 (the time does not depend on the
    values)."""
    import mxnet as mx
    import numpy as np

    import sap_mx
    from sap_mx.models import initialize, resnet20
    mx.random.seed(0)
    np.random.seed(0)
    net = resnet20(**model_kwargs)
    initialize(net, seed=0)
    net.hybridize(static_alloc=True)
    with mx.autograd.train_mode():
        for _ in range(10):
            net(mx.nd.random.uniform(0, 255, (chunk, channels, size, size)))
    sap = sap_mx.defend(net, "sap", frac=1.0)
    x = mx.nd.random.uniform(0, 255, (examples, channels, size, size))
    y = mx.nd.array(np.random.randint(0, 10, examples))
    return net, sap, x, y


def parse_bench_args(argv, doc: str, name: str, quick_help: str, *, child: bool = False):
    """``--quick`` (``quick_help``), ``--out`` (default ``results/bench/<name>.csv``, with
    --quick ``<name>-quick.csv``) and, for scripts run per configuration, a hidden ``--child``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default="", help=f"CSV to write (default: results/bench/"
                        f"{name}.csv, with --quick {name}-quick.csv)")
    if child:
        parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out = args.out or str(ROOT / "results" / "bench" / (f"{name}-quick.csv" if args.quick
                                                             else f"{name}.csv"))
    return args


def write_rows(out, rows, quick: bool, **extra) -> None:
    """The rows with the run's mode, ``extra`` columns and provenance, written atomically."""
    meta = provenance()
    path = write_csv(out, [{**r, **extra, "mode": "quick" if quick else "full", **meta}
                           for r in rows])
    print(f"wrote {rel(path)}")


def run_configs(script: str, configs: dict, quick: bool):
    """``[(name, row), ...]`` over ``configs`` (name -> environment changes, None unsets a
    variable), or None after printing the stderr of a child that failed."""
    out = []
    for name, changes in configs.items():
        env = dict(os.environ)
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        cmd = [sys.executable, script, "--child"] + (["--quick"] if quick else [])
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return None
        out += [(name, row) for row in json.loads(done.stdout.strip().splitlines()[-1])]
    return out


def verdict(row: dict) -> str:
    """'target <= X: met' / 'NOT met', or '' for a row without a target."""
    if row["target"] == "":
        return ""
    return f"target <= {row['target']}: {'met' if row['met'] else 'NOT met'}"


def run_per_config(args, script: str, configs: dict, measure, *, width: int, extra=None) -> int:
    """The ``main`` of a script measured once per configuration: as ``--child``, print
    ``measure(quick)`` as JSON; as the parent, run every configuration, print one line per row
    (metric padded to ``width``) and write the CSV; ``extra(name)`` adds columns per config."""
    if args.child:
        print(json.dumps(measure(args.quick)))
        return 0
    children = run_configs(script, configs, args.quick)
    if children is None:
        return 2
    rows = []
    for name, row in children:
        rows.append({"config": name, **row, **(extra(name) if extra else {})})
        print(f"{name:14s} {row['metric']:{width}s} {row['value']:8.2f}  {verdict(row)}   "
              f"({row['detail']})", flush=True)
    write_rows(args.out, rows, args.quick)
    return 0
