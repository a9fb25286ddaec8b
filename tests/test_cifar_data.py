"""CIFAR-10 loading from files in the official layouts (generated here), and its errors."""
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

from sap_mx.data import DataNotFound, augment, center_crop, load_cifar10, write_cifar10

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("fmt", ["bin", "py"])
@pytest.mark.parametrize("archive", [False, True])
def test_official_layouts_load(tmp_path, fmt, archive):
    write_cifar10(tmp_path, n_train=250, n_test=60, fmt=fmt, archive=archive, seed=3)
    (x, y), (xt, yt) = load_cifar10(tmp_path, download=False)
    assert x.shape == (250, 3, 32, 32) and xt.shape == (60, 3, 32, 32)
    assert x.dtype == np.uint8 and y.dtype == np.int32
    assert x.min() == 0 and x.max() == 255
    assert set(np.unique(y)) <= set(range(10)) and len(np.unique(y)) == 10


def test_binary_records_are_read_as_the_format_says(tmp_path):
    """One label byte, then the R, G and B planes, row-major."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    image = np.arange(3072, dtype=np.uint32).astype(np.uint8).reshape(3, 32, 32)
    record = np.concatenate([[7], image.ravel()]).astype(np.uint8).tobytes()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (folder / name).write_bytes(record * 2)
    (x, y), _ = load_cifar10(tmp_path, download=False)
    assert x.shape == (10, 3, 32, 32) and np.all(y == 7)
    np.testing.assert_array_equal(x[0], image)


def test_both_layouts_give_the_same_arrays(tmp_path):
    write_cifar10(tmp_path / "a", n_train=100, n_test=20, fmt="bin", seed=1)
    write_cifar10(tmp_path / "b", n_train=100, n_test=20, fmt="py", seed=1)
    a = load_cifar10(tmp_path / "a", download=False)
    b = load_cifar10(tmp_path / "b", download=False)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_truncated_binary_file_is_reported(tmp_path):
    write_cifar10(tmp_path, n_train=100, n_test=20)
    path = tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataNotFound, match="data_batch_3.bin is corrupt or truncated") as err:
        load_cifar10(tmp_path, download=False)
    assert "\n" not in str(err.value)


def test_corrupt_pickle_and_archive_are_reported(tmp_path):
    write_cifar10(tmp_path / "p", n_train=100, n_test=20, fmt="py")
    (tmp_path / "p" / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataNotFound, match="test_batch is corrupt"):
        load_cifar10(tmp_path / "p", download=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "cifar-10-binary.tar.gz").write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(DataNotFound, match="cifar-10-binary.tar.gz is corrupt or truncated"):
        load_cifar10(tmp_path / "a", download=False)


@pytest.mark.parametrize("fmt", ["bin", "py"])
@pytest.mark.parametrize("damage", ["truncated", "byte_flipped"])
def test_damaged_real_archive_is_reported_and_not_half_extracted(tmp_path, fmt, damage):
    write_cifar10(tmp_path, n_train=300, n_test=50, fmt=fmt, archive=True, seed=2)
    archive = next(tmp_path.glob("*.tar.gz"))
    raw = bytearray(archive.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) * 2 // 3]
    else:
        raw[len(raw) // 2] ^= 0xFF  # the gzip CRC catches what tarfile alone would miss
    archive.write_bytes(bytes(raw))
    with pytest.raises(DataNotFound, match=f"{archive.name} is corrupt or truncated") as err:
        load_cifar10(tmp_path, download=False)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]  # nothing half-written


def test_archive_without_the_cifar_files_is_reported(tmp_path):
    import tarfile

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "readme.txt").write_text("not CIFAR-10")
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "other", arcname="cifar-10-batches-py")
    with pytest.raises(DataNotFound, match="does not hold the CIFAR-10 files"):
        load_cifar10(tmp_path, download=False)
    assert not (tmp_path / "cifar-10-batches-py").exists()


def test_augmentation_shifts_and_mirrors():
    x = np.random.default_rng(1).integers(1, 256, (200, 3, 32, 32)).astype(np.uint8)
    out = augment(x, np.random.default_rng(0), pad=4, flip=False)
    shifted = sum(not np.array_equal(out[i], x[i]) for i in range(200))
    assert shifted > 150  # 80 of 81 offsets move the image
    mirrored = augment(x, np.random.default_rng(0), pad=0, flip=True)
    flips = sum(np.array_equal(mirrored[i], x[i, :, :, ::-1]) for i in range(200))
    assert 70 < flips < 130 and flips + sum(np.array_equal(mirrored[i], x[i]) for i in
                                            range(200)) == 200


def test_wrong_pickle_content_is_reported(tmp_path):
    write_cifar10(tmp_path, n_train=100, n_test=20, fmt="py")
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": np.zeros((3, 10), np.uint8), b"labels": [0, 1, 2]}, handle)
    with pytest.raises(DataNotFound, match="data_batch_1 is corrupt or not a CIFAR-10"):
        load_cifar10(tmp_path, download=False)


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SAP_DATA_DIR", raising=False)
    with pytest.raises(DataNotFound) as err:
        load_cifar10(tmp_path / "nowhere", download=False)
    msg = str(err.value)
    assert str(tmp_path / "nowhere") in msg
    assert str(tmp_path / "home" / "datasets" / "cifar10") in msg
    assert "cifar-10-binary.tar.gz" in msg and "\n" not in msg


def test_driver_without_data_fails_fast_in_one_line(tmp_path):
    env = dict(os.environ, SAP_DATA_DIR=str(tmp_path), MXNET_HOME=str(tmp_path),
               SAP_MX_OFFLINE="1")  # as on a machine without network, even where there is one
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "experiments.image_train", "--profile", "paper",
                           "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert time.time() - start < 60
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: CIFAR-10 not found")
    assert "Traceback" not in done.stderr


def test_augmentation():
    rng = np.random.default_rng(0)
    x = np.random.default_rng(1).integers(1, 256, (64, 3, 32, 32)).astype(np.uint8)
    out = augment(x, rng)
    assert out.shape == x.shape and out.dtype == np.uint8
    # every output is a shifted (and possibly mirrored) window of the zero-padded input
    for i in range(8):
        padded = np.pad(x[i], ((0, 0), (4, 4), (4, 4)))
        windows = [padded[:, a:a + 32, b:b + 32] for a in range(9) for b in range(9)]
        windows += [w[:, :, ::-1] for w in windows]
        assert any(np.array_equal(out[i], w) for w in windows)
    assert (out == 0).any()  # some padding shows
    assert augment(x, np.random.default_rng(0), crop=28).shape == (64, 3, 28, 28)
    assert center_crop(x, 28).shape == (64, 3, 28, 28)
