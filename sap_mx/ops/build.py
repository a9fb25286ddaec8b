"""Compile the native operator library (``sap_ops.cc``) against the installed MXNet.

The library is built once per (source, MXNet version, compiler) and cached under a name that
carries a hash of all three, so a stale build is never loaded. ``make install`` builds it;
otherwise the first use of a native operator builds it (about 10 s). Where it goes:

1. ``$SAP_MX_BUILD_DIR`` if set;
2. ``sap_mx/ops/_build/`` next to this file (an editable install, the usual case);
3. ``~/.cache/sap_mx/`` when the package directory is not writable.

Run ``python -m sap_mx.ops.build`` to build (or rebuild with ``--force``) and print the path.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["BuildError", "library_path", "build_library"]

SOURCE = Path(__file__).with_name("sap_ops.cc")
LIB_STEM = "libsap_mx_ops"


class BuildError(RuntimeError):
    """The native library could not be compiled."""


def _mxnet_dirs() -> tuple[Path, Path]:
    import mxnet

    root = Path(mxnet.__file__).resolve().parent
    include, lib_api = root / "include", root / "src" / "lib_api.cc"
    if not (include / "mxnet" / "lib_api.h").is_file() or not lib_api.is_file():
        raise BuildError(f"this mxnet install ({root}) lacks include/mxnet/lib_api.h or "
                         "src/lib_api.cc")
    return include, lib_api


def _compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise BuildError(f"no C++ compiler found (looked for {cxx!r}; set CXX)")
    return cxx


def _compiler_version(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _build_dir() -> Path:
    env = os.environ.get("SAP_MX_BUILD_DIR")
    if env:
        return Path(env).expanduser()
    local = Path(__file__).resolve().parent / "_build"
    try:
        local.mkdir(exist_ok=True)
        probe = local / ".write-probe"
        probe.touch()
        probe.unlink()
        return local
    except OSError:
        return Path.home() / ".cache" / "sap_mx"


def _key(cxx: str) -> str:
    import mxnet

    _, lib_api = _mxnet_dirs()
    h = hashlib.sha256()
    for part in (SOURCE.read_bytes(), Path(__file__).read_bytes(), lib_api.read_bytes(),
                 mxnet.__version__.encode(),
                 _compiler_version(cxx).encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def library_path() -> Path:
    """Where the library for the current source/MXNet/compiler lives (built or not)."""
    cxx = _compiler()
    return _build_dir() / f"{LIB_STEM}-{_key(cxx)}.so"


def _compile(cxx: str, out: Path, use_mvec: bool) -> subprocess.CompletedProcess:
    include, lib_api = _mxnet_dirs()
    cmd = [cxx, "-std=c++17", "-O3", "-ffp-contract=off", "-shared", "-fPIC", "-fopenmp",
           f"-I{include}", str(SOURCE), str(lib_api), "-o", str(out)]
    if use_mvec:
        cmd[1:1] = ["-DSAPMX_USE_MVEC"]
        cmd.append("-lmvec")
    return subprocess.run(cmd, capture_output=True, text=True)


def build_library(force: bool = False) -> Path:
    """Build the library if needed and return its path (atomic: temp file, then rename)."""
    cxx = _compiler()
    path = library_path()
    if path.is_file() and not force:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others find it built
        if path.is_file() and not force:
            return path
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".so", dir=path.parent)
        os.close(fd)
        try:
            # first with glibc's vector math library (AVX2 scale factors), then without it
            result = _compile(cxx, Path(tmp), use_mvec=True)
            if result.returncode != 0:
                result = _compile(cxx, Path(tmp), use_mvec=False)
            if result.returncode != 0:
                raise BuildError(f"{cxx} failed to build {SOURCE.name}:\n{result.stderr[-4000:]}")
            os.chmod(tmp, 0o755)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        path = build_library(force="--force" in argv)
    except BuildError as err:
        print(f"sap_mx: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
