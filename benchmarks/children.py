"""Run a benchmark script once per thread configuration, each in its own process.

MXNet reads ``OMP_NUM_THREADS`` once, at import, so every configuration needs a fresh process:
the script is run again with ``--child`` (and ``--quick``), prints its rows as one JSON line,
and the parent labels them with the configuration's name.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

__all__ = ["run_configs", "verdict"]


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
