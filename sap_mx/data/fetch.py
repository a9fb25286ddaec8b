"""``python -m sap_mx.data.fetch fashion-mnist``: make Fashion-MNIST loadable if it can be done
here, without failing when it cannot (``make install`` runs it).

In order: already found (``sap_mx.data.find_fashion_mnist``'s places) -> nothing to do; Debian's
``dataset-fashion-mnist`` package where ``apt-get`` is usable (as root) -> install it
(``/usr/share/datasets/fashion-mnist``); network -> Gluon's download to
``$MXNET_HOME/datasets/fashion-mnist``; otherwise one line saying how to get it. The exit status
is 0 in every case: a machine without the data still installs and tests.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .fashion_mnist import DEBIAN_DIR, _download_with_gluon, find_fashion_mnist
from ._common import online

__all__ = ["fetch_fashion_mnist", "main"]


def _apt_install() -> bool:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"],
                ["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode == 0 and cmd[1] == "install":
            return True
    return False


def fetch_fashion_mnist() -> str:
    """Make Fashion-MNIST available if possible; returns one line saying what happened."""
    try:
        files = find_fashion_mnist()
        return f"Fashion-MNIST: found in {files['test_labels'].parent}"
    except FileNotFoundError:
        pass
    try:
        if _apt_install():
            find_fashion_mnist()
            return f"Fashion-MNIST: installed Debian's dataset-fashion-mnist into {DEBIAN_DIR}"
    except (OSError, subprocess.SubprocessError, FileNotFoundError):
        pass
    if online():
        try:
            _download_with_gluon()
            return "Fashion-MNIST: downloaded with Gluon to $MXNET_HOME/datasets/fashion-mnist"
        except Exception as err:  # noqa: BLE001 - a failed download must not fail the install
            return (f"Fashion-MNIST: download failed ({type(err).__name__}); see "
                    "docs/fashion-mnist.md")
    return ("Fashion-MNIST: not installed (no apt-get as root, no network): `sudo apt-get install "
            "dataset-fashion-mnist`, or copy its four IDX files into a folder and set DATA_DIR")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["fashion-mnist"]):
        print("usage: python -m sap_mx.data.fetch [fashion-mnist]", file=sys.stderr)
        return 2
    print(fetch_fashion_mnist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
