"""Write or check the SHA-256 manifest of a dataset's trained image models.

``results/<dataset models>/SHA256SUMS`` lists every finished run's ``final.params``
(``runkit.manifest``); trainers add their line when a run finishes and every driver checks it
before loading the weights. This command (re)writes the manifest of a whole folder (for runs
finished before the manifest existed, or after adding weights by hand) or, with ``--check``,
checks every line (the same as ``cd <folder> && sha256sum -c SHA256SUMS``).

Usage: ``python -m experiments.weights --dataset fashion-mnist --profile cpu [--check]``;
``make weights DATASET=fashion-mnist PROFILE=cpu`` (``make weights-check``, which also loads
every run and compares its clean test accuracy with its ``final.json``: ``--evaluate``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from runkit import UsageError, arg, cli_main, manifest, parse_dataclass_args, rel

from . import datasets


@dataclass
class Args:
    """Command-line arguments; every field is a ``--flag``."""

    dataset: str = arg("cifar10", "image dataset (experiments/datasets.py)")
    profile: str = arg("paper", "profile whose models folder to use (smoke: results/smoke/...)")
    folder: str = arg("", "a models folder instead of the dataset's")
    check: bool = arg(False, "check every line instead of writing the manifest")
    evaluate: bool = arg(False, "with --check: load every finished run through sap_mx and "
                                "compare its clean test accuracy with its final.json")
    model: str = arg("resnet20", "architecture of the runs (for --evaluate)")
    data_dir: str = arg("", "folder holding the dataset (for --evaluate)")


def parse_args(argv=None) -> Args:
    return parse_dataclass_args(Args, argv, "python -m experiments.weights",
                                __doc__.split("\n\n")[0])


def run(args: Args) -> list[Path]:
    folder = Path(args.folder) if args.folder else (
        datasets.get_dataset(args.dataset).models_dir(args.profile))
    if not folder.is_dir():
        raise UsageError(f"no models folder {rel(folder)}: train a model first (make "
                         "cifar-dense ...) or pass --folder")
    if args.check:
        bad = manifest.check_folder(folder)
        n = len(manifest.read(folder / manifest.MANIFEST))
        for line in bad:
            print(f"{rel(folder / manifest.MANIFEST)}: {line}")
        print(f"{rel(folder / manifest.MANIFEST)}: {n - len(bad)} OK, {len(bad)} bad")
        if bad:
            raise UsageError(f"{len(bad)} weights do not match {rel(folder / manifest.MANIFEST)}; "
                             "restore them (git checkout) or retrain them with --fresh")
        if args.evaluate:
            evaluate(args, folder)
        return []
    entries = manifest.write_folder(folder)
    print(f"{len(entries)} weights listed")
    return [folder / manifest.MANIFEST]


def evaluate(args: Args, folder: Path) -> None:
    """Each listed run's clean test accuracy, loaded as the drivers load it, next to the
    ``test_acc`` its ``final.json`` records (the same on the same machine; a differing BLAS may
    move an image or two)."""
    import json

    from sap_mx.evaluate import accuracy

    from .profiles import TRAIN
    from .zoo import build_image_model
    dataset = datasets.get_dataset(args.dataset)
    (_, (x_test, y_test)), label = datasets.load(dataset, args.profile, TRAIN.get(args.profile),
                                                 0, args.data_dir)
    for name in sorted(manifest.read(folder / manifest.MANIFEST)):
        params = folder / name
        record = json.loads((params.parent / "final.json").read_text())
        crop = int(params.parent.name.split("-crop")[1].split("-")[0]) \
            if "-crop" in params.parent.name else dataset.size
        net = build_image_model(args.model, dataset)
        net.load_parameters(str(params))
        net.hybridize(static_alloc=True)
        acc = accuracy(net, x_test, y_test, batch=500,
                       transform=None if crop == dataset.size else
                       (lambda b, c=crop: dataset.crop(b, c)))
        print(f"{params.parent.name}: test accuracy {100 * acc:.2f}% on {len(x_test)} {label} "
              f"test images; final.json says {100 * record['test_acc']:.2f}%"
              + ("" if abs(acc - record["test_acc"]) < 1e-9 else
                 f" (differs by {100 * (acc - record['test_acc']):+.2f} points)"))


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
