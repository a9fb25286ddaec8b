"""Where things are: the repository root, the results folder of a profile, and paths as
messages and rows show them (relative to the repository when inside it)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "rel", "results_dir"]

ROOT = Path(__file__).resolve().parents[1]


def results_dir(profile: str, *parts: str) -> Path:
    """``results/<parts>`` for real-data profiles, ``results/smoke/<parts>`` for ``smoke``
    (generated data: git-ignored, never mixed with results)."""
    base = ROOT / "results" / ("smoke" if profile == "smoke" else "")
    return base.joinpath(*parts) if parts else base


def rel(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when inside it (for messages and rows).

    The path as given (made absolute, symlinks kept) is tried first: a results folder linked
    into the checkout from elsewhere (a clean worktree that runs a long job and writes into the
    main checkout's ``results/``) still gives ``results/...``, the id rows are keyed by, not
    the link's target."""
    path = Path(path)
    for candidate in (Path(os.path.abspath(path)), path.resolve()):
        if candidate.is_relative_to(ROOT):
            return str(candidate.relative_to(ROOT))
    return str(path.resolve())
