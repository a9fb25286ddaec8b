"""Figures of the image experiments, laid out like the paper's (accuracy in % against lambda).

``draw(experiment, csv_path, figure_dir, ...)`` reads the experiment's rows (one seed, profile and
test-set size) and writes its PNGs atomically; ``experiments.image_eval`` calls it after each run
and ``experiments.redraw`` (``make figures``) from the CSVs alone.

What every figure shows the same way:

* each model in its registry style (``experiments.styles``: the same colour, marker and line
  style for a label in every panel of every figure);
* each point's 95% Wilson interval (``sap_mx.metrics.wilson_interval``) from its count of
  correct images (the row's ``correct`` mask; ``accuracy`` x ``n`` in a row without one): a
  band under the curve;
* a model whose clean accuracy is near chance (``styles.near_chance``) faded, and marked in its
  legend entry;
* a caption naming the dataset once, the profile, the images and the seed.

Fig. 4's reliability diagrams draw each bin's accuracy with its Wilson interval against its mean
confidence, the number of images per bin under each panel (log scale), each model's ECE in its
legend; a bin of fewer than ``MIN_BIN`` images is hollow and joined to nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from runkit.figures import interval_curve, pyplot, save_figure
from runkit.rows import hex_mask
from sap_mx.metrics import wilson_interval

from .styles import NEAR_CHANCE, curve_style, legend_label, near_chance
from .zoo import DETERMINISTIC, model_label

plt = pyplot()

__all__ = ["draw", "caption_for", "FIGURES", "FIGURE_NAMES", "TASK_COLUMNS", "MIN_BIN", "BAND",
           "correct_counts"]

BAND = "band or bar: 95% Wilson interval of each point"
MIN_BIN = 20   # Fig. 4: a bin with fewer images is drawn hollow, without its interval
FIGURE_NAMES = {"sap": "Fig. 1a-b (SAP-k)", "iterative": "Fig. 1c (iterative attack)",
                "dropout": "Fig. 2 (dropout)", "adv": "Fig. 3 (adversarial training)",
                "baselines": "Fig. 5 (baselines)", "mc": "Fig. 6 (the adversary's MC samples)"}


def _name(row) -> str:
    return model_label(row["model"], row["defense"], row["param"])


def correct_counts(df: pd.DataFrame) -> np.ndarray:
    """The number of correct images of each row: its ``correct`` mask's, or ``accuracy`` x
    ``n`` rounded (rows written before the masks existed)."""
    counts = []
    for acc, n, mask in zip(df["accuracy"], df["n"], df.get("correct", [""] * len(df))):
        n = int(n)
        counts.append(int(hex_mask(mask, n).sum()) if isinstance(mask, str) and mask
                      else int(round(float(acc) * n)))
    return np.asarray(counts)


def _stochastic(row) -> bool:
    return row["defense"] not in DETERMINISTIC


def _clean(group: pd.DataFrame) -> float | None:
    """A curve's accuracy at lambda 0 (no perturbation), if it has one."""
    zero = group[group["eps"].astype(float) == 0]
    return float(zero["accuracy"].iloc[0]) if len(zero) else None


def _curves(ax, df: pd.DataFrame, label=None, title: str = "", classes: int = 10) -> None:
    """One curve per (model, defense, param, attack_model, mc_samples, offset) group, in its
    registry style, with its Wilson band. ``label``: a row -> legend text function for figures
    whose curves differ by their adversary (Figs. 1c and 6: ``_versus``), whose curves are
    drawn as variants of the evaluated model's style (``styles.curve_style``). A curve on
    Fig. 5's selection images (offset > 0) is dashed; where the stochastic models of one
    panel were attacked with different MC counts, each says its count."""
    eps_values = sorted(df["eps"].unique()) if len(df) else []
    models = {m: i for i, m in enumerate(dict.fromkeys(df["model"]))}   # base weights in order

    def rank(item):   # every panel lists its curves in one order: grids by their parameter
        (model, defense, param, attack_model, mc, offset), _ = item
        return (models[model], defense != "none", defense, float(param) if param else -1.0,
                attack_model == "self", int(mc), int(offset))

    groups = sorted(df.groupby(["model", "defense", "param", "attack_model", "mc_samples",
                                "offset"], sort=False, dropna=False), key=rank)
    budgets = {int(g.iloc[0]["mc_samples"]) for _, g in groups
               if _stochastic(g.iloc[0]) and g.iloc[0]["attack_model"] == "self"
               and int(g.iloc[0]["mc_samples"]) > 0}
    for _, group in groups:
        group = group.sort_values("eps")
        row = group.iloc[0]
        name = _name(row)
        selection = int(row["offset"]) > 0
        mc = int(row["mc_samples"])
        if label is not None:
            text = label(row)
            adversary = None if row["attack_model"] == "self" else model_label(
                row["attack_model"])
            style = curve_style(name, adversary=adversary,
                                mc=mc if _stochastic(row) and adversary is None else None)
        else:
            text = name + (f" ({mc} MC)" if len(budgets) > 1 and mc in budgets
                           and _stochastic(row) else "")
            style = curve_style(name, selection=selection)
        if selection:
            text += " (selection)"
        clean = _clean(group)
        n = group["n"].astype(int).to_numpy()
        lo, hi = wilson_interval(correct_counts(group), n)
        x = [eps_values.index(e) for e in group["eps"]]
        interval_curve(ax, x, 100 * group["accuracy"].astype(float), 100 * lo, 100 * hi, style,
                       legend_label(text, clean, classes),
                       joined=[b - a == 1 for a, b in zip(x, x[1:])],
                       faded=clean is not None and near_chance(clean, classes))
    ax.set_xticks(range(len(eps_values)))
    ax.set_xticklabels([f"{e:g}" for e in eps_values])
    ax.set_xlabel("λ (pixels)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    if len(df):
        ax.legend(fontsize=6.5)


def _save(fig, path: Path, caption: str) -> Path:
    return save_figure(fig, path, caption, fontsize=8)


def _versus(row) -> str:
    adversary = "dense" if row["attack_model"] == "dense" else _name(row)
    mc = f" ({int(row['mc_samples'])} MC)" if int(row["mc_samples"]) > 1 else ""
    return f"{_name(row)} vs {adversary}{mc}"


def fig_sap(df, caption, out, classes=10, source=None):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    _curves(axes[0], df[df.figure == "1a"], title="(a) random perturbation", classes=classes)
    _curves(axes[1], df[df.figure == "1b"], title="(b) FGSM, MC gradients", classes=classes)
    return [_save(fig, out / "fig1_sap.png", caption)]


def fig_iterative(df, caption, out, classes=10, source=None):
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    _curves(ax, df, label=_versus, title="(c) iterative attack (k = 1)", classes=classes)
    return [_save(fig, out / "fig1c_iterative.png", caption)]


def fig_dropout(df, caption, out, classes=10, source=None):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    titles = {"2a": "(a) dropout added to the dense model", "2b": "(b) trained with dropout, on",
              "2c": "(c) trained with dropout, off"}
    for ax, (figure, title) in zip(axes, titles.items(), strict=True):
        _curves(ax, df[df.figure == figure], title=title, classes=classes)
    return [_save(fig, out / "fig2_dropout.png", caption)]


def fig_adv(df, caption, out, classes=10, source=None):
    """Fig. 3, and Fig. 4 from the ``calibration.csv`` beside ``source`` (the rows' CSV; by
    default the results folder above ``out``)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    _curves(ax, df, title="dense, SAP-100, ADV, ADV+SAP-100 (FGSM, MC gradients)",
            classes=classes)
    paths = [_save(fig, out / "fig3_adv.png", caption)]
    cal = (Path(source).parent if source else out.parent) / "calibration.csv"
    if cal.is_file():
        bins = _bins_of(pd.read_csv(cal, keep_default_na=False, dtype=str), df)
        if len(bins):
            paths.append(_calibration(bins, df, _calibration_caption(caption), out, classes))
    return paths


# ---------------------------------------------------------------------------------------------
# Fig. 4: reliability diagrams
# ---------------------------------------------------------------------------------------------
_CURVE = ("model", "defense", "param", "attack", "attack_model", "mc_samples", "n", "predict_mc",
          "seed", "profile", "checkpoint")


def _bins_of(bins: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """The calibration bins of the curves drawn in Fig. 3 (``df``): the same model, attack,
    adversary MC samples, images, prediction passes, seed, profile and checkpoint."""
    keys = {tuple(str(v) for v in r) for r in df[list(_CURVE)].itertuples(index=False)}
    ours = bins[list(_CURVE)].apply(tuple, axis=1).isin(keys)
    bins = bins[ours].copy()
    for column in ("count", "bin"):
        bins[column] = bins[column].astype(int)
    for column in ("confidence", "accuracy", "eps", "lo", "hi"):
        bins[column] = pd.to_numeric(bins[column], errors="coerce")   # "", "nan": NaN
    return bins.sort_values(["eps", "bin"], kind="stable")


def _ece(bins: pd.DataFrame) -> float:
    full = bins[bins["count"] > 0]
    n = full["count"].sum()
    return float((full["count"] / n * (full["accuracy"] - full["confidence"]).abs()).sum())


def _calibration_caption(caption: str) -> str:
    caption = caption.replace(FIGURE_NAMES["adv"], "Fig. 4 (calibration)").replace(
        f"; {BAND}", "")
    return (caption + "; each panel: accuracy against mean confidence per bin (10 equal-width "
            f"bins) with its 95% Wilson interval, and below it the images per bin (log scale); "
            f"hollow: a bin of fewer than {MIN_BIN} images (no interval, joined to nothing); "
            f"legend: each model's expected calibration error (ECE)")


def _calibration(bins: pd.DataFrame, df: pd.DataFrame, caption: str, out: Path,
                 classes: int) -> Path:
    eps_values = sorted(bins["eps"].unique())
    cols = min(4, len(eps_values))
    rows = -(-len(eps_values) // cols)
    fig = plt.figure(figsize=(14, 4.4 * rows), layout="constrained")
    cells = fig.subfigures(rows, cols, squeeze=False).flat   # a diagram over its histogram
    curves = list(bins.groupby(["model", "defense", "param"], sort=False))
    width = 0.8 * 10 / max(1, len(curves))   # the bars of one bin share 80% of its 10 points
    for eps, cell in zip(eps_values, cells):
        ax, hist = cell.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        for j, ((model, defense, param), group) in enumerate(curves):
            group = group[group["eps"] == eps]
            if not len(group):
                continue
            name = model_label(model, defense, param)
            style = curve_style(name)
            full = group[group["count"] > 0]
            big = full[full["count"] >= MIN_BIN]
            small = full[full["count"] < MIN_BIN]
            clean = df[(df.model == model) & (df.defense == defense) & (df.param == param)
                       & (df.eps.astype(float) == 0)]["accuracy"].astype(float)
            text = legend_label(f"{name} (ECE {100 * _ece(group):.1f}%)",
                                float(clean.iloc[0]) if len(clean) else None, classes)
            k = np.round(big["accuracy"] * big["count"]).astype(int)
            lo, hi = wilson_interval(k, big["count"]) if len(big) else ([], [])
            b = big["bin"].tolist()
            interval_curve(ax, 100 * big["confidence"], 100 * big["accuracy"], 100 * np.asarray(lo),
                           100 * np.asarray(hi), style, text, band=False,
                           joined=[y - x == 1 for x, y in zip(b, b[1:])])
            ax.plot(100 * small["confidence"], 100 * small["accuracy"], linestyle="none",
                    marker=style.marker, markersize=4, markerfacecolor="white",
                    markeredgecolor=style.color)
            centre = 100 * (full["lo"] + full["hi"]) / 2 - 4 + width * (j + 0.5)
            hist.bar(centre, full["count"], width=width, color=style.color, linewidth=0)
        ax.plot([0, 100], [0, 100], color="grey", lw=0.8, ls="--")
        ax.set(xlim=(0, 100), ylim=(0, 100), ylabel="accuracy (%)", title=f"λ = {eps:g}")
        ax.title.set_fontsize(9)
        ax.tick_params(labelbottom=False)
        ax.legend(fontsize=6)
        hist.set_yscale("log")
        hist.axhline(MIN_BIN, color="grey", lw=0.8, ls=":")
        hist.set(xlim=(0, 100), ylim=(0.8, 2 * bins["n"].astype(int).max()),
                 xlabel="confidence (%)", ylabel="images")
        hist.tick_params(labelsize=7)
    return _save(fig, out / "fig4_calibration.png", caption)


def fig_baselines(df, caption, out, classes=10, source=None):
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    dense = df[df.figure == "5"]
    titles = {"5a": "(a) random noisy weights (s)", "5b": "(b) randomly scaled weights (s)",
              "5c": "(c) deterministic weight pruning (k%)", "5d": "(d) stochastic weight "
              "pruning (k%)", "5e": "(e) random noisy activations (s)",
              "5f": "(f) randomly scaled activations (s)"}
    for ax, (figure, title) in zip(axes.flat, titles.items(), strict=True):
        _curves(ax, pd.concat([dense, df[df.figure == figure]]), title=title, classes=classes)
    return [_save(fig, out / "fig5_baselines.png", caption)]


def fig_mc(df, caption, out, classes=10, source=None):
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    most = int(df["mc_samples"].astype(int).max())   # the profile's grid: 1000 in ``paper``
    _curves(ax, df, label=_versus, title=f"SAP-100 against adversaries with 1..{most} MC samples",
            classes=classes)
    return [_save(fig, out / "fig6_mc.png", caption)]


FIGURES = {"sap": fig_sap, "iterative": fig_iterative, "dropout": fig_dropout, "adv": fig_adv,
           "baselines": fig_baselines, "mc": fig_mc}


TASK_COLUMNS = ("model", "defense", "param", "attack", "attack_model", "mc_samples", "offset",
                "n", "predict_mc", "checkpoint")   # what tells one task's rows from another's


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def caption_for(experiment: str, df: pd.DataFrame, *, title: str, profile: str, seed: int,
                n: int, classes: int = 10) -> str:
    """The caption of ``experiment``'s figure drawn from rows ``df``: the dataset once (and the
    rows' data label only where it is not the dataset's own, e.g. generated data), the profile,
    the images, the seed, the prediction passes of the stochastic models and the MC samples of
    their own gradients (an attack made on another model is the legend's), what the bands are,
    and what a dashed or faded curve means."""
    data = sorted(df["data"].unique())
    where = "" if [_key(d) for d in data] == [_key(title)] else f" (data: {', '.join(data)})"
    stochastic = df[df["defense"].map(lambda d: d not in DETERMINISTIC)]
    caption = (f"{title}{where}, {FIGURE_NAMES[experiment]}: profile {profile}, first {n:,} "
               f"test images, seed {seed}")
    if len(stochastic):
        passes = sorted(stochastic["predict_mc"].astype(int).unique())
        own = stochastic[(stochastic.offset == 0) & (stochastic.attack_model == "self")]
        mcs = sorted(m for m in own["mc_samples"].astype(int).unique() if m > 0)
        caption += (f"; stochastic models predict with the mean of "
                    f"{'/'.join(map(str, passes))} passes"
                    + (f" and are attacked with {'/'.join(map(str, mcs))} MC samples"
                       if mcs else ""))
    caption += f"; {BAND}"
    selection = df[df.offset > 0]
    if len(selection):
        first, count = int(selection.offset.min()), int(selection.n.max())
        mc = int(selection.mc_samples.max())
        caption += (f"; dashed: each grid on test images {first}-{first + count - 1} "
                    f"(FGSM with up to {mc} MC samples), where the best parameter (mean over "
                    "λ = 1, 2, 4) is chosen; solid: dense and the chosen parameters on the first "
                    f"{n}")
    zero = df[df["eps"].astype(float) == 0]["accuracy"].astype(float)
    if (zero < NEAR_CHANCE / classes).any():
        caption += (f"; faded: clean accuracy near chance (below {100 * NEAR_CHANCE / classes:g}%"
                    f", {NEAR_CHANCE:g} x chance)")
    if profile == "smoke":
        caption += f"  [SMOKE: generated data, not {title} results]"
    return caption


def draw(experiment: str, csv_path: Path, figure_dir: Path, *, seed: int, profile: str,
         n: int, checkpoints: dict[str, str], predict_mc: int,
         title: str = "CIFAR-10", tasks=None, classes: int = 10) -> list[Path]:
    """The figure(s) of ``experiment`` from its CSV rows of this run: this seed, profile, n,
    prediction passes for stochastic models, and the checkpoint each model was read from
    (``checkpoints``: model -> id), so rows of replaced models or other settings stay out.
    ``tasks``: the rows' settings of this run's tasks (dicts with ``TASK_COLUMNS``); when
    given, only their rows are drawn (not those of an older MC budget, say); Fig. 5's selection
    rows (``offset`` > 0) then come in with their own number of images. ``classes``: the
    dataset's (chance is 1 / classes)."""
    df = pd.read_csv(csv_path, keep_default_na=False, dtype={"checkpoint": str, "param": str})
    if "offset" not in df:
        df["offset"] = 0
    df["offset"] = pd.to_numeric(df["offset"].replace("", 0)).astype(int)
    this_run = df["model"].map(checkpoints).fillna("") == df["checkpoint"]
    passes = (df.predict_mc == predict_mc) | (df.predict_mc == 1)
    if tasks is not None:
        wanted = {tuple(str(t[c]) for c in TASK_COLUMNS) for t in tasks}
        ours = df[list(TASK_COLUMNS)].astype(str).apply(tuple, axis=1).isin(wanted)
        images = ours
    else:
        images = df.n == n
    df = df[(df.seed == seed) & (df.profile == profile) & images & this_run & passes]
    if df.empty:
        return []
    df = df.assign(param=df["param"].astype(str))
    caption = caption_for(experiment, df, title=title, profile=profile, seed=seed, n=n,
                          classes=classes)
    return FIGURES[experiment](df, caption, Path(figure_dir), classes=classes,
                               source=Path(csv_path))
