"""runkit.manifest: the SHA256SUMS of committed weights, written on finish and checked on load."""
import hashlib
import subprocess
import sys

import pytest

from runkit import manifest
from runkit.paths import ROOT
from sap_mx.errors import UserError


def _run(folder, name, content: bytes):
    path = folder / name / "final.params"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


def test_record_writes_sha256sum_lines_and_verify_accepts_the_file(tmp_path):
    a = _run(tmp_path, "dense-cpu-seed0", b"weights a")
    b = _run(tmp_path, "adv-cpu-seed0", b"weights b")
    assert manifest.record(a) == hashlib.sha256(b"weights a").hexdigest()
    manifest.record(b)
    lines = (tmp_path / "SHA256SUMS").read_text().splitlines()
    # sha256sum's format, sorted by path: `sha256sum -c` reads it
    assert lines == [f"{hashlib.sha256(b'weights b').hexdigest()}  adv-cpu-seed0/final.params",
                     f"{hashlib.sha256(b'weights a').hexdigest()}  dense-cpu-seed0/final.params"]
    assert manifest.verify(a) == hashlib.sha256(b"weights a").hexdigest()
    # recording again replaces the line, never duplicates it
    a.write_bytes(b"retrained")
    manifest.record(a)
    assert len((tmp_path / "SHA256SUMS").read_text().splitlines()) == 2
    assert manifest.verify(a) == hashlib.sha256(b"retrained").hexdigest()


def test_sha256sum_checks_the_manifest(tmp_path):
    manifest.record(_run(tmp_path, "dense-cpu-seed0", b"w"))
    done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_corrupt_file_is_a_one_line_error_naming_the_fix(tmp_path):
    path = _run(tmp_path, "dense-cpu-seed0", b"weights")
    manifest.record(path)
    path.write_bytes(b"weightz")
    with pytest.raises(UserError) as err:
        manifest.verify(path, fix="restore it or retrain it with --fresh")
    message = str(err.value)
    assert "\n" not in message and "SHA-256" in message and "--fresh" in message
    assert str(path) in message


def test_a_file_without_a_line_is_not_checked_on_load_but_the_folder_check_names_it(tmp_path):
    path = _run(tmp_path, "dense-cpu-seed0", b"weights")
    assert manifest.verify(path) == hashlib.sha256(b"weights").hexdigest()
    manifest.record(_run(tmp_path, "adv-cpu-seed0", b"adv"))
    assert manifest.check_folder(tmp_path) == ["dense-cpu-seed0/final.params: not listed"]


def test_binary_mode_lines_of_sha256sum_are_read(tmp_path):
    path = _run(tmp_path, "dense-cpu-seed0", b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest} *dense-cpu-seed0/final.params\n")
    assert manifest.verify(path) == digest and manifest.check_folder(tmp_path) == []


def test_a_malformed_manifest_is_a_one_line_error(tmp_path):
    path = _run(tmp_path, "dense-cpu-seed0", b"weights")
    (tmp_path / "SHA256SUMS").write_text("not a line\n")
    with pytest.raises(UserError, match="sha256sum line"):
        manifest.verify(path)


def test_command_line_writes_and_checks_a_folder(tmp_path):
    _run(tmp_path, "dense-cpu-seed0", b"a")
    path = _run(tmp_path, "adv-cpu-seed0", b"b")
    cmd = [sys.executable, "-m", "experiments.weights", "--folder", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "2 weights listed" in done.stdout, done.stderr
    done = subprocess.run(cmd + ["--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "2 OK, 0 bad" in done.stdout
    path.write_bytes(b"c")
    done = subprocess.run(cmd + ["--check"], cwd=ROOT, capture_output=True, text=True)
    assert "adv-cpu-seed0/final.params: SHA-256 differs" in done.stdout
    assert done.returncode == 2 and done.stderr.startswith("error: 1 weights do not match")
    done = subprocess.run(cmd[:-1] + [str(tmp_path / "absent")], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: no models folder")
