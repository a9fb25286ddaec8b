"""rl/replay.py: the frame-once replay, against a real environment and by hand."""
import numpy as np
import pytest

from rl import envs
from rl.replay import Replay


def test_replay_rebuilds_what_a_real_env_returned():
    """Fill a small replay from Breakout (life losses, and truncations from a step cap) exactly
    as rl/ddqn.py does, keeping every observation the env returned, then compare."""
    capacity = 400
    env = envs.make_env("Breakout", training=True, max_episode_steps=60)
    rng = np.random.default_rng(0)
    replay = Replay(capacity)
    record = {}  # slot -> (obs, next_obs, terminated, truncated) of the transition stored there
    obs, _ = env.reset(seed=0)
    seen_obs = obs.copy()  # copied when returned: immune to any buffer reuse in the wrappers
    first = True
    n_steps = 2000
    for _ in range(n_steps):
        action = int(rng.integers(4))
        next_obs, reward, terminated, truncated, info = env.step(action)
        seen_next = next_obs.copy()
        record[replay.cursor] = (seen_obs, seen_next, terminated, truncated)
        replay.add(obs[-1], action, reward, terminated, first)  # as rl/ddqn.py's loop
        if terminated or truncated:
            obs, _ = env.reset()
            seen_obs, first = obs.copy(), True
        else:
            obs, seen_obs, first = next_obs, seen_next, False
    env.close()
    assert replay.size == capacity and replay.cursor == n_steps % capacity  # wrapped around
    slots = np.arange(capacity)
    terminal = np.array([record[i][2] for i in slots])
    truncated_only = np.array([record[i][3] and not record[i][2] for i in slots])
    assert terminal.sum() >= 5 and truncated_only.sum() >= 3  # both cases are exercised
    age = (slots - replay.cursor) % capacity

    # which slots may be sampled, computed from what the env did
    expected = (age >= 3) & (age <= capacity - 2) & ~truncated_only
    valid = replay.valid(slots)
    np.testing.assert_array_equal(valid, expected)
    for k in range(3):
        assert not valid[(replay.cursor + k) % capacity]  # the three oldest
    assert not valid[(replay.cursor - 1) % capacity]      # the newest

    # every valid slot rebuilds its observation, and its successor for non-terminal ones
    idx = slots[valid]
    states = replay.stack(idx)
    nexts = replay.stack((idx + 1) % capacity)
    for row, i in enumerate(idx):
        np.testing.assert_array_equal(states[row], record[i][0], err_msg=f"slot {i}")
        if not record[i][2]:
            np.testing.assert_array_equal(nexts[row], record[i][1], err_msg=f"next of {i}")
    assert not replay.first[(idx + 1) % capacity][~replay.done[idx]].any()

    # sampled transitions are real ones of the env (same episode, right done/reward)
    real = {(record[i][0].tobytes(), record[i][1].tobytes()) for i in idx if not record[i][2]}
    real_states = {record[i][0].tobytes() for i in idx}
    sample_rng = np.random.default_rng(1)
    for _ in range(20):
        s, a, r, s2, d = replay.sample(32, sample_rng)
        assert s.shape == s2.shape == (32, 4, 84, 84) and s.dtype == np.uint8
        assert set(r.tolist()) <= {-1.0, 0.0, 1.0} and set(a.tolist()) <= {0, 1, 2, 3}
        for row in range(32):
            assert s[row].tobytes() in real_states
            if not d[row]:
                assert (s[row].tobytes(), s2[row].tobytes()) in real


def _hand_made_replay():
    """Two episodes in a capacity-12 replay: the first truncated after slot 4 (done False), the
    second terminated after slot 8; slot k holds frames filled with k and action k."""
    replay = Replay(12, frame_shape=(2, 2))
    for k in range(10):
        replay.add(np.full((2, 2), k, np.uint8), k, 0.0, done=(k == 8), first=k in (0, 5))
    return replay


def test_replay_never_samples_a_truncated_or_unfinished_transition():
    replay = _hand_made_replay()
    valid = replay.valid(np.arange(10))
    # slots 0-2: too young; 4: truncated (next is a reset); 9: newest
    np.testing.assert_array_equal(valid, [k in (3, 5, 6, 7, 8) for k in range(10)])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        s, a, r, s2, d = replay.sample(8, rng)
        seen.update(a.tolist())
        for row, k in enumerate(a):
            assert s[row, -1, 0, 0] == k and d[row] == (k == 8)
            if k != 8:
                assert s2[row, -1, 0, 0] == k + 1
    assert seen == {3, 5, 6, 7, 8}
    # episode starts repeat the first frame, as FrameStackObservation shows after a reset
    np.testing.assert_array_equal(replay.stack(np.array([6]))[0, :, 0, 0], [5, 5, 5, 6])
    np.testing.assert_array_equal(replay.stack(np.array([3]))[0, :, 0, 0], [0, 1, 2, 3])


def test_replay_wraparound_excludes_overwritten_history():
    replay = Replay(8, frame_shape=(1, 1))
    for k in range(11):  # slots hold k = 8, 9, 10, 3, 4, 5, 6, 7; oldest is slot 3 (k=3)
        replay.add(np.full((1, 1), k, np.uint8), k, 0.0, done=False, first=k == 0)
    assert replay.cursor == 3 and replay.size == 8
    valid = replay.valid(np.arange(8))
    # oldest k=3,4,5 (slots 3,4,5) and newest k=10 (slot 2) are out
    np.testing.assert_array_equal(valid, [True, True, False, False, False, False, True, True])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(100):
        s, a, _, s2, _ = replay.sample(4, rng)
        seen.update(a.tolist())
        np.testing.assert_array_equal(s[:, -1, 0, 0], a)
        np.testing.assert_array_equal(s2[:, -1, 0, 0], a + 1)
        np.testing.assert_array_equal(s[:, 0, 0, 0], a - 3)  # full history, never overwritten
    assert seen == {6, 7, 8, 9}
    np.testing.assert_array_equal(replay.stack(np.array([6]))[0, :, 0, 0], [3, 4, 5, 6])
    np.testing.assert_array_equal(replay.stack(np.array([1]))[0, :, 0, 0], [6, 7, 8, 9])


@pytest.mark.parametrize("adds", [7, 30])  # partly filled, and wrapped around
def test_replay_save_load_round_trip(tmp_path, adds):
    rng = np.random.default_rng(3)
    replay = Replay(16, frame_shape=(3, 3))
    for k in range(adds):
        replay.add(rng.integers(0, 256, (3, 3)), int(rng.integers(4)), float(rng.integers(-1, 2)),
                   bool(rng.random() < 0.2), bool(k == 0 or rng.random() < 0.2))
    replay.save(tmp_path / "replay.npz")
    loaded = Replay.load(tmp_path / "replay.npz")
    assert (loaded.capacity, loaded.cursor, loaded.size) == (replay.capacity, replay.cursor,
                                                             replay.size)
    for name in ("frames", "actions", "rewards", "done", "first"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(replay, name), err_msg=name)
        assert getattr(loaded, name).dtype == getattr(replay, name).dtype
    a, b = replay.sample(8, np.random.default_rng(9)), loaded.sample(8, np.random.default_rng(9))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temp file


def test_replay_load_reads_into_the_buffer_in_blocks(tmp_path, monkeypatch):
    """Loading streams each array into the new buffer (a 7 GB replay needs 7 GB, not 14): any
    block size gives the same buffer; an array of another type is refused."""
    import zipfile

    from rl import replay as module

    rng = np.random.default_rng(4)
    replay = Replay(20, frame_shape=(5, 3))
    for k in range(27):
        replay.add(rng.integers(0, 256, (5, 3)), k % 4, float(k % 3 - 1), k % 7 == 0, k % 5 == 0)
    replay.save(tmp_path / "replay.npz")
    monkeypatch.setattr(module, "READ_BLOCK", 7)      # not a divisor of any array's size
    loaded = Replay.load(tmp_path / "replay.npz")
    for name in module.FIELDS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(replay, name), err_msg=name)
    assert (loaded.cursor, loaded.size, loaded.capacity) == (7, 20, 20)
    with open(tmp_path / "actions.npy", "wb") as handle:
        np.save(handle, replay.actions.astype(np.int64))
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as out, \
            zipfile.ZipFile(tmp_path / "replay.npz") as z:
        for item in z.namelist():
            out.writestr(item, (tmp_path / "actions.npy").read_bytes() if item == "actions.npy"
                         else z.read(item))
    with pytest.raises(ValueError, match="actions.npy holds int64"):
        Replay.load(tmp_path / "bad.npz")
