"""What the dataset modules share: the error type, where datasets live, the network probe."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from ..errors import UserError

__all__ = ["DataNotFound", "gluon_root", "candidates", "online"]


class DataNotFound(UserError):
    """The data is missing or unreadable; the message says where it looked and what to do."""


def gluon_root(name: str) -> Path:
    """``$MXNET_HOME/datasets/<name>`` (``~/.mxnet`` when unset): where Gluon downloads it."""
    home = os.environ.get("MXNET_HOME", os.path.join("~", ".mxnet"))
    return Path(home).expanduser() / "datasets" / name


def candidates(data_dir, name: str) -> list[Path]:
    """Places searched, in order: ``data_dir`` (else ``$SAP_DATA_DIR``), then ``gluon_root``."""
    first = data_dir or os.environ.get("SAP_DATA_DIR")
    places = [Path(first).expanduser()] if first else []
    return places + [gluon_root(name)]


def online(host: str = "apache-mxnet.s3-accelerate.dualstack.amazonaws.com",
           timeout: float = 3.0) -> bool:
    """Whether MXNet's dataset host is reachable; ``SAP_MX_OFFLINE=1`` says no without trying."""
    if os.environ.get("SAP_MX_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False
