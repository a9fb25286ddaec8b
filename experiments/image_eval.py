"""The paper's image experiments (Figs. 1-6): accuracy of defended models under attack, on any
dataset of ``experiments.datasets`` (``--dataset``, default ``cifar10``, the paper's).

Each experiment is a list of *tasks*; a task is one evaluated model (base weights + defense +
parameter) under one attack made on one adversary model with a number of MC samples, swept over
the paper's lambdas {0, 1, 2, 4, 8, 16, 32, 64} (pixels, 0..255 scale):

==========  =====================================================================================
sap         Fig. 1a (random +-lambda per pixel) and 1b (FGSM, MC gradients): dense and SAP-k%
iterative   Fig. 1c: iterative attack (k = 1, ceil(lambda) steps); dense vs dense, SAP-100 vs
            SAP-100 (10 MC samples per step), SAP-100 vs dense-made perturbations
dropout     Fig. 2a (dropout added post hoc), 2b (dropout-trained, on at test), 2c (off at test)
adv         Fig. 3 (dense, SAP-100, ADV, ADV+SAP-100) and Fig. 4 (calibration, plus ECE)
baselines   Fig. 5a-f: RNW, RSW, DWP, SWP, RNA, RSA, each attacked on itself: its grid on held-out
            selection images, then the parameter chosen there on the evaluation images
mc          Fig. 6: SAP-100 against FGSM made on the dense model and on SAP-100 with the
            profile's MC grid (``mc_grid``; the paper: 1, 10, 100, 1000)
==========  =====================================================================================

Stochastic models answer with the mean softmax of ``predict_mc`` passes (the paper: 100); FGSM on
a stochastic model uses the mean gradient of ``attack_mc`` passes (the paper: 100). FGSM's
gradient does not depend on lambda, so one gradient per batch serves the whole sweep.

Fig. 5 runs in two stages when the profile has selection images (``select_n``): every grid
parameter of each baseline on test images ``n_test .. n_test + select_n - 1`` with ``select_mc``
MC samples (rows with ``offset`` = ``n_test``), then only the parameter chosen there
(``experiments.selection.best_param``) on the first ``n_test`` with ``attack_mc`` (``offset``
0), so that no verdict is computed on the images its parameter was picked on.

Rows go to ``results/<dataset folder>/<experiment>.csv`` (CIFAR-10: ``results/cifar/``; smoke:
``results/smoke/cifar/``), keyed by their
settings: a rerun computes only the missing rows, and each task's rows are written atomically
when it ends; within a task, the counts so far are kept per batch (``runkit.partial``), so an
interruption, ``kill -9`` included, loses at most the batch in progress. Figures go to
``figures/`` beside the CSVs.

Usage: ``python -m experiments.image_eval --experiment sap --profile smoke``; the Make targets
``cifar-sap`` ... ``cifar-mc`` / ``cifar-all`` wrap it and train the models they need first.
"""

from __future__ import annotations

import sys
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import sap_mx  # noqa: F401  (first: sets MXNet's OpenMP threads)
import mxnet as mx
import numpy as np

from runkit import (KeyedRows, UsageError, arg, cli_main, parse_dataclass_args, progress_bar,
                    seed_all)
from runkit.partial import Partial
from runkit.rows import mask_hex
from sap_mx import metrics
from sap_mx.attacks import bim, fgsm_step, input_gradient, random_noise
from sap_mx.evaluate import correct
from sap_mx.results import git_sha

from . import datasets, image_figures
from .profiles import EVAL, TRAIN, EvalProfile
from .selection import BASELINE_GRIDS, best_param
from .zoo import DETERMINISTIC, TrainedModels, fmt_param, model_key

EPS = datasets.EPS  # the paper's lambdas (pixels on 0..255); a dataset may set its own grid
SETTINGS = EVAL     # profile name -> EvalProfile
CALIBRATION_EPS = (0, 1, 2, 4, 8, 16, 32)  # Fig. 4 panels
CALIBRATION_BINS = 10

# grids (the paper's legends are not legible for all of them; these are our choices, docs)
SAP_PERCENTAGES = (5, 10, 20, 50, 100, 200, 500)
POSTHOC_DROPOUT = (0.1, 0.2, 0.3, 0.5, 0.7)
# BASELINE_GRIDS (Fig. 5): experiments/selection.py, beside the rule that picks from them


# ---------------------------------------------------------------------------------------------
# tasks and experiments
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One evaluated model under one attack, swept over the dataset's lambdas."""

    figure: str
    model: str                 # base weights: dense | adv | dropout<rate>
    defense: str = "none"      # none | a key of zoo.DEFENSE_ARGS
    param: float | None = None  # the paper's legend value (SAP/SWP/DWP: percent)
    attack: str = "fgsm"       # random | fgsm | iterative
    attack_model: str = "self"  # self: gradients of the evaluated model; dense: of the dense one
    mc_samples: int = 1        # the adversary's MC samples (0: no gradient)
    offset: int = 0            # first test image: 0, or n_test for Fig. 5's selection images

    @property
    def stochastic(self) -> bool:
        return self.defense not in DETERMINISTIC

    def key(self) -> tuple:
        """The task's identity (its seeds derive from it; offset 0 adds nothing, so the seeds
        of the tasks that existed before selection images did are unchanged)."""
        return (self.model, self.defense, fmt_param(self.param), self.attack, self.attack_model,
                str(self.mc_samples)) + ((str(self.offset),) if self.offset else ())

    def label(self) -> str:
        adversary = "" if self.attack_model == "self" else f" vs {self.attack_model}"
        mc = f" mc{self.mc_samples}" if self.mc_samples > 1 else ""
        images = f" [selection, from image {self.offset}]" if self.offset else ""
        return (f"{model_key(self.model, self.defense, self.param)} {self.attack}{adversary}{mc}"
                f"{images}")


def _self_attack(figure, model, defense, param, attack, s: EvalProfile, mc=None,
                 offset=0) -> Task:
    stochastic = defense not in DETERMINISTIC
    mc = 0 if attack == "random" else (mc or s.attack_mc) if stochastic else 1
    return Task(figure, model, defense, param, attack, "self", mc, offset)


# Every experiment is ``tasks(profile, dropout-trained rates, chosen=None)``; ``chosen`` (baseline
# -> parameter picked on the selection images) matters to Fig. 5 only.
def sap_tasks(s: EvalProfile, rates, chosen=None) -> list[Task]:
    tasks = []
    for attack, figure in (("random", "1a"), ("fgsm", "1b")):
        tasks.append(_self_attack(figure, "dense", "none", None, attack, s))
        tasks += [_self_attack(figure, "dense", "sap", k, attack, s, s.sap_mc or None)
                  for k in SAP_PERCENTAGES]
    return tasks


def iterative_tasks(s: EvalProfile, rates, chosen=None) -> list[Task]:
    return [Task("1c", "dense", attack="iterative"),
            Task("1c", "dense", "sap", 100, "iterative", "self", s.iterative_mc),
            Task("1c", "dense", "sap", 100, "iterative", "dense", 1)]


def dropout_tasks(s: EvalProfile, rates, chosen=None) -> list[Task]:
    tasks = [_self_attack("2a", "dense", "none", None, "fgsm", s)]
    tasks += [_self_attack("2a", "dense", "dropout", r, "fgsm", s) for r in POSTHOC_DROPOUT]
    tasks += [_self_attack("2b", f"dropout{r:g}", "dropout", r, "fgsm", s) for r in rates]
    tasks += [_self_attack("2c", f"dropout{r:g}", "none", None, "fgsm", s) for r in rates]
    return tasks


def adv_tasks(s: EvalProfile, rates, chosen=None) -> list[Task]:
    return [_self_attack("3", model, defense, param, "fgsm", s, s.sap_mc or None)
            for model in ("dense", "adv") for defense, param in (("none", None), ("sap", 100))]


def baseline_tasks(s: EvalProfile, rates, chosen=None) -> list[Task]:
    """Fig. 5: dense, then per baseline its grid on the selection images (``select_n`` images
    from test image ``n_test``, ``select_mc`` MC samples) and, once ``chosen`` names its
    parameter, that parameter on the evaluation images (``attack_mc``). Without selection
    images (``select_n`` = 0) the whole grid on the evaluation images."""
    tasks = [_self_attack("5", "dense", "none", None, "fgsm", s)]
    for panel, (name, grid) in zip("abcdef", BASELINE_GRIDS.items(), strict=True):
        figure = f"5{panel}"
        if not s.select_n:
            tasks += [_self_attack(figure, "dense", name, p, "fgsm", s) for p in grid]
            continue
        tasks += [_self_attack(figure, "dense", name, p, "fgsm", s, s.select_mc or None,
                               offset=s.n_test) for p in grid]
        if chosen and chosen.get(name) is not None:
            tasks.append(_self_attack(figure, "dense", name, chosen[name], "fgsm", s))
    return tasks


def chosen_params(rows, selection: Sequence[Mapping]) -> dict[str, float]:
    """Each baseline's parameter picked on the selection images (``selection.best_param``)
    from ``rows`` (a result CSV's), reading only the rows of ``selection``: the metadata of the
    selection tasks of this run (checkpoint, images, MC samples ...), so rows of other
    settings never enter the choice. A baseline whose grid is not complete there is left
    out."""
    def of(row, meta) -> bool:
        return all(str(row.get(k, "")) == str(v) for k, v in meta.items())

    out = {}
    for name, grid in BASELINE_GRIDS.items():
        metas = [m for m in selection if m["defense"] == name]
        best = best_param([r for r in rows if any(of(r, m) for m in metas)], grid)
        if best is not None:
            out[name] = best
    return out


def mc_tasks(s: EvalProfile, rates, chosen=None) -> list[Task]:
    return ([Task("6", "dense"), Task("6", "dense", "sap", 100, "fgsm", "dense", 1)]
            + [Task("6", "dense", "sap", 100, "fgsm", "self", m) for m in s.mc_grid])


EXPERIMENTS = {"sap": sap_tasks, "iterative": iterative_tasks, "dropout": dropout_tasks,
               "adv": adv_tasks, "baselines": baseline_tasks, "mc": mc_tasks}


# ---------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------
@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    experiment: str = arg("sap", "sap | iterative | dropout | adv | baselines | mc | all")
    dataset: str = arg("cifar10", "image dataset (experiments/datasets.py): cifar10 | "
                                  "fashion-mnist")
    profile: str = arg("paper", "smoke (generated data) | quick (1,000 test images, fewer MC "
                                 "samples) | paper (10,000 images, 100 MC samples)")
    seed: int = arg(0, "seed of the evaluation and of the trained models it reads")
    model: str = arg("resnet20", "architecture of the trained models (as in image_train)")
    dense: str = arg("", "'gluoncv': GluonCV's published cifar_resnet20_v2 as the dense model "
                          "(needs network once) instead of our trained one")
    rates: str = arg("0.1,0.3,0.5", "dropout rates of the dropout-trained models (Fig. 2b/c)")
    data_dir: str = arg("", "folder holding the dataset (as in image_train)")
    n_test: int = arg(0, "override the profile's number of test images (0: keep)")
    crop: int = arg(0, "training crop of the models (0: the image size; CIFAR-10: 28 reads the "
                       "28-crop runs and feeds them centre crops)")
    predict_mc: int = arg(0, "override the profile's prediction passes (0: keep)")
    attack_mc: int = arg(0, "override the profile's FGSM MC samples (0: keep)")
    models: str = arg("", "folder of the trained runs (default: the dataset's, e.g. "
                           "results/models; smoke: results/smoke/models)")
    out: str = arg("", "results folder (default: the dataset's, e.g. results/cifar; smoke: "
                        "results/smoke/cifar)")
    progress: bool = arg(True, "show progress bars")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.image_eval",
                                __doc__.split("\n\n")[0])


def settings_for(args: Args) -> EvalProfile:
    s = EVAL.get(args.profile)
    for name in ("n_test", "predict_mc", "attack_mc"):
        value = getattr(args, name)
        if value < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
        if value:
            s = replace(s, **{name: value})
    return s


def parse_rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(r) for r in text.replace(",", " ").split())
    except ValueError:
        raise UsageError(f"--rates must be numbers like 0.1,0.3,0.5, got {text!r}") from None
    if not rates or not all(0 < r < 1 for r in rates):
        raise UsageError(f"--rates must be dropout rates in (0, 1), got {text!r}")
    return rates


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
KEY_FIELDS = ("experiment", "model", "defense", "param", "attack", "attack_model", "mc_samples",
              "eps", "n", "predict_mc", "seed", "profile", "checkpoint", "offset")
KEY_DEFAULTS = {"offset": "0"}   # key columns a file written before them may lack: their value


class ResultRows(KeyedRows):
    """``KeyedRows`` whose ``KEY_DEFAULTS`` columns may be missing or empty in a file written
    before they existed: such rows read as the default (an older row without ``offset`` is a
    row of the first test images, offset 0)."""

    def __init__(self, path, fields=KEY_FIELDS, defaults=KEY_DEFAULTS):
        self.defaults, self.all_fields = dict(defaults), tuple(fields)
        # the file must have every other key column; rows are keyed on all of them
        super().__init__(path, [f for f in fields if f not in self.defaults])
        self.fields = self.all_fields

    def key(self, row) -> tuple:
        return tuple(str(row[k]) if k not in self.defaults
                     else str(row.get(k, "") if row.get(k, "") != "" else self.defaults[k])
                     for k in self.all_fields)


def models_for(args: Args) -> TrainedModels:
    """The trained models the evaluation of ``args`` reads."""
    dataset = datasets.get_dataset(args.dataset)
    crop = datasets.check_crop(args.crop, dataset)
    return TrainedModels(dataset, profile=args.profile, seed=args.seed, model=args.model,
                         dense=args.dense, models_dir=args.models, crop=crop)


def seed_task(seed: int, task: Task, *where) -> None:
    """Seed python, numpy and mxnet from (seed, task, where): each gradient (where = batch) and
    each prediction (where = batch, eps) draws from its own stream, so a number does not depend
    on what ran before it (a resumed run that computes only the missing lambdas reproduces
    them)."""
    seed_all(seed, zlib.crc32(repr((task.key(), where)).encode()))


def evaluate_task(task: Task, models: TrainedModels, x: np.ndarray, y: np.ndarray,
                  s: EvalProfile, eps_list, calibrate: bool = False, progress: bool = True,
                  seed: int = 0, partial: Partial | None = None):
    """Per-example correctness at each eps of ``eps_list`` (``{eps: bool array}``; rows keep
    it in their ``correct`` column, for paired comparisons on the same images), and the
    probabilities, for calibration. FGSM's gradient does not depend on lambda, so one gradient
    per batch serves the whole sweep. With ``partial``, the results so far are saved after
    every batch and a rerun continues from them (each batch is seeded on its own, so the
    numbers are those of an uninterrupted run)."""
    evaluated = models.defend(task.model, task.defense, task.param)
    adversary = evaluated if task.attack_model == "self" else models.base(task.attack_model)
    predict_mc = s.predict_mc if task.stochastic else 1
    first, saved = partial.load() if partial is not None else (0, {})
    if "masks" not in saved:  # nothing saved, or counts from a version without masks: anew
        first, saved = 0, {}
    masks = saved.get("masks", np.zeros((len(eps_list), len(x)), bool))
    probs = {eps: [saved[f"probs{i}"]] if f"probs{i}" in saved else []
             for i, eps in enumerate(eps_list)}
    batches = range(first, len(x), s.batch)
    bar = progress_bar(progress, len(range(0, len(x), s.batch)), task.label())
    if bar is not None:
        bar.update(len(range(0, len(x), s.batch)) - len(batches))
    for start in batches:
        xb = mx.nd.array(x[start:start + s.batch], dtype="float32")
        yb = mx.nd.array(y[start:start + s.batch], dtype="float32")
        gradient = None
        if task.attack == "fgsm" and any(eps > 0 for eps in eps_list):
            seed_task(seed, task, start)
            gradient = input_gradient(adversary, xb, yb, mc_samples=task.mc_samples)
        for i, eps in enumerate(eps_list):
            seed_task(seed, task, start, eps)
            if task.attack == "random":
                xa = random_noise(xb, eps)
            elif task.attack == "fgsm":
                xa = fgsm_step(xb, gradient, eps)
            else:
                xa = bim(adversary, xb, yb, eps, step=1.0, mc_samples=task.mc_samples)
            ok, p = correct(evaluated, xa, y[start:start + s.batch], mc_samples=predict_mc,
                            return_proba=True)
            masks[i, start:start + s.batch] = ok
            if calibrate:
                probs[eps].append(p)
        if partial is not None:
            partial.save(start + s.batch, masks=masks,
                         **{f"probs{i}": np.concatenate(probs[eps])
                            for i, eps in enumerate(eps_list) if probs[eps]})
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return ({eps: masks[i] for i, eps in enumerate(eps_list)},
            {eps: np.concatenate(p) for eps, p in probs.items() if p})


def _selection_images(s: EvalProfile, n_images: int, tasks) -> None:
    """A one-line error when the selection images of ``tasks`` lie beyond the test set."""
    last = max((t.offset + s.select_n for t in tasks if t.offset), default=0)
    if last > n_images:
        raise UsageError(f"Fig. 5 chooses its parameters on test images {s.n_test:,}-"
                         f"{last - 1:,}, but there are {n_images:,}: lower --n-test to "
                         f"{n_images - s.select_n:,} or less")


def run(args: Args) -> list[Path]:
    """Run one experiment (or all); returns the files written."""
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    if any(n not in EXPERIMENTS for n in names):
        raise UsageError(f"unknown experiment {args.experiment!r}; valid: "
                         f"{', '.join(EXPERIMENTS)}, all")
    dataset = datasets.get_dataset(args.dataset)
    s = settings_for(args)
    rates = parse_rates(args.rates)
    models = models_for(args)  # checks --dense before the data loads
    out = Path(args.out) if args.out else dataset.results_dir(args.profile)
    (_, (x_test, y_test)), data_label = datasets.load(dataset, args.profile,
                                                      TRAIN.get(args.profile), args.seed,
                                                      args.data_dir)
    if s.n_test > len(x_test):
        raise UsageError(f"--n-test {s.n_test} is more than the {len(x_test)} test images")
    for name in names:
        _selection_images(s, len(x_test), EXPERIMENTS[name](s, rates))
    x_all = dataset.crop(x_test, models.crop)  # the images the models were trained, tested on
    y_all = y_test.astype(np.int64)

    def images(task: Task):
        n = s.select_n if task.offset else s.n_test
        return x_all[task.offset:task.offset + n], y_all[task.offset:task.offset + n]

    sha, written = git_sha(), []
    for name in names:
        store = ResultRows(out / f"{name}.csv")
        cal_store = ResultRows(out / "calibration.csv", KEY_FIELDS + ("bin",)) \
            if name == "adv" else None
        tasks = EXPERIMENTS[name](s, rates)
        print(f"{name}: {len(tasks)} tasks on {s.n_test} test images ({data_label}, profile "
              f"{args.profile}, seed {args.seed})", file=sys.stderr, flush=True)

        def meta_of(task: Task) -> dict:
            """The row settings of ``task``; loads its models (fails early if missing)."""
            models.defend(task.model, task.defense, task.param)
            if task.attack_model != "self":
                models.base(task.attack_model)
            return {"experiment": name, "figure": task.figure, "model": task.model,
                    "defense": task.defense, "param": fmt_param(task.param),
                    "attack": task.attack, "attack_model": task.attack_model,
                    "mc_samples": task.mc_samples, "n": len(images(task)[0]),
                    "predict_mc": s.predict_mc if task.stochastic else 1,
                    "seed": args.seed, "profile": args.profile, "data": data_label,
                    "checkpoint": models.ids[task.model], "offset": task.offset}

        for task in tasks:
            _run_task(task, meta_of(task), store, cal_store, models, *images(task), s, dataset,
                      args, out, sha)
        # second stage (Fig. 5): the parameters chosen on the selection images, on the
        # evaluation images
        selection = [{k: v for k, v in meta_of(t).items() if k != "figure"} for t in tasks
                     if t.offset]
        if selection:
            chosen = chosen_params(store.rows.values(), selection)
            more = [t for t in EXPERIMENTS[name](s, rates, chosen) if t not in tasks]
            for task in more:
                print(f"  chosen on the selection images: {task.label()}", file=sys.stderr,
                      flush=True)
                _run_task(task, meta_of(task), store, cal_store, models, *images(task), s,
                          dataset, args, out, sha)
            tasks = tasks + more
        written.append(store.path)
        if cal_store is not None:
            written.append(cal_store.path)
        written += image_figures.draw(name, store.path, out / "figures", seed=args.seed,
                                      profile=args.profile, n=s.n_test, checkpoints=models.ids,
                                      predict_mc=s.predict_mc, title=dataset.title,
                                      tasks=[meta_of(t) for t in tasks])
    return written


def _run_task(task: Task, meta: dict, store: KeyedRows, cal_store: KeyedRows | None,
              models: TrainedModels, x: np.ndarray, y: np.ndarray, s: EvalProfile, dataset,
              args: Args, out: Path, sha: str) -> None:
    """Evaluate the lambdas of ``task`` that ``store`` lacks, on images ``x``, and add its rows
    (``meta``: the row's settings)."""
    missing = [eps for eps in dataset.eps if not store.has({**meta, "eps": eps})]
    if not missing:
        return
    start = time.time()
    calibrate = meta["experiment"] == "adv"
    # the partial file's digest: without offset 0, so a task interrupted before offsets
    # existed resumes from its batches
    digest = {k: v for k, v in meta.items() if not (k == "offset" and not v)}
    partial = Partial(out, repr(sorted({**digest, "eps": missing, "batch": s.batch}.items())))
    masks, probs = evaluate_task(task, models, x, y, s, missing, calibrate, args.progress,
                                 seed=args.seed, partial=partial)
    acc = {eps: float(m.mean()) for eps, m in masks.items()}
    rows, bins = [], []
    utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for eps in missing:
        row = {**meta, "eps": eps, "accuracy": round(acc[eps], 6),
               "correct": mask_hex(masks[eps])}
        if calibrate:
            row["ece"] = (round(metrics.expected_calibration_error(
                probs[eps], y, CALIBRATION_BINS), 6) if eps in CALIBRATION_EPS else "")
            if eps in CALIBRATION_EPS:
                bins += [{**meta, "eps": eps, **b}
                         for b in metrics.calibration_bins(probs[eps], y, CALIBRATION_BINS)]
        rows.append({**row, "git_sha": sha, "utc": utc})
    if bins:
        cal_store.add([{**b, "git_sha": sha, "utc": utc} for b in bins])
    store.add(rows)
    partial.clear()
    print(f"  {task.label():40s} " + " ".join(f"{eps}:{100 * acc[eps]:.1f}" for eps in missing)
          + f"  ({time.time() - start:.0f} s)", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
