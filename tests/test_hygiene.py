"""What the committed results and docs must not hold: machine paths."""
import re
import subprocess

import pytest

from runkit.paths import ROOT

# an absolute path that leads into a results folder: /anything/.../results/...
ABSOLUTE = re.compile(r"(?<![\w.~])/(?:[\w.-]+/)+results/")
TEXT = (".csv", ".json", ".md", ".txt")


def _tracked(*folders):
    try:
        out = subprocess.run(["git", "ls-files", *folders], cwd=ROOT, capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    return [ROOT / f for f in out.splitlines() if f.endswith(TEXT)]


def test_no_machine_paths_in_committed_results_or_docs():
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in _tracked("results", "docs")
             if p.is_file() for m in [ABSOLUTE.search(p.read_text(errors="replace"))] if m]
    assert not found, "machine paths (use runkit.rel): " + "; ".join(found)


def test_the_pattern_sees_a_machine_path_and_not_a_relative_one():
    assert ABSOLUTE.search('"run_dir": "/work/main/results/fashion-mnist/models/dense"')
    assert not ABSOLUTE.search('"run_dir": "results/fashion-mnist/models/dense"')
    assert not ABSOLUTE.search("see docs/fashion-mnist.md and results/atari/TABLE.md")
