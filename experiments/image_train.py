"""Train the image ResNet-20s of the paper: dense, dropout-trained and adversarially trained.

One driver, three recipes (paper section 4.1; ``sap_mx.recipes``), on any dataset of the
registry ``experiments.datasets`` (``--dataset``, default ``cifar10``, the paper's).

Runs are resumable: a checkpoint (parameters, trainer state, epoch, configuration, history) is
written atomically after every epoch and a rerun continues from it; kill -9 loses at most the
epoch in progress. Randomness is re-seeded from (seed, epoch) at every epoch start, so a resumed
run continues exactly as an uninterrupted one would. The run folder's rules (lock, ``--fresh``,
a finished run is not retrained, a checkpoint of another configuration is refused) are
``runkit.RunFolder``'s.

Usage: ``python -m experiments.image_train --recipe dense --profile smoke`` (see ``--help``);
``make cifar-dense`` / ``cifar-dropout-train`` / ``cifar-adv-train`` wrap it.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sap_mx  # first: sets MXNet's OpenMP threads
import mxnet as mx
import numpy as np
from mxnet import gluon

from runkit import (RunFolder, UsageError, arg, cli_main, manifest, parse_dataclass_args,
                    progress_bar, rel, seed_all)
from runkit.figures import pyplot, save_figure
from sap_mx.data import augment
from sap_mx.evaluate import accuracy
from sap_mx.hardware import contexts
from sap_mx.io import write_csv
from sap_mx.models import initialize, load_gluoncv_weights
from sap_mx.recipes import Recipe
from sap_mx.results import git_sha
from sap_mx.training import adversarial_mix, copy_weights, train_step

from . import datasets, kvstore
from .datasets import ImageDataset
from .profiles import TRAIN, TrainProfile
from .zoo import IMAGE_MODELS, build_image_model, train_run_name

__all__ = ["Args", "parse_args", "check_args", "run_name", "train", "main", "seed_everything"]


# ---------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------
@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    recipe: str = arg("dense", "dense | dropout | adv (sap_mx/recipes.py)")
    dataset: str = arg("cifar10", "image dataset (experiments/datasets.py): cifar10 | "
                                  "fashion-mnist")
    profile: str = arg("paper", "paper (the recipe) | quick (real data, 1/10 of the epochs) | "
                                 "smoke (generated data, seconds)")
    seed: int = arg(0, "seeds python, numpy and mxnet; part of the run name")
    rate: float = arg(0.0, "dropout rate (recipe 'dropout' only)")
    model: str = arg("resnet20", "resnet20 (the authors') | cifar_resnet20_v1 | cifar_resnet20_v2")
    pretrained: str = arg("", "'gluoncv': start from GluonCV's published weights (v1/v2 models; "
                               "needs network once)")
    data_dir: str = arg("", "folder holding the dataset (else $SAP_DATA_DIR, then "
                             "$MXNET_HOME/datasets/<name>)")
    crop: int = arg(0, "training crop: the image size (pad 4, random crop; the default, 0) or, "
                       "for CIFAR-10, 28 (the authors' variant)")
    gpus: str = arg("", "GPU indices like 0,1 (kvstore 'device'); empty: CPU")
    cpu_devices: int = arg(1, "split each batch over this many CPU contexts (exercises the "
                               "multi-device path without GPUs)")
    kvstore: str = arg("device", "device | dist_sync (several machines, MXNet parameter server; "
                                  "set the DMLC_* variables)")
    epochs: int = arg(0, "override the profile's number of epochs (0: keep)")
    stop_after: int = arg(0, "stop after this many epochs of the run, as an interruption would "
                              "(0: run to the end)")
    out: str = arg("", "run folder (default: results[/smoke]/models/<run name>)")
    fresh: bool = arg(False, "discard an existing checkpoint instead of resuming it")
    progress: bool = arg(True, "show a progress bar")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.image_train",
                                __doc__.split("\n\n")[0])


def check_args(args: Args) -> tuple[ImageDataset, Recipe, TrainProfile]:
    dataset = datasets.get_dataset(args.dataset)
    if args.recipe not in dataset.recipes:
        raise UsageError(f"unknown recipe {args.recipe!r}; valid: {', '.join(dataset.recipes)}")
    recipe = dataset.recipes[args.recipe]
    profile = TRAIN.get(args.profile)
    if recipe.dropout and not 0 < args.rate < 1:
        raise UsageError("recipe 'dropout' needs --rate in (0, 1), e.g. --rate 0.3")
    if not recipe.dropout and args.rate:
        raise UsageError(f"--rate is for recipe 'dropout', not {args.recipe!r}")
    datasets.check_crop(args.crop, dataset)
    if args.model not in IMAGE_MODELS:
        raise UsageError(f"unknown model {args.model!r}; valid: {', '.join(IMAGE_MODELS)}")
    if args.pretrained not in ("", "gluoncv"):
        raise UsageError(f"--pretrained must be 'gluoncv' or empty, got {args.pretrained!r}")
    if args.pretrained and args.model == "resnet20":
        raise UsageError("--pretrained gluoncv needs --model cifar_resnet20_v1 or _v2")
    if args.kvstore not in ("device", "dist_sync"):
        raise UsageError(f"--kvstore must be 'device' or 'dist_sync', got {args.kvstore!r}")
    if args.kvstore == "dist_sync":
        kvstore.check_dist_sync()
    return dataset, recipe, profile


def run_name(args: Args) -> str:
    return train_run_name(datasets.get_dataset(args.dataset), recipe=args.recipe, rate=args.rate,
                          model=args.model, profile=args.profile, seed=args.seed, crop=args.crop)


def seed_everything(seed: int, epoch: int) -> np.random.Generator:
    """One seeding block per epoch: python, numpy, mxnet from (seed, epoch); returns the epoch's
    NumPy generator (shuffling, augmentation)."""
    seed_all(seed, epoch)
    return np.random.default_rng([seed, epoch])


# ---------------------------------------------------------------------------------------------
# model and outputs
# ---------------------------------------------------------------------------------------------
def build_model(args: Args, dataset: ImageDataset, ctxs):
    net = build_image_model(args.model, dataset)
    initialize(net, ctx=ctxs, seed=args.seed)
    if args.pretrained:
        load_gluoncv_weights(net, args.model, ctx=ctxs)
    net.hybridize()
    train_model = sap_mx.defend(net, "dropout", rate=args.rate) if args.rate else net
    return net, train_model


def test_accuracy(model, dataset: ImageDataset, x, y, ctx, crop: int) -> float:
    """Clean accuracy on the test set, centre-cropped to the training crop."""
    return accuracy(model, x, y, batch=500, ctx=ctx,
                    transform=None if crop == dataset.size else (lambda b: dataset.crop(b, crop)))


def write_outputs(run_dir: Path, history: list[dict], title: str) -> None:
    """log.csv and curve.png, both written atomically."""
    write_csv(run_dir / "log.csv", history)
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(epochs, [h["train_loss"] for h in history], marker="o")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    for key, label in (("train_acc", "train"), ("test_acc", "test"),
                       ("test_acc_dropout_on", "test, dropout on")):
        if key in history[0]:
            ax2.plot(epochs, [100 * h[key] for h in history], marker="o", label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    save_figure(fig, run_dir / "curve.png", title)


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
VOLATILE = ("stop_after", "fresh", "progress", "out", "data_dir", "gpus", "cpu_devices")


def train(args: Args) -> dict:
    """Run (or resume) one training run; returns the final record."""
    dataset, recipe, profile = check_args(args)
    crop = args.crop or dataset.size
    ctxs = (contexts(args.gpus) if args.gpus
            else [mx.cpu(i) for i in range(max(1, args.cpu_devices))])
    kv = mx.kv.create("dist_sync") if args.kvstore == "dist_sync" else None
    rank, workers = (kv.rank, kv.num_workers) if kv else (0, 1)
    epochs = args.epochs or max(profile.min_epochs, round(recipe.epochs * profile.epoch_scale))
    batch = profile.batch_size or recipe.batch_size
    lr_scale = batch / recipe.batch_size  # linear scaling for a profile's smaller batch (smoke)
    if batch % (workers * len(ctxs)):
        raise UsageError(f"batch {batch} does not split over {workers} workers x {len(ctxs)} "
                         "devices")
    name = run_name(args)
    run_dir = Path(args.out) if args.out else dataset.models_dir(args.profile) / name
    config = {"args": dataclasses.asdict(args), "recipe": dataclasses.asdict(recipe),
              "epochs": epochs, "batch_size": batch, "milestones": recipe.scaled_milestones(epochs),
              "workers": workers}
    for volatile in VOLATILE:
        config["args"].pop(volatile)
    if args.dataset == "cifar10":  # the configuration of runs made before --dataset existed
        config["args"].pop("dataset")
    if args.crop == 0:
        config["args"]["crop"] = crop
    run = RunFolder(run_dir, config=config, outputs=("log.csv", "curve.png"), manifest=True)
    if rank == 0:
        run.lock()
        if args.fresh:  # nothing of the discarded run may pass for this one's
            run.discard()

    try:
        ((x_train, y_train), (x_test, y_test)), data_label = datasets.load(
            dataset, args.profile, profile, args.seed, args.data_dir)
        net, model = build_model(args, dataset, ctxs)
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": recipe.lr, "momentum": recipe.momentum,
                                 "wd": recipe.wd},
                                kvstore=kv if kv else "device",
                                update_on_kvstore=False if kv else None)
        aux_sync = kvstore.AuxSync(kv, net) if kv else None
        snapshot = None
        if recipe.adv_fraction:
            snapshot = build_image_model(args.model, dataset)
            initialize(snapshot, ctx=ctxs[0])
            snapshot.hybridize()

        state = {"start": 0, "history": []}

        def restore(meta, files):
            net.load_parameters(files["net.params"], ctx=ctxs)
            trainer.load_states(files["trainer.states"])
            state["start"], state["history"] = meta["epoch"], meta["history"]

        # a finished run (final.params and final.json, e.g. committed without its checkpoint)
        # is not trained again; its weights must match their SHA-256 in the manifest
        record = run.finished(lambda r: r.get("run") == name and r.get("finished")
                              and r.get("epochs") == epochs
                              and r.get("config", run.config) == run.config)
        if record is None and (run_dir / "final.params").is_file() and not args.fresh:
            raise UsageError(f"{run_dir} holds the finished weights of a run with another "
                             "configuration (final.json); pass --fresh to retrain it or --out "
                             "to train elsewhere")
        if record is not None:
            manifest.verify(run_dir / "final.params", fix="restore it (git checkout) or "
                            "retrain with --fresh")
            if rank == 0:
                print(f"{name}: already trained ({epochs} epochs); --fresh retrains",
                      file=sys.stderr)
            return {**record, "run_dir": str(run_dir)}
        if run.resume(restore) is not None:
            if state["start"] < epochs:
                print(f"resuming {name} after epoch {state['start']}/{epochs}", file=sys.stderr)
        start, history = state["start"], state["history"]
        if kv is not None:
            kvstore.start_kvstore(trainer)

        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        per_worker = batch // workers
        steps = len(x_train) // workers // per_worker
        if steps == 0:
            raise UsageError(f"{len(x_train)} training images cannot fill one batch of {batch}")
        sha = git_sha()
        stop = start + args.stop_after if args.stop_after else epochs
        for epoch in range(start, min(epochs, stop)):
            rng = seed_everything(args.seed, epoch)
            trainer.set_learning_rate(recipe.lr_at(epoch, epochs) * lr_scale)
            if snapshot is not None:
                copy_weights(net, snapshot)  # the model as it was after the previous epoch
            order = rng.permutation(len(x_train))[rank::workers]
            t0, seen, loss_sum, correct, n_adv = time.time(), 0, 0.0, 0, 0
            bar = progress_bar(args.progress and rank == 0, steps,
                               f"{name} epoch {epoch + 1}/{epochs}")
            for step in range(steps):
                idx = order[step * per_worker:(step + 1) * per_worker]
                xb = augment(x_train[idx], rng, crop=crop)
                xb = mx.nd.array(xb, ctx=ctxs[0], dtype="float32")
                yb = mx.nd.array(y_train[idx], ctx=ctxs[0], dtype="float32")
                if snapshot is not None:
                    xb, k = adversarial_mix(snapshot, xb, yb, fraction=recipe.adv_fraction,
                                            eps=recipe.adv_eps)
                    n_adv += k
                batch_loss, batch_correct = train_step(model, trainer, loss_fn, xb, yb, ctxs, batch)
                loss_sum += batch_loss
                correct += batch_correct
                seen += len(idx)
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                                    img_s=f"{seen / (time.time() - t0):.0f}")
                    bar.update()
            if bar is not None:
                bar.close()
            if aux_sync is not None:
                aux_sync()
            seconds = time.time() - t0
            row = {"epoch": epoch + 1, "lr": recipe.lr_at(epoch, epochs) * lr_scale,
                   "train_loss": loss_sum / seen, "train_acc": correct / seen,
                   "test_acc": test_accuracy(net, dataset, x_test, y_test, ctxs[0], crop),
                   "images_per_s": seen * workers / seconds, "seconds": seconds,
                   "adv_examples": n_adv}
            if recipe.dropout:
                row["test_acc_dropout_on"] = test_accuracy(model, dataset, x_test, y_test, ctxs[0],
                                                           crop)
            row.update({"recipe": args.recipe, "rate": args.rate, "model": args.model,
                        "profile": args.profile, "data": data_label, "seed": args.seed,
                        "git_sha": sha})
            history.append(row)
            if rank == 0:
                run.save({"net.params": net.save_parameters, "trainer.states": trainer.save_states},
                         {"epoch": epoch + 1, "history": history})
                write_outputs(run_dir, history, f"{name} ({data_label})")
                print(_summary(row, epochs), file=sys.stderr, flush=True)

        done = len(history) == epochs
        record = {"run": name, "epochs_done": len(history), "epochs": epochs, "finished": done,
                  "config": run.config,
                  **({k: history[-1][k] for k in history[-1] if k.startswith("test_acc")}
                     if history else {}),
                  "profile": args.profile, "data": data_label, "seed": args.seed, "git_sha": sha,
                  "run_dir": rel(run_dir)}   # relative to the repository: no machine paths
        if done:
            run.finish(record if rank == 0 else None, net.save_parameters,
                       "final.params" if rank == 0 else f"final.rank{rank}.params")
        return record
    finally:
        run.unlock()  # a process may train again (tests, notebooks)


def _summary(row: dict, epochs: int) -> str:
    extra = (f" test(dropout on) {100 * row['test_acc_dropout_on']:.1f}%"
             if "test_acc_dropout_on" in row else "")
    return (f"epoch {row['epoch']}/{epochs}  lr {row['lr']:g}  loss {row['train_loss']:.3f}  "
            f"train {100 * row['train_acc']:.1f}%  test {100 * row['test_acc']:.1f}%{extra}  "
            f"{row['images_per_s']:.0f} img/s  {row['seconds']:.0f} s")


def main(argv=None) -> int:
    def run(args: Args) -> list:
        record = train(args)
        state = "finished" if record["finished"] else f"stopped after epoch {record['epochs_done']}"
        print(f"{record['run']}: {state}; outputs in {record['run_dir']}")
        return []

    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
