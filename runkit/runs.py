"""A training run's folder: one place for the rules every trainer follows.

``RunFolder(path, config=...)``:

* ``lock()``: one process per folder (a second one gets a one-line error);
* ``discard()``: ``--fresh`` removes what the run wrote (checkpoint, outputs), nothing else;
* ``finished(match)``: the record of a finished run (``final.json`` and ``final.params``) when
  ``match(record)`` says it is this run, so a rerun does not train again;
* ``resume(restore)``: the checkpoint's meta after checking it was written by a run of the same
  configuration (else a one-line error naming ``--fresh`` / ``--out``) and restoring it with
  ``restore(meta, files)``; an altered, incomplete or unloadable checkpoint is a one-line
  ``CheckpointError`` naming ``--fresh``. An interrupted checkpoint swap is finished first
  (``sap_mx.checkpoint``).
* ``save(writers, meta)``: an atomic checkpoint carrying the configuration;
* ``finish(record, write_params)``: ``final.params`` and ``final.json``, each atomic; with
  ``manifest=True`` the weights' SHA-256 goes into the models folder's ``SHA256SUMS``
  (``runkit.manifest``), which loaders check.
"""
from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path
from typing import Callable

from sap_mx import checkpoint
from sap_mx.checkpoint import CheckpointError
from sap_mx.io import atomic_write

from . import manifest
from .cli import UsageError

__all__ = ["RunFolder", "CheckpointError"]

FINAL_PARAMS, FINAL_JSON = "final.params", "final.json"


def _jsonable(value):
    return json.loads(json.dumps(value))


class RunFolder:
    """The folder of one training run (see the module docstring).

    Parameters
    ----------
    path : Path
        The run folder.
    config : dict
        What a checkpoint must match to be resumed (JSON-able).
    outputs : tuple of str
        Files the run writes beside its checkpoint; ``discard`` removes them (and
        ``final.params`` / ``final.json``, and per-rank ``final.rank*.params``).
    compare : callable, optional
        Maps a configuration to the part that must match (default: all of it).
    manifest : bool
        Record ``final.params``'s SHA-256 in ``<parent folder>/SHA256SUMS`` when the run
        finishes (weights meant to be committed and checked on load).
    """

    def __init__(self, path, *, config: dict, outputs=(), compare: Callable | None = None,
                 manifest: bool = False):
        self.path, self.config = Path(path), _jsonable(config)
        self.manifest = manifest
        self.outputs = tuple(outputs) + (FINAL_PARAMS, FINAL_JSON)
        self.compare = compare or (lambda c: c)
        self._lock = None

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint"

    def lock(self) -> "RunFolder":
        """An exclusive lock on the folder for this process (released when it exits)."""
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"--out {self.path} is a file; name a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / ".lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise UsageError(f"{self.path} is in use by another training process; wait for it "
                             "or pass --out to train elsewhere") from None
        self._lock = handle
        return self

    def unlock(self) -> None:
        """Release the lock (a process's locks also go when it exits)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def discard(self) -> None:
        """``--fresh``: remove the checkpoint and every file the run wrote here."""
        for name in ("checkpoint", "checkpoint.old"):
            shutil.rmtree(self.path / name, ignore_errors=True)
        for stale in self.path.glob(".checkpoint.*"):
            shutil.rmtree(stale, ignore_errors=True)
        for name in self.outputs:
            (self.path / name).unlink(missing_ok=True)
        for stale in self.path.glob("final.rank*.params"):
            stale.unlink()

    def finished(self, match: Callable[[dict], bool]) -> dict | None:
        """The final record when the run finished and ``match(record)``; else None."""
        final_json = self.path / FINAL_JSON
        if not (final_json.is_file() and (self.path / FINAL_PARAMS).is_file()):
            return None
        try:
            record = json.loads(final_json.read_text())
        except ValueError:
            return None
        return record if match(record) else None

    def resume(self, restore: Callable[[dict, dict], None]) -> dict | None:
        """The checkpoint's meta (after ``restore(meta, files)``), or None when there is none."""
        if not checkpoint.exists(self.checkpoint):
            return None
        try:
            meta, files = checkpoint.load(self.checkpoint)
        except CheckpointError as err:
            raise CheckpointError(f"{err}; pass --fresh to discard it") from None
        if self.compare(_jsonable(meta.get("config") or {})) != self.compare(self.config):
            raise CheckpointError(f"{self.checkpoint} holds a run with a different "
                                  "configuration; pass --fresh to discard it or --out to train "
                                  "elsewhere")
        try:
            restore(meta, files)
        except KeyError as missing:
            raise CheckpointError(f"{self.checkpoint} lacks {missing} (written by another "
                                  "version?); pass --fresh to discard it") from None
        except Exception as err:  # noqa: BLE001 - MXNet raises MXNetError/AssertionError/...
            raise CheckpointError(f"checkpoint at {self.checkpoint} cannot be loaded "
                                  f"({type(err).__name__}); pass --fresh to discard it") from None
        return meta

    def save(self, writers: dict, meta: dict) -> None:
        """An atomic checkpoint of ``writers`` with ``meta`` and this run's configuration."""
        checkpoint.save(self.checkpoint, writers, {**meta, "config": self.config})

    def finish(self, record: dict, write_params: Callable[[str], None] | None,
               params_name: str = FINAL_PARAMS) -> None:
        """``final.params`` (when ``write_params``) and ``final.json`` (when ``record``)."""
        if write_params is not None:
            atomic_write(self.path / params_name, write_params)
            if self.manifest and params_name == FINAL_PARAMS:
                manifest.record(self.path / FINAL_PARAMS)
        if record is not None:
            atomic_write(self.path / FINAL_JSON, json.dumps(record, indent=1))
