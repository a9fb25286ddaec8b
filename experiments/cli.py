"""What every driver shares: dataclass arguments as ``--flags``, one seeding block, and result
CSVs keyed by their settings (resumable runs)."""
from __future__ import annotations

import argparse
import csv
import dataclasses
import random
from dataclasses import field
from pathlib import Path

import mxnet as mx
import numpy as np

from sap_mx.results import write_csv

from .profiles import ROOT, UsageError

__all__ = ["arg", "parse_dataclass_args", "seed_all", "KeyedRows", "progress_bar", "rel", "cli_main",
           "save_figure"]


def arg(default, help_text: str):
    """A dataclass field that becomes ``--name`` with this help text."""
    return field(default=default, metadata={"help": help_text})


def parse_dataclass_args(cls, argv, prog: str, description: str):
    """An instance of the dataclass ``cls`` from the command line (bools: ``--x/--no-x``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default,
                                help=f.metadata["help"])
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=f.default, help=f.metadata["help"])
    return cls(**vars(parser.parse_args(argv)))


def seed_all(seed: int, salt: int) -> int:
    """Seed python, numpy and mxnet from (seed, salt); returns the mixed seed."""
    mixed = (seed * 1_000_003 + salt) % (2**31)
    random.seed(mixed)
    np.random.seed(mixed)
    mx.random.seed(mixed)
    return mixed


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


def progress_bar(enabled: bool, total: int, desc: str, unit: str = "batch"):
    """A tqdm bar on stderr (rate and ETA), or None when disabled."""
    if not enabled:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)


def rel(path) -> str:
    """``path`` relative to the repository when inside it (for messages and rows)."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def cli_main(run, parse, argv, errors) -> int:
    """``run(parse(argv))``; user mistakes (``errors``) become one ``error:`` line and exit 2;
    prints ``wrote <path>`` for every file ``run`` returns."""
    import sys

    try:
        written = run(parse(argv))
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {rel(path)}")
    return 0


def save_figure(fig, path, caption: str | None = None, *, fontsize: int = 9,
                dpi: int = 110) -> Path:
    """Lay out ``fig`` (with ``caption`` as its title), write it to ``path`` atomically (temp
    file, then rename) and close it; returns ``path``."""
    import os

    import matplotlib.pyplot as plt

    path = Path(path)
    if caption:
        fig.suptitle(caption, fontsize=fontsize)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    os.replace(tmp, path)
    return path
