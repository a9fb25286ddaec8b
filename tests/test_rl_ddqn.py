"""rl/ddqn.py: the CLI, the Double DQN target, the epsilon schedule, run folders, the loop's
order, stopping on a signal or a time limit, resuming, and training in the background."""
import json
import os
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

from rl import ddqn
from runkit import ROOT, RunFolder


# ---------------------------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------------------------
def test_cli_unknown_game_is_one_error_line(capsys, tmp_path):
    code = ddqn.main(["--game", "Bowlin", "--profile", "smoke", "--out", str(tmp_path / "r"),
                      "--no-progress"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Bowling" in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------------
# Double DQN target
# ---------------------------------------------------------------------------------------------
def test_ddqn_target_by_hand():
    q_online = mx.nd.array([[1.0, 3.0, 2.0],    # online argmax 1
                            [5.0, 0.0, 1.0],    # online argmax 0
                            [0.0, 0.0, 9.0]])   # (done: ignored)
    q_target = mx.nd.array([[10.0, 20.0, 30.0],  # target argmax 2: DQN would take 30
                            [7.0, 8.0, 9.0],     # target argmax 2: DQN would take 9
                            [1.0, 2.0, 3.0]])
    rewards = mx.nd.array([1.0, 0.0, -1.0])
    done = mx.nd.array([0.0, 0.0, 1.0])
    y = ddqn.ddqn_targets(q_online, q_target, rewards, done, 0.5).asnumpy()
    np.testing.assert_array_equal(y, [1.0 + 0.5 * 20.0, 0.0 + 0.5 * 7.0, -1.0])
    vanilla = (rewards + 0.5 * (1 - done) * q_target.max(axis=1)).asnumpy()
    np.testing.assert_array_equal(vanilla, [16.0, 4.5, -1.0])
    assert not np.allclose(y, vanilla)
    # default gamma is the paper's 0.99
    y99 = ddqn.ddqn_targets(q_online, q_target, rewards, done).asnumpy()
    np.testing.assert_allclose(y99, [1.0 + 0.99 * 20.0, 0.99 * 7.0, -1.0], rtol=1e-6)


def test_epsilon_schedule():
    assert ddqn.epsilon_at(0, 1000) == 1.0
    assert ddqn.epsilon_at(500, 1000) == pytest.approx(0.55)
    assert ddqn.epsilon_at(1000, 1000) == pytest.approx(0.1)
    assert ddqn.epsilon_at(10**6, 1000) == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------------
# run folders: --fresh, finished runs, locks
# ---------------------------------------------------------------------------------------------
def test_fresh_removes_only_the_runs_files_and_a_finished_run_is_not_rewritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = dict(game="Bowling", profile="smoke", steps=40, out=str(out), progress=False)
    ddqn.train(ddqn.Args(**args))
    before = (out / "final.json").read_bytes(), (out / "final.params").stat().st_mtime_ns
    rec = ddqn.train(ddqn.Args(**args))  # finished: nothing retrained or rewritten
    assert rec["already_done"] and "already trained" in capsys.readouterr().err
    assert ((out / "final.json").read_bytes(), (out / "final.params").stat().st_mtime_ns) == before
    ddqn.train(ddqn.Args(**args, fresh=True))
    assert (out / "notes.txt").read_text() == "mine"  # --fresh left what it did not write
    assert json.loads((out / "final.json").read_text())["steps"] == 40


def test_a_run_folder_in_use_is_refused(tmp_path):
    held = RunFolder(tmp_path / "run", config={}).lock()  # as another training process holds it
    try:
        with pytest.raises(ddqn.UsageError, match="in use"):
            ddqn.train(ddqn.Args(game="Bowling", profile="smoke", steps=40,
                                 out=str(tmp_path / "run"), progress=False))
    finally:
        held.unlock()
    RunFolder(tmp_path / "run", config={}).lock().unlock()  # free again once released


# ---------------------------------------------------------------------------------------------
# the loop: DeepMind's order, outputs as it goes, stopping and resuming
# ---------------------------------------------------------------------------------------------
def test_the_next_action_is_chosen_before_the_update_and_outputs_are_written_as_it_goes(
        tmp_path, monkeypatch):
    """DeepMind's NeuralQLearner:perceive stores the transition, chooses the next action with
    the network as it is, then learns: the emulator plays that action while the update runs.
    Every update is followed by an emulator step before the next greedy choice, and
    episodes.csv / curve.png are rewritten every OUTPUTS_EVERY steps, not only at checkpoints."""
    events, outputs = [], []
    make_env, make_learner = ddqn.make_env, ddqn.make_learner

    class Recording:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def act(self, obs):
            events.append("act")
            return self.inner.act(obs)

        def update(self, *batch):
            events.append("update")
            return self.inner.update(*batch)

    def env(*a, **k):
        wrapped = make_env(*a, **k)
        step = wrapped.step

        def recorded(action):
            events.append("env")
            return step(action)
        wrapped.step = recorded
        return wrapped

    monkeypatch.setattr(ddqn, "make_env", env)
    monkeypatch.setattr(ddqn, "make_learner", lambda *a, **k: Recording(make_learner(*a, **k)))
    monkeypatch.setattr(ddqn, "epsilon_at", lambda step, decay: 0.0)  # always greedy
    monkeypatch.setattr(ddqn, "OUTPUTS_EVERY", 100)
    write = ddqn.write_outputs
    monkeypatch.setattr(ddqn, "write_outputs", lambda *a: (outputs.append(1), write(*a)))
    ddqn.train(ddqn.Args(game="Bowling", profile="smoke", steps=540, out=str(tmp_path / "r"),
                         progress=False))
    updates = [i for i, e in enumerate(events) if e == "update"]
    assert len(updates) == (540 - 500) // ddqn.UPDATE_EVERY + 1
    assert all(events[i - 1] == "act" and events[i + 1] == "env" for i in updates[:-1])
    assert events.count("env") == 540 and events[0] == "act"
    assert len(outputs) >= 5  # 100, 200, ..., 500 and the final checkpoint


def _checkpoint_meta(run_dir):
    from sap_mx import checkpoint
    return checkpoint.load(run_dir / "checkpoint")[0]


def test_sigterm_stops_with_a_checkpoint_and_the_same_command_resumes(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "rl.ddqn", "--game", "Bowling", "--profile", "smoke",
           "--steps", "30000", "--out", str(run_dir), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (run_dir / "checkpoint" / "manifest.json").is_file():  # step 1,000 reached
            assert time.time() < deadline and process.poll() is None
            time.sleep(0.2)
        time.sleep(1.0)  # into the next checkpoint interval: the stop writes its own checkpoint
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    meta = _checkpoint_meta(run_dir)
    assert f"step {meta['step']:,}/30,000" in err and "stopped by SIGTERM" in err
    assert meta["step"] > 1000 and len(meta["sessions"]) == 1
    assert meta["sessions"][0]["from"] == 0 and meta["sessions"][0]["to"] == meta["step"]
    assert not (run_dir / "final.json").exists()
    rec = ddqn.train(ddqn.Args(game="Bowling", profile="smoke", steps=30000, out=str(run_dir),
                               stop_after=10, progress=False))
    assert rec["steps"] == meta["step"] + 10 and not rec["finished"]
    assert [s["from"] for s in rec["sessions"]] == [0, meta["step"]]


def test_hours_stops_the_session_with_a_checkpoint(tmp_path, monkeypatch):
    clock = iter(range(10**9))
    monkeypatch.setattr(ddqn.time, "time", lambda: 1e9 + 0.01 * next(clock))  # 10 ms a call
    rec = ddqn.train(ddqn.Args(game="Bowling", profile="smoke", steps=3000, hours=2 / 3600,
                               out=str(tmp_path / "r"), progress=False))
    assert 0 < rec["steps"] < 3000 and not rec["finished"]
    assert _checkpoint_meta(tmp_path / "r")["step"] == rec["steps"]


def test_background_training_logs_to_the_run_folder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["--game", "bowling", "--profile", "smoke", "--steps", "40", "--out", str(run_dir),
            "--background"]
    assert ddqn.main(argv) == 0
    out = capsys.readouterr().out
    pid = int(out.split("pid ")[1].split(",")[0])
    assert f"kill {pid}" in out
    deadline, log = time.time() + 120, run_dir / "train.log"
    while "wrote" not in log.read_text():  # its last lines
        assert time.time() < deadline, log.read_text()
        time.sleep(0.2)
    log = (run_dir / "train.log").read_text()
    assert "python -m rl.ddqn --game bowling" in log and "finished" in log
    held = RunFolder(run_dir, config={}).lock()  # a run folder in use: refused before starting
    try:
        with pytest.raises(ddqn.UsageError, match="in use"):
            ddqn.launch_background(ddqn.parse(argv), argv)
    finally:
        held.unlock()


def test_committed_weights_get_their_sha256_line_and_the_flag_does_not_block_a_resume(
        tmp_path, monkeypatch):
    from dataclasses import replace

    from rl.profiles import ATARI
    from runkit import manifest

    smoke = ATARI["smoke"]
    assert not smoke.commit_weights
    assert ATARI["cpu"].commit_weights and ATARI["paper"].commit_weights
    config = ddqn.config_of(ddqn.Args(game="Bowling"), smoke, 40)
    flipped = ddqn.config_of(ddqn.Args(game="Bowling"), replace(smoke, commit_weights=True), 40)
    assert ddqn.training_part(config) == ddqn.training_part(flipped)
    run = tmp_path / "runs" / "Bowling-smoke-seed0"
    ddqn.train(ddqn.Args(game="Bowling", profile="smoke", steps=40, out=str(run), progress=False))
    assert not (tmp_path / "runs" / "SHA256SUMS").exists()
    monkeypatch.setitem(ATARI.table, "smoke", replace(smoke, commit_weights=True))
    ddqn.train(ddqn.Args(game="Bowling", profile="smoke", steps=40, out=str(run), fresh=True,
                         progress=False))
    assert manifest.read(tmp_path / "runs" / "SHA256SUMS") == {
        "Bowling-smoke-seed0/final.params": manifest.verify(run / "final.params")}
