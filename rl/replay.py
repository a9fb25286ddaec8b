"""Experience replay that stores each 84x84 frame once (about 7.1 GB for 1M transitions).

A transition t is stored at one slot: the newest frame of its observation, the action, the
(clipped) reward, ``done`` (the learning episode *terminated* after it) and ``first`` (the frame
came from a reset). Its state is rebuilt from the slot and the three before it, its next state from
the slot after it, both stopping at the episode's first frame and repeating it, which is exactly
what ``gymnasium.wrappers.FrameStackObservation`` shows the agent after a reset. Storing stacks
instead would cost four times the memory (~28 GB for 1M).

A slot is never sampled when its stack or its successor would cross into other data:

* the newest slot (its next frame is not stored yet);
* a slot whose episode was *truncated* right after it (next frame is a reset's; not ``done``, so
  it would bootstrap from the wrong state);
* the three oldest slots (their history has been overwritten).
"""
from __future__ import annotations

import numpy as np

from sap_mx.io import atomic_write

__all__ = ["Replay"]

HISTORY = 4


class Replay:
    """A circular buffer of ``capacity`` transitions.

    Parameters
    ----------
    capacity : int
        Transitions kept (the most recent ones).
    frame_shape : tuple, default (84, 84)
    """

    def __init__(self, capacity: int, frame_shape=(84, 84)):
        if int(capacity) < HISTORY + 2:
            raise ValueError(f"replay capacity must be >= {HISTORY + 2}, got {capacity}")
        self.capacity = int(capacity)
        self.frames = np.zeros((self.capacity, *frame_shape), np.uint8)
        self.actions = np.zeros(self.capacity, np.int32)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.done = np.zeros(self.capacity, bool)
        self.first = np.zeros(self.capacity, bool)
        self.cursor = 0  # next slot written
        self.size = 0

    # -- writing ----------------------------------------------------------------------------------
    def add(self, frame, action: int, reward: float, done: bool, first: bool) -> None:
        """Store transition t: the newest frame of s_t, a_t, r_t, whether the episode terminated
        after it, and whether s_t is the first observation of an episode."""
        i = self.cursor
        self.frames[i] = frame
        self.actions[i] = action
        self.rewards[i] = reward
        self.done[i] = done
        self.first[i] = first
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.frames, self.actions, self.rewards, self.done,
                                      self.first))

    # -- reading ----------------------------------------------------------------------------------
    def valid(self, idx: np.ndarray) -> np.ndarray:
        """Which slots ``idx`` can be sampled (see the module docstring)."""
        idx = np.asarray(idx)
        oldest = self.cursor if self.size == self.capacity else 0
        age = (idx - oldest) % self.capacity  # 0 = oldest stored
        nxt = (idx + 1) % self.capacity
        return ((age >= HISTORY - 1) & (age < self.size - 1)
                & (self.done[idx] | ~self.first[nxt]))

    def stack(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx), 4, 84, 84) uint8: the observation whose newest frame is at each slot."""
        idx = np.asarray(idx)
        out = np.empty((len(idx), HISTORY, *self.frames.shape[1:]), np.uint8)
        cur = idx.copy()
        out[:, HISTORY - 1] = self.frames[cur]
        for k in range(HISTORY - 2, -1, -1):
            cur = np.where(self.first[cur], cur, (cur - 1) % self.capacity)
            out[:, k] = self.frames[cur]
        return out

    def sample(self, batch: int, rng: np.random.Generator):
        """``batch`` transitions drawn uniformly from the valid slots:
        (states, actions, rewards, next_states, done), states as uint8 (B, 4, 84, 84)."""
        if self.size < HISTORY + 1:
            raise ValueError(f"replay holds {self.size} transitions; cannot sample yet")
        chosen = np.empty(0, np.int64)
        for _ in range(1000):
            cand = rng.integers(0, self.size, size=2 * batch)
            chosen = np.concatenate([chosen, cand[self.valid(cand)]])
            if len(chosen) >= batch:
                break
        else:
            raise ValueError("replay holds no valid transition to sample")
        idx = chosen[:batch]
        return (self.stack(idx), self.actions[idx], self.rewards[idx],
                self.stack((idx + 1) % self.capacity), self.done[idx])

    # -- persistence ------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the buffer to ``path`` (.npz, uncompressed) atomically."""
        def savez(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, frames=self.frames[:self.size], actions=self.actions[:self.size],
                         rewards=self.rewards[:self.size], done=self.done[:self.size],
                         first=self.first[:self.size],
                         meta=np.array([self.capacity, self.cursor, self.size]))

        atomic_write(path, savez)

    @classmethod
    def load(cls, path) -> "Replay":
        with np.load(path) as z:
            capacity, cursor, size = (int(v) for v in z["meta"])
            replay = cls(capacity, z["frames"].shape[1:])
            for name in ("frames", "actions", "rewards", "done", "first"):
                getattr(replay, name)[:size] = z[name]
        replay.cursor, replay.size = cursor, size
        return replay
