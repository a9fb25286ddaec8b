"""What every command-line driver shares: dataclass arguments as ``--flags``, one seeding block,
progress bars, and one error path."""
from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from dataclasses import field

import numpy as np

from sap_mx.errors import UserError

from .paths import rel

__all__ = ["UsageError", "arg", "parse_dataclass_args", "seed_all", "progress_bar", "cli_main"]


class UsageError(UserError):
    """A command-line mistake (a bad flag or combination of flags)."""


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
    """The seeding block: python, numpy and mxnet from (seed, salt); returns the mixed seed."""
    import mxnet as mx

    mixed = (seed * 1_000_003 + salt) % (2**31)
    random.seed(mixed)
    np.random.seed(mixed)
    mx.random.seed(mixed)
    return mixed


def progress_bar(enabled: bool, total: int, desc: str, unit: str = "batch"):
    """A tqdm bar on stderr (rate and ETA), or None when disabled."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)


def cli_main(run, parse, argv) -> int:
    """``run(parse(argv))``: a ``UserError`` (any of the project's user mistakes) becomes one
    ``error:`` line and exit status 2, anything else keeps its traceback; prints
    ``wrote <path>`` for every file ``run`` returns."""
    try:
        written = run(parse(argv))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {rel(path)}")
    return 0
