"""Result CSVs keyed by their settings: the resumable-run bookkeeping of every driver."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sap_mx.io import write_csv

from .cli import UsageError

__all__ = ["KeyedRows", "mask_hex", "hex_mask"]


def mask_hex(ok) -> str:
    """Per-example correctness as hex (bits packed, first example in the high bit): the
    ``correct`` column of result rows, from which paired comparisons and worst cases are
    computed on the same images."""
    return np.packbits(np.asarray(ok, bool)).tobytes().hex()


def hex_mask(text: str, n: int) -> np.ndarray:
    """The ``n`` booleans of a ``correct`` column (``mask_hex``'s inverse)."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), np.uint8))[:n].astype(bool)


class KeyedRows:
    """The rows of one CSV keyed by the values of ``fields``; ``add`` rewrites the file
    atomically (temp file, then rename), so a run killed at any moment leaves the rows it had
    finished and nothing half-written, and a rerun can skip what ``has`` already."""

    def __init__(self, path, fields):
        self.path, self.fields, self.rows = Path(path), tuple(fields), {}
        if self.path.is_file():
            with open(self.path, newline="") as handle:
                reader = csv.DictReader(handle)
                missing = [f for f in self.fields if f not in (reader.fieldnames or ())]
                if missing:
                    raise UsageError(f"{self.path} lacks the columns {', '.join(missing)} "
                                     "(written by another version?); move it away to start anew")
                for row in reader:
                    self.rows[self.key(row)] = row

    def key(self, row) -> tuple:
        return tuple(str(row[k]) for k in self.fields)

    def has(self, row) -> bool:
        return self.key(row) in self.rows

    def add(self, rows) -> None:
        for row in rows:
            self.rows[self.key(row)] = {k: str(v) for k, v in row.items()}
        columns = list(dict.fromkeys(k for r in self.rows.values() for k in r))
        write_csv(self.path, [{k: r.get(k, "") for k in columns} for r in self.rows.values()])
