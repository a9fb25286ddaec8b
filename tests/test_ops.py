"""The native library build and backend selection."""
import warnings

import pytest

from sap_mx import ops
from sap_mx.ops import build


def test_library_is_cached_under_a_content_hash():
    path = build.build_library()
    assert path.is_file()
    assert path.name.startswith(build.LIB_STEM + "-") and path.suffix == ".so"
    assert build.build_library() == path  # no rebuild


def test_build_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("SAP_MX_BUILD_DIR", str(tmp_path))
    assert build.library_path().parent == tmp_path


def test_auto_falls_back_to_python_with_a_warning(monkeypatch):
    previous = ops.backend()
    monkeypatch.setattr(ops, "_native_loaded", False)

    def broken(*args, **kwargs):
        raise build.BuildError("no C++ compiler found")

    monkeypatch.setattr(build, "build_library", broken)
    try:
        with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler found.*Python sampler"):
            assert ops.set_backend("auto") == "python"
        with pytest.raises(build.BuildError):
            ops.set_backend("native")
    finally:
        monkeypatch.undo()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ops.set_backend(previous)


def test_cli_prints_the_path(capsys):
    assert build.main([]) == 0
    assert capsys.readouterr().out.strip().endswith(".so")
