"""The look of every model and attack in every figure: ``STYLES``, one registry
(``runkit.styles.Styles``) keyed by the labels the figures print (``zoo.model_label``: dense,
SAP-100, ADV+SAP-100, RNW-0.02; the adaptive evaluation's attacks: paper, pgd, worst-case).

* **Models.** dense is black, SAP-100 red, ADV blue, ADV+SAP-100 purple (the paper's four, in
  every figure); every other grid is a family with a colour map of its own, a shade and a
  marker per value in the grid's order (SAP-k: viridis; dropout added post hoc: greens; the
  dropout-trained models: blues, dot-dashed with dropout off; RNW oranges, RSW purples, DWP
  yellow-browns, SWP pinks, RNA blue-greens, RSA green-blues).
* **Attacks** (the adaptive figure): one colour per method (the paper's FGSM grey, PGD
  orange, APGD green, PGD through BPDA pink, PGD transferred from the twin brown), solid with
  the cross-entropy, dashed with a margin loss (margin, DLR); the worst case black, thick.
* **Variants of a model's curve** (``curve_style``): on Fig. 5's selection images dashed and
  thin; attacked through another model (``vs dense``) dotted, with that model's marker; attacked
  with fewer MC samples than 100 lighter (the fewer, the lighter) with a marker per decade.
* **Near chance.** A model whose clean accuracy is below ``NEAR_CHANCE`` times chance
  (1 / classes: 20% on ten classes) has lost what it learned; ``legend_label`` says so in its
  legend entry. (The claims table's *at chance*, within 2 points, is stricter: it decides which
  SAP-k can show the few-samples trade-off.)

``rl.figure`` draws the Atari agents (dense, SAP-100) and the paper's Table 1 from here too.
"""
from __future__ import annotations

import math

from runkit.styles import Family, Style, Styles

__all__ = ["STYLES", "WORST_CASE", "NEAR_CHANCE", "curve_style", "near_chance", "legend_label",
           "mc_variant"]

WORST_CASE = "worst-case"
_NUM = r"(?P<param>[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?)"   # a number as ``%g`` writes it

STYLES = Styles(
    exact={
        # the paper's four models
        "dense": Style("#000000", "o", linewidth=1.8),
        "SAP-100": Style("#d62728", "^", linewidth=2.0),
        "ADV": Style("#1f77b4", "s", linewidth=1.8),
        "ADV+SAP-100": Style("#9467bd", "D", linewidth=2.0),
        # the adaptive evaluation's attacks (experiments.adaptive.ATTACKS) and their worst case
        "paper": Style("#7f7f7f", "o", linewidth=1.2),
        "pgd": Style("#ff7f0e", "s", linewidth=1.2),
        "pgd-margin": Style("#ff7f0e", "s", "--", linewidth=1.2),
        "apgd-ce": Style("#2ca02c", "^", linewidth=1.2),
        "apgd-dlr": Style("#2ca02c", "v", "--", linewidth=1.2),
        "pgd-bpda": Style("#e377c2", "D", linewidth=1.2),
        "pgd-bpda-margin": Style("#e377c2", "D", "--", linewidth=1.2),
        "transfer-pgd": Style("#8c564b", "X", linewidth=1.2),
        "transfer-pgd-margin": Style("#8c564b", "X", "--", linewidth=1.2),
        WORST_CASE: Style("#000000", "*", linewidth=2.6),
        # the paper's own numbers where a figure draws them (Atari, Table 1)
        "paper (Table 1)": Style("#7f7f7f", "s", "--", linewidth=1.2),
    },
    families=(
        Family(rf"SAP-{_NUM}", "viridis", 5, 500, shades=(0.0, 0.85)),
        Family(rf"dropout-{_NUM}", "Greens", 0.1, 0.7, shades=(0.45, 0.95)),
        Family(rf"dropout{_NUM}\+dropout-[0-9.e-]+", "Blues", 0.1, 0.5, shades=(0.5, 0.95)),
        Family(rf"dropout{_NUM}", "Blues", 0.1, 0.5, shades=(0.5, 0.95), linestyle="-."),
        Family(rf"RNW-{_NUM}", "Oranges", 0.005, 0.05),
        Family(rf"RSW-{_NUM}", "Purples", 0.05, 0.5, shades=(0.45, 0.95)),
        Family(rf"DWP-{_NUM}", "YlOrBr", 30, 90, shades=(0.45, 0.9)),
        Family(rf"SWP-{_NUM}", "PuRd", 50, 500, shades=(0.4, 0.9)),
        Family(rf"RNA-{_NUM}", "BuGn", 0.1, 2, shades=(0.45, 0.95)),
        Family(rf"RSA-{_NUM}", "GnBu", 0.1, 1, shades=(0.45, 0.95)),
    ))

NEAR_CHANCE = 2.0       # clean accuracy below this many times chance: near chance
SELECTION = {"linestyle": "--", "linewidth": 1.0}      # Fig. 5's selection images
TRANSFER_LINESTYLE = ":"                               # attacked through another model
MC_MARKERS = ("v", "s", "^", "D", "*")   # adversary MC samples 1, 2-10, 11-100, 101-1000, more


def mc_variant(style: Style, mc: int) -> Style:
    """``style`` for an adversary with ``mc`` MC samples: lighter the fewer it has below 100
    (blended with white, 0.3 per decade), a marker per decade (100 keeps a triangle, as
    SAP-100's own curve under the paper's 100)."""
    from matplotlib.colors import to_hex, to_rgb

    decades = math.log10(max(1, mc))
    white = min(0.6, 0.3 * max(0.0, 2 - decades))
    rgb = tuple(c + (1 - c) * white for c in to_rgb(style.color))
    return style.but(color=to_hex(rgb),
                     marker=MC_MARKERS[min(len(MC_MARKERS) - 1, math.ceil(decades - 1e-9))])


def curve_style(label: str, *, adversary: str | None = None, mc: int | None = None,
                selection: bool = False) -> Style:
    """The style of a curve of model ``label``: its registry style, varied (see the module
    docstring) when it was attacked through another model (``adversary``: that model's label),
    by an adversary with ``mc`` MC samples (a stochastic model attacked through itself), or on
    Fig. 5's selection images."""
    style = STYLES(label)
    if adversary is not None and adversary != label:
        style = style.but(linestyle=TRANSFER_LINESTYLE, marker=STYLES(adversary).marker)
    elif mc is not None:
        style = mc_variant(style, mc)
    if selection:
        style = style.but(**SELECTION)
    return style


def near_chance(clean: float, classes: int = 10) -> bool:
    """Whether a clean accuracy (a fraction) is below ``NEAR_CHANCE`` times chance."""
    return clean < NEAR_CHANCE / classes


def legend_label(label: str, clean: float | None, classes: int = 10) -> str:
    """``label``, marked when its model is near chance without attack."""
    if clean is not None and near_chance(clean, classes):
        return f"{label}: near chance ({100 * clean:.1f}% clean)"
    return label
