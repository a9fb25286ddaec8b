"""Per-batch progress of a long task, so that ``kill -9`` loses at most the batch in progress.

A task (one model under one attack, say, over a thousand test images) keeps what it has
counted so far in a side file ``<folder>/.partial/<digest>.npz``, rewritten atomically after every
batch: the next batch's start and the task's arrays (per-example correctness, counts,
probabilities). A rerun of the same task (the same ``key``: every setting its numbers depend
on) continues from there; a task whose key changed starts over. The task removes the file once
its rows are written. Exact resumption needs each batch's randomness to come from its own seed
(the drivers seed every batch from (seed, task, batch start)).
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from sap_mx.io import atomic_write

__all__ = ["Partial"]


class Partial:
    """The side file of one task (see the module docstring)."""

    def __init__(self, folder, key: str):
        self.key = key
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        self.path = Path(folder) / ".partial" / f"{digest}.npz"

    def load(self) -> tuple[int, dict[str, np.ndarray]]:
        """(the next batch's start, the arrays saved with it), or (0, {}) for a new task."""
        if not self.path.is_file():
            return 0, {}
        try:
            with np.load(self.path, allow_pickle=False) as z:
                if str(z["__key"]) != self.key:
                    return 0, {}
                arrays = {k: z[k] for k in z.files if not k.startswith("__")}
                return int(z["__next"]), arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            # unreadable (a damaged file): start the task over
            return 0, {}

    def save(self, next_start: int, **arrays) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, __key=np.array(self.key), __next=np.array(next_start), **arrays)
        atomic_write(self.path, buffer.getvalue())

    def clear(self) -> None:
        """Remove the side file (and a temporary one a killed write left behind)."""
        self.path.unlink(missing_ok=True)
        for stale in self.path.parent.glob(f".{self.path.stem}.*"):
            stale.unlink(missing_ok=True)
