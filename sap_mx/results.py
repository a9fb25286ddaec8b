"""Result files: rows that say how they were made, written atomically (temp file, then rename)."""
from __future__ import annotations

import csv
import datetime as _dt
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["git_sha", "provenance", "write_csv"]


def git_sha(cwd: str | os.PathLike | None = None) -> str:
    """The checkout's commit (with '+dirty' for uncommitted changes), or 'unknown'."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, text=True,
                             capture_output=True, timeout=10).stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
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


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping]) -> Path:
    """Write ``rows`` (dicts with the same keys) to ``path`` atomically; returns the path."""
    rows = list(rows)
    if not rows:
        raise ValueError("no rows to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
