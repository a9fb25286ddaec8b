"""CIFAR-10: the real data in either official layout, a generator of small files in the same
layouts, and the training augmentation.

Where the data is looked for, in order (``find_cifar10``):

1. ``data_dir`` (``--data-dir``), else ``$SAP_DATA_DIR``;
2. ``$MXNET_HOME/datasets/cifar10`` (where Gluon's dataset code downloads it; ``~/.mxnet``
   when ``MXNET_HOME`` is unset).

In each place any official layout is accepted: the binary version (``data_batch_1.bin`` ...
``test_batch.bin``, directly or in ``cifar-10-batches-bin/``, or the archive
``cifar-10-binary.tar.gz``) or the Python version (``cifar-10-batches-py/`` or
``cifar-10-python.tar.gz``). An archive is extracted next to itself on first use. If nothing is
found and the machine can reach the internet, Gluon's ``CIFAR10`` dataset downloads it into (2).
Otherwise ``DataNotFound`` says what is missing, where it looked and how to get it.

Images come back as uint8 arrays of shape (N, 3, 32, 32) with 0..255 pixels (the attacks work
on that scale) and int32 labels.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ._common import DataNotFound, candidates, gluon_root, online

__all__ = ["DataNotFound", "CIFAR10_URL", "find_cifar10", "load_cifar10", "write_cifar10",
           "synthetic_images", "augment", "center_crop"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
RECORD = 1 + 3 * 32 * 32  # one label byte, then 3072 pixel bytes (R, G, B planes)
TRAIN_BIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_BIN = ["test_batch.bin"]
TRAIN_PY = [f"data_batch_{i}" for i in range(1, 6)]
TEST_PY = ["test_batch"]
# SHA-1 of the official binary files (the ones Gluon's dataset checks)
OFFICIAL_SHA1 = {
    "data_batch_1.bin": "aadd24acce27caa71bf4b10992e9e7b2d74c2540",
    "data_batch_2.bin": "c0ba65cce70568cd57b4e03e9ac8d2a5367c1795",
    "data_batch_3.bin": "1dd00a74ab1d17a6e7d73e185b69dbf31242f295",
    "data_batch_4.bin": "aab85764eb3584312d3c7f65fd2fd016e36a258e",
    "data_batch_5.bin": "26e2849e66a845b7f1e4614ae70f4889ae604628",
    "test_batch.bin": "67eb016db431130d61cd03c7ad570b013799c88c",
}


def _gluon_root() -> Path:
    return gluon_root("cifar10")


def _candidates(data_dir) -> list[Path]:
    return candidates(data_dir, "cifar10")


def _check_gzip(archive: Path) -> None:
    """Read the whole gzip stream: a truncated or altered archive fails its length/CRC check
    (tarfile alone stops reading before the gzip trailer)."""
    with gzip.open(archive, "rb") as stream:
        while stream.read(1 << 22):
            pass


def _extract(archive: Path, sub: str, expected: list[str]) -> None:
    """Extract ``sub/`` next to the archive, atomically: into a temp dir, checked complete,
    then renamed into place."""
    fix = f"delete it and download CIFAR-10 again from {CIFAR10_URL}"
    try:
        _check_gzip(archive)
        with tempfile.TemporaryDirectory(dir=archive.parent) as tmp:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")  # no absolute paths, links or devices
            if not all((Path(tmp) / sub / f).is_file() for f in expected):
                raise DataNotFound(f"{archive} does not hold the CIFAR-10 files {sub}/"
                                   f"{expected[0]} ... {expected[-1]}; {fix}")
            os.replace(Path(tmp) / sub, archive.parent / sub)
    except PermissionError:
        raise DataNotFound(f"cannot extract {archive}: {archive.parent} is not writable; "
                           "extract it into a writable folder and pass that with --data-dir "
                           "(or SAP_DATA_DIR)") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataNotFound(f"{archive} is corrupt or truncated ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''}); {fix}") from None


def find_cifar10(data_dir=None) -> tuple[str, Path]:
    """(format, directory) of the first CIFAR-10 copy found: format 'bin' or 'py'."""
    for place in _candidates(data_dir):
        for archive, sub, expected in (
                ("cifar-10-binary.tar.gz", "cifar-10-batches-bin", TRAIN_BIN + TEST_BIN),
                ("cifar-10-python.tar.gz", "cifar-10-batches-py", TRAIN_PY + TEST_PY)):
            if (place / archive).is_file() and not (place / sub).is_dir():
                _extract(place / archive, sub, expected)
        for folder in (place, place / "cifar-10-batches-bin"):
            if all((folder / f).is_file() for f in TRAIN_BIN + TEST_BIN):
                return "bin", folder
        folder = place / "cifar-10-batches-py"
        if all((folder / f).is_file() for f in TRAIN_PY + TEST_PY):
            return "py", folder
    raise FileNotFoundError


def _read_bin(path: Path, check_official: bool) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    if len(raw) == 0 or len(raw) % RECORD:
        raise DataNotFound(f"{path} is corrupt or truncated ({len(raw)} bytes, not a multiple of "
                           f"{RECORD}); download CIFAR-10 again from {CIFAR10_URL}")
    if check_official and len(raw) == 10000 * RECORD and path.name in OFFICIAL_SHA1:
        if hashlib.sha1(raw).hexdigest() != OFFICIAL_SHA1[path.name]:
            raise DataNotFound(f"{path} does not match the official CIFAR-10 checksum; download "
                               f"it again from {CIFAR10_URL}")
    data = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    labels = data[:, 0].astype(np.int32)
    if labels.max() > 9:
        raise DataNotFound(f"{path} holds labels above 9: not CIFAR-10 binary data")
    return data[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def _read_py(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int32)
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise ValueError(f"shapes {data.shape} / {labels.shape}")
    except Exception as err:  # noqa: BLE001 - pickle raises many kinds
        raise DataNotFound(f"{path} is corrupt or not a CIFAR-10 Python batch ({type(err).__name__}"
                           f": {err}); download CIFAR-10 again from {CIFAR10_URL}") from None
    return data.reshape(-1, 3, 32, 32), labels


def _download_with_gluon() -> None:
    from mxnet.gluon.data.vision import CIFAR10

    CIFAR10(root=str(_gluon_root()), train=True)  # downloads, checks SHA-1, extracts


def load_cifar10(data_dir=None, *, download: bool = True):
    """((x_train, y_train), (x_test, y_test)); see the module docstring for where it looks."""
    try:
        fmt, folder = find_cifar10(data_dir)
    except FileNotFoundError:
        looked = ", ".join(str(p) for p in _candidates(data_dir))
        if download and online():
            _download_with_gluon()
            fmt, folder = find_cifar10(data_dir)
        else:
            raise DataNotFound(
                f"CIFAR-10 not found (looked in {looked}) and no network to download it: copy "
                f"cifar-10-binary.tar.gz or cifar-10-python.tar.gz from {CIFAR10_URL} into "
                f"{'one of those folders' if ', ' in looked else 'that folder'}, or point "
                "--data-dir / SAP_DATA_DIR at a folder holding it") from None
    if fmt == "bin":
        parts = [[_read_bin(folder / f, True) for f in names] for names in (TRAIN_BIN, TEST_BIN)]
    else:
        parts = [[_read_py(folder / f) for f in names] for names in (TRAIN_PY, TEST_PY)]
    return tuple((np.concatenate([x for x, _ in p]), np.concatenate([y for _, y in p]))
                 for p in parts)


# ---------------------------------------------------------------------------------------------
# generating files in the official layouts
# ---------------------------------------------------------------------------------------------
def synthetic_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable stand-ins for CIFAR-10: each class has its own colour and stripe pattern, with
    noise; uint8 (n, 3, 32, 32) and int32 labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int32)
    yy, xx = np.mgrid[0:32, 0:32]
    images = np.empty((n, 3, 32, 32), np.float32)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        colour = 60 + 140 * np.array([(c * 37) % 10, (c * 53) % 10, (c * 71) % 10]) / 9
        stripes = 40 * np.sin((xx * np.cos(c) + yy * np.sin(c)) * (0.3 + 0.05 * c))
        images[idx] = colour[None, :, None, None] + stripes[None, None]
    images += rng.normal(0, 25, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), labels


def write_cifar10(root, *, n_train: int = 500, n_test: int = 100, fmt: str = "bin",
                  archive: bool = False, seed: int = 0) -> Path:
    """Write a small CIFAR-10 in an official layout under ``root``; returns ``root``.

    fmt 'bin': ``cifar-10-batches-bin/data_batch_{1..5}.bin`` + ``test_batch.bin`` (records of one
    label byte and 3072 pixel bytes); fmt 'py': ``cifar-10-batches-py/`` pickles with b'data'
    (N x 3072 uint8) and b'labels'. ``archive=True`` writes the matching ``.tar.gz`` instead.
    """
    if fmt not in ("bin", "py"):
        raise ValueError(f"fmt must be 'bin' or 'py', got {fmt!r}")
    root = Path(root)
    x_train, y_train = synthetic_images(n_train, seed)
    x_test, y_test = synthetic_images(n_test, seed + 1)
    splits = np.array_split(np.arange(n_train), 5)
    sub = "cifar-10-batches-bin" if fmt == "bin" else "cifar-10-batches-py"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / sub
        folder.mkdir()
        batches = [(name, x_train[i], y_train[i]) for name, i in
                   zip(TRAIN_BIN if fmt == "bin" else TRAIN_PY, splits, strict=True)]
        batches.append((TEST_BIN[0] if fmt == "bin" else TEST_PY[0], x_test, y_test))
        for name, x, y in batches:
            if fmt == "bin":
                records = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(len(x), -1)], 1)
                (folder / name).write_bytes(records.tobytes())
            else:
                with open(folder / name, "wb") as handle:
                    pickle.dump({b"data": x.reshape(len(x), -1), b"labels": y.tolist()}, handle)
        root.mkdir(parents=True, exist_ok=True)
        if archive:
            name = "cifar-10-binary.tar.gz" if fmt == "bin" else "cifar-10-python.tar.gz"
            with tarfile.open(Path(tmp) / name, "w:gz") as tar:
                tar.add(folder, arcname=sub)
            shutil.move(str(Path(tmp) / name), root / name)
        else:
            if (root / sub).exists():
                shutil.rmtree(root / sub)
            shutil.move(str(folder), root / sub)
    return root


# ---------------------------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------------------------
def augment(x: np.ndarray, rng: np.random.Generator, *, crop: int = 32, pad: int = 4,
            flip: bool = True) -> np.ndarray:
    """Zero-pad by ``pad``, take a random ``crop`` x ``crop`` window, flip half horizontally.

    ``x`` is (N, C, H, W) with H = W, any number of channels. crop=32 is the usual CIFAR recipe;
    crop=28 is the authors' variant (28x28 windows of the padded image; evaluate with
    ``center_crop(x, 28)``); on 28x28 images (Fashion-MNIST) crop=28 is the usual recipe."""
    n = len(x)
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    span = x.shape[-1] + 2 * pad - crop
    oy, ox = rng.integers(0, span + 1, n), rng.integers(0, span + 1, n)
    rows = oy[:, None] + np.arange(crop)
    cols = ox[:, None] + np.arange(crop)
    out = padded[np.arange(n)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    if flip:
        mirror = rng.random(n) < 0.5
        out[mirror] = out[mirror, :, :, ::-1]
    return out


def center_crop(x: np.ndarray, crop: int) -> np.ndarray:
    off = (x.shape[-1] - crop) // 2
    return x[..., off:off + crop, off:off + crop]
