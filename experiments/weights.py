"""Write or check the SHA-256 manifest of a dataset's trained image models.

``results/<dataset models>/SHA256SUMS`` lists every finished run's ``final.params``
(``runkit.manifest``); trainers add their line when a run finishes and every driver checks it
before loading the weights. This command (re)writes the manifest of a whole folder (for runs
finished before the manifest existed, or after adding weights by hand) or, with ``--check``,
checks every line (the same as ``cd <folder> && sha256sum -c SHA256SUMS``).

Usage: ``python -m experiments.weights --dataset fashion-mnist --profile cpu [--check]``;
``make weights DATASET=fashion-mnist PROFILE=cpu`` (``make weights-check``).
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
        return []
    entries = manifest.write_folder(folder)
    print(f"{len(entries)} weights listed")
    return [folder / manifest.MANIFEST]


def main(argv=None) -> int:
    return cli_main(run, parse_args, argv)


if __name__ == "__main__":
    sys.exit(main())
