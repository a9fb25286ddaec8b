"""Train the CIFAR-10 ResNet-20s of the paper: dense, dropout-trained and adversarially trained.

One driver, three recipes (paper section 4.1), each exactly as the paper states:

* ``dense``: SGD, batch 512, momentum 0.9, weight decay 1e-4, learning rate 0.5 for epochs
  0-99, 0.05 for 100-129, 0.005 for 130-149.
* ``dropout`` (Fig. 2b/2c): the same network with dropout after every ReLU (``--rate``),
  250 epochs, learning rate 0.5 times 0.1 at epochs 100, 150, 190 and 220.
* ``adv`` (ADV, Fig. 3): 100 epochs, learning rate 0.5 halved every 10 epochs; every batch is
  80% clean and 20% FGSM examples (lambda = 2 pixels) made with the model as it was at the start
  of the epoch (the previous epoch's model).

Runs are resumable: a checkpoint (parameters, trainer state, epoch, configuration, history) is
written atomically after every epoch and a rerun continues from it; kill -9 loses at most the
epoch in progress. Randomness is re-seeded from (seed, epoch) at every epoch start, so a resumed
run continues exactly as an uninterrupted one would.

Usage: ``python -m experiments.cifar_train --recipe dense --profile smoke`` (see ``--help``);
``make cifar-dense`` / ``cifar-dropout-train`` / ``cifar-adv-train`` wrap it.
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sap_mx  # first: sets MXNet's OpenMP threads
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from sap_mx import checkpoint
from sap_mx.attacks import fgsm
from sap_mx.data import DataNotFound, augment, center_crop, load_cifar10, write_cifar10
from sap_mx.hardware import HardwareError, contexts
from sap_mx.models import WeightsUnavailable, get_model, initialize, load_gluoncv_weights
from sap_mx.results import git_sha, write_csv

from .cli import arg, parse_dataclass_args, progress_bar, save_figure, seed_all
from .profiles import Profile, UsageError, get_profile

# ---------------------------------------------------------------------------------------------
# recipes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """A training recipe as the paper states it (epochs and milestones in paper epochs)."""

    name: str
    epochs: int
    lr: float
    milestones: tuple[int, ...]   # the learning rate is multiplied by `factor` at each
    factor: float
    batch_size: int = 512
    momentum: float = 0.9
    wd: float = 1e-4
    adv_fraction: float = 0.0     # share of each batch replaced by FGSM examples
    adv_eps: float = 0.0          # their lambda, in pixels
    dropout: bool = False         # dropout after every ReLU (train and test)

    def scaled_milestones(self, epochs: int) -> tuple[int, ...]:
        """Milestones for a run of ``epochs`` epochs (the paper's when epochs == self.epochs)."""
        return tuple(max(1, round(m * epochs / self.epochs)) for m in self.milestones)

    def lr_at(self, epoch: int, epochs: int | None = None) -> float:
        """Learning rate during ``epoch`` (0-based) of a run of ``epochs`` epochs."""
        steps = sum(epoch >= m for m in self.scaled_milestones(epochs or self.epochs))
        return self.lr * self.factor**steps


RECIPES = {
    "dense": Recipe("dense", 150, 0.5, (100, 130), 0.1),
    "dropout": Recipe("dropout", 250, 0.5, (100, 150, 190, 220), 0.1, dropout=True),
    "adv": Recipe("adv", 100, 0.5, tuple(range(10, 100, 10)), 0.5, adv_fraction=0.2, adv_eps=2.0),
}

# ---------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    recipe: str = arg("dense", "dense | dropout | adv (see the module docstring)")
    profile: str = arg("paper", "paper (the recipe) | quick (real data, 1/10 of the epochs) | "
                                 "smoke (generated data, seconds)")
    seed: int = arg(0, "seeds python, numpy and mxnet; part of the run name")
    rate: float = arg(0.0, "dropout rate (recipe 'dropout' only)")
    model: str = arg("resnet20", "resnet20 (the authors') | cifar_resnet20_v1 | cifar_resnet20_v2")
    pretrained: str = arg("", "'gluoncv': start from GluonCV's published weights (v1/v2 models; "
                               "needs network once)")
    data_dir: str = arg("", "folder holding CIFAR-10 (else $SAP_DATA_DIR, then "
                             "$MXNET_HOME/datasets/cifar10)")
    crop: int = arg(32, "training crop: 32 (pad 4, random crop) or 28 (the authors' variant)")
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
    return parse_dataclass_args(Args, argv, "python -m experiments.cifar_train",
                                __doc__.split("\n\n")[0])


def check_args(args: Args) -> tuple[Recipe, Profile]:
    if args.recipe not in RECIPES:
        raise UsageError(f"unknown recipe {args.recipe!r}; valid: {', '.join(RECIPES)}")
    recipe = RECIPES[args.recipe]
    profile = get_profile(args.profile)
    if recipe.dropout and not 0 < args.rate < 1:
        raise UsageError("recipe 'dropout' needs --rate in (0, 1), e.g. --rate 0.3")
    if not recipe.dropout and args.rate:
        raise UsageError(f"--rate is for recipe 'dropout', not {args.recipe!r}")
    if args.crop not in (28, 32):
        raise UsageError(f"--crop must be 32 or 28, got {args.crop}")
    if args.pretrained not in ("", "gluoncv"):
        raise UsageError(f"--pretrained must be 'gluoncv' or empty, got {args.pretrained!r}")
    if args.pretrained and args.model == "resnet20":
        raise UsageError("--pretrained gluoncv needs --model cifar_resnet20_v1 or _v2")
    if args.kvstore not in ("device", "dist_sync"):
        raise UsageError(f"--kvstore must be 'device' or 'dist_sync', got {args.kvstore!r}")
    if args.kvstore == "dist_sync":
        unset = [v for v in DMLC_VARIABLES if v not in os.environ]
        if unset:
            raise UsageError(f"--kvstore dist_sync needs {', '.join(unset)} set (see README, "
                             "'Several devices, several machines')")
    return recipe, profile


DMLC_VARIABLES = ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER",
                  "DMLC_NUM_WORKER")


def run_name(args: Args) -> str:
    rate = f"-p{args.rate:g}" if RECIPES[args.recipe].dropout else ""
    model = "" if args.model == "resnet20" else f"-{args.model}"
    return f"{args.recipe}{rate}{model}-{args.profile}-seed{args.seed}"


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def load_data(args: Args, profile: Profile):
    """((x_train, y_train), (x_test, y_test)) as uint8/int32 arrays, and a label for CSVs."""
    if profile.data == "generated":
        folder = profile.results_dir() / "data" / f"cifar10-generated-seed{args.seed}"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:  # distributed workers share the folder
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / "cifar-10-batches-bin").is_dir():
                write_cifar10(folder, n_train=profile.n_train, n_test=profile.n_test, fmt="bin",
                              seed=args.seed)
        return load_cifar10(folder, download=False), f"generated-cifar10-format(seed={args.seed})"
    return load_cifar10(args.data_dir or None), "cifar10"


def seed_everything(seed: int, epoch: int) -> np.random.Generator:
    """One seeding block per epoch: python, numpy, mxnet from (seed, epoch); returns the epoch's
    NumPy generator (shuffling, augmentation)."""
    seed_all(seed, epoch)
    return np.random.default_rng([seed, epoch])


# ---------------------------------------------------------------------------------------------
# model, trainer, checkpoints
# ---------------------------------------------------------------------------------------------
def build_model(args: Args, ctxs):
    net = get_model(args.model)
    initialize(net, ctx=ctxs, seed=args.seed)
    if args.pretrained:
        load_gluoncv_weights(net, args.model, ctx=ctxs)
    net.hybridize()
    train_model = sap_mx.defend(net, "dropout", rate=args.rate) if args.rate else net
    return net, train_model


def copy_weights(src, dst) -> None:
    """Parameters (and BatchNorm statistics) of ``src`` into ``dst``, matched by structure."""
    dst_params = dst._collect_params_with_prefix()
    for name, param in src._collect_params_with_prefix().items():
        dst_params[name].set_data(param.list_data()[0])


def aux_params(net):
    return [p for name, p in sorted(net._collect_params_with_prefix().items())
            if p.grad_req == "null" and ("running" in name)]


def start_kvstore(trainer: gluon.Trainer) -> None:
    """Put the Trainer's parameters into its kvstore now, and wait until every worker has them.

    MXNet otherwise does this inside the first ``step()``: it broadcasts each parameter (rank 0
    pushes, every worker pulls) and then at once pushes that step's gradient for the same key.
    On CPU the pull and the push share no engine variable (``kvstore_dist.h`` swaps the push
    buffer, "this imposes ordering that the second push happens after the first pull" holds
    only from the second step on), so a worker's gradient push can reach the server before its
    own pull: that worker then takes the summed gradient for the weights and the workers part
    for good.  Broadcasting here, and waiting for it, orders the two.
    """
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    mx.nd.waitall()


class AuxSync:
    """Average BatchNorm statistics over dist_sync workers (MXNet leaves them per worker)."""

    KEY_OFFSET = 1_000_000  # keys clear of the Trainer's parameter indices

    def __init__(self, kv, net):
        self.kv, self.params = kv, aux_params(net)
        for i, p in enumerate(self.params):
            kv.init(self.KEY_OFFSET + i, mx.nd.zeros_like(p.list_data()[0]))

    def __call__(self):
        for i, p in enumerate(self.params):
            total = mx.nd.zeros_like(p.list_data()[0])
            self.kv.push(self.KEY_OFFSET + i, p.list_data()[0])
            self.kv.pull(self.KEY_OFFSET + i, out=total)
            p.set_data(total / self.kv.num_workers)


def evaluate(model, x: np.ndarray, y: np.ndarray, ctx, crop: int, batch: int = 500) -> float:
    correct = 0
    with autograd.pause(train_mode=False):
        for start in range(0, len(x), batch):
            xb = x[start:start + batch]
            if crop != 32:
                xb = center_crop(xb, crop)
            pred = model(mx.nd.array(xb, ctx=ctx, dtype="float32")).argmax(axis=1)
            correct += int((pred.asnumpy().astype(np.int64) == y[start:start + batch]).sum())
    return correct / len(x)


def write_outputs(run_dir: Path, history: list[dict], title: str) -> None:
    """log.csv and curve.png, both written atomically."""
    write_csv(run_dir / "log.csv", history)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
def train(args: Args) -> dict:
    """Run (or resume) one training run; returns the final record."""
    recipe, profile = check_args(args)
    ctxs = contexts(args.gpus) if args.gpus else [mx.cpu(i) for i in range(max(1, args.cpu_devices))]
    kv = mx.kv.create("dist_sync") if args.kvstore == "dist_sync" else None
    rank, workers = (kv.rank, kv.num_workers) if kv else (0, 1)
    epochs = args.epochs or max(profile.min_epochs, round(recipe.epochs * profile.epoch_scale))
    batch = profile.batch_size or recipe.batch_size
    lr_scale = batch / recipe.batch_size  # linear scaling for a profile's smaller batch (smoke)
    if batch % (workers * len(ctxs)):
        raise UsageError(f"batch {batch} does not split over {workers} workers x {len(ctxs)} devices")
    name = run_name(args)
    run_dir = Path(args.out) if args.out else profile.results_dir() / "models" / name
    ckpt_dir = run_dir / "checkpoint"
    config = {"args": dataclasses.asdict(args), "recipe": dataclasses.asdict(recipe),
              "epochs": epochs, "batch_size": batch, "milestones": recipe.scaled_milestones(epochs),
              "workers": workers}
    for volatile in ("stop_after", "fresh", "progress", "out", "data_dir", "gpus", "cpu_devices"):
        config["args"].pop(volatile)

    ((x_train, y_train), (x_test, y_test)), data_label = load_data(args, profile)
    net, model = build_model(args, ctxs)
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": recipe.lr, "momentum": recipe.momentum,
                             "wd": recipe.wd},
                            kvstore=kv if kv else "device",
                            update_on_kvstore=False if kv else None)
    aux_sync = AuxSync(kv, net) if kv else None
    snapshot = None
    if recipe.adv_fraction:
        snapshot = get_model(args.model)
        initialize(snapshot, ctx=ctxs[0])
        snapshot.hybridize()

    start, history = 0, []
    if args.fresh and rank == 0:  # nothing of the discarded run may pass for this one's
        for stale in ("final.params", "final.json", "log.csv", "curve.png"):
            (run_dir / stale).unlink(missing_ok=True)
        for stale in run_dir.glob("final.rank*.params"):
            stale.unlink()
    if checkpoint.exists(ckpt_dir) and not args.fresh:
        meta, files = checkpoint.load(ckpt_dir)
        if meta.get("config") != json.loads(json.dumps(config)):
            raise checkpoint.CheckpointError(
                f"{ckpt_dir} holds a run with a different configuration; pass --fresh to "
                "discard it or --out to train elsewhere")
        try:
            net.load_parameters(files["net.params"], ctx=ctxs)
            trainer.load_states(files["trainer.states"])
        except Exception as err:  # noqa: BLE001 - MXNet raises MXNetError/AssertionError/...
            raise checkpoint.CheckpointError(f"checkpoint at {ckpt_dir} cannot be loaded "
                                             f"({type(err).__name__}); pass --fresh") from None
        start, history = meta["epoch"], meta["history"]
        print(f"resuming {name} after epoch {start}/{epochs}", file=sys.stderr)
    if kv is not None:
        start_kvstore(trainer)

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
        bar = progress_bar(args.progress and rank == 0, steps, f"{name} epoch {epoch + 1}/{epochs}")
        for step in range(steps):
            idx = order[step * per_worker:(step + 1) * per_worker]
            xb = augment(x_train[idx], rng, crop=args.crop)
            xb = mx.nd.array(xb, ctx=ctxs[0], dtype="float32")
            yb = mx.nd.array(y_train[idx], ctx=ctxs[0], dtype="float32")
            if snapshot is not None:
                xb, k = adversarial_mix(snapshot, xb, yb, recipe)
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
               "test_acc": evaluate(net, x_test, y_test, ctxs[0], args.crop),
               "images_per_s": seen * workers / seconds, "seconds": seconds,
               "adv_examples": n_adv}
        if recipe.dropout:
            row["test_acc_dropout_on"] = evaluate(model, x_test, y_test, ctxs[0], args.crop)
        row.update({"recipe": args.recipe, "rate": args.rate, "model": args.model,
                    "profile": args.profile, "data": data_label, "seed": args.seed,
                    "git_sha": sha})
        history.append(row)
        if rank == 0:
            checkpoint.save(ckpt_dir, {"net.params": net.save_parameters,
                                       "trainer.states": trainer.save_states},
                            {"epoch": epoch + 1, "config": config, "history": history})
            write_outputs(run_dir, history, f"{name} ({data_label})")
            print(_summary(row, epochs), file=sys.stderr, flush=True)

    done = len(history) == epochs
    record = {"run": name, "epochs_done": len(history), "epochs": epochs, "finished": done,
              **({k: history[-1][k] for k in history[-1] if k.startswith("test_acc")}
                 if history else {}),
              "profile": args.profile, "data": data_label, "seed": args.seed, "git_sha": sha,
              "run_dir": str(run_dir)}
    if done:
        final = run_dir / ("final.params" if rank == 0 else f"final.rank{rank}.params")
        tmp = final.with_name("." + final.name + ".tmp")
        net.save_parameters(str(tmp))
        os.replace(tmp, final)
        if rank == 0:
            tmp = run_dir / ".final.json.tmp"
            tmp.write_text(json.dumps(record, indent=1))
            os.replace(tmp, run_dir / "final.json")
    return record


def train_step(model, trainer, loss_fn, xb, yb, ctxs, batch: int) -> tuple[float, int]:
    """One SGD step on the batch ``xb, yb`` split over ``ctxs``; returns (loss sum, correct).

    ``batch`` is the global batch (all workers) that the gradient is normalised by."""
    parts = gluon.utils.split_and_load(xb, ctxs)
    labels = gluon.utils.split_and_load(yb, ctxs)
    with autograd.record(train_mode=True):
        outs = [model(p) for p in parts]
        losses = [loss_fn(o, lab) for o, lab in zip(outs, labels, strict=True)]
    for loss in losses:
        loss.backward()
    trainer.step(batch)
    loss_sum = sum(float(loss.sum().asscalar()) for loss in losses)
    correct = sum(int((o.argmax(axis=1) == lab).sum().asscalar())
                  for o, lab in zip(outs, labels, strict=True))
    return loss_sum, correct


def adversarial_positions(batch: int, fraction: float) -> np.ndarray:
    """round(fraction * batch) positions spread evenly over the batch (every 5th for 20%), so
    that each device's share of a split batch holds the same mix."""
    k = round(fraction * batch)
    return np.floor(np.arange(k) * batch / k).astype(np.int64) if k else np.zeros(0, np.int64)


def adversarial_mix(snapshot, xb, yb, recipe: Recipe):
    """Replace round(adv_fraction * B) examples (``adversarial_positions``) of the (shuffled)
    batch by their FGSM versions made on ``snapshot``; returns (batch, count)."""
    positions = adversarial_positions(xb.shape[0], recipe.adv_fraction)
    if len(positions) == 0:
        return xb, 0
    index = mx.nd.array(positions, ctx=xb.context, dtype="int64")
    adv = fgsm(snapshot, xb.take(index), yb.take(index), recipe.adv_eps)
    mixed = xb.copy()
    mixed[positions.tolist()] = adv
    return mixed, len(positions)


def _summary(row: dict, epochs: int) -> str:
    extra = (f" test(dropout on) {100 * row['test_acc_dropout_on']:.1f}%"
             if "test_acc_dropout_on" in row else "")
    return (f"epoch {row['epoch']}/{epochs}  lr {row['lr']:g}  loss {row['train_loss']:.3f}  "
            f"train {100 * row['train_acc']:.1f}%  test {100 * row['test_acc']:.1f}%{extra}  "
            f"{row['images_per_s']:.0f} img/s  {row['seconds']:.0f} s")


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        record = train(args)
    except (DataNotFound, checkpoint.CheckpointError, HardwareError, UsageError,
            WeightsUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    state = "finished" if record["finished"] else f"stopped after epoch {record['epochs_done']}"
    print(f"{record['run']}: {state}; outputs in {record['run_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
