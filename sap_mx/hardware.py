"""Devices: turn a ``--gpus`` string into MXNet contexts, refusing GPUs MXNet 1.9.1 cannot run.

The GPU wheels (``mxnet-cu112==1.9.1``) carry machine code for sm_50, sm_60, sm_70, sm_80 and
sm_86 and no PTX. Machine code runs on GPUs of the same major version and an equal or higher
minor one, so they run on Maxwell through Ada (sm_5x-sm_8x, sm_89 included) and cannot run on
Hopper (sm_90: H100, H200) or newer: they would fail at the first kernel launch. ``contexts``
checks the compute capability first and says so.
They also bundle no CUDA libraries: the ``gpu`` extra installs NVIDIA's CUDA 11 runtime wheels,
which ``preload_cuda_runtime`` loads before MXNet (nothing happens on the CPU build).
"""
from __future__ import annotations

import ctypes
import glob
import os
import sys

from .errors import UserError

__all__ = ["SUPPORTED_SM", "HardwareError", "parse_gpus", "contexts", "check_capability",
           "compute_capability", "preload_cuda_runtime"]

SUPPORTED_SM = ((5, 0), (8, 9))  # sm_50..sm_86 cubins, binary-compatible up to sm_89


class HardwareError(UserError):
    """The requested device cannot be used; the message says why and what to do."""


def parse_gpus(gpus) -> list[int]:
    """'' / None / [] -> []; '0,1' or [0, 1] -> [0, 1]."""
    if gpus is None or gpus == "" or gpus == []:
        return []
    items = gpus.split(",") if isinstance(gpus, str) else list(gpus)
    ids = []
    for item in items:
        try:
            value = int(str(item).strip())
        except ValueError:
            raise HardwareError("--gpus must be comma-separated GPU indices like 0,1; "
                                f"got {gpus!r}") from None
        if value < 0:
            raise HardwareError("--gpus must be comma-separated GPU indices like 0,1; "
                                f"got {gpus!r}")
        ids.append(value)
    return ids


def check_capability(index: int, capability: tuple[int, int], name: str = "") -> None:
    """Raise HardwareError unless ``capability`` is within SUPPORTED_SM."""
    (lo, hi), sm = SUPPORTED_SM, f"sm_{capability[0]}{capability[1]}"
    if not lo <= tuple(capability) <= hi:
        label = f"GPU {index}" + (f" ({name})" if name else "")
        raise HardwareError(
            f"{label} is {sm}; mxnet-cu112 1.9.1 has kernels for sm_50-sm_86 (runs on sm_5x-sm_8x) "
            "and no PTX, so it cannot run there (Hopper H100/H200 and newer are unsupported): "
            "use the CPU (--gpus '') or a Maxwell-to-Ada GPU")


def _cudart():
    for lib in ("libcudart.so.11.0", "libcudart.so"):
        try:
            return ctypes.CDLL(lib)
        except OSError:
            continue
    raise HardwareError("libcudart.so.11.0 not found: install the gpu extra (make install-gpu)")


def compute_capability(index: int) -> tuple[int, int]:
    """(major, minor) of GPU ``index``, from the CUDA runtime."""
    rt = _cudart()
    major, minor = ctypes.c_int(), ctypes.c_int()
    # cudaDevAttrComputeCapabilityMajor = 75, ...Minor = 76
    if rt.cudaDeviceGetAttribute(ctypes.byref(major), 75, index) != 0 or \
            rt.cudaDeviceGetAttribute(ctypes.byref(minor), 76, index) != 0:
        raise HardwareError(f"cannot query GPU {index} (is it visible? CUDA_VISIBLE_DEVICES)")
    return major.value, minor.value


def contexts(gpus=None, *, capability=compute_capability) -> list:
    """MXNet contexts for ``gpus`` (see parse_gpus); the CPU when none are asked for."""
    import mxnet as mx

    ids = parse_gpus(gpus)
    if not ids:
        return [mx.cpu()]
    if not mx.runtime.Features().is_enabled("CUDA"):
        raise HardwareError("this mxnet build has no CUDA: install the gpu extra (make "
                            "install-gpu) or run on the CPU (--gpus '')")
    available = mx.context.num_gpus()
    for i in ids:
        if i >= available:
            raise HardwareError(f"GPU {i} requested but {available} visible")
        check_capability(i, capability(i))
    return [mx.gpu(i) for i in ids]


def preload_cuda_runtime() -> list[str]:
    """Load the CUDA 11 libraries of NVIDIA's pip wheels (site-packages/nvidia/*/lib) so that
    mxnet-cu112 finds them; returns what was loaded. Call before ``import mxnet``."""
    libs = sorted({lib for base in sys.path
                   for lib in glob.glob(os.path.join(base, "nvidia", "*", "lib", "lib*.so*"))})
    loaded: list[str] = []
    for _ in range(3):  # a library whose dependency comes later in the list loads next round
        for lib in libs:
            if lib in loaded:
                continue
            try:
                ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
                loaded.append(lib)
            except OSError:
                pass
    return loaded
