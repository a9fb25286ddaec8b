"""The one atomic file writer: temp file in the same folder, then rename.

A reader (or a crash, ``kill -9`` included) sees the previous file or the new one, never half of
one. ``tempfile.mkstemp`` creates its file with mode 0600 and ``mkdtemp`` its folder with 0700;
a result is for everyone to read, so both get the modes a plain ``open()`` / ``mkdir()`` would
have given them under the process's umask (0644 / 0755 under umask 022) before the rename.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Mapping

__all__ = ["atomic_write", "write_text", "write_csv", "make_temp_dir", "umask", "file_mode",
           "dir_mode", "sha256_file"]


def umask() -> int:
    """The process's umask (read without changing it for longer than two calls)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, 'w')`` gives a new file: 0666 minus the umask."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    """The mode ``mkdir`` gives a new folder: 0777 minus the umask."""
    return 0o777 & ~umask()


def atomic_write(path: str | os.PathLike, write: Callable[[str], None] | str | bytes, *,
                 mode: int | None = None) -> Path:
    """Write ``path`` atomically; returns it.

    ``write`` is the content (``str`` or ``bytes``) or a function that writes a file at the
    temporary path it is given (``net.save_parameters``, ``fig.savefig``, ...). The parent
    folder is created. ``mode`` defaults to ``file_mode()``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix or ".tmp"  # savefig and friends infer the format from the suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent)
    try:
        if isinstance(write, (str, bytes)):
            with os.fdopen(fd, "wb") as handle:
                handle.write(write.encode() if isinstance(write, str) else write)
        else:
            os.close(fd)
            write(tmp)
        os.chmod(tmp, file_mode() if mode is None else mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``text`` to ``path``, atomically."""
    return atomic_write(path, text)


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping]) -> Path:
    """Write ``rows`` (dicts with the same keys; the first row's order) to ``path``
    atomically; returns the path."""
    rows = list(rows)
    if not rows:
        raise ValueError("no rows to write")
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()))
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, buffer.getvalue())


def make_temp_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new temporary folder in ``parent`` with the mode ``mkdir`` would give (not 0700), to
    be filled and renamed into place."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, dir_mode())
    return tmp


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a file, read in 1 MiB blocks (checkpoints, weight manifests)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
