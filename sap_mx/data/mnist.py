"""MNIST: the real data in the official IDX files, and a generator of small files in that format.

Where the data is looked for, in order (``find_mnist``): ``data_dir`` (``--data-dir``), else
``$SAP_DATA_DIR`` (also its ``mnist/`` subfolder); then ``$MXNET_HOME/datasets/mnist`` (where
Gluon's ``MNIST`` dataset downloads it). The four official files are accepted gzipped (as
distributed: ``train-images-idx3-ubyte.gz`` ...) or not. If nothing is found and the machine can
reach the internet, Gluon's dataset code downloads them; otherwise ``DataNotFound`` says what is
missing, where it looked and how to get it.

Images come back as uint8 arrays of shape (N, 28, 28) with 0..255 pixels and int32 labels.
Damage is caught by the gzip CRC and the IDX structure (header, sizes, label range). The official
SHA-1 digests are not a gate (re-packed or subset copies in the same format load too);
``official_mnist`` says whether the files found are the official ones, for the record.

The IDX format: a big-endian header (two zero bytes, a type byte 0x08 for unsigned bytes, the
number of dimensions, then one uint32 per dimension) followed by the data, row-major.
"""
from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ..io import atomic_write
from ._common import DataNotFound, candidates, gluon_root, online

__all__ = ["MNIST_URL", "MNIST_FILES", "find_mnist", "load_mnist", "official_mnist", "read_split",
           "write_mnist", "synthetic_digits", "read_idx", "write_idx"]

MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
MNIST_FILES = {  # role -> official file name (without .gz)
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
# SHA-1 of the official gzipped files (the digests Gluon's MNIST dataset checks)
OFFICIAL_SHA1 = {
    "train-images-idx3-ubyte.gz": "6c95f4b05d2bf285e1bfb0e7960c31bd3b3f8a7d",
    "train-labels-idx1-ubyte.gz": "2a80914081dc54586dbdf242f9805a6b8d2a15fc",
    "t10k-images-idx3-ubyte.gz": "c3a25af1f52dad7f726cce8cacb138654b760d48",
    "t10k-labels-idx1-ubyte.gz": "763e7fa3757d93b0cdec073cef058b2004252c17",
}


# ---------------------------------------------------------------------------------------------
# the IDX format
# ---------------------------------------------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (gzipped or not) as a uint8 array; DataNotFound if malformed."""
    path = Path(path)
    fix = f"download MNIST again from {MNIST_URL}"
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataNotFound(f"{path} is corrupt or truncated ({type(err).__name__}); "
                           f"{fix}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] == 0:
        raise DataNotFound(f"{path} is not an unsigned-byte IDX file (bad header); {fix}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataNotFound(f"{path} is truncated (incomplete header); {fix}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != int(np.prod(shape)):
        raise DataNotFound(f"{path} is corrupt or truncated ({len(raw) - header} data bytes for "
                           f"shape {shape}); {fix}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def write_idx(path: Path, array: np.ndarray, *, compress: bool = True) -> Path:
    """Write a uint8 array as an IDX file (gzipped when ``compress``), atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.tobytes()
    return atomic_write(path, gzip.compress(data, mtime=0) if compress else data)


# ---------------------------------------------------------------------------------------------
# finding and reading
# ---------------------------------------------------------------------------------------------
def _places(data_dir) -> list[Path]:
    out = []
    for place in candidates(data_dir, "mnist"):
        out += [place, place / "mnist"] if place != gluon_root("mnist") else [place]
    return out


def _file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def find_mnist(data_dir=None) -> dict[str, Path]:
    """{role: file} of the first folder holding all four MNIST files; FileNotFoundError if none."""
    for folder in _places(data_dir):
        files = {role: _file(folder, name) for role, name in MNIST_FILES.items()}
        if all(files.values()):
            return files
    raise FileNotFoundError


def official_mnist(data_dir=None) -> bool:
    """True if the four files found are the official gzipped ones (their SHA-1 digests)."""
    import hashlib

    try:
        files = find_mnist(data_dir)
    except FileNotFoundError:
        return False
    return all(path.name in OFFICIAL_SHA1
               and hashlib.sha1(path.read_bytes()).hexdigest() == OFFICIAL_SHA1[path.name]
               for path in files.values())


def _download_with_gluon() -> None:
    from mxnet.gluon.data.vision import MNIST

    MNIST(root=str(gluon_root("mnist")), train=True)  # downloads and checks SHA-1
    MNIST(root=str(gluon_root("mnist")), train=False)


def load_mnist(data_dir=None, *, download: bool = True):
    """((x_train, y_train), (x_test, y_test)); see the module docstring for where it looks."""
    try:
        files = find_mnist(data_dir)
    except FileNotFoundError:
        looked = ", ".join(str(p) for p in _places(data_dir))
        if download and online():
            _download_with_gluon()
            files = find_mnist(data_dir)
        else:
            raise DataNotFound(
                f"MNIST not found (looked in {looked}) and no network to download it: copy "
                f"the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from {MNIST_URL} into "
                f"{'one of those folders' if ', ' in looked else 'that folder'}, or point "
                "--data-dir / SAP_DATA_DIR at a folder holding them") from None
    return tuple(read_split(files, split, "MNIST") for split in ("train", "test"))


def read_split(files: dict[str, Path], split: str, what: str):
    """(images uint8 (N, H, W), labels int32) of ``split`` ('train' or 'test') from the IDX
    files of ``find_mnist``'s layout; DataNotFound unless they form a 10-class split."""
    x, y = read_idx(files[f"{split}_images"]), read_idx(files[f"{split}_labels"])
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataNotFound(f"{files[f'{split}_images']} and {files[f'{split}_labels']} do not "
                           f"form an {what} split (shapes {x.shape}, {y.shape})")
    if y.size and y.max() > 9:
        raise DataNotFound(f"{files[f'{split}_labels']} holds labels above 9: not {what}")
    return x, y.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# generating files in the official layout
# ---------------------------------------------------------------------------------------------
def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable stand-ins for MNIST: each class is a fixed random blob pattern, shifted by a few
    pixels and noised; uint8 (n, 28, 28) and int32 labels."""
    rng = np.random.default_rng(seed)
    coarse = np.random.default_rng(12345).random((10, 7, 7)) ** 2  # same classes every seed
    templates = np.kron(coarse, np.ones((4, 4)))                  # 4x4 blocks: 28 x 28 strokes
    labels = rng.integers(0, 10, n).astype(np.int32)
    images = np.empty((n, 28, 28), np.float32)
    for i, label in enumerate(labels):
        dy, dx = rng.integers(-2, 3, 2)
        images[i] = np.roll(templates[label], (dy, dx), axis=(0, 1))
    images = images * 255 + rng.normal(0, 20, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), labels


def write_mnist(root, *, n_train: int = 600, n_test: int = 200, seed: int = 0,
                compress: bool = True) -> Path:
    """Write a small MNIST in the official IDX files into ``root``; returns ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = (synthetic_digits(n_train, seed),
                                            synthetic_digits(n_test, seed + 1))
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        arrays = {"train_images": x_train, "train_labels": y_train, "test_images": x_test,
                  "test_labels": y_test}
        for role, array in arrays.items():
            write_idx(Path(tmp) / (MNIST_FILES[role] + (".gz" if compress else "")), array,
                      compress=compress)
        for entry in Path(tmp).iterdir():
            os.replace(entry, root / entry.name)
    return root
