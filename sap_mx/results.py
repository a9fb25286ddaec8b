"""Result files: rows that say how they were made (``provenance``), written atomically by
``sap_mx.io.write_csv`` (re-exported here)."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

from .io import write_csv  # the one atomic writer (sap_mx.io)

__all__ = ["git_sha", "provenance", "write_csv"]


def git_sha(cwd: str | os.PathLike | None = None) -> str:
    """The checkout's commit (with '+dirty' for uncommitted changes), or 'unknown'.

    Changes under ``results/`` do not count: a long run writes its own rows and checkpoints
    there while it runs, and '+dirty' should mean that the code differs from the commit."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, text=True,
                             capture_output=True, timeout=10).stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":/", ":(top,exclude)results"], cwd=cwd,
                               text=True, capture_output=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict:
    """Commit, time (UTC), host CPU and core count, MXNet version."""
    import mxnet

    return {
        "git_sha": git_sha(),
        "utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "mxnet": mxnet.__version__,
    }
