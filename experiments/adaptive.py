"""Adaptive evaluation of every stochastic defense: the paper's attack next to PGD-EOT, APGD-EOT
(CE and DLR, AutoAttack's 'rand' setting) and, for SAP, PGD through BPDA; with Carlini et al.
(2019)'s sanity checks.

For each model of a family (``cifar``: dense, SAP-k, ADV+SAP-100, dropout, RNW/RSW/SWP/RNA/RSA
on the trained CIFAR-10 ResNet-20s; ``mnist``: the SDR-Decay, SDR-Learnable and DropConnect MLPs
and the vanilla one) and each lambda of the family's grid, the accuracy under:

* ``paper``: the paper's attack (CIFAR: FGSM with the MC gradient; MNIST: FGSM with one pass);
* ``pgd``: PGD, ``steps`` steps of 2.5 lambda / steps, random start, CE loss, EOT over
  ``eot_samples`` passes per gradient;
* ``apgd-ce`` and ``apgd-dlr``: APGD with EOT (``apgd_iter`` iterations);
* ``pgd-bpda`` (SAP models): PGD whose gradients go through ``bpda(model)``.

Predictions of stochastic models: the mean softmax of ``predict_mc`` passes (as in the paper).

Sanity checks per model (``sanity_ok`` in every row of the model, and in the report):
1. an unbounded PGD-EOT (lambda = the whole pixel range) must bring accuracy to about 0%: at
   most 1%, or one image when fewer than 100 are attacked;
2. PGD-EOT accuracy must not rise (beyond 2 standard errors of the difference) as steps double
   or as EOT samples double, at the family's check lambda;
3. the dense / vanilla model is evaluated under the same attacks (its rows are the reference).

Rows: ``results/<family>/adaptive.csv`` (smoke: ``results/smoke/...``), the columns of the other
experiments plus ``steps``, ``eot_samples``, ``loss``, ``sanity_ok``; keyed and resumable.
Figure: ``figures/adaptive_<family>.png``, one panel per model.

Usage: ``python -m experiments.adaptive --family cifar --profile smoke``;
``make cifar-adaptive`` / ``make mnist-adaptive``.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import sap_mx  # noqa: F401  (first: sets MXNet's OpenMP threads)
import mxnet as mx
import numpy as np

from sap_mx import checkpoint
from sap_mx.attacks import apgd, bpda, fgsm_step, input_gradient, pgd
from sap_mx.data import DataNotFound
from sap_mx.hardware import HardwareError
from sap_mx.models import WeightsUnavailable
from sap_mx.predict import predict_proba
from sap_mx.results import git_sha

from . import cifar_eval as ce
from . import cifar_train as ct
from . import mnist_sdr as ms
from .cli import (KeyedRows, arg, cli_main, parse_dataclass_args, progress_bar, rel, save_figure,
                  seed_all)
from .profiles import UsageError, get_profile

KEY_FIELDS = ("family", "model", "defense", "param", "attack", "loss", "steps", "eot_samples",
              "eps", "n", "predict_mc", "seed", "profile", "checkpoint")


@dataclass(frozen=True)
class Budget:
    """How hard the adaptive attacks try, and on how many images."""

    n_test: int
    predict_mc: int
    paper_mc: int            # MC samples of the paper's FGSM (CIFAR)
    steps: int               # PGD steps
    eot_samples: int         # EOT passes per gradient (PGD, APGD)
    apgd_iter: int
    batch: int = 128


BUDGETS = {
    "paper": Budget(1_000, 100, 100, 40, 20, 100),
    "quick": Budget(200, 20, 20, 20, 10, 50),
    "smoke": Budget(16, 2, 2, 4, 2, 4, batch=16),
}


@dataclass(frozen=True)
class Family:
    """A model family: its eps grid (model input units), pixel range and check lambda."""

    eps: tuple
    clip: tuple
    check_eps: float


FAMILIES = {
    "cifar": Family(ce.EPS, (0.0, 255.0), 8.0),
    "mnist": Family((0.0, 0.05, 0.1, 0.2, 0.3), (0.0, 1.0), 0.1),
}
CIFAR_MODELS = [  # (base weights, defense, param): every stochastic defense, and dense
    ("dense", "none", None), ("dense", "sap", 20), ("dense", "sap", 100), ("dense", "sap", 500),
    ("adv", "sap", 100), ("dense", "dropout", 0.3), ("dense", "rnw", 0.02),
    ("dense", "rsw", 0.2), ("dense", "swp", 100), ("dense", "rna", 0.5), ("dense", "rsa", 0.5),
]
MNIST_MODELS = ["mlp_vanilla", "mlp_sdr_decay", "mlp_sdr_learnable", "mlp_dropconnect"]


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    family: str = arg("cifar", "cifar | mnist")
    profile: str = arg("paper", "paper | quick | smoke (generated data, minutes)")
    seed: int = arg(0, "seed of the evaluation and of the trained models it reads")
    data_dir: str = arg("", "folder holding the dataset (as in the other drivers)")
    n_test: int = arg(0, "override the profile's number of test images (0: keep)")
    models: str = arg("", "folder of the trained runs (default: results[/smoke]/models for "
                          "cifar, results[/smoke]/mnist/models for mnist)")
    out: str = arg("", "results folder (default: results[/smoke]/<family>)")
    progress: bool = arg(True, "show progress bars")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.adaptive",
                                __doc__.split("\n\n")[0])


# ---------------------------------------------------------------------------------------------
# models of each family: (label, net, stochastic, is_sap, checkpoint id)
# ---------------------------------------------------------------------------------------------
def cifar_models(args: Args):
    models = ce.Models(ce.Args(profile=args.profile, seed=args.seed, models=args.models))
    for base, defense, param in CIFAR_MODELS:
        task = ce.Task("adaptive", base, defense, param)
        net = models.evaluated(task)
        yield (base, defense, param), net, task.stochastic, defense == "sap", models.ids[base]


def mnist_models(args: Args, data, models_dir: Path):
    s = ms.SETTINGS[get_profile(args.profile).name]
    for name in MNIST_MODELS:
        run_dir = models_dir / f"{name}-{args.profile}-seed{args.seed}"
        if not checkpoint.exists(run_dir / "checkpoint"):
            raise UsageError(f"no trained {name} at {rel(run_dir)}: run `make mnist-sdr "
                             f"PROFILE={args.profile} SEED={args.seed}` first")
        net, _ = ms.train(name, ms.Args(profile=args.profile, seed=args.seed), s, data, run_dir,
                          progress=False)  # loads the finished checkpoint
        epoch = checkpoint.load(run_dir / "checkpoint")[0]["epoch"]
        yield (name, "none", None), net, name in ms.STOCHASTIC, False, \
            f"{rel(run_dir)}@epoch{epoch}"


# ---------------------------------------------------------------------------------------------
# attacks
# ---------------------------------------------------------------------------------------------
def attacks_for(is_sap: bool, stochastic: bool, family: str, b: Budget) -> list[dict]:
    """The attack settings evaluated on one model (a dict per attack)."""
    eot = b.eot_samples if stochastic else 1
    out = [{"attack": "paper", "loss": "ce", "steps": 1,
            "eot_samples": (b.paper_mc if stochastic else 1) if family == "cifar" else 1},
           {"attack": "pgd", "loss": "ce", "steps": b.steps, "eot_samples": eot},
           {"attack": "apgd-ce", "loss": "ce", "steps": b.apgd_iter, "eot_samples": eot},
           {"attack": "apgd-dlr", "loss": "dlr", "steps": b.apgd_iter, "eot_samples": eot}]
    if is_sap:
        out.append({"attack": "pgd-bpda", "loss": "ce", "steps": b.steps, "eot_samples": eot})
    return out


def run_attack(net, x, y, eps: float, spec: dict, clip) -> mx.nd.NDArray:
    """Adversarial inputs for one attack setting."""
    if eps == 0:
        return mx.nd.array(x)
    if spec["attack"] == "paper":
        g = input_gradient(net, x, y, mc_samples=spec["eot_samples"])
        return fgsm_step(mx.nd.array(x), g, eps, clip=clip)
    if spec["attack"] in ("pgd", "pgd-bpda"):
        adversary = bpda(net) if spec["attack"] == "pgd-bpda" else net
        return pgd(adversary, x, y, eps, steps=spec["steps"], step_size=2.5 * eps / spec["steps"],
                   mc_samples=spec["eot_samples"], loss=spec["loss"], clip=clip)
    return apgd(net, x, y, eps, n_iter=spec["steps"], mc_samples=spec["eot_samples"],
                loss=spec["loss"], clip=clip)


def accuracy_under(net, x, y, eps, spec, clip, predict_mc: int, batch: int) -> float:
    correct = 0
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        adv = run_attack(net, xb, yb, eps, spec, clip)
        pred = predict_proba(net, adv, mc_samples=predict_mc).asnumpy().argmax(axis=1)
        correct += int((pred == yb).sum())
    return correct / len(x)


def sanity(net, x, y, family: Family, b: Budget, stochastic: bool, predict_mc: int,
           seed: int, label: str) -> tuple[bool, str]:
    """Checks 1 and 2 of the module docstring; returns (ok, one-line reason)."""
    lo, hi = family.clip
    eot = b.eot_samples if stochastic else 1
    seed_all(seed, zlib.crc32(f"{label}/unbounded".encode()))
    unbounded = accuracy_under(net, x, y, hi - lo, {"attack": "pgd", "loss": "ce",
                                                    "steps": b.steps, "eot_samples": eot},
                               family.clip, predict_mc, b.batch)
    problems = []
    limit = max(0.01, 1 / len(x))  # about 0%: at most 1%, or one image of a small set
    if unbounded > limit + 1e-12:
        problems.append(f"unbounded PGD leaves {100 * unbounded:.1f}% (> {100 * limit:.1f}%)")

    def var(p):  # binomial variance of an accuracy, p floored at one image
        p = min(max(p, 1 / len(x)), 1 - 1 / len(x))
        return p * (1 - p) / len(x)

    ladder = []
    for steps, samples in ((b.steps, eot), (2 * b.steps, eot), (b.steps, 2 * eot)):
        seed_all(seed, zlib.crc32(f"{label}/ladder/{steps}/{samples}".encode()))
        ladder.append(accuracy_under(net, x, y, family.check_eps,
                                     {"attack": "pgd", "loss": "ce", "steps": steps,
                                      "eot_samples": samples}, family.clip, predict_mc, b.batch))
    for name, acc in (("doubling steps", ladder[1]), ("doubling EOT samples", ladder[2])):
        if acc > ladder[0] + 2 * math.sqrt(var(ladder[0]) + var(acc)):
            problems.append(f"{name} raised accuracy {100 * ladder[0]:.1f}% -> {100 * acc:.1f}%")
    return (not problems), ("; ".join(problems) or
                            f"unbounded {100 * unbounded:.1f}%, steps/EOT ladder "
                            + "/".join(f"{100 * a:.1f}" for a in ladder))


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def run(args: Args) -> list[Path]:
    if args.family not in FAMILIES:
        raise UsageError(f"unknown family {args.family!r}; valid: {', '.join(FAMILIES)}")
    profile = get_profile(args.profile)
    b = BUDGETS[profile.name]
    if args.n_test < 0:
        raise UsageError(f"--n-test must be >= 0, got {args.n_test}")
    if args.n_test:
        b = dataclasses.replace(b, n_test=args.n_test)
    family = FAMILIES[args.family]
    out = Path(args.out) if args.out else profile.results_dir() / args.family
    if args.family == "cifar":
        (_, (xt, yt)), data_label = ct.load_data(ct.Args(profile=args.profile, seed=args.seed,
                                                         data_dir=args.data_dir), profile)
        models = cifar_models(args)
    else:
        mnist_out = profile.results_dir() / "mnist"
        s = ms.SETTINGS[profile.name]
        data, data_label = ms.load_data(ms.Args(profile=args.profile, seed=args.seed,
                                                data_dir=args.data_dir), s, mnist_out)
        (_, _), (xt, yt) = data
        models = mnist_models(args, data,
                              Path(args.models) if args.models else mnist_out / "models")
    if b.n_test > len(xt):
        raise UsageError(f"--n-test {b.n_test} is more than the {len(xt)} test images")
    x, y = xt[:b.n_test].astype(np.float32), yt[:b.n_test].astype(np.int64)
    store = KeyedRows(out / "adaptive.csv", KEY_FIELDS)
    sha, current = git_sha(), []
    for (base, defense, param), net, stochastic, is_sap, ckpt in models:
        label = base if defense == "none" else f"{base}+{defense}-{ce._fmt(param)}"
        predict_mc = b.predict_mc if stochastic else 1
        specs = attacks_for(is_sap, stochastic, args.family, b)
        meta = {"family": args.family, "model": base, "defense": defense,
                "param": ce._fmt(param), "n": len(x), "predict_mc": predict_mc,
                "seed": args.seed, "profile": args.profile, "checkpoint": ckpt}
        todo = [(spec, eps) for spec in specs for eps in family.eps
                if not store.has({**meta, **spec, "eps": eps})]
        current.append(meta)
        if not todo:
            continue
        start = time.time()
        ok, reason = sanity(net, x, y, family, b, stochastic, predict_mc, args.seed, label)
        rows = []
        bar = progress_bar(args.progress, len(todo), f"{label} adaptive")
        for spec, eps in todo:
            seed_all(args.seed, zlib.crc32(f"{label}/{spec['attack']}/{eps}".encode()))
            acc = accuracy_under(net, x, y, eps, spec, family.clip, predict_mc, b.batch)
            rows.append({**meta, **spec, "eps": eps, "accuracy": round(acc, 6),
                         "attack_model": "bpda" if spec["attack"] == "pgd-bpda" else "self",
                         "mc_samples": spec["eot_samples"], "sanity_ok": ok,
                         "sanity": reason, "data": data_label, "git_sha": sha,
                         "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        store.add(rows)
        print(f"  {label:24s} sanity {'ok' if ok else 'FAILED'} ({reason})  "
              f"({time.time() - start:.0f} s)", file=sys.stderr, flush=True)
    figure = draw(store, current, out / "figures" / f"adaptive_{args.family}.png", args)
    return [store.path, figure]


def draw(store: KeyedRows, current: list[dict], path: Path, args: Args) -> Path:
    """One panel per model: accuracy against lambda, one line per attack."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(current)
    cols = min(4, n)
    rows_ = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(4 * cols, 3.3 * rows_), squeeze=False)
    for ax, meta in zip(axes.flat, current, strict=False):
        mine = [r for r in store.rows.values()
                if all(str(r[k]) == str(meta[k]) for k in meta)]
        eps_values = sorted({float(r["eps"]) for r in mine})
        for attack in dict.fromkeys(r["attack"] for r in mine):
            pts = sorted((float(r["eps"]), float(r["accuracy"])) for r in mine
                         if r["attack"] == attack)
            ax.plot([eps_values.index(e) for e, _ in pts], [100 * a for _, a in pts],
                    marker="o", markersize=3, label=attack)
        ok = all(str(r["sanity_ok"]) == "True" for r in mine)
        name = meta["model"] if meta["defense"] == "none" else (
            f"{meta['model']}+{meta['defense']}-{meta['param']}")
        ax.set_title(f"{name}{'' if ok else '  [SANITY FAILED]'}", fontsize=9)
        ax.set_xticks(range(len(eps_values)))
        ax.set_xticklabels([f"{e:g}" for e in eps_values], fontsize=7)
        ax.set(ylim=(0, 100), xlabel="λ", ylabel="accuracy (%)")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    caption = f"adaptive evaluation, {args.family}: profile {args.profile}, seed {args.seed}"
    if args.profile == "smoke":
        caption += "  [SMOKE: generated data, not results]"
    return save_figure(fig, path, caption, dpi=100)


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv, (DataNotFound, HardwareError, UsageError,
                                            WeightsUnavailable, checkpoint.CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
