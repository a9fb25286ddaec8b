"""SHA-256 manifests of committed weights: ``SHA256SUMS`` in a models folder.

A models folder (``results/fashion-mnist/models/``) holds one run folder per trained model, each
with its ``final.params``. Its ``SHA256SUMS`` lists every finished run's weights in the format of
``sha256sum`` (``<64 hex digits>  <run>/final.params``), so ``cd <folder> && sha256sum -c
SHA256SUMS`` checks them without this package, and :func:`verify` checks a file before a driver
loads it: weights that do not match their line (a truncated download, a bad merge, a Git LFS
pointer) are a one-line ``UserError`` instead of a net that silently computes nonsense.

* :func:`record` adds or replaces one file's line (the trainer calls it when a run finishes);
* :func:`verify` returns a file's SHA-256 after checking it against its line, if it has one;
* :func:`write_folder` / :func:`check_folder` write / check the lines of every
  ``*/final.params`` of a folder (``python -m experiments.weights``, ``make weights``).
"""
from __future__ import annotations

import fcntl
from pathlib import Path

from sap_mx.errors import UserError
from sap_mx.io import atomic_write, sha256_file

__all__ = ["MANIFEST", "read", "record", "verify", "write_folder", "check_folder"]

MANIFEST = "SHA256SUMS"


def _manifest_of(path: Path) -> Path:
    """The manifest that lists ``<folder>/<run>/<file>``: ``<folder>/SHA256SUMS``."""
    return path.parent.parent / MANIFEST


def read(manifest) -> dict[str, str]:
    """``{relative path: sha256}`` of a manifest (empty when it does not exist)."""
    manifest = Path(manifest)
    if not manifest.is_file():
        return {}
    entries = {}
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition(" ")
        name = name[1:] if name[:1] in (" ", "*") else ""  # text ("  ") or binary (" *") mode
        if not sep or len(digest) != 64 or not name:
            raise UserError(f"{manifest}:{number} is not a sha256sum line ('<64 hex>  <path>'); "
                            "rewrite it with python -m experiments.weights --folder "
                            f"{manifest.parent}")
        entries[name.strip()] = digest.lower()
    return entries


def _write(manifest: Path, entries: dict[str, str]) -> None:
    atomic_write(manifest, "".join(f"{entries[name]}  {name}\n" for name in sorted(entries)))


def record(path) -> str:
    """Add (or replace) the line of ``<folder>/<run>/<file>`` in ``<folder>/SHA256SUMS``;
    returns the digest. The read-modify-write holds an exclusive lock on
    ``<folder>/.SHA256SUMS.lock``, so two runs finishing together both keep their lines."""
    path = Path(path)
    manifest = _manifest_of(path)
    digest = sha256_file(path)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest.parent / f".{MANIFEST}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = read(manifest)
        entries[f"{path.parent.name}/{path.name}"] = digest
        _write(manifest, entries)
    return digest


def verify(path, *, fix: str = "") -> str:
    """The SHA-256 of ``path`` after checking it against its line in the manifest of its models
    folder (a file without a line is not checked). A mismatch is a one-line ``UserError`` that
    names the file, the manifest and ``fix`` (what to do about it)."""
    path = Path(path)
    digest = sha256_file(path)
    manifest = _manifest_of(path)
    expected = read(manifest).get(f"{path.parent.name}/{path.name}")
    if expected is not None and expected != digest:
        raise UserError(f"{path} does not match its SHA-256 in {manifest} (corrupt or altered "
                        f"weights: {digest[:12]} != {expected[:12]}); "
                        + (fix or "restore the file (git checkout -- <file>) or retrain it"))
    return digest


def write_folder(folder) -> dict[str, str]:
    """Write the manifest of every ``<run>/final.params`` under ``folder``; returns its lines."""
    folder = Path(folder)
    entries = {f"{p.parent.name}/{p.name}": sha256_file(p)
               for p in sorted(folder.glob("*/final.params"))}
    _write(folder / MANIFEST, entries)
    return entries


def check_folder(folder) -> list[str]:
    """What is wrong in ``folder``: a ``*/final.params`` the manifest does not list, a listed
    file that is missing or differs (empty: all good)."""
    folder = Path(folder)
    bad = []
    listed = read(folder / MANIFEST)
    for path in sorted(folder.glob("*/final.params")):
        if f"{path.parent.name}/{path.name}" not in listed:
            bad.append(f"{path.parent.name}/{path.name}: not listed")
    for name, digest in listed.items():
        path = folder / name
        if not path.is_file():
            bad.append(f"{name}: missing")
        elif sha256_file(path) != digest:
            bad.append(f"{name}: SHA-256 differs")
    return bad
