"""Adaptive evaluation of every stochastic defense: the paper's attack next to PGD-EOT, APGD-EOT
(CE and DLR, AutoAttack's 'rand' setting), PGD through BPDA on SAP (CE and margin loss) and PGD
transferred from each defense's deterministic twin; with Carlini et al. (2019)'s sanity checks
judged on the worst case.

For each model of a family (``image``: dense, SAP-k, ADV+SAP-100, dropout, RNW/RSW/SWP/RNA/RSA
on the trained ResNet-20s of an image dataset, ``--dataset``, CIFAR-10 by default; ``cifar`` is
that family on CIFAR-10; ``mnist``: the SDR-Decay, SDR-Learnable and DropConnect MLPs and the
vanilla one) and each lambda of the family's grid, the accuracy under (``ATTACKS``):

* ``paper``: the paper's attack (images: FGSM with the MC gradient; MNIST: FGSM with one pass);
* ``pgd``: PGD, ``steps`` steps of 2.5 lambda / steps, random start, CE loss, EOT over
  ``eot_samples`` passes per gradient;
* ``apgd-ce`` and ``apgd-dlr``: APGD with EOT (``apgd_iter`` iterations; the profile's
  ``apgd_losses``: the ``cpu`` profile runs DLR only);
* ``pgd-bpda`` and ``pgd-bpda-margin`` (SAP models): PGD whose gradients go through
  ``bpda(model)``, with the CE and the Carlini-Wagner margin loss;
* ``transfer-pgd`` and ``transfer-pgd-margin`` (every stochastic model): PGD (CE, margin;
  ``transfer_steps``, random start) on the model's deterministic twin, the same weights with
  the defense off (the MLPs of Khan et al.: mean weights, DropConnect off), whose examples are
  then shown to the stochastic model (Carlini et al. 2019, Tramer et al. 2020: every defense
  here has the twin as its expectation, so this is the first attack a reviewer tries);
* ``<attack>@<steps>x<eot>``: the profile's ``long_attacks``, longer runs of one attack on the
  main SAP models (or the ones an entry names) at ``long_eps`` (``model_tasks``): whether it
  has converged there (``sap_mx.attacks.convergence``, judged by the report: the last
  doubling of each ladder, and the most steps with the most EOT samples run together); each
  joins the worst case at its lambda.

At lambda = 0 nothing is attacked and only the paper's row runs: the clean accuracy is one
prediction draw, never the AND of several draws of a stochastic model. The worst case
(``worst-case`` rows, ``combines`` names its attacks) is the per-image AND of every attack at a
lambda. Predictions of stochastic image models: the mean softmax of ``predict_mc`` passes (as in
the paper); Khan et al.'s MLPs: one stochastic pass in every row (their protocol).

Sanity checks per model (``sap_mx.attacks.sanity_checks``; ``sanity_ok`` in every row of the
model, and in the report), each measured on the worst case of the model's sanity set
(``SANITY_SET``: PGD-EOT with the CE and the margin loss, through BPDA on SAP models):
1. an unbounded attack (lambda = the whole pixel range) must bring accuracy to about 0%: at
   most 1%, or one image when fewer than 100 are attacked;
2. the attacks must have converged at the family's check lambda: the accuracy must neither
   rise nor fall (beyond 2 standard errors of the difference) as steps double or as EOT
   samples double (a fall: the attack had not converged, and the model's accuracies are upper
   bounds);
3. the dense / vanilla model is evaluated under the same attacks (its rows are the reference).

Rows written under an older rule (check 2 once looked only for a rise) are judged again on
the measurements their ``sanity`` text records, each time the driver opens the file.

Rows: ``results/<family>/adaptive.csv`` (images: the dataset's results folder, ``cifar``;
smoke: ``results/smoke/...``), the columns of the other experiments plus ``steps``,
``eot_samples``, ``loss``, ``sanity_ok``; keyed and resumable.
Figure: ``figures/adaptive_<family>.png``, one panel per model.

Usage: ``python -m experiments.adaptive --family image --dataset cifar10 --profile smoke``;
``make cifar-adaptive`` / ``make mnist-adaptive``.
"""

from __future__ import annotations

import sys
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import sap_mx  # noqa: F401  (first: sets MXNet's OpenMP threads)
import mxnet as mx
import numpy as np

from runkit import (KeyedRows, UsageError, arg, cli_main, parse_dataclass_args, progress_bar,
                    seed_all)
from runkit.partial import Partial
from runkit.rows import hex_mask, mask_hex
from sap_mx.attacks import apgd, bpda, fgsm_step, input_gradient, pgd, rejudge, sanity
from sap_mx.evaluate import robust
from sap_mx.results import git_sha
from sap_mx.sdr import single_pass

from . import datasets
from .adaptive_figure import draw_panels
from .profiles import ADAPTIVE, MNIST, TRAIN, AdaptiveProfile
from .zoo import (DETERMINISTIC, MLP_MODELS, STOCHASTIC_MLPS, TrainedModels, fmt_param,
                  load_mlp, mlp_run_dir, model_key, model_label)

KEY_FIELDS = ("family", "model", "defense", "param", "attack", "loss", "steps", "eot_samples",
              "eps", "n", "predict_mc", "seed", "profile", "checkpoint")


@dataclass(frozen=True)
class Family:
    """A model family: its eps grid (model input units), pixel range and check lambda."""

    eps: tuple
    clip: tuple
    check_eps: float


IMAGE_FAMILY = Family(datasets.EPS, (0.0, 255.0), 8.0)
MNIST_FAMILY = Family((0.0, 0.05, 0.1, 0.2, 0.3), (0.0, 1.0), 0.1)
IMAGE_MODELS = [  # (base weights, defense, param): every stochastic defense, dense and ADV
    ("dense", "none", None), ("dense", "sap", 100), ("adv", "none", None), ("adv", "sap", 100),
    ("dense", "sap", 20), ("dense", "sap", 500), ("dense", "dropout", 0.3), ("dense", "rnw", 0.02),
    ("dense", "rsw", 0.2), ("dense", "swp", 100), ("dense", "rna", 0.5), ("dense", "rsa", 0.5),
]
FAMILIES = ("image", "cifar", "mnist")  # cifar: the image family on CIFAR-10


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    family: str = arg("image", "image (the ResNet-20s of --dataset) | cifar (image, CIFAR-10) | "
                               "mnist (Khan et al.'s MLPs)")
    dataset: str = arg("cifar10", "dataset: of the image family (experiments/datasets.py), or "
                                  "of the mnist family (mnist, the default, or fashion-mnist)")
    profile: str = arg("paper", "paper | quick | smoke (generated data, minutes)")
    seed: int = arg(0, "seed of the evaluation and of the trained models it reads")
    data_dir: str = arg("", "folder holding the dataset (as in the other drivers)")
    n_test: int = arg(0, "override the profile's number of test images (0: keep)")
    crop: int = arg(0, "training crop of the image models (0: the image size; CIFAR-10: 28 "
                       "reads the 28-crop runs and feeds them centre crops)")
    model: str = arg("resnet20", "architecture of the trained image models (as in image_train)")
    dense: str = arg("", "'gluoncv': GluonCV's published cifar_resnet20_v2 (CIFAR-10) as the "
                         "dense model instead of our trained one")
    models: str = arg("", "folder of the trained runs (default: the dataset's models folder, "
                          "results[/smoke]/mnist/models for mnist)")
    out: str = arg("", "results folder (default: the dataset's, results[/smoke]/mnist for "
                       "mnist)")
    progress: bool = arg(True, "show progress bars")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.adaptive",
                                __doc__.split("\n\n")[0])


# ---------------------------------------------------------------------------------------------
# models of each family: (key parts, net, stochastic, is_sap, checkpoint id, twin or None)
# ---------------------------------------------------------------------------------------------
def image_models(models: TrainedModels):
    """Every image model: the twin of a defended one is its base weights, defense off (the
    expectation of every defense here is the undefended model: SAP's 1/(1-(1-p)^r) scaling,
    inverted dropout, zero-mean or mean-one noise)."""
    for base, defense, param in IMAGE_MODELS:
        net = models.defend(base, defense, param)
        stochastic = defense not in DETERMINISTIC
        yield ((base, defense, param), net, stochastic, defense == "sap", models.ids[base],
               models.defend(base) if stochastic else None)


def mean_twin(net):
    """A parameter-sharing copy of an MLP of Khan et al. with its randomness replaced by its
    expectation: SDR layers use their mean weights mu, DropConnect keeps every weight (its
    kept weights are scaled by 1/(1-p), so the expectation is the weight itself)."""
    from sap_mx.blocks import clone
    from sap_mx.models.mlp import DropConnectDense, GaussianDense

    def visit(original, dup):
        if isinstance(dup, GaussianDense):
            dup.mode = "mean"
        elif isinstance(dup, DropConnectDense):
            dup.p = 0.0
        return dup

    return clone(net, visit)


def mnist_models(args: Args, models_dir: Path):
    for name in MLP_MODELS.values():
        net, ckpt = load_mlp(name, mlp_run_dir(models_dir, name, args.profile, args.seed),
                             profile=args.profile, seed=args.seed)
        stochastic = name in STOCHASTIC_MLPS
        yield ((name, "none", None), net, stochastic, False, ckpt,
               mean_twin(net) if stochastic else None)


def model_eps(b: AdaptiveProfile, model: tuple, family_eps: tuple) -> tuple:
    """The lambdas ``model`` (base, defense, param) is attacked at under profile ``b``: the
    family's grid, or the profile's ``eps_grid`` for its main models and ``other_eps`` for the
    rest (a profile that cannot afford every model at every lambda)."""
    if not b.eps_grid:
        return tuple(family_eps)
    if not b.main_models or model_key(*model) in b.main_models:
        return tuple(b.eps_grid)
    return tuple(b.other_eps)


# ---------------------------------------------------------------------------------------------
# attacks
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """How an attack of ``ATTACKS`` runs: the algorithm (``fgsm``: the paper's, one MC
    gradient; ``pgd``; ``apgd``), the loss it ascends (``sap_mx.attacks.LOSSES``) and the model
    whose gradients it follows (``self``: the evaluated model, with EOT; ``bpda``: the model
    with SAP's backward pass as the identity; ``twin``: the deterministic twin, the same
    weights with the defense off (SDR: the mean weights), whose examples are then evaluated on
    the stochastic model: a transfer attack)."""

    method: str
    loss: str
    adversary: str = "self"


ATTACKS = {
    "paper": Method("fgsm", "ce"),
    "pgd": Method("pgd", "ce"),
    "pgd-margin": Method("pgd", "margin"),           # the sanity set of models without SAP
    "apgd-ce": Method("apgd", "ce"),
    "apgd-dlr": Method("apgd", "dlr"),
    "pgd-bpda": Method("pgd", "ce", "bpda"),
    "pgd-bpda-margin": Method("pgd", "margin", "bpda"),
    "transfer-pgd": Method("pgd", "ce", "twin"),
    "transfer-pgd-margin": Method("pgd", "margin", "twin"),
}
# the attacks whose worst case the sanity checks judge (both losses of the strongest family)
SANITY_SET = {True: ("pgd-bpda", "pgd-bpda-margin"), False: ("pgd", "pgd-margin")}


def base_attack(name: str) -> str:
    """``pgd-bpda@40x4`` -> ``pgd-bpda`` (a longer run's attack)."""
    return name.split("@")[0]


def method_of(name: str) -> Method:
    """The ``Method`` of a row's attack name: longer runs (``@``) and APGD restarts (``-r3``)
    named as their attack."""
    base = base_attack(name)
    if base not in ATTACKS and base.rsplit("-r", 1)[0] in ATTACKS:
        base = base.rsplit("-r", 1)[0]
    if base not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; valid: {', '.join(ATTACKS)}")
    return ATTACKS[base]


def attacks_for(is_sap: bool, stochastic: bool, mnist: bool, b: AdaptiveProfile, *,
                twin: bool = False) -> list[dict]:
    """The attack settings evaluated on one model (a dict per attack): the paper's FGSM, PGD
    and APGD (CE, DLR) with EOT, BPDA with both losses on SAP, and on a stochastic model with a
    deterministic ``twin`` PGD (CE and margin, random start) run on the twin and transferred.
    APGD with more than one restart is named ``apgd-ce-r<k>`` (the row key holds the attack's
    name, not its restarts)."""
    eot = b.eot_samples if stochastic else 1
    restarts = "" if b.apgd_restarts == 1 else f"-r{b.apgd_restarts}"
    out = [{"attack": "paper", "loss": "ce", "steps": 1,
            "eot_samples": 1 if mnist else (b.paper_mc if stochastic else 1)},
           {"attack": "pgd", "loss": "ce", "steps": b.steps, "eot_samples": eot}]
    out += [{"attack": f"apgd-{loss}{restarts}", "loss": loss, "steps": b.apgd_iter,
             "eot_samples": eot, "restarts": b.apgd_restarts} for loss in b.apgd_losses]
    if is_sap:
        out += [{"attack": name, "loss": ATTACKS[name].loss, "steps": b.steps,
                 "eot_samples": eot} for name in ("pgd-bpda", "pgd-bpda-margin")]
    if twin and stochastic:
        out += [{"attack": name, "loss": ATTACKS[name].loss,
                 "steps": b.transfer_steps or b.steps, "eot_samples": 1}
                for name in ("transfer-pgd", "transfer-pgd-margin")]
    return out


def long_attack_name(attack: str, steps: int, eot: int) -> str:
    """The row name of a longer run of ``attack``: ``pgd-bpda@40x4`` (40 steps, 4 EOT samples),
    so that it never shares a column with the profile's own run."""
    return f"{attack}@{steps}x{eot}"


def model_tasks(b: AdaptiveProfile, model: tuple, family_eps: tuple, *, is_sap: bool,
                stochastic: bool, mnist: bool, twin: bool = False) -> list[tuple[dict, float]]:
    """Every (attack setting, lambda) one model is evaluated at: the profile's attacks at the
    model's lambdas (``model_eps``), then, for a main model with SAP, the profile's longer
    attacks at ``long_eps`` (the driver and ``experiments.cost`` both count from here); a
    ``long_attacks`` entry with a fourth item runs on those main models only.

    At lambda = 0 nothing is attacked: only the first attack (the paper's) runs there, so the
    clean accuracy is one prediction draw, never the AND of several draws of a stochastic
    model."""
    grid = family_eps if mnist else model_eps(b, model, family_eps)
    specs = attacks_for(is_sap, stochastic, mnist, b, twin=twin)
    tasks = [(spec, eps) for spec in specs for eps in grid if eps != 0 or spec is specs[0]]
    key = model_key(*model)
    if is_sap and not mnist and key in b.main_models:
        for attack, steps, eot, *only in b.long_attacks:
            if only and key not in only[0]:
                continue
            spec = {"attack": long_attack_name(attack, steps, eot),
                    "loss": method_of(attack).loss, "steps": steps, "eot_samples": eot}
            tasks += [(spec, eps) for eps in b.long_eps]
    return tasks


def make_attack(net, eps: float, spec: dict, clip, twin=None):
    """An ``attack(xb, yb)`` (NumPy batches in, adversarial NDArray out) for one setting;
    ``twin``: the deterministic twin that transfer attacks run on."""
    method = method_of(spec["attack"])
    if method.adversary == "twin" and twin is None:
        raise ValueError(f"{spec['attack']} needs the model's deterministic twin")
    adversary = {"self": lambda: net, "bpda": lambda: bpda(net),
                 "twin": lambda: twin}[method.adversary]()

    def attack(x, y) -> mx.nd.NDArray:
        if eps == 0:
            return mx.nd.array(x)
        if method.method == "fgsm":
            g = input_gradient(adversary, x, y, mc_samples=spec["eot_samples"])
            return fgsm_step(mx.nd.array(x), g, eps, clip=clip)
        if method.method == "pgd":
            return pgd(adversary, x, y, eps, steps=spec["steps"],
                       step_size=2.5 * eps / spec["steps"], mc_samples=spec["eot_samples"],
                       loss=method.loss, clip=clip)
        return apgd(adversary, x, y, eps, n_iter=spec["steps"], mc_samples=spec["eot_samples"],
                    loss=method.loss, restarts=spec["restarts"], clip=clip)
    return attack


def attack_model(name: str) -> str:
    """The ``attack_model`` column of a row: whose gradients the attack followed."""
    return method_of(name).adversary


# ---------------------------------------------------------------------------------------------
# per-example results, resumable per batch
# ---------------------------------------------------------------------------------------------
WORST = "worst-case"


def robust_resumable(net, x, y, attack, *, predict_mc: int, batch: int, partial: Partial,
                     reseed, judge=None) -> np.ndarray:
    """Per-example correctness under ``attack``, batch by batch, each batch seeded by
    ``reseed(start)`` and saved to ``partial`` (a rerun continues where it stopped).
    ``judge(batch) -> probabilities``, if given, decides correctness instead of ``predict_mc``
    passes over the batch (Khan et al.'s MLPs: ``sap_mx.sdr.single_pass``, one weight draw per
    image; one pass over a batch would share a draw between its images)."""
    first, saved = partial.load()
    ok = saved.get("ok", np.zeros(len(x), bool))
    for start in range(first, len(x), batch):
        reseed(start)
        xb, yb = x[start:start + batch], y[start:start + batch]
        if judge is None:
            ok[start:start + batch] = robust(net, xb, yb, attack, mc_samples=predict_mc,
                                             batch=batch)
        else:
            ok[start:start + batch] = judge(attack(xb, yb)).argmax(axis=1) == yb
        partial.save(start + batch, ok=ok)
    return ok


def worst_case_rows(store: KeyedRows, meta: dict, tasks: list[tuple[dict, float]],
                    n: int) -> list:
    """Per lambda, the examples correct under every attack run there with the model's
    prediction passes (AutoAttack's robust accuracy; ``tasks``: ``model_tasks``): a
    ``worst-case`` row, or none while any is missing."""
    out = []
    for eps in dict.fromkeys(e for _, e in tasks):
        same = [spec for spec, e in tasks if e == eps]
        rows = [store.rows.get(store.key({**meta, **spec, "eps": eps}))
                for spec in same]
        if any(r is None or not r.get("correct") for r in rows):
            continue
        ok = np.logical_and.reduce([hex_mask(r["correct"], n) for r in rows])
        out.append({**meta, "attack": WORST, "loss": "", "steps": "", "eot_samples": "",
                    "eps": eps, "accuracy": round(float(ok.mean()), 6), "correct": mask_hex(ok),
                    "attack_model": "all", "mc_samples": "",
                    "combines": "+".join(spec["attack"] for spec in same),
                    **{k: rows[0][k] for k in ("sanity_ok", "sanity", "data")}})
    return out


def recorded_sanity(store: KeyedRows, meta: dict) -> tuple[bool, str] | None:
    """The sanity verdict already written in one of the model's rows (the current rule, on its
    recorded measurements), or None: a finished model given only longer runs of an attack (added
    to the profile later) is not checked again."""
    for row in store.rows.values():
        if row.get("sanity") and all(str(row.get(k)) == str(v) for k, v in meta.items()
                                     if k != "predict_mc"):
            return rejudge(row.get("sanity_ok") == "True", row["sanity"], int(row["n"]))
    return None


def rejudge_rows(store: KeyedRows) -> None:
    """The current sanity rule on every row's recorded measurements (``rejudge``); the file is
    rewritten only when a verdict changed (the rows keep their ``git_sha``: the measurement's
    commit)."""
    changed = []
    for row in store.rows.values():
        if not row.get("sanity"):
            continue
        ok, reason = rejudge(row.get("sanity_ok") == "True", row["sanity"],
                             int(row.get("n") or 0))
        if (str(ok), reason) != (row.get("sanity_ok"), row.get("sanity")):
            changed.append({**row, "sanity_ok": ok, "sanity": reason})
    if changed:
        store.add(changed)


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def run(args: Args) -> list[Path]:
    if args.family not in FAMILIES:
        raise UsageError(f"unknown family {args.family!r}; valid: {', '.join(FAMILIES)}")
    mnist = args.family == "mnist"
    b = ADAPTIVE.get(args.profile)
    if args.n_test < 0:
        raise UsageError(f"--n-test must be >= 0, got {args.n_test}")
    if args.n_test:
        b = replace(b, n_test=args.n_test)
    if mnist:
        for flag, value, default in (("--crop", args.crop, 0), ("--model", args.model,
                                                                  "resnet20"),
                                     ("--dense", args.dense, "")):
            if value != default:
                raise UsageError(f"{flag} is for the image family; the MNIST MLPs take whole "
                                 f"images and are Khan et al.'s own: drop {flag}")
        # --dataset: MNIST (the default for this family) or Fashion-MNIST's MLPs
        mlp_dataset = "mnist" if args.dataset == "cifar10" else args.dataset
        family, name = MNIST_FAMILY, "mnist"  # the family of Khan et al.'s MLPs, on either
        title = "Khan et al.'s MLPs"  # the figure names the models; its data label the dataset
        mnist_out = datasets.mlp_results_dir(mlp_dataset, args.profile)
        data, data_label = datasets.load_mnist_data(MNIST.get(args.profile), args.profile,
                                                    args.seed, args.data_dir, mnist_out,
                                                    dataset=mlp_dataset)
        (_, _), (xt, yt) = data
        models = mnist_models(args, Path(args.models) if args.models else mnist_out / "models")
        out = Path(args.out) if args.out else mnist_out
    else:
        dataset = datasets.get_dataset("cifar10" if args.family == "cifar" else args.dataset)
        crop = datasets.check_crop(args.crop, dataset)
        family, name = replace(IMAGE_FAMILY, eps=dataset.eps), dataset.results
        title = name
        trained = TrainedModels(dataset, profile=args.profile, seed=args.seed, model=args.model,
                                dense=args.dense, models_dir=args.models, crop=crop)
        (_, (xt, yt)), data_label = datasets.load(dataset, args.profile,
                                                  TRAIN.get(args.profile), args.seed,
                                                  args.data_dir)
        xt = dataset.crop(xt, crop)  # the images the models were trained and tested on
        models = image_models(trained)
        out = Path(args.out) if args.out else dataset.results_dir(args.profile)
    if b.n_test > len(xt):
        raise UsageError(f"--n-test {b.n_test} is more than the {len(xt)} test images")
    x, y = xt[:b.n_test].astype(np.float32), yt[:b.n_test].astype(np.int64)
    store = KeyedRows(out / "adaptive.csv", KEY_FIELDS)
    rejudge_rows(store)
    sha, current = git_sha(), []
    for (base, defense, param), net, stochastic, is_sap, ckpt, twin in models:
        key = model_key(base, defense, param)
        # Khan et al.'s protocol: one stochastic pass of inference per sample (its own weight
        # draw), in every table
        predict_mc = b.predict_mc if stochastic and not mnist else 1
        judge = single_pass(net) if stochastic and mnist else None
        tasks = model_tasks(b, (base, defense, param), family.eps, is_sap=is_sap,
                            stochastic=stochastic, mnist=mnist, twin=twin is not None)
        meta = {"family": name, "model": base, "defense": defense,
                "param": fmt_param(param), "n": len(x), "predict_mc": predict_mc,
                "seed": args.seed, "profile": args.profile, "checkpoint": ckpt}
        current.append(meta)

        def done(spec, eps):
            row = store.rows.get(store.key({**meta, **spec, "eps": eps}))
            return row is not None and bool(row.get("correct"))  # older rows lack the masks

        todo = [(spec, eps) for spec, eps in tasks if not done(spec, eps)]
        if todo:
            start = time.time()
            finished = all(done(spec, eps) for spec, eps in tasks if "@" not in spec["attack"])
            recorded = recorded_sanity(store, meta) if finished else None
            if recorded is not None:   # checked when its rows were written; only longer runs
                # are new (an unfinished model resumes its checks from their side files)
                (ok, reason), sanity_partials = recorded, []
            else:
                ok, reason, sanity_partials = check_model(net, x, y, family, b, stochastic,
                                                          predict_mc, args.seed, key, out,
                                                          {**meta, "data": data_label},
                                                          ladder=mnist or not b.main_models
                                                          or key in b.main_models,
                                                          is_sap=is_sap, judge=judge)
            bar = progress_bar(args.progress, len(todo), f"{key} adaptive", unit="task")
            for spec, eps in todo:
                partial = Partial(out, repr(sorted({**meta, **spec, "eps": eps,
                                                    "batch": b.batch,
                                                    "data": data_label}.items())))
                attack_key = f"{key}/{spec['attack']}/{eps}"
                mask = robust_resumable(
                    net, x, y, make_attack(net, eps, spec, family.clip, twin),
                    predict_mc=meta["predict_mc"], batch=b.batch, partial=partial,
                    reseed=lambda s, k=attack_key: seed_all(args.seed,
                                                            zlib.crc32(f"{k}/{s}".encode())),
                    judge=judge)
                store.add([{**meta, **spec, "eps": eps,
                            "accuracy": round(float(mask.mean()), 6),
                            "attack_model": attack_model(spec["attack"]),
                            "mc_samples": spec["eot_samples"], "sanity_ok": ok,
                            "sanity": reason, "data": data_label, "correct": mask_hex(mask),
                            "git_sha": sha,
                            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}])
                partial.clear()
                if bar is not None:
                    bar.update()
            if bar is not None:
                bar.close()
            for partial in sanity_partials:  # kept until the model's rows are all written
                partial.clear()
            print(f"  {key:24s} sanity {'ok' if ok else 'FAILED'} ({reason})  "
                  f"({time.time() - start:.0f} s)", file=sys.stderr, flush=True)
        worst = [r for r in worst_case_rows(store, meta, tasks, len(x))
                 if any(str(r[k]) != (store.rows.get(store.key(r)) or {}).get(k)
                        for k in ("correct", "combines", "accuracy"))]  # new or changed
        if worst:
            utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            store.add([{**r, "git_sha": sha, "utc": utc} for r in worst])
    figure = draw(store, current, out / "figures" / f"adaptive_{name}.png", args, title,
                  data_label)
    return [store.path, figure]


def check_model(net, x, y, family: Family, b: AdaptiveProfile, stochastic: bool,
                predict_mc: int, seed: int, key: str, out: Path, meta: dict,
                ladder: bool = True, is_sap: bool = False, judge=None):
    """The sanity checks of one model (``sap_mx.attacks.sanity``; the steps/EOT ladder only
    with ``ladder``: a profile with main models runs it on those), judged on the worst case of
    the model's sanity set (``SANITY_SET``: PGD-EOT with the CE and the margin loss, through
    BPDA on SAP models): every measurement is the per-image AND of those attacks, so neither a
    stalled CE loss nor a single loss's convergence decides. Each run is kept per batch like
    the attacks (a rerun continues it); returns (ok, reason, the side files to clear once the
    model's rows are written)."""
    partials = []
    names = SANITY_SET[is_sap]

    def measure(tag, eps, steps, eot):
        masks = []
        for name in names:
            spec = {"attack": name, "steps": steps, "eot_samples": eot}
            partial = Partial(out, repr(sorted({**meta, "sanity": tag, "eps": eps,
                                                "steps": steps, "eot": eot, "batch": b.batch,
                                                **({"attack": name} if name != "pgd" else {})
                                                }.items())))
            partials.append(partial)
            masks.append(robust_resumable(
                net, x, y, make_attack(net, eps, spec, family.clip), predict_mc=predict_mc,
                batch=b.batch, partial=partial, judge=judge,
                reseed=lambda s, n=name: seed_all(seed, zlib.crc32(
                    (f"{key}/{tag}/{s}" if n == "pgd" else f"{key}/{n}/{tag}/{s}").encode()))))
        return float(np.logical_and.reduce(masks).mean())

    ok, reason = sanity(net, x, y, check_eps=family.check_eps, clip=family.clip,
                        steps=b.steps, eot_samples=b.eot_samples if stochastic else 1,
                        predict_mc=predict_mc, batch=b.batch, measure=measure,
                        ladder=ladder, what="worst of " + "+".join(names))
    return ok, reason, partials


def panel_title(label: str, rows: list[dict]) -> str:
    """A model's panel title: flagged when its sanity check failed, and when only the unbounded
    check ran on it (``adaptive_table.unchecked``: whether its attacks converged is unknown)."""
    from .adaptive_table import unchecked  # here: adaptive_table imports this module

    if not all(str(r["sanity_ok"]) == "True" for r in rows):
        return f"{label}  [SANITY FAILED]"
    return f"{label}  [unbounded check only]" if unchecked(rows) else label


def draw(store: KeyedRows, current: list[dict], path: Path, args: Args, title: str,
         data_label: str) -> Path:
    """One panel per model of ``current`` (its rows: each attack with its own prediction
    passes), drawn by ``adaptive_figure.draw_panels``; the caption names the models
    (``title``, unless it is the dataset) and the data (``data_label``) once."""
    titles = {name: column for column, name in MLP_MODELS.items()}  # Table 1's column names
    panels = []
    for meta in current:
        mine = [r for r in store.rows.values()
                if all(str(r[k]) == str(meta[k]) for k in meta if k != "predict_mc")
                and str(r["predict_mc"]) == str(meta["predict_mc"])]
        label = titles.get(meta["model"]) or model_label(meta["model"], meta["defense"],
                                                         meta["param"])
        panels.append((panel_title(label, mine), mine))
    classes = next((d.classes for d in datasets.DATASETS.values()
                    if data_label in (d.name, d.results)), 10)
    return draw_panels(panels, path, title=title, data_label=data_label, profile=args.profile,
                       seed=args.seed, classes=classes)


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
