"""Atomic, verifiable checkpoints: a directory of files plus ``manifest.json``.

``save`` writes every file into a temporary sibling directory, records their SHA-256 in the
manifest, then swaps the directories with renames: a reader (or a crash, kill -9 included) sees
either the previous checkpoint or the new one, never a mix. ``load`` checks the manifest and the
hashes and raises ``CheckpointError`` with a one-line reason for anything missing or altered.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

from .errors import UserError
from .io import make_temp_dir, sha256_file

__all__ = ["CheckpointError", "save", "load", "exists"]

MANIFEST = "manifest.json"


class CheckpointError(UserError):
    """A checkpoint is missing, incomplete or corrupt."""


def _recover(path: Path) -> None:
    """Finish a swap interrupted between or after its renames, and drop temp folders that a
    crash left behind."""
    old = path.with_name(path.name + ".old")
    if not path.exists() and old.exists():
        os.replace(old, path)
    elif old.exists() and (path / MANIFEST).is_file():
        shutil.rmtree(old, ignore_errors=True)
    for stale in path.parent.glob(f".{path.name}.*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def exists(path) -> bool:
    path = Path(path)
    _recover(path)
    return (path / MANIFEST).is_file()


def save(path, writers: dict[str, Callable[[str], None]], meta: dict) -> Path:
    """Write a checkpoint at ``path``: ``writers[name](filename)`` writes each file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover(path)
    tmp = make_temp_dir(path.parent, prefix=f".{path.name}.")
    try:
        hashes = {}
        for name, write in writers.items():
            write(str(tmp / name))
            hashes[name] = sha256_file(tmp / name)
        with open(tmp / MANIFEST, "w") as handle:
            json.dump({"files": hashes, "meta": meta}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        old = path.with_name(path.name + ".old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def load(path) -> tuple[dict, dict[str, str]]:
    """(meta, {name: file path}) of a verified checkpoint."""
    path = Path(path)
    _recover(path)
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise CheckpointError(f"no checkpoint at {path} (missing {MANIFEST})")
    try:
        with open(manifest) as handle:
            content = json.load(handle)
        hashes, meta = content["files"], content["meta"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"checkpoint at {path} is corrupt: unreadable {MANIFEST} "
                              f"({type(err).__name__})") from None
    files = {}
    for name, digest in hashes.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint at {path} is incomplete: {name} is missing")
        if sha256_file(file) != digest:
            raise CheckpointError(f"checkpoint at {path} is corrupt: {name} does not match "
                                  "its recorded SHA-256")
        files[name] = str(file)
    return meta, files
