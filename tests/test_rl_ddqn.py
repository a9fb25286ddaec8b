"""rl/ddqn.py: the CLI, the Double DQN target, the epsilon schedule and run folders."""
import json

import mxnet as mx
import numpy as np
import pytest

from rl import ddqn
from runkit import RunFolder


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
