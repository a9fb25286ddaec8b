"""Fig. 5's baselines: their parameter grids, and the one rule that picks each one's best parameter.

The paper shows every baseline at its most favourable parameter. Picking that parameter on the
images a verdict is then computed on would favour the baseline by the luck of the pick, so the
pick is made on *selection images* (``EvalProfile.select_n`` test images right after the
evaluation images; rows with ``offset`` > 0) and only the chosen parameter is attacked on the
evaluation images. ``best_param`` is that pick: ``experiments.image_eval`` uses it to decide what
to attack in its second stage, and ``experiments.claims`` to know which curve to judge, so the
two can never disagree.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

__all__ = ["BASELINE_GRIDS", "SELECT_EPS", "best_param"]

# grids (the paper's legends are not legible for all of them; these are our choices, docs)
BASELINE_GRIDS = {
    "rnw": (0.005, 0.01, 0.02, 0.05),   # s, additive weight noise
    "rsw": (0.05, 0.1, 0.2, 0.5),       # s, multiplicative weight noise
    "dwp": (90, 70, 50, 30),            # k, % of each weight tensor kept
    "swp": (50, 100, 200, 500),         # k, % of samples drawn per weight tensor
    "rna": (0.1, 0.5, 1.0, 2.0),        # s, additive activation noise
    "rsa": (0.1, 0.2, 0.5, 1.0),        # s, multiplicative activation noise
}
SELECT_EPS = (1, 2, 4)   # the lambdas whose mean accuracy ranks the parameters


def best_param(rows: Iterable[Mapping], grid: Sequence[float]) -> float | None:
    """The grid parameter with the highest mean accuracy over ``SELECT_EPS``.

    Parameters
    ----------
    rows : iterable of mapping
        The selection rows of one baseline, one curve per parameter (the caller keeps only the
        rows of one configuration: its checkpoint, images, MC samples); each has ``param``,
        ``eps`` and ``accuracy`` (strings or numbers).
    grid : sequence of float
        The baseline's grid, in its order: ties go to the first.

    Returns
    -------
    float or None
        The chosen parameter, or None until every parameter of ``grid`` has a row at every
        lambda of ``SELECT_EPS`` (a choice is never made on part of the grid).
    """
    accuracy: dict[tuple[float, float], float] = {}
    for r in rows:
        if r.get("param") in (None, ""):
            continue
        accuracy[(float(r["param"]), float(r["eps"]))] = float(r["accuracy"])
    best, best_score = None, -math.inf
    for param in grid:
        found = [accuracy.get((float(param), float(e))) for e in SELECT_EPS]
        if any(a is None for a in found):
            return None
        score = sum(found) / len(found)
        if score > best_score + 1e-9:    # a tie (up to rounding) keeps the earlier one
            best, best_score = float(param), score
    return best
