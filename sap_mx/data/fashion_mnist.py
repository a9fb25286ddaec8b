"""Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 grayscale images of 10 clothing
classes, in the four IDX files of MNIST's layout and names.

Where the data is looked for, in order (``find_fashion_mnist``): ``data_dir`` (``--data-dir`` /
``DATA_DIR``), else ``$SAP_DATA_DIR`` (also its ``fashion-mnist/`` subfolder); then
``$MXNET_HOME/datasets/fashion-mnist`` (where Gluon's ``FashionMNIST`` downloads it); then
``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist`` package). Files are
accepted gzipped or not. If nothing is found and the machine can reach the internet, Gluon's
dataset code downloads them; otherwise ``DataNotFound`` says where it looked and how to get it.

The contents are checked after decompression: the IDX structure (header, sizes, labels 0..9,
28x28 images, 60,000 + 10,000) and the SHA-256 of each decompressed file against the official
release (Debian re-compresses the files, so digests of the ``.gz`` files differ from Zalando's;
the decompressed bytes are the same). Files that pass the structure but not the digests load,
labelled ``fashion-mnist-format files (not the official contents)``.

Because its files have MNIST's names, a Fashion-MNIST folder also passes as MNIST-format files;
``is_fashion_mnist`` recognises it by its digests, and the MNIST driver refuses to label it MNIST.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ._common import DataNotFound, gluon_root, online
from .mnist import MNIST_FILES, _file, read_split

__all__ = ["FASHION_MNIST_URL", "FASHION_MNIST_CLASSES", "DEBIAN_DIR", "find_fashion_mnist",
           "load_fashion_mnist", "official_fashion_mnist", "is_fashion_mnist",
           "fashion_mnist_places"]

FASHION_MNIST_URL = "https://github.com/zalandoresearch/fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
# SHA-256 of the decompressed official files (the same bytes in Zalando's release, Gluon's
# download and Debian's re-compressed package)
OFFICIAL_SHA256 = {
    "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
SIZES = {"train": 60_000, "test": 10_000}


def fashion_mnist_places(data_dir=None) -> list[Path]:
    """The folders searched, in order (see the module docstring)."""
    places = []
    if data_dir:
        places.append(Path(data_dir).expanduser())
    elif os.environ.get("SAP_DATA_DIR"):
        root = Path(os.environ["SAP_DATA_DIR"]).expanduser()
        places += [root, root / "fashion-mnist"]
    return places + [gluon_root("fashion-mnist"), DEBIAN_DIR]


def find_fashion_mnist(data_dir=None) -> dict[str, Path]:
    """{role: file} of the first folder holding all four files; FileNotFoundError if none."""
    for folder in fashion_mnist_places(data_dir):
        files = {role: _file(folder, name) for role, name in MNIST_FILES.items()}
        if all(files.values()):
            return files
    raise FileNotFoundError


def _decompressed_sha256(path: Path) -> str:
    import gzip

    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return hashlib.sha256(raw).hexdigest()


def is_fashion_mnist(files: dict[str, Path]) -> bool:
    """Whether the four files hold the official Fashion-MNIST contents (decompressed SHA-256)."""
    try:
        return all(_decompressed_sha256(files[role]) == digest
                   for role, digest in OFFICIAL_SHA256.items())
    except (OSError, EOFError, ValueError):
        return False


def official_fashion_mnist(data_dir=None) -> bool:
    """True if the files found are the official Fashion-MNIST contents."""
    try:
        return is_fashion_mnist(find_fashion_mnist(data_dir))
    except FileNotFoundError:
        return False


def _download_with_gluon() -> None:
    from mxnet.gluon.data.vision import FashionMNIST

    FashionMNIST(root=str(gluon_root("fashion-mnist")), train=True)  # downloads, checks SHA-1
    FashionMNIST(root=str(gluon_root("fashion-mnist")), train=False)


def load_fashion_mnist(data_dir=None, *, download: bool = True, check: bool = True):
    """((x_train, y_train), (x_test, y_test)) as uint8 (N, 28, 28) and int32, and the label rows
    carry: ``fashion-mnist`` (official contents) or ``fashion-mnist-format files (not the
    official contents)``; ``check=False`` skips the size check (small files in the format)."""
    try:
        files = find_fashion_mnist(data_dir)
    except FileNotFoundError:
        looked = ", ".join(str(p) for p in fashion_mnist_places(data_dir))
        if download and online():
            _download_with_gluon()
            files = find_fashion_mnist(data_dir)
        else:
            raise DataNotFound(
                f"Fashion-MNIST not found (looked in {looked}) and no network to download it: "
                "on Debian/Ubuntu `sudo apt-get install dataset-fashion-mnist`, or copy the four "
                f"files train-images-idx3-ubyte.gz ... t10k-labels-idx1-ubyte.gz from "
                f"{FASHION_MNIST_URL} into one of those folders, or point --data-dir / "
                "DATA_DIR / SAP_DATA_DIR at a folder holding them") from None
    out = []
    for split in ("train", "test"):
        x, y = read_split(files, split, "Fashion-MNIST")
        where = f"{files[f'{split}_images']} and {files[f'{split}_labels']}"
        if x.shape[1:] != (28, 28):
            raise DataNotFound(f"{where} hold {x.shape[1:]} images, not 28x28: not "
                               f"Fashion-MNIST; get the files again from {FASHION_MNIST_URL}")
        if check and len(x) != SIZES[split]:
            raise DataNotFound(f"{where} hold {len(x)} images, not Fashion-MNIST's "
                               f"{SIZES[split]:,}; get the files again from {FASHION_MNIST_URL}")
        out.append((x, y))
    label = ("fashion-mnist" if is_fashion_mnist(files)
             else "fashion-mnist-format files (not the official contents)")
    return tuple(out), label
