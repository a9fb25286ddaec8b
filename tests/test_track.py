"""The real-data track (experiments.track): steps in order, timed, resumable, stoppable.

A fake ``make`` on PATH stands in for the experiments: it logs its arguments and does what the
test's FAKE_MAKE variable says for one target (fail, or stop the track with SIGTERM)."""
import csv
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from experiments import track

FAKE = """#!/bin/bash
echo "$*" >> "$FAKE_LOG"
if [ -n "$FAKE_SHA" ]; then echo committed-during-the-step > "$FAKE_SHA"; fi
if [ -n "$FAKE_ROW" ]; then echo "$FAKE_ROW" >> "$FAKE_CSV"; fi
if [ "$1" = "$FAKE_FAIL" ]; then exit 3; fi
if [ "$1" = "$FAKE_STOP" ]; then
    sleep 60 & echo $! > "$FAKE_PID"
    kill -$FAKE_SIGNAL $PPID
    wait
fi
exit 0
"""


class _Dataset:
    def __init__(self, folder):
        self.folder = folder

    def results_dir(self, profile):
        return self.folder


@pytest.fixture()
def fake(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    make = bin_dir / "make"
    make.write_text(FAKE)
    make.chmod(make.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.txt"))
    monkeypatch.setenv("FAKE_PID", str(tmp_path / "sleep.pid"))
    for name in ("FAKE_FAIL", "FAKE_STOP"):
        monkeypatch.setenv(name, "none")
    monkeypatch.setenv("FAKE_SIGNAL", "TERM")
    monkeypatch.setattr(track.datasets, "get_dataset", lambda name: _Dataset(tmp_path))
    return tmp_path


def _calls(folder):
    path = folder / "calls.txt"
    return path.read_text().splitlines() if path.is_file() else []


def _rows(folder):
    with open(folder / "track.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_step_runs_in_order_and_a_rerun_counts_as_resumed(fake):
    assert track.main(["--seed", "3"]) == 0
    targets = [t for _, t in track.STEPS]
    assert _calls(fake) == [f"{t} DATASET=fashion-mnist PROFILE=cpu SEED=3" for t in targets]
    rows = _rows(fake)
    assert [r["step"] for r in rows] == [s for s, _ in track.STEPS]
    assert {r["exit"] for r in rows} == {"0"} and {r["resumed"] for r in rows} == {"0"}
    assert track.main(["--only", "adaptive"]) == 0
    rows = _rows(fake)
    assert len(rows) == len(track.STEPS) + 1
    assert rows[-1]["step"] == "adaptive" and rows[-1]["resumed"] == "1"


def test_a_step_is_logged_with_the_commit_it_started_on(fake, monkeypatch):
    """A commit made while a step runs (results committed as they land) is not the code the
    step ran: the row keeps the commit of its start."""
    sha = fake / "sha.txt"
    sha.write_text("started-here\n")
    monkeypatch.setenv("FAKE_SHA", str(sha))
    monkeypatch.setattr(track, "git_sha", lambda: sha.read_text().strip())
    assert track.main(["--only", "fig6-mc"]) == 0
    assert [r["git_sha"] for r in _rows(fake)] == ["started-here"]


def test_a_step_logged_by_another_track_meanwhile_is_kept(fake, monkeypatch):
    """Two tracks (one step each, --only) may run one after the other's start: each reads the
    log again when its step ends, so neither drops the other's row."""
    track.main(["--only", "train-adv"])
    other = dict(_rows(fake)[0], step="sdr-table1", target="mnist-sdr")
    monkeypatch.setenv("FAKE_CSV", str(fake / "track.csv"))
    monkeypatch.setenv("FAKE_ROW", ",".join(other[k] for k in track.COLUMNS))
    assert track.main(["--only", "fig6-mc"]) == 0
    assert [r["step"] for r in _rows(fake)] == ["train-adv", "sdr-table1", "fig6-mc"]


def test_a_failed_step_stops_the_track_and_names_where_to_restart(fake, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_FAIL", "cifar-adv")
    assert track.main(["--start", "train-adv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: step fig3-4-adv") and "--start fig3-4-adv" in err
    assert [c.split()[0] for c in _calls(fake)] == ["cifar-adv-train", "cifar-adv"]
    assert [(r["step"], r["exit"]) for r in _rows(fake)] == [("train-adv", "0"),
                                                             ("fig3-4-adv", "3")]


@pytest.mark.parametrize("argv, message", [
    (["--only", "fig9"], "unknown step 'fig9'"),
    (["--start", "nope"], "unknown step 'nope'"),
    (["--start", "adaptive", "--only", "report"], "give --start or --only, not both")])
def test_bad_steps_are_one_line_errors(fake, argv, message, capsys):
    assert track.main(argv) == 2
    assert message in capsys.readouterr().err
    assert _calls(fake) == []


@pytest.mark.parametrize("name, number", [("TERM", 15), ("INT", 2), ("HUP", 1)])
def test_a_signal_stops_the_whole_step_and_still_logs_its_time(fake, monkeypatch, capsys,
                                                                name, number):
    """The fake step starts a grandchild, then signals the track (its parent): the track must
    stop make *and* the grandchild (its own session: it gets no terminal signal itself), log
    the step, run no further step, and stop with one line.

    The signal's default disposition is restored first: a test run started in the background
    (``&`` ignores SIGINT) or under ``nohup`` (ignores SIGHUP) inherits an ignored signal,
    which the track rightly leaves ignored."""
    sig = getattr(signal, f"SIG{name}")
    old = signal.signal(sig, signal.default_int_handler if name == "INT" else signal.SIG_DFL)
    try:
        monkeypatch.setenv("FAKE_STOP", "cifar-adaptive")
        monkeypatch.setenv("FAKE_SIGNAL", name)
        t0 = time.time()
        assert track.main(["--start", "fig3-4-adv"]) == 2
    finally:
        signal.signal(sig, old)
    assert time.time() - t0 < 30                     # did not wait for the 60 s sleep
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"stopped by signal {number} during step adaptive" in err and "rerun to resume" in err
    rows = _rows(fake)
    assert [(r["step"], r["exit"]) for r in rows] == [("fig3-4-adv", "0"), ("adaptive", "-15")]
    assert float(rows[-1]["seconds"]) >= 0
    pid = int((fake / "sleep.pid").read_text())
    for _ in range(50):                              # the grandchild is gone (or a zombie)
        status = Path(f"/proc/{pid}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the step's grandchild {pid} survived the SIGTERM")
    assert [c.split()[0] for c in _calls(fake)] == ["cifar-adv", "cifar-adaptive"]
