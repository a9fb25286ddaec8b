"""Atari DDQN throughput on this machine's CPU.

1. Learner step: one Double DQN update on a batch of 32 (online forward on s and s', target
   forward on s', backward, DeepMind RMSProp), median over repetitions, for three graph modes
   (imperative, ``hybridize()``, ``hybridize(static_alloc=True, static_shape=True)``) and two
   thread settings, each in its own process: ``omp_all_cores`` (OMP_NUM_THREADS = cores, what
   ``rl.ddqn`` sets when it is unset) and ``omp_1`` (one thread). Target: no slower than the same
   Nature-CNN step in other mainstream frameworks' CPU builds, ~55 ms measured on this 2-core
   machine for naive MXNet and PyTorch code (the figure measured when the target was set;
   PyTorch is not installed here and was not re-measured).
2. Training env-steps/s with learning included: the loop of ``rl.ddqn.train`` (epsilon-greedy
   act, env step, replay add, an update every 4 steps) on Breakout, after the replay is warm.
3. Replay memory per 1M transitions (frames stored once), from the arrays' sizes.

Run: ``python benchmarks/bench_atari.py [--quick] [--out results/bench/atari.csv]``.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

REFERENCE_MS = 55.0


def measure(quick: bool) -> list[dict]:
    import numpy as np

    from rl.ddqn import BATCH
    from rl.learner import Learner
    from rl.envs import make_env
    from rl.replay import Replay

    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 256, (BATCH, 4, 84, 84), dtype=np.uint8), rng.integers(0, 6, BATCH),
             rng.random(BATCH).astype(np.float32),
             rng.integers(0, 256, (BATCH, 4, 84, 84), dtype=np.uint8),
             (rng.random(BATCH) < 0.1).astype(np.float32))
    reps = 10 if quick else 40
    rows = []
    for graph in ("none", "plain", "static"):
        learner = Learner(6, seed=0, graph=graph)
        for _ in range(5):
            learner.update(*batch)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            learner.update(*batch)
            times.append(time.perf_counter() - t0)
        ms = statistics.median(times) * 1e3
        rows.append({"metric": f"learner_step_ms_graph_{graph}", "value": round(ms, 2),
                     "target": REFERENCE_MS, "met": ms <= REFERENCE_MS, "reps": reps,
                     "detail": f"batch {BATCH}; min {min(times) * 1e3:.1f} ms"})

    # the training loop with learning, replay warm
    env = make_env("Breakout", training=True)
    learner = Learner(int(env.action_space.n), seed=0)
    replay = Replay(20_000)
    obs, _ = env.reset(seed=0)
    first = True
    steps = 400 if quick else 2000

    def run(n, learn):
        nonlocal obs, first
        for step in range(n):
            action = (int(rng.integers(env.action_space.n)) if rng.random() < 0.1
                      else learner.act(obs))
            nxt, reward, term, trunc, _ = env.step(action)
            replay.add(obs[-1], action, reward, term, first)
            if term or trunc:
                (obs, _), first = env.reset(), True
            else:
                obs, first = nxt, False
            if learn and step % 4 == 0:
                learner.update(*replay.sample(BATCH, rng))

    run(1000, learn=False)
    run(20, learn=True)
    t0 = time.perf_counter()
    run(steps, learn=True)
    rate = steps / (time.perf_counter() - t0)
    rows.append({"metric": "train_env_steps_per_s_with_learning", "value": round(rate, 1),
                 "target": "", "met": "", "reps": steps,
                 "detail": "Breakout, epsilon 0.1, update every 4 steps, batch 32, static graph"})
    per = Replay(1000)
    gb = per.nbytes / 1000 * 1_000_000 / 1e9
    rows.append({"metric": "replay_gb_per_1M_transitions", "value": round(gb, 3), "target": 7.5,
                 "met": gb <= 7.5, "reps": "", "detail": "84x84 uint8 frame + action, reward, "
                 "done, first per transition"})
    return rows


CONFIGS = {"omp_all_cores": {"OMP_NUM_THREADS": str(os.cpu_count() or 1)},
           "omp_1": {"OMP_NUM_THREADS": "1"}}


def main(argv=None) -> int:
    from children import parse_bench_args, run_per_config

    args = parse_bench_args(argv, __doc__, "atari", "fewer repetitions and steps", child=True)
    return run_per_config(args, __file__, CONFIGS, measure, width=40,
                          extra=lambda name: {"omp_num_threads": CONFIGS[name]["OMP_NUM_THREADS"]})


if __name__ == "__main__":
    sys.exit(main())
