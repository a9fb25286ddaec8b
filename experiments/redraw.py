"""``make figures DATASET=... PROFILE=...``: every figure of a track redrawn from its CSVs alone,
with no attack, training or prediction (under a minute; drawing twice gives identical files).

For an image dataset (``experiments.datasets``; ``--dataset fashion-mnist``):

* Figs. 1-6 (``image_figures.draw``) from ``<results>/<experiment>.csv``, each from the rows of
  the curves the profile's driver draws (``image_eval.EXPERIMENTS``, Fig. 5's choice read from
  its selection rows by ``image_eval.chosen_params``), at each model's newest configuration
  (checkpoint, images, prediction passes: ``paper_compare.latest_rows``); a curve whose rows
  hold an older MC budget than the profile's is drawn at the largest they hold (the caption
  lists the MC samples), and a file without selection rows (written before them) draws every
  grid parameter on the evaluation images, as it was measured;
* the adaptive evaluation's figure (``adaptive.draw``) from ``<results>/adaptive.csv``, each
  model at its newest configuration;

and for the dataset's MLPs of Khan et al. (``datasets.MLP_DATASETS``: ``results/mnist``,
``results/fashion-mnist/sdr``), their adaptive figure. ``--dataset mnist`` draws only that one.
A CSV that does not exist is skipped; figures go to ``figures/`` beside their CSVs (``--out``:
one folder for all).

Usage: ``python -m experiments.redraw --dataset fashion-mnist --profile cpu``.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

from runkit import KeyedRows, UsageError, arg, cli_main, parse_dataclass_args

from . import adaptive, datasets, image_figures
from .image_eval import EXPERIMENTS, chosen_params
from .paper_compare import latest_rows
from .profiles import EVAL
from .zoo import MLP_MODELS, fmt_param, model_key

__all__ = ["Args", "image_tasks", "adaptive_models", "redraw", "run", "main"]

MLP_TITLE = "Khan et al.'s MLPs"   # the mnist family's figure title, as experiments.adaptive


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    dataset: str = arg("cifar10", "an image dataset (cifar10 | fashion-mnist) or mnist (Khan "
                                  "et al.'s MLPs only)")
    profile: str = arg("paper", "the profile whose rows are drawn (smoke reads results/smoke)")
    seed: int = arg(0, "the seed whose rows are drawn")
    results_dir: str = arg("", "folder of the image CSVs (default: the dataset's)")
    mlp_dir: str = arg("", "folder of the MLPs' adaptive.csv (default: the dataset's)")
    out: str = arg("", "one folder for every figure (default: figures/ beside each CSV)")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.redraw",
                                __doc__.split("\n\n")[0])


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------------------------
# the image experiments: the curves the driver draws, from the rows
# ---------------------------------------------------------------------------------------------
_CURVE = ("model", "defense", "param", "attack", "attack_model", "offset")
_META = ("experiment", "model", "defense", "param", "attack", "attack_model", "mc_samples", "n",
         "predict_mc", "seed", "profile", "checkpoint", "offset")


def _meta(task, rows: Sequence[Mapping], experiment: str) -> dict | None:
    """The row settings of ``task``'s curve (``image_figures.TASK_COLUMNS`` and what
    ``chosen_params`` compares), from ``rows`` (the newest configuration of each model): at the
    task's MC samples, or, where the rows have only an older budget, the largest they hold
    (Fig. 6, whose curves are its MC samples, only at the task's own); None without rows."""
    want = (task.model, task.defense, fmt_param(task.param), task.attack, task.attack_model,
            str(task.offset))
    mine = [r for r in rows if tuple(str(r[k]) for k in _CURVE) == want]
    budgets = {int(r["mc_samples"]) for r in mine}
    mc = task.mc_samples if task.mc_samples in budgets or experiment == "mc" else max(
        budgets, default=None)
    found = [r for r in mine if int(r["mc_samples"]) == mc]
    if not found:
        return None
    newest = max(found, key=lambda r: r.get("utc", ""))
    return {k: str(newest[k]) for k in _META}


def image_tasks(experiment: str, rows: Sequence[Mapping], *, profile: str,
                seed: int) -> list[dict]:
    """The settings of each curve ``experiments.image_eval`` draws for ``experiment`` under
    ``profile``, read from ``rows`` (its CSV's); see the module docstring."""
    mine = [dict(r, offset=str(int(r.get("offset") or 0))) for r in rows
            if r["profile"] == profile and str(r["seed"]) == str(seed)]
    latest = latest_rows([dict(r, offset=int(r["offset"])) for r in mine])
    latest = [dict(r, offset=str(r["offset"])) for r in latest]
    s = EVAL.get(profile)
    if not any(r["offset"] != "0" for r in latest):
        s = replace(s, select_n=0)   # rows from before selection images: the grid as measured
    rates = sorted({float(r["model"][len("dropout"):]) for r in latest
                    if r["model"].startswith("dropout")})
    tasks = EXPERIMENTS[experiment](s, rates)
    selection = [m for m in (_meta(t, latest, experiment) for t in tasks if t.offset) if m]
    if selection:
        tasks = EXPERIMENTS[experiment](s, rates, chosen_params(latest, selection))
    return [m for m in (_meta(t, latest, experiment) for t in tasks) if m]


def redraw_image(dataset, results: Path, out: Path | None, *, profile: str,
                 seed: int) -> list[Path]:
    written = []
    for experiment in EXPERIMENTS:
        path = results / f"{experiment}.csv"
        if not path.is_file():
            continue
        tasks = image_tasks(experiment, _read(path), profile=profile, seed=seed)
        if not tasks:
            continue
        evaluated = [t for t in tasks if t["offset"] == "0"] or tasks
        written += image_figures.draw(
            experiment, path, out or results / "figures", seed=seed, profile=profile,
            n=max(int(t["n"]) for t in evaluated),
            checkpoints={t["model"]: t["checkpoint"] for t in tasks},
            predict_mc=max(int(t["predict_mc"]) for t in tasks), title=dataset.title,
            tasks=tasks, classes=dataset.classes)
    return written


# ---------------------------------------------------------------------------------------------
# the adaptive evaluation: each model at its newest configuration
# ---------------------------------------------------------------------------------------------
_MODEL = ("family", "model", "defense", "param")
_ORDER = [model_key(*m) for m in adaptive.IMAGE_MODELS] + list(MLP_MODELS.values())


def adaptive_models(rows: Sequence[Mapping], *, profile: str, seed: int) -> list[dict]:
    """The ``current`` list ``adaptive.draw`` takes, from an ``adaptive.csv``'s rows: per model
    (family, base, defense, param) of ``profile`` and ``seed``, the checkpoint and images of its
    newest rows (by ``utc``) and the largest prediction passes among them (the MLPs' older rows
    predicted their paper attack with one pass, the others with more), in the driver's order."""
    mine = [r for r in rows if r["profile"] == profile and str(r["seed"]) == str(seed)]
    models: dict[tuple, dict] = {}
    for r in sorted(mine, key=lambda r: r.get("utc", "")):
        models[tuple(r[k] for k in _MODEL)] = {k: r[k] for k in _MODEL + ("checkpoint", "n")}
    current = []
    for key, meta in models.items():
        same = [r for r in mine if tuple(r[k] for k in _MODEL) == key
                and (r["checkpoint"], r["n"]) == (meta["checkpoint"], meta["n"])]
        current.append({**meta, "predict_mc": str(max(int(r["predict_mc"]) for r in same)),
                        "seed": str(seed), "profile": profile})

    def order(meta):
        key = meta["model"] if meta["family"] == "mnist" else model_key(
            meta["model"], meta["defense"], meta["param"] or None)
        return _ORDER.index(key) if key in _ORDER else len(_ORDER)

    return sorted(current, key=order)


def redraw_adaptive(path: Path, figure: Path, *, title: str, profile: str,
                    seed: int) -> list[Path]:
    if not path.is_file():
        return []
    store = KeyedRows(path, adaptive.KEY_FIELDS)
    current = adaptive_models(list(store.rows.values()), profile=profile, seed=seed)
    if not current:
        return []
    data = ", ".join(sorted({r["data"] for r in store.rows.values()
                             if r["profile"] == profile and str(r["seed"]) == str(seed)}))
    return [adaptive.draw(store, current, figure, adaptive.Args(profile=profile, seed=seed),
                          title, data)]


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def redraw(args: Args) -> list[Path]:
    """Every figure of ``args.dataset`` / ``args.profile`` (see the module docstring)."""
    image = args.dataset in datasets.DATASETS
    if not image and args.dataset not in datasets.MLP_DATASETS:
        valid = dict.fromkeys([*datasets.DATASETS, *datasets.MLP_DATASETS])
        raise UsageError(f"unknown dataset {args.dataset!r}; valid: {', '.join(valid)}")
    out = Path(args.out) if args.out else None
    written = []
    if image:
        dataset = datasets.get_dataset(args.dataset)
        results = Path(args.results_dir) if args.results_dir else dataset.results_dir(
            args.profile)
        written += redraw_image(dataset, results, out, profile=args.profile, seed=args.seed)
        written += redraw_adaptive(results / "adaptive.csv",
                                   (out or results / "figures") / f"adaptive_{dataset.results}.png",
                                   title=dataset.results, profile=args.profile, seed=args.seed)
    if args.dataset in datasets.MLP_DATASETS:
        mlp = Path(args.mlp_dir) if args.mlp_dir else datasets.mlp_results_dir(args.dataset,
                                                                               args.profile)
        written += redraw_adaptive(mlp / "adaptive.csv",
                                   (out or mlp / "figures") / "adaptive_mnist.png",
                                   title=MLP_TITLE, profile=args.profile, seed=args.seed)
    return written


def run(args: Args) -> list[Path]:
    written = redraw(args)
    if not written:
        raise UsageError(f"no rows of profile {args.profile}, seed {args.seed} to draw for "
                         f"{args.dataset}: run its experiments first")
    return written


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
