"""Profiles: how much data and compute a run uses, by name.

Every driver describes its budget as a frozen, keyword-only dataclass (``TrainProfile``,
``EvalProfile``, ``AdaptiveProfile``, ``MnistProfile``, ``AtariProfile``) and registers one
instance per profile name in a ``Profiles`` table; ``table.get(name)`` is the one lookup, with
the one error message. The names mean the same everywhere:

* ``paper``: the paper's recipe and sizes exactly (real data);
* ``quick``: real data, reduced, for a first look in CPU time;
* ``smoke``: generated data in the official file formats, seconds to minutes; its rows say
  ``smoke`` and land in ``results/smoke/`` (never results).
"""
from __future__ import annotations

from typing import Generic, Mapping, TypeVar

from .cli import UsageError

__all__ = ["Profiles", "PROFILE_NAMES"]

PROFILE_NAMES = ("paper", "quick", "smoke")

T = TypeVar("T")


class Profiles(Generic[T]):
    """A name -> settings table (``what`` names it in messages)."""

    def __init__(self, what: str, table: Mapping[str, T]):
        self.what, self.table = what, dict(table)

    def get(self, name: str) -> T:
        if name not in self.table:
            raise UsageError(f"unknown profile {name!r}; valid: {', '.join(self.table)} "
                             f"({self.what})")
        return self.table[name]

    def __getitem__(self, name: str) -> T:
        return self.table[name]

    def __contains__(self, name) -> bool:
        return name in self.table

    def __iter__(self):
        return iter(self.table)

    def items(self):
        return self.table.items()
