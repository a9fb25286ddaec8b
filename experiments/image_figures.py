"""Figures of the image experiments, laid out like the paper's (accuracy in % against lambda).

``draw(experiment, csv_path, figure_dir, ...)`` reads the experiment's rows (one seed, profile and
test-set size) and writes its PNGs atomically; ``experiments.image_eval`` calls it after each run.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from runkit.figures import pyplot, save_figure

from .zoo import model_label

plt = pyplot()

__all__ = ["draw", "FIGURES"]

def _name(row) -> str:
    return model_label(row["model"], row["defense"], row["param"])


def _curves(ax, df: pd.DataFrame, label=None, title: str = "") -> None:
    """One line per (model, defense, param, attack_model, mc_samples) group."""
    eps_values = sorted(df["eps"].unique()) if len(df) else []
    for keys, group in df.groupby(["model", "defense", "param", "attack_model", "mc_samples"],
                                  sort=False, dropna=False):
        group = group.sort_values("eps")
        row = group.iloc[0]
        text = label(row) if label else _name(row)
        ax.plot([eps_values.index(e) for e in group["eps"]], 100 * group["accuracy"],
                marker="o", markersize=3, label=text)
    ax.set_xticks(range(len(eps_values)))
    ax.set_xticklabels([f"{e:g}" for e in eps_values])
    ax.set_xlabel("λ (pixels)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    if len(df):
        ax.legend(fontsize=7)


def _save(fig, path: Path, caption: str) -> Path:
    return save_figure(fig, path, caption, fontsize=8)


def _versus(row) -> str:
    adversary = "dense" if row["attack_model"] == "dense" else _name(row)
    mc = f" ({int(row['mc_samples'])} MC)" if int(row["mc_samples"]) > 1 else ""
    return f"{_name(row)} vs {adversary}{mc}"


def fig_sap(df, caption, out):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _curves(axes[0], df[df.figure == "1a"], title="(a) random perturbation")
    _curves(axes[1], df[df.figure == "1b"], title="(b) FGSM, MC gradients")
    return [_save(fig, out / "fig1_sap.png", caption)]


def fig_iterative(df, caption, out):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    _curves(ax, df, label=_versus, title="(c) iterative attack (k = 1)")
    return [_save(fig, out / "fig1c_iterative.png", caption)]


def fig_dropout(df, caption, out):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    titles = {"2a": "(a) dropout added to the dense model", "2b": "(b) trained with dropout, on",
              "2c": "(c) trained with dropout, off"}
    for ax, (figure, title) in zip(axes, titles.items(), strict=True):
        _curves(ax, df[df.figure == figure], title=title)
    return [_save(fig, out / "fig2_dropout.png", caption)]


def fig_adv(df, caption, out):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    _curves(ax, df, title="dense, SAP-100, ADV, ADV+SAP-100 (FGSM, MC gradients)")
    paths = [_save(fig, out / "fig3_adv.png", caption)]
    cal = out.parent / "calibration.csv"
    if cal.is_file():
        bins = pd.read_csv(cal, keep_default_na=False)
        bins = bins[bins.set_index(["seed", "profile", "n"]).index.isin(
            df.set_index(["seed", "profile", "n"]).index.unique())]
        eps_values = sorted(bins["eps"].unique())
        fig, axes = plt.subplots(2, 4, figsize=(14, 7))
        for ax, eps in zip(axes.flat, eps_values, strict=False):
            for _, group in bins[bins.eps == eps].groupby(["model", "defense", "param"],
                                                          sort=False):
                group = group[group["count"] > 0]
                ax.plot(100 * group["confidence"].astype(float),
                        100 * group["accuracy"].astype(float), marker="o", markersize=3,
                        label=_name(group.iloc[0]))
            ax.plot([0, 100], [0, 100], color="grey", lw=0.8, ls="--")
            ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="confidence (%)", ylabel="accuracy (%)",
                   title=f"λ = {eps:g}")
            ax.title.set_fontsize(9)
            ax.legend(fontsize=6)
        for ax in list(axes.flat)[len(eps_values):]:
            ax.axis("off")
        paths.append(_save(fig, out / "fig4_calibration.png", caption))
    return paths


def fig_baselines(df, caption, out):
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    dense = df[df.figure == "5"]
    titles = {"5a": "(a) random noisy weights (s)", "5b": "(b) randomly scaled weights (s)",
              "5c": "(c) deterministic weight pruning (k%)", "5d": "(d) stochastic weight "
              "pruning (k%)", "5e": "(e) random noisy activations (s)",
              "5f": "(f) randomly scaled activations (s)"}
    for ax, (figure, title) in zip(axes.flat, titles.items(), strict=True):
        _curves(ax, pd.concat([dense, df[df.figure == figure]]), title=title)
    return [_save(fig, out / "fig5_baselines.png", caption)]


def fig_mc(df, caption, out):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    most = int(df["mc_samples"].astype(int).max())   # the profile's grid: 1000 in ``paper``
    _curves(ax, df, label=_versus, title=f"SAP-100 against adversaries with 1..{most} MC samples")
    return [_save(fig, out / "fig6_mc.png", caption)]


FIGURES = {"sap": fig_sap, "iterative": fig_iterative, "dropout": fig_dropout, "adv": fig_adv,
           "baselines": fig_baselines, "mc": fig_mc}


def draw(experiment: str, csv_path: Path, figure_dir: Path, *, seed: int, profile: str,
         n: int, checkpoints: dict[str, str], predict_mc: int,
         title: str = "CIFAR-10") -> list[Path]:
    """The figure(s) of ``experiment`` from its CSV rows of this run: this seed, profile, n,
    prediction passes for stochastic models, and the checkpoint each model was read from
    (``checkpoints``: model -> id), so rows of replaced models or other settings stay out."""
    df = pd.read_csv(csv_path, keep_default_na=False, dtype={"checkpoint": str})
    this_run = df["model"].map(checkpoints).fillna("") == df["checkpoint"]
    passes = (df.predict_mc == predict_mc) | (df.predict_mc == 1)
    df = df[(df.seed == seed) & (df.profile == profile) & (df.n == n) & this_run & passes]
    if df.empty:
        return []
    df = df.assign(param=df["param"].astype(str))
    data = ", ".join(sorted(df["data"].unique()))
    caption = (f"{title} {experiment}: profile {profile}, {data}, {n} test images, seed {seed}, "
               f"prediction passes {df['predict_mc'].max()}")
    if profile == "smoke":
        caption += f"  [SMOKE: generated data, not {title} results]"
    return FIGURES[experiment](df, caption, Path(figure_dir))
