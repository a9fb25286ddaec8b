"""Argument checks shared by the public API: each failure is a one-line ValueError that names the
argument, what was given and what is valid."""
from __future__ import annotations

import math
import numbers

__all__ = ["number", "positive", "draw_fraction", "non_negative", "fraction_open_closed",
           "fraction_closed_open",
           "count_at_least_one", "clip_range"]


def number(name: str, value) -> float:
    """A real, finite number (bools are refused: ``True`` is not a rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def positive(name: str, value) -> float:
    value = number(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


MAX_FRAC = 10_000.0  # draws per entry; the native sampler caps r = frac * a at 2^30 anyway


def draw_fraction(name: str, value) -> float:
    """SAP's number of draws as a fraction of the map size: in (0, 10000]."""
    value = positive(name, value)
    if value > MAX_FRAC:
        raise ValueError(f"{name} must be <= {MAX_FRAC:g} (draws per entry), got {value!r}")
    return value


def non_negative(name: str, value) -> float:
    value = number(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def fraction_open_closed(name: str, value) -> float:
    """A value in (0, 1]."""
    value = number(name, value)
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return value


def fraction_closed_open(name: str, value) -> float:
    """A value in [0, 1)."""
    value = number(name, value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def count_at_least_one(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def clip_range(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair, got {value!r}") from None
    lo, hi = number(f"{name}[0]", lo), number(f"{name}[1]", hi)
    if lo >= hi:
        raise ValueError(f"{name} must have low < high, got {value!r}")
    return lo, hi
