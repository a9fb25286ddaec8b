"""What every driver shares: dataclass arguments as ``--flags``, and one seeding block."""
from __future__ import annotations

import argparse
import dataclasses
import random
from dataclasses import field

import mxnet as mx
import numpy as np

__all__ = ["arg", "parse_dataclass_args", "seed_all"]


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
