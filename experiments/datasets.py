"""The image datasets of the figure experiments, by name: ``--dataset`` / ``DATASET=``.

An entry says everything a driver needs to know about a dataset: how to load it (and, for the
smoke profile, how to generate small files in its official format so the real loader runs), the
image shape, channels and per-channel mean the ResNet-20 subtracts, the training recipes, the
lambda grid, and where its trained models and results live. Drivers never branch on a dataset's
name; they read its entry.

``cifar10`` is the paper's dataset. Its folders are the project's original ones
(``results/models/``, ``results/cifar/``), so earlier runs are found where they are.
"""
from __future__ import annotations

import fcntl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from runkit import UsageError, results_dir
from sap_mx.data import (center_crop, is_fashion_mnist, find_mnist, load_cifar10,
                         load_fashion_mnist, load_mnist, official_mnist, write_cifar10, write_mnist)
from sap_mx.models.cifar_resnet import IMAGENET_MEAN_RGB

from .profiles import MnistProfile, TrainProfile
from sap_mx.recipes import FASHION_MNIST_RECIPES, PAPER_RECIPES, Recipe

__all__ = ["ImageDataset", "DATASETS", "get_dataset", "check_crop", "load", "load_mnist_data",
           "MLP_DATASETS", "mlp_results_dir"]

EPS = (0, 1, 2, 4, 8, 16, 32, 64)  # the paper's lambdas (pixels on 0..255)


@dataclass(frozen=True, kw_only=True)
class ImageDataset:
    """One image dataset of the figure experiments (see the module docstring)."""

    name: str                      # the registry key (``--dataset``), in rows' ``data`` label
    title: str                     # for captions and reports: "CIFAR-10"
    channels: int
    size: int                      # height = width of the stored images
    mean: tuple                    # per channel, 0..255 scale, subtracted by the model
    recipes: dict[str, Recipe]     # recipe name -> recipe
    crops: tuple[int, ...]         # training crops accepted (the first is the default)
    load_real: Callable            # (data_dir or None) -> (((x, y), (x_t, y_t)), label), uint8
    write_generated: Callable      # (folder, n_train, n_test, seed) -> None
    load_generated: Callable       # (folder) -> as load_real
    generated_marker: str          # a path inside the folder that exists once it is written
    results: str                   # results/<results>/ (experiment CSVs and figures)
    models: str                    # results/<models>/ (trained runs)
    run_prefix: str = ""           # before the run names of its trained models
    make_prefix: str = "cifar"     # its Make targets: <prefix>-dense, <prefix>-adv-train...
    make_vars: str = ""            # what those targets need to select it (DATASET=...)
    eps: tuple = EPS
    classes: int = 10
    extra: dict = field(default_factory=dict)

    def results_dir(self, profile: str) -> Path:
        return results_dir(profile, self.results)

    def models_dir(self, profile: str) -> Path:
        return results_dir(profile, self.models)

    def model_kwargs(self) -> dict:
        """What the ResNet-20 constructor needs to take this dataset's images."""
        return {"in_channels": self.channels, "mean": self.mean}

    def crop(self, x: np.ndarray, crop: int) -> np.ndarray:
        """The centre crop a model trained on ``crop`` crops is tested on."""
        return x if crop == self.size else center_crop(x, crop)


def _write_cifar10(folder, n_train, n_test, seed):
    write_cifar10(folder, n_train=n_train, n_test=n_test, fmt="bin", seed=seed)


def _with_channel(data):
    """(N, 28, 28) grayscale -> (N, 1, 28, 28), the layout the ResNet-20 takes."""
    (x, y), (xt, yt) = data
    return (x[:, None], y), (xt[:, None], yt)


def _load_fashion_mnist(data_dir):
    data, label = load_fashion_mnist(data_dir)
    return _with_channel(data), label


def _write_fashion_mnist(folder, n_train, n_test, seed):
    write_mnist(folder, n_train=n_train, n_test=n_test, seed=seed)  # the same IDX layout


# The training set's mean pixel (0.2860 x 255 = 72.94), subtracted by the model as the authors
# subtract their mean; tests/test_fashion_mnist.py recomputes it from the data where present.
FASHION_MNIST_MEAN = (72.94,)


DATASETS: dict[str, ImageDataset] = {
    "cifar10": ImageDataset(
        name="cifar10", title="CIFAR-10", channels=3, size=32, mean=IMAGENET_MEAN_RGB,
        recipes=PAPER_RECIPES, crops=(32, 28),
        load_real=lambda data_dir: (load_cifar10(data_dir), "cifar10"),
        write_generated=_write_cifar10,
        load_generated=lambda folder: load_cifar10(folder, download=False),
        generated_marker="cifar-10-batches-bin",
        results="cifar", models="models", run_prefix="", make_prefix="cifar"),
    "fashion-mnist": ImageDataset(
        name="fashion-mnist", title="Fashion-MNIST", channels=1, size=28,
        mean=FASHION_MNIST_MEAN, recipes=FASHION_MNIST_RECIPES, crops=(28,),
        load_real=_load_fashion_mnist,
        write_generated=_write_fashion_mnist,
        load_generated=lambda folder: _with_channel(load_mnist(folder, download=False)),
        generated_marker="t10k-labels-idx1-ubyte.gz",
        results="fashion-mnist", models="fashion-mnist/models", run_prefix="",
        make_prefix="cifar", make_vars=" DATASET=fashion-mnist"),
}


def check_crop(crop: int, dataset: ImageDataset) -> int:
    """``--crop``: 0 (the image size) or one of the dataset's training crops; returns the crop."""
    if crop and crop not in dataset.crops:
        raise UsageError(f"--crop must be {' or '.join(map(str, dataset.crops))} for "
                         f"{dataset.title}, got {crop}")
    return crop or dataset.size


def get_dataset(name: str) -> ImageDataset:
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def load(dataset: ImageDataset, profile_name: str, profile: TrainProfile, seed: int,
         data_dir: str = ""):
    """((x_train, y_train), (x_test, y_test)) as uint8/int32 arrays, and the ``data`` label
    rows carry (the dataset's name, or ``generated-<name>-format(seed=k)`` for smoke)."""
    if profile.data == "generated":
        folder = results_dir(profile_name, "data", f"{dataset.name}-generated-seed{seed}")
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:  # distributed workers share the folder
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / dataset.generated_marker).exists():
                dataset.write_generated(folder, profile.n_train, profile.n_test, seed)
        return (dataset.load_generated(folder),
                f"generated-{dataset.name}-format(seed={seed})")
    return dataset.load_real(data_dir or None)


MLP_DATASETS = {"mnist": ("MNIST", ("mnist",)),                      # name -> (title, folder)
                "fashion-mnist": ("Fashion-MNIST", ("fashion-mnist", "sdr"))}


def mlp_results_dir(dataset: str, profile_name: str) -> Path:
    """Where Khan et al.'s table on ``dataset`` goes: results[/smoke]/mnist, or
    results[/smoke]/fashion-mnist/sdr."""
    if dataset not in MLP_DATASETS:
        raise UsageError(f"unknown dataset {dataset!r} for the MLPs; valid: "
                         f"{', '.join(MLP_DATASETS)}")
    return results_dir(profile_name, *MLP_DATASETS[dataset][1])


def load_mnist_data(s: MnistProfile, profile_name: str, seed: int, data_dir: str, out: Path,
                    dataset: str = "mnist"):
    """MNIST (or Fashion-MNIST) for Khan et al.'s MLPs: ((x_train, y_train), (x_test, y_test))
    as float32 0..1 / int, and the ``data`` label (smoke: generated files in the IDX layout
    under ``out/data``)."""
    if profile_name == "smoke":
        folder = Path(out) / "data" / f"{dataset}-generated-seed{seed}"
        if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
            write_mnist(folder, n_train=s.n_train, n_test=s.n_test, seed=seed)
        data = load_mnist(folder, download=False)
        label = f"generated-{dataset}-format(seed={seed})"
    elif dataset == "fashion-mnist":
        data, label = load_fashion_mnist(data_dir or None)
    else:
        data = load_mnist(data_dir or None)
        try:
            fashion = is_fashion_mnist(find_mnist(data_dir or None))
        except FileNotFoundError:
            fashion = False
        if fashion:
            raise UsageError("the MNIST files found are Fashion-MNIST; for Khan et al.'s table "
                             "on it run `make mnist-sdr DATASET=fashion-mnist`, else point "
                             "DATA_DIR at MNIST")
        label = "mnist" if official_mnist(data_dir or None) else (
            "mnist-format files (not the official SHA-1 digests)")
    (x, y), (xt, yt) = data
    return ((x.astype(np.float32) / 255, y), (xt.astype(np.float32) / 255, yt)), label
