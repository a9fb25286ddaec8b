"""MNIST loading from IDX files in the official layout (generated here), and its errors."""
import gzip
import struct

import numpy as np
import pytest

from sap_mx.data import DataNotFound, load_mnist, read_idx, write_idx, write_mnist


@pytest.mark.parametrize("compress", [True, False])
def test_official_files_load(tmp_path, compress):
    write_mnist(tmp_path, n_train=120, n_test=30, seed=4, compress=compress)
    suffix = ".gz" if compress else ""
    assert (tmp_path / f"train-images-idx3-ubyte{suffix}").is_file()
    (x, y), (xt, yt) = load_mnist(tmp_path, download=False)
    assert x.shape == (120, 28, 28) and xt.shape == (30, 28, 28)
    assert x.dtype == np.uint8 and y.dtype == np.int32 and len(y) == 120 and len(yt) == 30
    assert x.min() == 0 and x.max() == 255 and set(np.unique(y)) <= set(range(10))


def test_idx_bytes_are_as_the_format_says(tmp_path):
    """Magic 0x00000803 (unsigned byte, 3 dims), the sizes big-endian, then the pixels."""
    images = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "x", images, compress=False)
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03" and struct.unpack(">3I", raw[4:16]) == (2, 28, 28)
    assert raw[16:] == images.tobytes()
    write_idx(tmp_path / "y.gz", np.array([7, 1], np.uint8))
    assert gzip.decompress((tmp_path / "y.gz").read_bytes())[:8] == b"\x00\x00\x08\x01" + \
        struct.pack(">I", 2)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), images)


def test_subfolder_and_env_var(tmp_path, monkeypatch):
    write_mnist(tmp_path / "data" / "mnist", n_train=20, n_test=10)
    monkeypatch.setenv("SAP_DATA_DIR", str(tmp_path / "data"))
    (x, _), _ = load_mnist(download=False)
    assert x.shape == (20, 28, 28)


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SAP_DATA_DIR", raising=False)
    with pytest.raises(DataNotFound) as err:
        load_mnist(tmp_path / "nowhere", download=False)
    msg = str(err.value)
    assert str(tmp_path / "nowhere") in msg and str(tmp_path / "home" / "datasets" / "mnist") in msg
    assert "train-images-idx3-ubyte.gz" in msg and "\n" not in msg


@pytest.mark.parametrize("damage", ["truncated_gzip", "flipped_gzip", "short_data", "bad_magic"])
def test_damaged_files_are_reported(tmp_path, damage):
    write_mnist(tmp_path, n_train=50, n_test=10)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    if damage == "truncated_gzip":
        raw = raw[: len(raw) // 2]
    elif damage == "flipped_gzip":
        raw[len(raw) // 2] ^= 0xFF
    elif damage == "short_data":
        raw = bytearray(gzip.compress(bytes(gzip.decompress(bytes(raw))[:-28])))
    else:
        raw = bytearray(gzip.compress(b"\x00\x00\x0d\x03" + gzip.decompress(bytes(raw))[4:]))
    path.write_bytes(bytes(raw))
    match = "train-images-idx3-ubyte.gz (is corrupt|is not an)"
    with pytest.raises(DataNotFound, match=match) as e:
        load_mnist(tmp_path, download=False)
    assert "\n" not in str(e.value)


def test_mismatched_split_is_reported(tmp_path):
    write_mnist(tmp_path, n_train=50, n_test=10)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(9, np.uint8))
    with pytest.raises(DataNotFound, match="do not form an MNIST split"):
        load_mnist(tmp_path, download=False)


def test_generated_files_are_not_called_official(tmp_path):
    from sap_mx.data import official_mnist

    write_mnist(tmp_path, n_train=20, n_test=10)
    assert official_mnist(tmp_path) is False
    assert official_mnist(tmp_path / "none") is False


def test_generated_digits_are_learnable():
    """A nearest-class-mean classifier separates the generated classes (so smoke runs learn)."""
    from sap_mx.data import synthetic_digits

    x, y = synthetic_digits(500, 0)
    xt, yt = synthetic_digits(200, 1)
    means = np.stack([x[y == c].reshape(-1, 784).mean(0) for c in range(10)])
    pred = ((xt.reshape(-1, 1, 784) - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == yt).mean() > 0.8
