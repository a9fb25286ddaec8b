"""The adaptive evaluation's figure: one panel per model, accuracy against lambda under each
attack and their per-image worst case (``experiments.adaptive.draw`` picks each model's rows and
calls ``draw_panels``).

* Every attack in its registry style (``experiments.styles``), the worst case black and thick,
  in every panel.
* lambda = 0 is one point, the clean accuracy of one prediction (``clean_row``: the paper
  attack's row; nothing is attacked there). Rows of an older driver that attacked at 0 and
  ANDed those draws into the worst case (each a new draw of a stochastic model: their AND sat
  points below any one) are not drawn.
* Every panel shares one lambda axis, the union of the models' grids; points are joined only
  between neighbouring lambdas of it, so a model measured at 0 and 4 alone is two points with
  their intervals, not a line through values never measured.
* 95% Wilson intervals (``sap_mx.metrics.wilson_interval``) from each row's ``correct`` mask.
* A model whose clean accuracy is near chance (``styles.near_chance``) says so in its title.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from runkit.figures import interval_curve, pyplot, save_figure
from runkit.rows import hex_mask
from sap_mx.metrics import wilson_interval

from .datasets import DATASETS, MLP_DATASETS
from .styles import NEAR_CHANCE, STYLES, WORST_CASE, curve_style, near_chance

__all__ = ["draw_panels", "clean_row", "caption_for", "data_title", "attack_style", "DODGE"]

DODGE = 0.06   # lambda steps between neighbouring attacks' lone points at one lambda


def data_title(label: str) -> str:
    """The display name of a rows' ``data`` label or a results folder: ``fashion-mnist`` ->
    Fashion-MNIST; anything else (generated data) as it is."""
    for d in DATASETS.values():
        if label in (d.name, d.results):
            return d.title
    return MLP_DATASETS[label][0] if label in MLP_DATASETS else label


def clean_row(rows: Sequence[Mapping]) -> Mapping | None:
    """A model's clean accuracy as one prediction: the paper attack's row at lambda 0, else a
    worst-case row at 0 that combines one attack (as ``claims.Rows.clean`` reads it)."""
    zero = [r for r in rows if float(r["eps"]) == 0]
    found = [r for r in zero if r["attack"] == "paper"] or [
        r for r in zero if r["attack"] == WORST_CASE and r.get("combines")
        and "+" not in str(r["combines"])]
    return found[0] if found else None


def attack_style(attack: str):
    """An attack's registry style; APGD with restarts (``apgd-ce-r3``) as its attack."""
    base = re.sub(r"-r[0-9]+$", "", attack)
    return curve_style(attack if STYLES.known(attack) or not STYLES.known(base) else base)


def _count(row: Mapping) -> tuple[int, int]:
    n = int(row["n"])
    mask = row.get("correct")
    return (int(hex_mask(mask, n).sum()) if mask else int(round(float(row["accuracy"]) * n))), n


def _points(rows: Sequence[Mapping], attack: str, clean: Mapping | None) -> list:
    """(lambda, correct, n) of one attack's curve: its attacked lambdas, and lambda 0 as the
    clean prediction for the paper's attack and the worst case."""
    pts = [(float(r["eps"]), *_count(r)) for r in rows
           if r["attack"] == attack and float(r["eps"]) > 0]
    if clean is not None and attack in ("paper", WORST_CASE):
        pts.append((0.0, *_count(clean)))
    return sorted(pts)


def caption_for(*, title: str, data_label: str, profile: str, seed: int, n: Sequence[int],
                near: bool) -> str:
    """The figure's caption: the models (``title``, unless it is the dataset itself), the
    dataset once, profile, images, seed, and how to read the panels."""
    data = data_title(data_label)
    models = "" if data_title(title) == data else f" of {title}"
    images = "/".join(f"{k:,}" for k in sorted(set(n)))
    caption = (f"Adaptive evaluation{models} on {data}: profile {profile}, first {images} test "
               f"images, seed {seed}; per model, accuracy under each attack and their per-image "
               f"worst case (black); λ = 0: the clean accuracy, one prediction (nothing is "
               f"attacked there); band or bar: 95% Wilson interval; points are joined only "
               f"between neighbouring λ of the grid")
    if near:
        caption += (f"; near chance: clean accuracy below {NEAR_CHANCE:g} x chance, the model "
                    f"is broken without attack")
    if profile == "smoke":
        caption += "  [SMOKE: generated data, not results]"
    return caption


def draw_panels(panels: Sequence[tuple[str, Sequence[Mapping]]], path: Path, *, title: str,
                data_label: str, profile: str, seed: int, classes: int = 10) -> Path:
    """One panel per (panel title, the model's rows) of ``panels``, written to ``path``."""
    plt = pyplot()
    grid = sorted({float(r["eps"]) for _, rows in panels for r in rows
                   if "@" not in r["attack"]})
    cols = min(4, max(1, len(panels)))
    nrows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.4 * nrows), squeeze=False)
    near_any = False
    for ax, (heading, rows) in zip(axes.flat, panels, strict=False):
        clean = clean_row(rows)
        attacks = dict.fromkeys(r["attack"] for r in rows if "@" not in r["attack"])
        attacks.pop(WORST_CASE, None)
        drawn = [*attacks, WORST_CASE]   # longer runs (@): one lambda each, in the report
        for i, attack in enumerate(drawn):
            pts = _points(rows, attack, clean)
            if not pts:
                continue
            at = [grid.index(e) for e, _, _ in pts]
            joined = [b - a == 1 for a, b in zip(at, at[1:])]
            # a point that stands alone sits beside the other attacks' at its lambda, so that
            # their points and bars do not hide each other
            alone = [not (j and joined[j - 1]) and not (j < len(joined) and joined[j])
                     for j in range(len(at))]
            x = [a + DODGE * (i - (len(drawn) - 1) / 2) * lone for a, lone in zip(at, alone)]
            k, n = np.array([p[1] for p in pts]), np.array([p[2] for p in pts])
            lo, hi = wilson_interval(k, n)
            interval_curve(ax, x, 100 * k / n, 100 * lo, 100 * hi, attack_style(attack), attack,
                           joined=joined, band_alpha=0.1)
        if clean is not None:
            acc = _count(clean)[0] / int(clean["n"])
            if near_chance(acc, classes):
                heading += f"\nnear chance: {100 * acc:.1f}% clean"
                near_any = True
        ax.set_title(heading, fontsize=9)
        ax.set_xticks(range(len(grid)))
        ax.set_xticklabels([f"{e:g}" for e in grid], fontsize=7)
        ax.set(ylim=(0, 100), xlim=(-0.3, len(grid) - 0.7), xlabel="λ", ylabel="accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5.5)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    n = [int(r["n"]) for _, rows in panels for r in rows]
    caption = caption_for(title=title, data_label=data_label, profile=profile, seed=seed,
                          n=n or [0], near=near_any)
    return save_figure(fig, path, caption, dpi=100)
