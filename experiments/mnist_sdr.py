"""Khan et al.'s Table 1 on MNIST: vanilla, SDR-Decay, SDR-Learnable and DropConnect MLPs under
FGSM, DeepFool and LocalSearch, with the paper's protocol and with expectation over randomness.

1. Train the four 784-100-100-100-10 MLPs (``sap_mx.models.mlp``) on MNIST (pixels 0..1), each
   run resumable from its checkpoint; SDR-Decay applies Algorithm 2's variance rule after every
   step, SDR-Learnable Algorithm 3's clamp after every step and the variance-threshold schedule
   after every epoch (both bounds +0.05 once the test accuracy has recovered from the last raise
   and levelled off, at most every 5 epochs; ``sap_mx.sdr.ready_to_raise``).
2. Attack the first ``n_attack`` test images of each model:

   * clean accuracy;
   * FGSM as Foolbox 1.x runs it: the smallest eps on linspace(0, 1, 1001)[1:] that fools the
     model (an example counts as robust if none does), and FGSM at fixed eps 0.1, 0.2, 0.3;
   * DeepFool (multi-class, overshoot 0.02, 50 steps, 10 candidate classes);
   * LocalSearch (r=1.5, p=10, d=5, t=5, R=150), black box.

   Every accuracy is one stochastic pass per image (Khan et al.'s single pass of inference).
   Two protocols for the stochastic models: ``paper`` (every query of the attacks is one
   stochastic pass, as Foolbox saw the models, and each attack is scored by its own queries)
   and ``eot`` (the attacks' gradients and queries average ``eot`` passes: they attack the
   expected model, Athalye et al. 2018; the image each returns is then judged by one pass).
3. Write ``results/mnist/table1.csv`` (tidy rows) and ``results/mnist/table1.md`` laid out like
   the paper's Table 1 with the paper's numbers beside ours (smoke: ``results/smoke/mnist/``).

Usage: ``python -m experiments.mnist_sdr --profile smoke``; ``make mnist-sdr`` wraps it.
"""
from __future__ import annotations

import sys
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import sap_mx  # noqa: F401  (first: sets MXNet's OpenMP threads)
import numpy as np
from mxnet import gluon

from runkit import (KeyedRows, RunFolder, UsageError, arg, cli_main, parse_dataclass_args,
                    progress_bar, rel, seed_all)
from sap_mx import checkpoint
from sap_mx.evaluate import accuracy
from sap_mx.io import write_text
from sap_mx.models.mlp import SDRDecay, clamp_sigma
from sap_mx.results import git_sha
from sap_mx.sdr import (FIXED_EPS, SDR_DECAY, SDR_LEARNABLE, STOCHASTIC_MLPS as STOCHASTIC,
                        build_mlp, table1_accuracies, train_epoch, variance_schedule)

from . import datasets
from .profiles import MNIST, MnistProfile
from .zoo import MLP_MODELS as MODELS, mlp_checkpoint_id, mlp_run_dir
PAPER_CSV = Path(__file__).resolve().parent / "paper_numbers" / "mnist_table1.csv"


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    profile: str = arg("paper", "paper | quick (real data, fewer epochs and examples) | smoke "
                                "(generated MNIST-format files, minutes)")
    dataset: str = arg("mnist", "mnist (the paper's) | fashion-mnist (the same table on it; the "
                                "paper's MNIST numbers stay beside ours, marked MNIST)")
    seed: int = arg(0, "seeds python, numpy and mxnet; part of every row and run name")
    models: str = arg("", "comma-separated subset of mlp_vanilla, mlp_sdr_decay, "
                          "mlp_sdr_learnable, mlp_dropconnect (default: all four)")
    data_dir: str = arg("", "folder holding the MNIST IDX files (else $SAP_DATA_DIR, then "
                            "$MXNET_HOME/datasets/mnist)")
    n_attack: int = arg(0, "override the profile's number of attacked test images (0: keep)")
    out: str = arg("", "results folder (default: results/mnist, smoke: results/smoke/mnist)")
    fresh: bool = arg(False, "discard the checkpoints of the trained MLPs and train anew")
    progress: bool = arg(True, "show progress bars")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.mnist_sdr",
                                __doc__.split("\n\n")[0])


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def train(name: str, args: Args, s: MnistProfile, data, run_dir: Path, progress: bool):
    """Train (or resume, or load) ``name``; returns (net, history)."""
    (x, y), (xt, yt) = data
    epochs = s.learnable_epochs if name == "mlp_sdr_learnable" else s.epochs
    config = {"model": name, "epochs": epochs, "batch": s.batch, "lr": s.lr, "seed": args.seed,
              "profile": args.profile, "sdr_decay": SDR_DECAY, "sdr_learnable": SDR_LEARNABLE}
    run = RunFolder(run_dir, config=config, compare=settings_of(name)).lock()
    if args.fresh:
        run.discard()
    try:
        seed_all(args.seed, zlib.crc32(name.encode()))
        net = build_mlp(name)
        trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": s.lr})
        rule = SDRDecay(net, beta=SDR_DECAY["beta"], zeta=SDR_DECAY["zeta"],
                        tau=SDR_DECAY["tau"]) if name == "mlp_sdr_decay" else None
        state = {"start": 0, "history": [], "bounds": [SDR_LEARNABLE["min"], SDR_LEARNABLE["max"]],
                 "last_raise": -10**9}

        def restore(meta, files):
            net.load_parameters(files["net.params"])
            trainer.load_states(files["trainer.states"])
            state.update(start=meta["epoch"], history=meta["history"], bounds=meta["bounds"],
                         last_raise=meta["last_raise"])
            if rule is not None:
                rule.batches = meta["sdr_batches"]

        run.resume(restore)
        start, history = state["start"], state["history"]
        bounds, last_raise = state["bounds"], state["last_raise"]
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        steps = len(x) // s.batch
        for epoch in range(start, epochs):
            rng = np.random.default_rng([args.seed, zlib.crc32(name.encode()), epoch])
            seed_all(args.seed, zlib.crc32(f"{name}/{epoch}".encode()))
            bar = progress_bar(progress, steps, f"{name} epoch {epoch + 1}/{epochs}")

            def on_step(step, loss_sum, bar=bar):
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_sum / ((step + 1) * s.batch):.3f}")
                    bar.update()

            loss_sum = train_epoch(net, trainer, loss_fn, x, y, batch=s.batch,
                                   order=rng.permutation(len(x)), rule=rule,
                                   bounds=bounds if name == "mlp_sdr_learnable" else None,
                                   on_step=on_step)
            if bar is not None:
                bar.close()
            test_acc = accuracy(net, xt, yt, batch=1000)
            history.append({"epoch": epoch + 1, "train_loss": loss_sum / (steps * s.batch),
                            "test_acc": test_acc, "sigma_min": bounds[0], "sigma_max": bounds[1]})
            if name == "mlp_sdr_learnable":
                bounds, last_raise = variance_schedule(history, bounds, last_raise, epoch)
                clamp_sigma(net, *bounds)
            run.save({"net.params": net.save_parameters, "trainer.states": trainer.save_states},
                     {"epoch": epoch + 1, "history": history, "bounds": bounds,
                      "last_raise": last_raise,
                      "sdr_batches": rule.batches if rule is not None else 0})
            print(f"  {name} epoch {epoch + 1}/{epochs}: loss {history[-1]['train_loss']:.3f}, "
                  f"test (one pass) {100 * test_acc:.2f}%"
                  + (f", sigma in [{bounds[0]:.2f}, {bounds[1]:.2f}]"
                     if name == "mlp_sdr_learnable" else ""), file=sys.stderr, flush=True)
        return net, history
    finally:
        run.unlock()  # a process may train again (tests, notebooks)


def settings_of(name: str):
    """What a checkpoint of ``name`` must match to be resumed: its configuration less the
    settings of the other SDR models (a change to SDR-Learnable's schedule retrains it alone)."""
    other = {"mlp_sdr_decay": "sdr_learnable", "mlp_sdr_learnable": "sdr_decay"}.get(name)
    drop = {other} if other else {"sdr_decay", "sdr_learnable"}
    return lambda config: {k: v for k, v in config.items() if k not in drop}


def attack_model(name: str, net, x: np.ndarray, y: np.ndarray, protocol: str, s: MnistProfile,
                 seed: int, progress: bool) -> dict[str, float]:
    """Accuracy (fraction of ``x``) clean and under each attack, for one protocol
    (``sap_mx.sdr.table1_accuracies``)."""
    return table1_accuracies(
        net, x, y, eot=s.eot if (protocol == "eot" and name in STOCHASTIC) else 1,
        fgsm_grid=s.fgsm_grid, deepfool_steps=s.deepfool_steps,
        localsearch_rounds=s.localsearch_rounds, seed=seed, tag=f"{name}/{protocol}",
        reseed=lambda what: seed_all(seed, zlib.crc32(f"{name}/{protocol}/{what}".encode())),
        progress=progress_bar(progress, len(x), f"{name} {protocol} LocalSearch", unit="image"))


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
KEY_FIELDS = ("model", "protocol", "attack", "n", "seed", "profile", "checkpoint")


def run(args: Args) -> list[Path]:
    s = MNIST.get(args.profile)
    if args.n_attack < 0:
        raise UsageError(f"--n-attack must be >= 0, got {args.n_attack}")
    if args.n_attack:
        s = replace(s, n_attack=args.n_attack,
                                n_attack_eot=min(args.n_attack, s.n_attack_eot))
    names = [m.strip() for m in args.models.split(",") if m.strip()] or list(MODELS.values())
    unknown = [m for m in names if m not in MODELS.values()]
    if unknown:
        raise UsageError(f"unknown model {unknown[0]!r}; valid: {', '.join(MODELS.values())}")
    out = Path(args.out) if args.out else datasets.mlp_results_dir(args.dataset, args.profile)
    data, data_label = datasets.load_mnist_data(s, args.profile, args.seed, args.data_dir, out,
                                                args.dataset)
    (_, _), (xt, yt) = data
    if s.n_attack > len(xt):
        raise UsageError(f"--n-attack {s.n_attack} is more than the {len(xt)} test images")
    x, y = xt[:s.n_attack], yt[:s.n_attack].astype(np.int64)
    store = KeyedRows(out / "table1.csv", KEY_FIELDS)
    sha, ids = git_sha(), {}
    for name in names:
        run_dir = mlp_run_dir(out / "models", name, args.profile, args.seed)
        net, history = train(name, args, s, data, run_dir, args.progress)
        ckpt_id = ids[name] = mlp_checkpoint_id(run_dir)
        for protocol in ("paper", "eot"):
            if protocol == "eot" and name not in STOCHASTIC:
                continue  # a deterministic model: both protocols are the same
            n = len(x) if protocol == "paper" else min(len(x), s.n_attack_eot)
            meta = {"model": name, "protocol": protocol, "n": n, "seed": args.seed,
                    "profile": args.profile, "checkpoint": ckpt_id, "predict_mc": 1}
            if store.has({**meta, "attack": "clean"}):
                continue
            start = time.time()
            acc = attack_model(name, net, x[:n], y[:n], protocol, s, args.seed, args.progress)
            utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            store.add([{**meta, "attack": attack, "accuracy": round(value, 6),
                        "eot_samples": s.eot if protocol == "eot" else 1,
                        "data": data_label, "git_sha": sha, "utc": utc}
                       for attack, value in acc.items()])
            print(f"  {name} [{protocol}] " + "  ".join(f"{a} {100 * v:.2f}%"
                                                     for a, v in acc.items())
                  + f"  ({time.time() - start:.0f} s)", file=sys.stderr, flush=True)
    for other in MODELS.values():  # models trained by earlier runs keep their cells
        other_dir = mlp_run_dir(out / "models", other, args.profile, args.seed)
        if other not in ids and checkpoint.exists(other_dir / "checkpoint"):
            ids[other] = mlp_checkpoint_id(other_dir)
    table = write_table(out, store, args, s, checkpoints=ids)
    return [store.path, table]


# ---------------------------------------------------------------------------------------------
# Table 1
# ---------------------------------------------------------------------------------------------
ATTACK_ROWS = {"clean": "Regular Samples", "fgsm": "FGSM Attack", "deepfool": "DeepFool Attack",
               "localsearch": "LocalSearch Attack"}


def load_paper_numbers(path: Path = PAPER_CSV) -> dict[tuple[str, str], dict]:
    import csv

    with open(path, newline="") as handle:
        return {(r["model"], r["attack"]): r for r in csv.DictReader(handle)}


def write_table(out: Path, store: KeyedRows, args: Args, s: MnistProfile,
                checkpoints: dict[str, str]) -> Path:
    """``table1.md``: the paper's layout (attacks as rows, models as columns), each cell
    "ours (paper)", one table per protocol, plus the fixed-eps FGSM rows the paper lacks."""
    paper = load_paper_numbers()
    rows = [r for r in store.rows.values()
            if r["seed"] == str(args.seed) and r["profile"] == args.profile
            and r["n"] == str(s.n_attack if r["protocol"] == "paper"
                              else min(s.n_attack, s.n_attack_eot))
            and checkpoints.get(r["model"]) == r["checkpoint"]]
    cell = {(r["model"], r["protocol"], r["attack"]): float(r["accuracy"]) for r in rows}
    title = datasets.MLP_DATASETS[args.dataset][0]
    theirs = "paper" if args.dataset == "mnist" else "the paper's, on MNIST"
    lines = [f"# {title}, Khan et al. Table 1: ours ({theirs})",
             "",
             f"Profile **{args.profile}**, seed {args.seed}, {rows[0]['n'] if rows else '?'} "
             f"attacked test images, data {rows[0]['data'] if rows else '?'}; written by "
             "`make mnist-sdr`. The paper's numbers (in parentheses) are typed in "
             f"`{rel(PAPER_CSV)}` with their source."
             + ("" if args.dataset == "mnist" else
                f" They are MNIST numbers; ours are {title}: the table compares the defenses' "
                "pattern, not the values."), ""]
    if args.profile == "smoke":
        lines += [f"**SMOKE: generated data, not {title}; these numbers are not results.**", ""]
    mark = "" if args.dataset == "mnist" else ", MNIST"
    for protocol, heading in (("paper", "Paper's protocol: every query is one stochastic pass"),
                            ("eot", f"Expectation over randomness: the attacks' gradients and "
                                    f"queries average {s.eot} passes, the accuracy is one pass "
                                    f"per image, first {min(s.n_attack, s.n_attack_eot)} images "
                                    "(deterministic models as above; the paper has no such "
                                    "numbers)")):
        lines += [f"## {heading}", "", "| | " + " | ".join(MODELS) + " |",
                  "| --- |" + " --- |" * len(MODELS)]
        attacks = list(ATTACK_ROWS) + [f"fgsm_eps{e:g}" for e in FIXED_EPS]
        for attack in attacks:
            label = ATTACK_ROWS.get(attack, f"FGSM, eps = {attack[len('fgsm_eps'):]} (ours)")
            cells = []
            for column, name in MODELS.items():
                key_protocol = protocol if name in STOCHASTIC else "paper"
                ours = cell.get((name, key_protocol, attack))
                paper_cell = paper.get((column, attack))
                text = "not run" if ours is None else f"{100 * ours:.2f}%"
                if paper_cell is not None and protocol == "paper":
                    text += f" ({paper_cell['value']}%{mark})"
                cells.append(text)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return write_text(out / "table1.md", "\n".join(lines))


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
