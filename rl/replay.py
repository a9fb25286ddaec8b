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

import zipfile

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
        """The buffer ``save`` wrote. Each array is read straight into the new buffer in blocks,
        so loading a 7 GB replay needs 7 GB of memory, not twice that."""
        with zipfile.ZipFile(path) as z:
            capacity, cursor, size = (int(v) for v in _read_npy(z, "meta"))
            frame_shape = _npy_header(z, "frames")[0][1:]
            replay = cls(capacity, frame_shape)
            for name in FIELDS:
                _read_npy(z, name, into=getattr(replay, name)[:size])
        replay.cursor, replay.size = cursor, size
        return replay


FIELDS = ("frames", "actions", "rewards", "done", "first")  # the arrays ``save`` writes
READ_BLOCK = 1 << 26  # bytes per read when loading


def _npy_header(z: zipfile.ZipFile, name: str) -> tuple[tuple, np.dtype, int]:
    """(shape, dtype, data offset) of ``<name>.npy`` inside the open ``.npz``."""
    with z.open(f"{name}.npy") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{name}.npy: unsupported .npy version {version}")
        if fortran:
            raise ValueError(f"{name}.npy: Fortran order is not what Replay.save writes")
        return shape, dtype, f.tell()


def _read_npy(z: zipfile.ZipFile, name: str, into: np.ndarray | None = None) -> np.ndarray:
    """``<name>.npy`` of the open ``.npz``, read into ``into`` (same shape and dtype; C order)
    in blocks of ``READ_BLOCK`` bytes, or into a new array."""
    shape, dtype, offset = _npy_header(z, name)
    if into is None:
        into = np.empty(shape, dtype)
    if tuple(shape) != into.shape or np.dtype(dtype) != into.dtype:
        raise ValueError(f"{name}.npy holds {dtype} {shape}, expected {into.dtype} {into.shape}")
    view = memoryview(into.reshape(-1).view(np.uint8))
    with z.open(f"{name}.npy") as f:
        f.read(offset)
        done = 0
        while done < len(view):
            got = f.readinto(view[done:done + READ_BLOCK])
            if not got:
                raise ValueError(f"{name}.npy is truncated")
            done += got
    return into
