"""Khan et al.'s Table 1 on MNIST: vanilla, SDR-Decay, SDR-Learnable and DropConnect MLPs under
FGSM, DeepFool and LocalSearch, with the paper's protocol and with expectation over randomness.

1. Train the four 784-100-100-100-10 MLPs (``sap_mx.models.mlp``) on MNIST (pixels 0..1), each
   run resumable from its checkpoint; SDR-Decay applies Algorithm 2's variance rule after every
   step, SDR-Learnable Algorithm 3's clamp after every step and the variance-threshold schedule
   after every epoch (both bounds +0.05 when the test accuracy plateaus, at most every 5 epochs).
2. Attack the first ``n_attack`` test images of each model:

   * clean accuracy;
   * FGSM as Foolbox 1.x runs it: the smallest eps on linspace(0, 1, 1001)[1:] that fools the
     model (an example counts as robust if none does), and FGSM at fixed eps 0.1, 0.2, 0.3;
   * DeepFool (multi-class, overshoot 0.02, 50 steps, 10 candidate classes);
   * LocalSearch (r=1.5, p=10, d=5, t=5, R=150), black box.

   Two protocols for the stochastic models: ``paper`` (every query is one stochastic pass, as
   Foolbox saw the models) and ``eot`` (gradients and probabilities averaged over ``eot``
   passes: the attack and the final check see the expected model, Athalye et al. 2018).
3. Write ``results/mnist/table1.csv`` (tidy rows) and ``results/mnist/table1.md`` laid out like
   the paper's Table 1 with the paper's numbers beside ours (smoke: ``results/smoke/mnist/``).

Usage: ``python -m experiments.mnist_sdr --profile smoke``; ``make mnist-sdr`` wraps it.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import sap_mx  # noqa: F401  (first: sets MXNet's OpenMP threads)
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from sap_mx import checkpoint
from sap_mx.attacks import EOT, deepfool, fgsm_minimal, fgsm_step, input_gradient, local_search
from sap_mx.data import DataNotFound, load_mnist, official_mnist, write_mnist
from sap_mx.models import get_model
from sap_mx.models.mlp import SDRDecay, clamp_sigma
from sap_mx.results import git_sha

from .cli import KeyedRows, arg, cli_main, parse_dataclass_args, progress_bar, rel, seed_all
from .profiles import UsageError, get_profile

MODELS = {  # Table 1 column -> registry name
    "Vanilla MLP": "mlp_vanilla", "SDR-decay MLP": "mlp_sdr_decay",
    "Learnable SDR MLP": "mlp_sdr_learnable", "DropConnect": "mlp_dropconnect",
}
STOCHASTIC = {"mlp_sdr_decay", "mlp_sdr_learnable", "mlp_dropconnect"}
FIXED_EPS = (0.1, 0.2, 0.3)
PAPER_CSV = Path(__file__).resolve().parent / "paper_numbers" / "mnist_table1.csv"


# ---------------------------------------------------------------------------------------------
# settings (our choices where the paper is silent; README, MNIST section)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """Training and attack budget of a profile."""

    epochs: int
    learnable_epochs: int     # SDR-Learnable trains longer: its variance schedule needs epochs
    n_attack: int             # first n test images attacked (paper protocol)
    eot: int                  # passes averaged by the EOT protocol
    n_attack_eot: int         # first n test images attacked under the (costlier) EOT protocol
    fgsm_grid: int = 1000     # Foolbox 1.x default: 1000 eps values up to max_epsilon = 1
    deepfool_steps: int = 50
    localsearch_rounds: int = 150
    batch: int = 128
    lr: float = 1e-3          # Adam
    n_train: int = 0          # generated data only
    n_test: int = 0


SETTINGS = {
    "paper": Settings(epochs=50, learnable_epochs=100, n_attack=10_000, eot=10,
                      n_attack_eot=1_000),
    "quick": Settings(epochs=10, learnable_epochs=20, n_attack=500, eot=10, n_attack_eot=100),
    "smoke": Settings(epochs=3, learnable_epochs=6, n_attack=24, eot=3, n_attack_eot=24,
                      fgsm_grid=50,
                      deepfool_steps=10, localsearch_rounds=5, batch=64, n_train=640, n_test=200),
}
SDR_DECAY = {"sigma_init": 0.05, "beta": 0.01, "zeta": 0.9, "tau": 50}
SDR_LEARNABLE = {"sigma_init": 0.05, "min": 0.0, "max": 1.0, "step": 0.05, "every": 5,
                 "plateau_window": 3, "plateau_gain": 0.001}


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    profile: str = arg("paper", "paper | quick (real data, fewer epochs and examples) | smoke "
                                "(generated MNIST-format files, minutes)")
    seed: int = arg(0, "seeds python, numpy and mxnet; part of every row and run name")
    models: str = arg("", "comma-separated subset of mlp_vanilla, mlp_sdr_decay, "
                          "mlp_sdr_learnable, mlp_dropconnect (default: all four)")
    data_dir: str = arg("", "folder holding the MNIST IDX files (else $SAP_DATA_DIR, then "
                            "$MXNET_HOME/datasets/mnist)")
    n_attack: int = arg(0, "override the profile's number of attacked test images (0: keep)")
    out: str = arg("", "results folder (default: results/mnist, smoke: results/smoke/mnist)")
    progress: bool = arg(True, "show progress bars")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.mnist_sdr",
                                __doc__.split("\n\n")[0])


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def load_data(args: Args, s: Settings, out: Path):
    """((x_train, y_train), (x_test, y_test)) as float32 0..1 / int, and a label for rows."""
    if args.profile == "smoke":
        folder = out / "data" / f"mnist-generated-seed{args.seed}"
        if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
            write_mnist(folder, n_train=s.n_train, n_test=s.n_test, seed=args.seed)
        data = load_mnist(folder, download=False)
        label = f"generated-mnist-format(seed={args.seed})"
    else:
        data = load_mnist(args.data_dir or None)
        label = "mnist" if official_mnist(args.data_dir or None) else (
            "mnist-format files (not the official SHA-1 digests)")
    (x, y), (xt, yt) = data
    return ((x.astype(np.float32) / 255, y), (xt.astype(np.float32) / 255, yt)), label


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def accuracy(net, x, y, batch: int = 1000) -> float:
    correct = 0
    with autograd.pause(train_mode=False):
        for start in range(0, len(x), batch):
            pred = net(mx.nd.array(x[start:start + batch])).argmax(axis=1).asnumpy()
            correct += int((pred == y[start:start + batch]).sum())
    return correct / len(x)


def train(name: str, args: Args, s: Settings, data, run_dir: Path, progress: bool):
    """Train (or resume, or load) ``name``; returns (net, history)."""
    (x, y), (xt, yt) = data
    epochs = s.learnable_epochs if name == "mlp_sdr_learnable" else s.epochs
    config = {"model": name, "epochs": epochs, "batch": s.batch, "lr": s.lr, "seed": args.seed,
              "profile": args.profile, "sdr_decay": SDR_DECAY, "sdr_learnable": SDR_LEARNABLE}
    seed_all(args.seed, zlib.crc32(name.encode()))
    kwargs = {"sigma_init": SDR_DECAY["sigma_init"]} if name == "mlp_sdr_decay" else (
        {"sigma_init": SDR_LEARNABLE["sigma_init"]} if name == "mlp_sdr_learnable" else {})
    net = get_model(name, **kwargs)
    net.initialize()
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": s.lr})
    rule = SDRDecay(net, beta=SDR_DECAY["beta"], zeta=SDR_DECAY["zeta"],
                    tau=SDR_DECAY["tau"]) if name == "mlp_sdr_decay" else None
    bounds = [SDR_LEARNABLE["min"], SDR_LEARNABLE["max"]]
    ckpt, start, history, last_raise = run_dir / "checkpoint", 0, [], -10**9
    if checkpoint.exists(ckpt):
        meta, files = checkpoint.load(ckpt)
        if meta["config"] != json.loads(json.dumps(config)):
            raise checkpoint.CheckpointError(f"{ckpt} holds a run with another configuration; "
                                             "delete it or use --out")
        net.load_parameters(files["net.params"])
        trainer.load_states(files["trainer.states"])
        start, history = meta["epoch"], meta["history"]
        bounds, last_raise = meta["bounds"], meta["last_raise"]
        if rule is not None:
            rule.batches = meta["sdr_batches"]
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    steps = len(x) // s.batch
    for epoch in range(start, epochs):
        rng = np.random.default_rng([args.seed, zlib.crc32(name.encode()), epoch])
        seed_all(args.seed, zlib.crc32(f"{name}/{epoch}".encode()))
        order = rng.permutation(len(x))
        bar = progress_bar(progress, steps, f"{name} epoch {epoch + 1}/{epochs}")
        loss_sum = 0.0
        for step in range(steps):
            idx = order[step * s.batch:(step + 1) * s.batch]
            xb, yb = mx.nd.array(x[idx]), mx.nd.array(y[idx])
            with autograd.record():
                loss = loss_fn(net(xb), yb)
            loss.backward()
            trainer.step(s.batch)
            if rule is not None:
                rule.step(batch_size=s.batch)
            if name == "mlp_sdr_learnable":
                clamp_sigma(net, *bounds)
            loss_sum += float(loss.sum().asscalar())
            if bar is not None:
                bar.set_postfix(loss=f"{loss_sum / ((step + 1) * s.batch):.3f}")
                bar.update()
        if bar is not None:
            bar.close()
        test_acc = accuracy(net, xt, yt)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / (steps * s.batch),
                        "test_acc": test_acc, "sigma_min": bounds[0], "sigma_max": bounds[1]})
        if name == "mlp_sdr_learnable":
            bounds, last_raise = variance_schedule(history, bounds, last_raise, epoch)
            clamp_sigma(net, *bounds)
        checkpoint.save(ckpt, {"net.params": net.save_parameters,
                               "trainer.states": trainer.save_states},
                        {"epoch": epoch + 1, "config": config, "history": history,
                         "bounds": bounds, "last_raise": last_raise,
                         "sdr_batches": rule.batches if rule is not None else 0})
        print(f"  {name} epoch {epoch + 1}/{epochs}: loss {history[-1]['train_loss']:.3f}, "
              f"test (one pass) {100 * test_acc:.2f}%"
              + (f", sigma in [{bounds[0]:.2f}, {bounds[1]:.2f}]"
                 if name == "mlp_sdr_learnable" else ""), file=sys.stderr, flush=True)
    return net, history


def variance_schedule(history: list[dict], bounds, last_raise: int, epoch: int):
    """Section 4.3's schedule after epoch ``epoch`` (0-based): both sigma bounds + ``step`` when
    the test accuracy plateaus, at most once every ``every`` epochs; returns (bounds, last_raise)."""
    if _plateau(history) and epoch - last_raise >= SDR_LEARNABLE["every"]:
        step = SDR_LEARNABLE["step"]
        return [round(bounds[0] + step, 10), round(bounds[1] + step, 10)], epoch
    return list(bounds), last_raise


def _plateau(history: list[dict]) -> bool:
    """The last test accuracy is not above the best of the previous ``plateau_window`` epochs by
    more than ``plateau_gain`` (our reading of "if the test performance begins to plateau")."""
    w = SDR_LEARNABLE["plateau_window"]
    if len(history) <= w:
        return False
    best = max(h["test_acc"] for h in history[-w - 1:-1])
    return history[-1]["test_acc"] - best <= SDR_LEARNABLE["plateau_gain"]


# ---------------------------------------------------------------------------------------------
# attacks
# ---------------------------------------------------------------------------------------------
def predictor(net, samples: int):
    """probabilities of a batch: one pass (samples = 1) or the mean of ``samples`` passes."""
    def predict(batch):
        batch = batch if isinstance(batch, mx.nd.NDArray) else mx.nd.array(batch)
        with autograd.pause(train_mode=False):
            total = None
            for _ in range(samples):
                p = mx.nd.softmax(net(batch), axis=-1)
                total = p if total is None else total + p
        return (total / samples).asnumpy()
    return predict


def attack_model(name: str, net, x: np.ndarray, y: np.ndarray, protocol: str, s: Settings,
                 seed: int, progress: bool) -> dict[str, float]:
    """Accuracy (fraction of ``x``) clean and under each attack, for one protocol."""
    k = s.eot if (protocol == "eot" and name in STOCHASTIC) else 1
    model = EOT(net, k) if k > 1 else net
    predict = predictor(net, k)
    out = {}
    seed_all(seed, zlib.crc32(f"{name}/{protocol}/clean".encode()))
    out["clean"] = float((predict(x).argmax(1) == y).mean())

    seed_all(seed, zlib.crc32(f"{name}/{protocol}/fgsm".encode()))
    _, eps = fgsm_minimal(net, x, y, epsilons=s.fgsm_grid, max_epsilon=1.0, mc_samples=k,
                          predict=predict, clip=(0.0, 1.0))
    out["fgsm"] = float(np.isinf(eps).mean())
    seed_all(seed, zlib.crc32(f"{name}/{protocol}/fgsm-fixed".encode()))
    g = input_gradient(net, x, y, mc_samples=k)
    for e in FIXED_EPS:
        adv = fgsm_step(mx.nd.array(x), g, e, clip=(0.0, 1.0))
        out[f"fgsm_eps{e:g}"] = float((predict(adv).argmax(1) == y).mean())

    seed_all(seed, zlib.crc32(f"{name}/{protocol}/deepfool".encode()))
    _, fooled = deepfool(model, x, y, steps=s.deepfool_steps, candidates=10, overshoot=0.02,
                         clip=(0.0, 1.0), return_fooled=True)
    out["deepfool"] = float(1.0 - fooled.mean())  # judged by its own queries, like the others

    seed_all(seed, zlib.crc32(f"{name}/{protocol}/localsearch".encode()))
    rng = np.random.default_rng([seed, zlib.crc32(f"{name}/{protocol}".encode())])
    robust = 0
    bar = progress_bar(progress, len(x), f"{name} {protocol} LocalSearch", unit="image")
    for image, label in zip(x, y, strict=True):
        found = local_search(predict, image, int(label), rounds=s.localsearch_rounds,
                             clip=(0.0, 1.0), rng=rng)
        robust += found is None
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    out["localsearch"] = robust / len(x)
    return out


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
KEY_FIELDS = ("model", "protocol", "attack", "n", "seed", "profile", "checkpoint")


def run(args: Args) -> list[Path]:
    profile = get_profile(args.profile)
    s = SETTINGS[profile.name]
    if args.n_attack < 0:
        raise UsageError(f"--n-attack must be >= 0, got {args.n_attack}")
    if args.n_attack:
        s = dataclasses.replace(s, n_attack=args.n_attack,
                                n_attack_eot=min(args.n_attack, s.n_attack_eot))
    names = [m.strip() for m in args.models.split(",") if m.strip()] or list(MODELS.values())
    unknown = [m for m in names if m not in MODELS.values()]
    if unknown:
        raise UsageError(f"unknown model {unknown[0]!r}; valid: {', '.join(MODELS.values())}")
    out = Path(args.out) if args.out else profile.results_dir() / "mnist"
    data, data_label = load_data(args, s, out)
    (_, _), (xt, yt) = data
    if s.n_attack > len(xt):
        raise UsageError(f"--n-attack {s.n_attack} is more than the {len(xt)} test images")
    x, y = xt[:s.n_attack], yt[:s.n_attack].astype(np.int64)
    store = KeyedRows(out / "table1.csv", KEY_FIELDS)
    sha, ids = git_sha(), {}
    for name in names:
        run_dir = out / "models" / f"{name}-{args.profile}-seed{args.seed}"
        net, history = train(name, args, s, data, run_dir, args.progress)
        ckpt = checkpoint.load(run_dir / "checkpoint")[0]
        ckpt_id = ids[name] = f"{rel(run_dir)}@epoch{ckpt['epoch']}"
        for protocol in ("paper", "eot"):
            if protocol == "eot" and name not in STOCHASTIC:
                continue  # a deterministic model: both protocols are the same
            n = len(x) if protocol == "paper" else min(len(x), s.n_attack_eot)
            meta = {"model": name, "protocol": protocol, "n": n, "seed": args.seed,
                    "profile": args.profile, "checkpoint": ckpt_id}
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
        other_dir = out / "models" / f"{other}-{args.profile}-seed{args.seed}"
        if other not in ids and checkpoint.exists(other_dir / "checkpoint"):
            epoch = checkpoint.load(other_dir / "checkpoint")[0]["epoch"]
            ids[other] = f"{rel(other_dir)}@epoch{epoch}"
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


def write_table(out: Path, store: KeyedRows, args: Args, s: Settings,
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
    lines = ["# MNIST, Khan et al. Table 1: ours (paper)",
             "",
             f"Profile **{args.profile}**, seed {args.seed}, {rows[0]['n'] if rows else '?'} "
             f"attacked test images, data {rows[0]['data'] if rows else '?'}; written by "
             "`make mnist-sdr`. The paper's numbers (in parentheses) are typed in "
             f"`{rel(PAPER_CSV)}` with their source.", ""]
    if args.profile == "smoke":
        lines += ["**SMOKE: generated data, not MNIST; these numbers are not results.**", ""]
    for protocol, title in (("paper", "Paper's protocol: every query is one stochastic pass"),
                            ("eot", f"Expectation over randomness: {s.eot} passes averaged, "
                                    f"first {min(s.n_attack, s.n_attack_eot)} images "
                                    "(deterministic models as above; the paper has no such "
                                    "numbers)")):
        lines += [f"## {title}", "", "| | " + " | ".join(MODELS) + " |",
                  "| --- |" + " --- |" * len(MODELS)]
        attacks = list(ATTACK_ROWS) + [f"fgsm_eps{e:g}" for e in FIXED_EPS]
        for attack in attacks:
            label = ATTACK_ROWS.get(attack, f"FGSM, eps = {attack[len('fgsm_eps'):]} (ours)")
            cells = []
            for column, name in MODELS.items():
                key_protocol = protocol if name in STOCHASTIC else "paper"
                ours = cell.get((name, key_protocol, attack))
                theirs = paper.get((column, attack))
                text = "not run" if ours is None else f"{100 * ours:.2f}%"
                if theirs is not None and protocol == "paper":
                    text += f" ({theirs['value']}%)"
                cells.append(text)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    path = out / "table1.md"
    tmp = path.with_name(".table1.md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv, (DataNotFound, UsageError, checkpoint.CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
