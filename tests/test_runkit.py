"""The shared run layer (runkit) and the one atomic writer (sap_mx.io): file modes, run folders,
keyed rows, the one error path."""
from __future__ import annotations

import json
import os
import stat

import pytest

from runkit import KeyedRows, RunFolder, UsageError, cli_main
from sap_mx import checkpoint
from sap_mx.errors import UserError
from sap_mx.io import atomic_write, make_temp_dir, write_csv, write_text


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------------------------------------
# the atomic writer
# ---------------------------------------------------------------------------------------------
def test_written_files_get_the_modes_open_would_give(tmp_path, umask022):
    paths = [write_csv(tmp_path / "a.csv", [{"x": 1}]), write_text(tmp_path / "b.md", "hi"),
             atomic_write(tmp_path / "c.bin", b"\0\1"),
             atomic_write(tmp_path / "d.params", lambda tmp: open(tmp, "wb").close())]
    assert [_mode(p) for p in paths] == [0o644] * 4
    assert _mode(make_temp_dir(tmp_path, ".t.")) == 0o755
    old = os.umask(0o077)  # the modes follow the umask, as open() does
    try:
        assert _mode(write_text(tmp_path / "e.md", "x")) == 0o600
    finally:
        os.umask(old)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = write_text(tmp_path / "r.md", "old")

    def broken(tmp):
        with open(tmp, "w") as handle:
            handle.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]


def test_csv_bytes_are_those_of_a_plain_csv_writer(tmp_path):
    write_csv(tmp_path / "a.csv", [{"a": 1, "b": "x,y"}, {"a": 2, "b": "z"}])
    assert (tmp_path / "a.csv").read_bytes() == b'a,b\r\n1,"x,y"\r\n2,z\r\n'


def test_checkpoint_folders_get_the_mode_mkdir_would_give(tmp_path, umask022):
    checkpoint.save(tmp_path / "checkpoint", {"w": lambda p: open(p, "w").close()}, {"e": 1})
    assert _mode(tmp_path / "checkpoint") == 0o755
    assert _mode(tmp_path / "checkpoint" / "manifest.json") == 0o644


# ---------------------------------------------------------------------------------------------
# run folders
# ---------------------------------------------------------------------------------------------
def _save(run, epoch):
    run.save({"w.txt": lambda p: open(p, "w").write(str(epoch))}, {"epoch": epoch})


def test_resume_restores_and_refuses_another_configuration(tmp_path):
    run = RunFolder(tmp_path / "r", config={"lr": 0.1})
    assert run.resume(lambda meta, files: pytest.fail("nothing to resume")) is None
    _save(run, 3)
    seen = {}
    meta = RunFolder(tmp_path / "r", config={"lr": 0.1}).resume(
        lambda meta, files: seen.update(epoch=meta["epoch"], text=open(files["w.txt"]).read()))
    assert meta["epoch"] == 3 and seen == {"epoch": 3, "text": "3"}
    with pytest.raises(checkpoint.CheckpointError, match="different configuration; pass --fresh"):
        RunFolder(tmp_path / "r", config={"lr": 0.2}).resume(lambda m, f: None)
    # a configuration compared only in part (Atari: evaluation settings may change)
    RunFolder(tmp_path / "r", config={"lr": 0.1, "eval": 5},
              compare=lambda c: {k: v for k, v in c.items() if k != "eval"}).resume(
        lambda m, f: None)


@pytest.mark.parametrize("damage, message", [
    (lambda ck: (ck / "w.txt").write_text("altered"), "does not match its recorded SHA-256"),
    (lambda ck: (ck / "w.txt").unlink(), "is incomplete"),
])
def test_an_altered_checkpoint_is_one_line_naming_fresh(tmp_path, damage, message):
    run = RunFolder(tmp_path / "r", config={})
    _save(run, 1)
    damage(run.checkpoint)
    with pytest.raises(checkpoint.CheckpointError, match=message) as err:
        run.resume(lambda m, f: None)
    assert "pass --fresh" in str(err.value) and "\n" not in str(err.value)


def test_a_checkpoint_that_cannot_be_restored_names_fresh(tmp_path):
    run = RunFolder(tmp_path / "r", config={})
    _save(run, 1)

    def restore(meta, files):
        raise AssertionError("shape mismatch")  # what MXNet raises for other weights

    with pytest.raises(checkpoint.CheckpointError, match=r"cannot be loaded \(AssertionError\); "
                                                         "pass --fresh"):
        run.resume(restore)
    with pytest.raises(checkpoint.CheckpointError, match="lacks 'rng'"):
        run.resume(lambda meta, files: meta["rng"])


def test_lock_discard_and_finished(tmp_path):
    run = RunFolder(tmp_path / "r", config={}, outputs=("log.csv",)).lock()
    with pytest.raises(UsageError, match="in use by another training process"):
        RunFolder(tmp_path / "r", config={}).lock()
    _save(run, 1)
    (run.path / "log.csv").write_text("x")
    (run.path / "mine.txt").write_text("keep")
    run.finish({"run": "r", "epochs": 2}, lambda p: open(p, "w").write("weights"))
    assert run.finished(lambda r: r["epochs"] == 2)["run"] == "r"
    assert run.finished(lambda r: r["epochs"] == 3) is None
    run.discard()
    assert sorted(p.name for p in run.path.iterdir()) == [".lock", "mine.txt"]
    assert run.finished(lambda r: True) is None
    run.unlock()
    RunFolder(tmp_path / "r", config={}).lock().unlock()
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is a file; name a folder"):
        RunFolder(tmp_path / "file", config={}).lock()


# ---------------------------------------------------------------------------------------------
# keyed rows, the error path
# ---------------------------------------------------------------------------------------------
def test_keyed_rows_skip_what_is_there_and_refuse_other_columns(tmp_path):
    rows = KeyedRows(tmp_path / "t.csv", ("model", "eps"))
    rows.add([{"model": "dense", "eps": 1, "accuracy": 0.5}])
    rows.add([{"model": "dense", "eps": 1, "accuracy": 0.6}, {"model": "sap", "eps": 1}])
    again = KeyedRows(tmp_path / "t.csv", ("model", "eps"))
    assert again.has({"model": "dense", "eps": "1"}) and len(again.rows) == 2
    assert again.rows[("dense", "1")]["accuracy"] == "0.6"
    with pytest.raises(UsageError, match="lacks the columns seed"):
        KeyedRows(tmp_path / "t.csv", ("model", "seed"))


def test_every_user_error_is_one_line_and_exit_two(capsys):
    from rl.envs import GameNotFound
    from sap_mx.data import DataNotFound
    from sap_mx.hardware import HardwareError
    from sap_mx.models import WeightsUnavailable

    for kind in (UsageError, DataNotFound, HardwareError, WeightsUnavailable, GameNotFound,
                 checkpoint.CheckpointError):
        assert issubclass(kind, UserError)

        def run(args, kind=kind):
            raise kind("what went wrong; how to fix it")

        assert cli_main(run, lambda argv: argv, []) == 2
        assert capsys.readouterr().err == "error: what went wrong; how to fix it\n"

    def bug(args):
        raise KeyError("a bug keeps its traceback")

    with pytest.raises(KeyError):
        cli_main(bug, lambda argv: argv, [])


def test_cli_main_lists_what_it_wrote(tmp_path, capsys):
    path = write_text(tmp_path / "x.md", "x")
    assert cli_main(lambda args: [path], lambda argv: argv, []) == 0
    assert capsys.readouterr().out == f"wrote {path}\n"


def test_a_finished_record_is_json(tmp_path):
    run = RunFolder(tmp_path / "r", config={})
    run.finish({"a": 1}, None)
    assert json.loads((tmp_path / "r" / "final.json").read_text()) == {"a": 1}


def test_git_sha_is_dirty_for_code_changes_not_for_results(tmp_path):
    import subprocess

    from sap_mx.results import git_sha

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "rows.csv").write_text("a\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    sha = git_sha(tmp_path)
    assert len(sha) == 12 and "+" not in sha
    (tmp_path / "results" / "rows.csv").write_text("a\nb\n")      # a run writing its rows
    (tmp_path / "new.py").write_text("untracked\n")
    assert git_sha(tmp_path) == sha
    assert git_sha(tmp_path / "results") == sha                  # from a subfolder, the same
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_sha(tmp_path) == sha + "+dirty"


def test_a_long_caption_stays_inside_a_narrow_figure(tmp_path):
    """save_figure wraps the caption: every line of a caption longer than the figure is wide
    lies inside the figure (matplotlib would let one long suptitle run off both edges)."""
    from runkit.figures import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(5.5, 4))
    ax.plot([0, 1], [0, 1])
    caption = ("Fashion-MNIST iterative: profile cpu, fashion-mnist, 1000 test images, seed 0, "
               "prediction passes 10")
    save_figure(fig, tmp_path / "f.png", caption, fontsize=8)
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    assert "\n" in fig._suptitle.get_text() and fig._suptitle.get_text().split() == caption.split()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width


def test_rel_keeps_a_symlinked_results_folder_inside_the_repository(tmp_path, monkeypatch):
    """A worktree whose results/ links to another checkout's: rows still name results/...,
    not the link's target, so both checkouts key their rows alike."""
    from runkit import paths

    repo, elsewhere = tmp_path / "repo", tmp_path / "main" / "results"
    (elsewhere / "ds").mkdir(parents=True)
    repo.mkdir()
    (repo / "results").symlink_to(elsewhere)
    monkeypatch.setattr(paths, "ROOT", repo)
    assert paths.rel(repo / "results" / "ds" / "run") == "results/ds/run"
    assert paths.rel(tmp_path / "outside") == str((tmp_path / "outside").resolve())


def test_replace_block_rewrites_only_between_its_markers(tmp_path):
    from runkit import UsageError
    from runkit.markdown import replace_block

    doc = tmp_path / "doc.md"
    doc.write_text("head\n<!-- b -->\nold\n<!-- e -->\ntail\n")
    assert replace_block(doc, "<!-- b -->", "<!-- e -->", ["new"], check=True) is False
    assert "old" in doc.read_text()                                  # check writes nothing
    assert replace_block(doc, "<!-- b -->", "<!-- e -->", ["new"]) is False
    assert doc.read_text() == "head\n<!-- b -->\nnew\n<!-- e -->\ntail\n"
    assert replace_block(doc, "<!-- b -->", "<!-- e -->", ["new"]) is True
    with pytest.raises(UsageError, match="^the file has no '<!-- x -->' ... '<!-- y -->' block"):
        replace_block(doc, "<!-- x -->", "<!-- y -->", ["z"])
    replace_block(doc, "<!-- x -->", "<!-- y -->", ["z"], append=True)
    assert doc.read_text().endswith("tail\n\n<!-- x -->\nz\n<!-- y -->\n")
