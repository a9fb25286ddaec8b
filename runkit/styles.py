"""One look per label: a registry that gives every curve of every figure its colour, marker and
line style from its label alone, so a label looks the same in every panel of every figure.

A ``Styles`` registry answers a label from, in order:

1. its exact entries (label -> ``Style``);
2. its families: a ``Family`` matches labels like ``SAP-<number>`` with a regular expression and
   picks a shade of its colour map and a marker from where the number lies between the
   family's ``lo`` and ``hi`` (on a log scale), so every number gets its own look, in order;
3. otherwise a look derived from the label's CRC-32 (``fallback``): stable across runs and
   machines, never the plotting library's colour cycle, whose next colour depends on what the
   axes drew before.

Nothing here names a model: the drivers fill a registry with their labels
(``experiments/styles.py``).
"""
from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

__all__ = ["Style", "Family", "Styles", "MARKERS", "FALLBACK_COLORS"]

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
# matplotlib's tab10, written out: a fallback colour never depends on a colour cycle
FALLBACK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


@dataclass(frozen=True)
class Style:
    """How one curve is drawn: what ``Axes.plot`` takes as ``color``, ``marker``,
    ``linestyle`` and ``linewidth``."""

    color: str
    marker: str = "o"
    linestyle: str = "-"
    linewidth: float = 1.5

    def kwargs(self) -> dict:
        """The keyword arguments of ``Axes.plot``."""
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle,
                "linewidth": self.linewidth}

    def but(self, **changes) -> "Style":
        """This style with some fields changed (a variant of a label keeps the rest)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Family:
    """Labels matching ``pattern`` (a regular expression with a group ``param``, a number):
    colour ``cmap(shade)``, where ``shade`` runs from ``shades[0]`` at ``lo`` to ``shades[1]``
    at ``hi`` on a log scale (clipped outside), and the marker of ``markers`` at the same
    place, so every member of a grid gets its own shade and marker, in the grid's order."""

    pattern: str
    cmap: str
    lo: float
    hi: float
    shades: tuple[float, float] = (0.35, 0.9)
    markers: tuple[str, ...] = MARKERS[:7]
    linestyle: str = "-"
    linewidth: float = 1.5

    def match(self, label: str) -> float | None:
        found = re.fullmatch(self.pattern, label)
        return float(found.group("param")) if found else None

    def place(self, param: float) -> float:
        """Where ``param`` lies between ``lo`` (0) and ``hi`` (1), on a log scale."""
        if param <= 0 or self.lo == self.hi:
            return 0.0
        t = math.log(param / self.lo) / math.log(self.hi / self.lo)
        return min(1.0, max(0.0, t))

    def style(self, param: float) -> Style:
        from matplotlib import colormaps
        from matplotlib.colors import to_hex

        t = self.place(param)
        shade = self.shades[0] + t * (self.shades[1] - self.shades[0])
        return Style(to_hex(colormaps[self.cmap](shade)),
                     self.markers[round(t * (len(self.markers) - 1))], self.linestyle,
                     self.linewidth)


@dataclass
class Styles:
    """A label -> ``Style`` registry (see the module docstring): ``exact`` entries first, then
    ``families``, else the label's ``fallback``."""

    exact: Mapping[str, Style]
    families: Sequence[Family] = field(default_factory=tuple)

    def __call__(self, label: str) -> Style:
        if label in self.exact:
            return self.exact[label]
        for family in self.families:
            param = family.match(label)
            if param is not None:
                return family.style(param)
        return self.fallback(label)

    def known(self, label: str) -> bool:
        """Whether ``label`` has an entry or a family (not only its ``fallback``)."""
        return label in self.exact or any(f.match(label) is not None for f in self.families)

    @staticmethod
    def fallback(label: str) -> Style:
        """A look from the label's CRC-32: the same on every run, whatever else is drawn."""
        h = zlib.crc32(label.encode())
        return Style(FALLBACK_COLORS[h % len(FALLBACK_COLORS)],
                     MARKERS[(h // len(FALLBACK_COLORS)) % len(MARKERS)])
